package authn

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// Hostile headers cost bounded work: a cap on fields, signatures, signed
// fields, ARC sets and DNS names, whatever the message says.

func TestManySignaturesAreCapped(t *testing.T) {
	w := newWorld(t)
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; d=d%d.example; s=s; h=from; bh=AAAA; b=AAAA\r\n", i)
	}
	v := verify(t, b.String()+w.signedCopy(), w.opts())
	if len(v.Signatures) != maxSignatures {
		t.Errorf("%d signatures reported, want %d", len(v.Signatures), maxSignatures)
	}
	if n := w.dns.total(); n > defaultMaxLookups {
		t.Errorf("%d DNS queries, more than the cap %d", n, defaultMaxLookups)
	}
	if v.Authenticated {
		t.Errorf("the list's signature is below the first %d and was not verified: %q", maxSignatures, v.Reason)
	}
}

func TestManyDNSNamesStopAtTheLookupCap(t *testing.T) {
	w := newWorld(t)
	var b strings.Builder
	for i := range 8 {
		fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; d=d%d.example; s=s; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n", i)
	}
	for i := range 50 {
		fmt.Fprintf(&b, "ARC-Seal: i=%d; cv=%s; a=rsa-sha256; d=a%d.example; s=s; b=AAAA\r\n", i+1, map[bool]string{true: "none", false: "pass"}[i == 0], i)
		fmt.Fprintf(&b, "ARC-Message-Signature: i=%d; a=rsa-sha256; d=a%d.example; s=s; h=from; bh=AAAA; b=AAAA\r\n", i+1, i)
		fmt.Fprintf(&b, "ARC-Authentication-Results: i=%d; a%d.example; none\r\n", i+1, i)
	}
	o := w.opts()
	o.MaxLookups = 4
	v := verify(t, b.String()+listCopy, o)
	if n := w.dns.total(); n > 4 {
		t.Errorf("%d DNS queries, cap 4", n)
	}
	if v.Authenticated || v.ARC.Result == ResultPass {
		t.Errorf("verdict %v, chain %s", v.Authenticated, v.ARC.Result)
	}
	capped := 0 // signatures are verified in parallel: any four get no lookup
	for _, sig := range v.Signatures {
		if strings.Contains(sig.Reason, "DNS lookup cap reached") {
			capped++
		}
	}
	if capped < 4 {
		t.Errorf("%d signatures stopped by the cap, want at least 4: %+v", capped, v.Signatures)
	}
}

func TestHugeSignedFieldListIsNotVerified(t *testing.T) {
	w := newWorld(t)
	h := strings.Repeat("from:", 20000) + "from"
	raw := "DKIM-Signature: v=1; a=rsa-sha256; d=lists.example.test; s=list; h=" + h + "; bh=AAAA; b=AAAA\r\n" + listCopy
	start := time.Now()
	v := verify(t, raw, w.opts())
	if v.Signatures[0].Result != ResultPermError || !strings.Contains(v.Signatures[0].Reason, "h= lists 20001 fields") {
		t.Fatalf("signature %+v", v.Signatures[0])
	}
	if w.dns.count(listKeyName) != 0 {
		t.Errorf("the key was fetched for a signature that is not verified")
	}
	t.Logf("%v", time.Since(start))
}

func TestTooManyFieldsOrARCSetsAreRefused(t *testing.T) {
	w := newWorld(t)
	many := strings.Repeat("X-Filler: x\r\n", maxFields+1) + w.signedCopy()
	v := verify(t, many, w.opts())
	if v.Authenticated || !strings.Contains(v.Reason, "header not checked: header too big") || w.dns.total() != 0 {
		t.Fatalf("verdict %v %q, %d queries", v.Authenticated, v.Reason, w.dns.total())
	}
	if v.Checks.DKIM.Result != ResultPermError {
		t.Errorf("checks %+v", v.Checks.DKIM)
	}
	var b strings.Builder
	for i := range maxARCSets + 1 {
		fmt.Fprintf(&b, "ARC-Seal: i=%d; cv=pass; a=rsa-sha256; d=a.example; s=s; b=AAAA\r\n", i+1)
		fmt.Fprintf(&b, "ARC-Message-Signature: i=%d; a=rsa-sha256; d=a.example; s=s; h=from; bh=AAAA; b=AAAA\r\n", i+1)
		fmt.Fprintf(&b, "ARC-Authentication-Results: i=%d; a.example; none\r\n", i+1)
	}
	v = verify(t, b.String()+listCopy, w.opts())
	if v.ARC.Result != ResultFail || !strings.Contains(v.ARC.Reason, "more than 50 ARC sets") {
		t.Fatalf("chain %+v", v.ARC)
	}
}

