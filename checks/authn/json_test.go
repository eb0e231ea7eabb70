package authn

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The "authentication" object of once's JSON: one field per check, each
// with a result and its domain (DESIGN.md).
func TestChecksJSONShape(t *testing.T) {
	w := newWorld(t)
	v := verify(t, delivered(w.signedCopy(), ""), w.opts())
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Authentication map[string]map[string]string `json:"authentication"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"dkim", "spf", "dmarc", "arc", "list_id", "one_click_unsubscribe"} {
		c, ok := got.Authentication[k]
		if !ok {
			t.Errorf("no %q in %s", k, b)
			continue
		}
		if _, ok := c["result"]; !ok {
			t.Errorf("%s has no result", k)
		}
		if _, ok := c["domain"]; !ok {
			t.Errorf("%s has no domain", k)
		}
	}
	if d := got.Authentication["dkim"]; d["result"] != "pass" || d["domain"] != "lists.example.test" {
		t.Errorf("dkim %v", d)
	}
}

// BenchmarkVerifyListCopy measures the verdict of a signed list copy with
// its keys and DMARC record cached (the steady state of a prober).
func BenchmarkVerifyListCopy(b *testing.B) {
	w := newWorld(b)
	o := w.opts()
	r, err := NewResolver(ResolverOptions{Server: w.dns.addr})
	if err != nil {
		b.Fatal(err)
	}
	o.Resolver = r
	msg := SplitMessage([]byte(delivered(w.signedCopy(), "mx.example.org; dkim=pass header.d=lists.example.test")))
	b.ReportAllocs()
	for b.Loop() {
		if v := Verify(b.Context(), msg, o); !v.Authenticated {
			b.Fatal(v.Reason)
		}
	}
}

// BenchmarkVerifyHostile measures the worst message the bounds allow
// through: a 64 KiB header of 1,000 fields, 8 signatures each signing 128
// of them with a matching body hash and a real key (so that every header
// hash is computed), and 50 ARC sets of distinct domains.
func BenchmarkVerifyHostile(b *testing.B) {
	w := newWorld(b)
	bh, err := bodyHash([]byte("x\r\n"), "relaxed")
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	h := strings.TrimSuffix(strings.Repeat("x-filler:", maxSignedFields-1), ":") + ":from"
	for i := range maxSignatures {
		d := fmt.Sprintf("d%d.example", i)
		w.dns.set("s._domainkey."+d, keyRecord(b, w.listKey))
		fmt.Fprintf(&sb, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=s; h=%s; bh=%s; b=AAAA\r\n", d, h, bh)
	}
	for i := range maxARCSets {
		cv := "pass"
		if i == 0 {
			cv = "none"
		}
		fmt.Fprintf(&sb, "ARC-Seal: i=%d; cv=%s; a=rsa-sha256; d=a%d.example; s=s; b=AAAA\r\n", i+1, cv, i)
		fmt.Fprintf(&sb, "ARC-Message-Signature: i=%d; a=rsa-sha256; d=a%d.example; s=s; h=from; bh=AAAA; b=AAAA\r\n", i+1, i)
		fmt.Fprintf(&sb, "ARC-Authentication-Results: i=%d; a%d.example; none\r\n", i+1, i)
	}
	for sb.Len() < 60<<10 {
		sb.WriteString("X-Filler: " + strings.Repeat("y", 50) + "\r\n")
	}
	raw := sb.String() + "From: a@b.example\r\n\r\nx\r\n"
	msg := SplitMessage([]byte(raw))
	r, err := NewResolver(ResolverOptions{Server: w.dns.addr})
	if err != nil {
		b.Fatal(err)
	}
	o := w.opts()
	o.Resolver = r
	b.ReportAllocs()
	for b.Loop() {
		if v := Verify(b.Context(), msg, o); v.Authenticated {
			b.Fatal("authenticated")
		}
	}
}
