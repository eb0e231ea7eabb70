package authn

import (
	"encoding/json"
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