func TestHugeHeaderIsRefused(t *testing.T) {
	raw := "Subject: " + strings.Repeat("x", maxHeaderBytes) + "\r\n\r\nbody"
	v := verify(t, raw, &Options{ListDomain: "lists.example.test"})
	if !strings.Contains(v.Reason, "header too big") {
		t.Fatalf("reason %q", v.Reason)
	}
}

func TestGarbageHeadersDoNotPanic(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	names := []string{"DKIM-Signature", "ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results",
		"Authentication-Results", "Received", "From", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"}
	pieces := []string{"i=", "1", "2", ";", " ", "=", "d=", "b=", "h=from:", "(", ")", "[", "]", "from ", "by ", "\r\n ", "<", ">", "@", "\x00", "\xff", "cv=pass"}
	o := &Options{ListDomain: "lists.example.test", AuthServIDs: []string{"mx"}, ListHosts: []string{"192.0.2.1"}, Timeout: time.Second}
	for range 2000 {
		var b strings.Builder
		for range rng.Intn(12) {
			b.WriteString(names[rng.Intn(len(names))] + ":")
			for range rng.Intn(20) {
				b.WriteString(pieces[rng.Intn(len(pieces))])
			}
			b.WriteString("\r\n")
		}
		b.WriteString("\r\nbody\r\n")
		Verify(context.Background(), SplitMessage([]byte(b.String())), o)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte(listCopy))
	f.Add([]byte("ARC-Seal: i=1; cv=none; d=a; s=b; b=\r\nReceived: from a (b [1.2.3.4]) by mx\r\n\r\n"))
	o := &Options{ListDomain: "lists.example.test", AuthServIDs: []string{"mx"}, ListHosts: []string{"1.2.3.4"}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v := Verify(context.Background(), SplitMessage(raw), o)
		if v.Authenticated && v.Path != PathReceived && v.Path != PathAuthRes {
			t.Fatalf("authenticated by %s without DNS", v.Path)
		}
	})
}

// Nothing of the message reaches the verdict's strings raw: control
// characters and line breaks become "?", lengths are cut.
func TestVerdictStringsAreCleaned(t *testing.T) {
	w := newWorld(t)
	evil := "\x1b]0;owned\x07\x1b[2J"
	raw := "DKIM-Signature: v=1; a=rsa-sha256; d=lists.example.test" + evil + "; s=x" + evil + "; h=from:" + evil + "; bh=AAAA; b=AAAA\r\n" +
		"ARC-Seal: i=1; cv=" + evil + "; a=rsa-sha256; d=" + evil + strings.Repeat("x", 5000) + "; s=s; b=AAAA\r\n" +
		"ARC-Message-Signature: i=1; a=rsa-sha256; d=a.example; s=s; h=from; bh=AAAA; b=AAAA\r\n" +
		"ARC-Authentication-Results: i=1; a.example; none\r\n" +
		"Received: from " + evil + " (" + evil + " [192.0.2.1]) by mx.example.org; date\r\n" + listCopy
	v := verify(t, raw, w.opts())
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\\u001b") || strings.Contains(string(b), "\\u0007") {
		t.Fatalf("control characters in the verdict: %s", b)
	}
	if len(v.ARC.Sets) == 1 && len(v.ARC.Sets[0].Domain) > maxNameLen {
		t.Errorf("domain of %d bytes", len(v.ARC.Sets[0].Domain))
	}
	if len(b) > 20000 {
		t.Errorf("verdict of %d bytes", len(b))
	}
}
