package authn

import (
	"bytes"
	"context"
	"crypto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// world is a mail world for the tests: the list's key (RSA) and the
// poster's (Ed25519) served by a real DNS server on loopback, the poster's
// domain publishing DMARC p=reject.
type world struct {
	t                  testing.TB
	dns                *testDNS
	listKey, posterKey crypto.Signer
}

const (
	listKeyName   = "list._domainkey.lists.example.test"
	posterKeyName = "p1._domainkey.poster.example"
	posterDMARC   = "_dmarc.poster.example"
)

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, dns: startDNS(t), listKey: rsaKey(t, 0), posterKey: edKey(t)}
	w.dns.set(listKeyName, keyRecord(t, w.listKey))
	w.dns.set(posterKeyName, keyRecord(t, w.posterKey))
	w.dns.set(posterDMARC, "v=DMARC1; p=reject")
	return w
}

func (w *world) opts() *Options {
	return &Options{
		ListDomain:  "lists.example.test",
		AuthServIDs: []string{"mx.example.org"},
		ListHosts:   []string{"192.0.2.10"},
		Resolver:    w.dns.resolver(w.t, 0),
	}
}

// listCopy is a copy as the list sends it, before signing.
const listCopy = "From: Poster <poster@poster.example>\r\n" +
	"To: list@lists.example.test\r\n" +
	"Subject: [list] hello\r\n" +
	"Date: Sat, 06 Dec 2025 10:00:00 +0000\r\n" +
	"Message-ID: <m1@poster.example>\r\n" +
	"List-Id: List <list.lists.example.test>\r\n" +
	"List-Unsubscribe: <mailto:list-leave@lists.example.test>,\r\n <https://lists.example.test/unsub/x>\r\n" +
	"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
	"\r\n" +
	"Hello list.\r\n"

var listSigned = []string{"From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"}

// sign prepends a DKIM-Signature of domain d, selector s.
func (w *world) sign(raw, d, s string, key crypto.Signer, headers []string) string {
	w.t.Helper()
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(raw), &dkim.SignOptions{
		Domain: d, Selector: s, Signer: key, HeaderKeys: headers,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return b.String()
}

func (w *world) signedCopy() string {
	return w.sign(listCopy, "lists.example.test", "list", w.listKey, listSigned)
}

// delivered prepends what the receiving server mx.example.org adds: its
// Authentication-Results above its Received field for the connection from
// the list server, and the LMTP hop into the mailbox on top.
func delivered(raw, authResults string) string {
	h := "Received: from mx.example.org by mx.example.org with LMTP id 7; Sat, 06 Dec 2025 10:00:02 +0000\r\n"
	if authResults != "" {
		h += "Authentication-Results: " + authResults + "\r\n"
	}
	h += "Received: from lists.example.test (lists.example.test [192.0.2.10])\r\n\tby mx.example.org (Postfix) with ESMTPS id 4F2; Sat, 06 Dec 2025 10:00:01 +0000\r\n"
	return h + raw
}

func verify(t *testing.T, raw string, opts *Options) *Verdict {
	t.Helper()
	return Verify(context.Background(), SplitMessage([]byte(raw)), opts)
}

func wantCheck(t *testing.T, name string, got Check, result Result, domain string) {
	t.Helper()
	if got.Result != result || got.Domain != domain {
		t.Errorf("%s: got %s %q (%s), want %s %q", name, got.Result, got.Domain, got.Reason, result, domain)
	}
}

func TestCopySignedByTheListIsAuthenticatedByDKIM(t *testing.T) {
	w := newWorld(t)
	v := verify(t, delivered(w.signedCopy(), ""), w.opts())
	if !v.Authenticated || v.Path != PathDKIM || v.Reason != "DKIM signature of lists.example.test verifies" {
		t.Fatalf("verdict %+v", v)
	}
	wantCheck(t, "dkim", v.Checks.DKIM, ResultPass, "lists.example.test")
	wantCheck(t, "list_id", v.Checks.ListID, ResultPass, "list.lists.example.test")
	wantCheck(t, "one-click", v.Checks.OneClickUnsubscribe, ResultPass, "lists.example.test")
	wantCheck(t, "arc", v.Checks.ARC, ResultNone, "")
	// The list signs, the poster's domain publishes p=reject, From is the
	// poster's: not aligned, so DMARC fails.
	wantCheck(t, "dmarc", v.Checks.DMARC, ResultFail, "poster.example")
	if !strings.Contains(v.Checks.DMARC.Reason, "p=reject") {
		t.Errorf("dmarc reason %q should name the policy", v.Checks.DMARC.Reason)
	}
	if len(v.Signatures) != 1 || v.Signatures[0].Aligned || !contains(v.Signatures[0].Headers, "List-Unsubscribe-Post") {
		t.Errorf("signatures %+v", v.Signatures)
	}
	if v.TempError != "" || !v.BodyChecked {
		t.Errorf("temperror %q, body checked %v", v.TempError, v.BodyChecked)
	}
}

func TestDKIMFailuresSayWhy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(w *world, raw string) string
		reason string
	}{
		{"body altered", func(w *world, raw string) string {
			return strings.Replace(raw, "Hello list.", "Hello list, forged.", 1)
		}, "DKIM signature of lists.example.test does not verify: body hash did not verify"},
		{"signed header altered", func(w *world, raw string) string {
			return strings.Replace(raw, "Subject: [list] hello", "Subject: [list] held", 1)
		}, "DKIM signature of lists.example.test does not verify: signature did not verify"},
		{"key missing", func(w *world, raw string) string {
			w.dns.set(listKeyName)
			return raw
		}, "DKIM signature of lists.example.test does not verify: no key for signature"},
		{"key revoked", func(w *world, raw string) string {
			w.dns.set(listKeyName, "v=DKIM1; k=rsa; p=")
			return raw
		}, "DKIM signature of lists.example.test does not verify: key revoked"},
		{"another key", func(w *world, raw string) string {
			w.dns.set(listKeyName, keyRecord(t, rsaKey(t, 1)))
			return raw
		}, "DKIM signature of lists.example.test does not verify: signature did not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			o := w.opts()
			o.ListHosts = nil // the Received path would prove it otherwise
			v := verify(t, tc.change(w, delivered(w.signedCopy(), "")), o)
			if v.Authenticated {
				t.Fatalf("authenticated: %+v", v)
			}
			if !strings.HasPrefix(v.Reason, tc.reason) {
				t.Errorf("reason %q, want it to start %q", v.Reason, tc.reason)
			}
			wantCheck(t, "dkim", v.Checks.DKIM, ResultFail, "lists.example.test")
			if v.TempError != "" {
				t.Errorf("temperror %q for a permanent failure", v.TempError)
			}
		})
	}
}

func TestSignatureOfAnotherDomainDoesNotAuthenticate(t *testing.T) {
	w := newWorld(t)
	// A stranger signs with a key of their own domain, valid in DNS.
	w.dns.set("s._domainkey.stranger.example", keyRecord(t, rsaKey(t, 2)))
	raw := w.sign(listCopy, "stranger.example", "s", rsaKey(t, 2), listSigned)
	v := verify(t, raw, w.opts())
	if v.Authenticated || !strings.Contains(v.Reason, "no DKIM signature of lists.example.test") {
		t.Fatalf("verdict %+v", v)
	}
	wantCheck(t, "dkim", v.Checks.DKIM, ResultPass, "stranger.example")
	// The same signature counts once its domain is a configured signing
	// domain.
	o := w.opts()
	o.SigningDomains = []string{"Stranger.Example."}
	if v := verify(t, raw, o); !v.Authenticated || v.Path != PathDKIM {
		t.Fatalf("with the signing domain: %+v", v)
	}
}

func TestDMARCFollowsAlignmentAndPolicy(t *testing.T) {
	w := newWorld(t)
	posterSigned := []string{"From", "To", "Subject", "Date", "Message-ID"}
	both := w.sign(w.signedCopy(), "poster.example", "p1", w.posterKey, posterSigned)
	v := verify(t, both, w.opts())
	wantCheck(t, "dmarc aligned", v.Checks.DMARC, ResultPass, "poster.example")
	wantCheck(t, "dkim prefers the aligned pass", v.Checks.DKIM, ResultPass, "poster.example")
	if !v.Authenticated || v.Path != PathDKIM {
		t.Errorf("the list's signature still authenticates: %+v", v)
	}

	w.dns.set(posterDMARC, "v=DMARC1; p=none")
	v = verify(t, w.signedCopy(), w.opts())
	wantCheck(t, "dmarc p=none", v.Checks.DMARC, ResultFail, "poster.example")
	if !strings.HasPrefix(v.Checks.DMARC.Reason, "p=none") {
		t.Errorf("reason %q", v.Checks.DMARC.Reason)
	}
	w.dns.set(posterDMARC)
	v = verify(t, w.signedCopy(), w.opts())
	wantCheck(t, "no record", v.Checks.DMARC, ResultNone, "poster.example")

	// A subdomain without a record of its own takes the organizational
	// domain's sp=.
	w.dns.set(posterDMARC, "v=DMARC1; p=none; sp=quarantine")
	sub := strings.Replace(listCopy, "poster@poster.example", "poster@mail.poster.example", 1)
	v = verify(t, w.sign(sub, "lists.example.test", "list", w.listKey, listSigned), w.opts())
	wantCheck(t, "subdomain", v.Checks.DMARC, ResultFail, "mail.poster.example")
	if !strings.HasPrefix(v.Checks.DMARC.Reason, "p=quarantine") {
		t.Errorf("subdomain policy: %q", v.Checks.DMARC.Reason)
	}

	// A From in the list's own domain (Mailman's munge_from) aligns with
	// the list's signature (relaxed: a sibling of the same organization).
	munged := strings.Replace(listCopy, "Poster <poster@poster.example>", "Poster via List <list@lists.example.test>", 1)
	w.dns.set("_dmarc.example.test", "v=DMARC1; p=reject")
	v = verify(t, w.sign(munged, "lists.example.test", "list", w.listKey, listSigned), w.opts())
	wantCheck(t, "munged From", v.Checks.DMARC, ResultPass, "lists.example.test")
}

func TestDNSFailureIsATempErrorNeverAPass(t *testing.T) {
	w := newWorld(t)
	w.dns.setServfail(listKeyName)
	o := w.opts()
	o.ListHosts = nil
	v := verify(t, delivered(w.signedCopy(), ""), o)
	if v.Authenticated {
		t.Fatalf("authenticated on a DNS failure: %+v", v)
	}
	if !strings.HasPrefix(v.Reason, "DNS lookup failed: ") || v.TempError == "" {
		t.Errorf("reason %q, temperror %q", v.Reason, v.TempError)
	}
	wantCheck(t, "dkim", v.Checks.DKIM, ResultTempError, "lists.example.test")
	if v.Checks.OneClickUnsubscribe.Result == ResultPass {
		t.Errorf("one-click passed without a verified signature")
	}

	// No resolver at all: the same.
	o.Resolver = nil
	v = verify(t, w.signedCopy(), o)
	if v.Authenticated || v.TempError == "" || v.Checks.DKIM.Result != ResultTempError || v.Checks.DMARC.Result != ResultTempError {
		t.Fatalf("without a resolver: %+v", v)
	}
}

func TestDNSFailureElsewhereDoesNotTaintTheVerdict(t *testing.T) {
	w := newWorld(t)
	w.dns.setServfail(posterDMARC)
	o := w.opts()
	o.ListHosts = nil
	v := verify(t, w.signedCopy(), o)
	if !v.Authenticated || v.TempError != "" {
		t.Fatalf("verdict %v %q %q", v.Authenticated, v.Reason, v.TempError)
	}
	wantCheck(t, "dmarc", v.Checks.DMARC, ResultTempError, "poster.example")
	// A body hash mismatch is definitive, whatever else DNS did.
	v = verify(t, strings.Replace(w.signedCopy(), "Hello list.", "Forged.", 1), o)
	if v.Authenticated || v.TempError != "" || !strings.HasPrefix(v.Reason, "DKIM signature of lists.example.test does not verify: body hash") {
		t.Fatalf("altered: %v %q %q", v.Authenticated, v.Reason, v.TempError)
	}
}

func TestFromWithAnUnknownCharsetStillHasADomain(t *testing.T) {
	w := newWorld(t)
	raw := strings.Replace(listCopy, "From: Poster <poster@poster.example>", "From: =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?= <poster@poster.example>", 1)
	v := verify(t, w.sign(raw, "lists.example.test", "list", w.listKey, listSigned), w.opts())
	wantCheck(t, "dmarc", v.Checks.DMARC, ResultFail, "poster.example")
	if !strings.HasPrefix(v.Checks.DMARC.Reason, "p=reject") {
		t.Errorf("reason %q", v.Checks.DMARC.Reason)
	}
}

func TestSilentDNSServerIsBoundedByTheTimeout(t *testing.T) {
	w := newWorld(t)
	w.dns.setSilent(listKeyName)
	o := w.opts()
	r, err := NewResolver(ResolverOptions{Server: w.dns.addr, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o.Resolver = r
	start := time.Now()
	v := verify(t, w.signedCopy(), o)
	if v.Authenticated || v.Checks.DKIM.Result != ResultTempError {
		t.Fatalf("verdict %+v", v)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("took %v", el)
	}
}

func TestOneClickUnsubscribeMustBeSigned(t *testing.T) {
	w := newWorld(t)
	notCovered := []string{"From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe"}
	v := verify(t, w.sign(listCopy, "lists.example.test", "list", w.listKey, notCovered), w.opts())
	wantCheck(t, "post not signed", v.Checks.OneClickUnsubscribe, ResultFail, "")
	if !strings.Contains(v.Checks.OneClickUnsubscribe.Reason, "h=") {
		t.Errorf("reason %q", v.Checks.OneClickUnsubscribe.Reason)
	}

	noHTTPS := strings.Replace(listCopy, ",\r\n <https://lists.example.test/unsub/x>", "", 1)
	v = verify(t, w.sign(noHTTPS, "lists.example.test", "list", w.listKey, listSigned), w.opts())
	wantCheck(t, "mailto only", v.Checks.OneClickUnsubscribe, ResultFail, "")

	noPost := strings.Replace(listCopy, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", "", 1)
	v = verify(t, w.sign(noPost, "lists.example.test", "list", w.listKey, listSigned), w.opts())
	wantCheck(t, "no post header", v.Checks.OneClickUnsubscribe, ResultFail, "")

	bare := strings.Replace(noPost, "List-Unsubscribe: <mailto:list-leave@lists.example.test>,\r\n <https://lists.example.test/unsub/x>\r\n", "", 1)
	bare = strings.Replace(bare, "List-Id: List <list.lists.example.test>\r\n", "", 1)
	v = verify(t, w.sign(bare, "lists.example.test", "list", w.listKey, []string{"From"}), w.opts())
	wantCheck(t, "none", v.Checks.OneClickUnsubscribe, ResultNone, "")
	wantCheck(t, "no list-id", v.Checks.ListID, ResultNone, "")

	// A signature that covers both but does not verify does not count.
	broken := strings.Replace(w.signedCopy(), "Hello list.", "Hello.", 1)
	v = verify(t, broken, w.opts())
	wantCheck(t, "broken signature", v.Checks.OneClickUnsubscribe, ResultFail, "")
}

func TestHeaderOnlyLeavesBodyHashesUnchecked(t *testing.T) {
	w := newWorld(t)
	msg := SplitMessage([]byte(delivered(w.signedCopy(), "")))
	msg.Body, msg.BodyComplete = nil, false
	o := w.opts()
	o.ListHosts = nil
	v := Verify(context.Background(), msg, o)
	if v.Authenticated {
		t.Fatalf("DKIM path without a body: %+v", v)
	}
	wantCheck(t, "dkim", v.Checks.DKIM, ResultUnchecked, "lists.example.test")
	wantCheck(t, "one-click", v.Checks.OneClickUnsubscribe, ResultUnchecked, "lists.example.test")
	if v.BodyChecked || !strings.Contains(v.Reason, "not checked: body not fetched") {
		t.Errorf("reason %q", v.Reason)
	}
	if w.dns.total() != 1 { // only the DMARC record: no key is fetched
		t.Errorf("%d DNS queries", w.dns.total())
	}
	// Without a body the Received path still proves it, when configured.
	if v := Verify(context.Background(), msg, w.opts()); !v.Authenticated || v.Path != PathReceived {
		t.Errorf("received path: %+v", v)
	}

	// The trusted receiver's dkim=pass stands in for the unchecked
	// signature, and says whose word it is.
	msg = SplitMessage([]byte(delivered(w.signedCopy(), "mx.example.org; dkim=pass header.d=lists.example.test")))
	msg.Body, msg.BodyComplete = nil, false
	v = Verify(context.Background(), msg, o)
	if !v.Authenticated || v.Path != PathAuthRes {
		t.Fatalf("verdict %+v", v)
	}
	wantCheck(t, "dkim from A-R", v.Checks.DKIM, ResultPass, "lists.example.test")
	if v.Signatures[0].VerifiedBy != "mx.example.org" {
		t.Errorf("signature %+v", v.Signatures[0])
	}
}

func TestSplitMessage(t *testing.T) {
	for _, tc := range []struct{ raw, header, body string }{
		{"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", "A: 1\r\nB: 2\r\n", "body\r\n\r\nmore"},
		{"A: 1\nB: 2\n\nbody\r\n\r\nmore", "A: 1\nB: 2\n", "body\r\n\r\nmore"},
		{"A: 1\r\n\nbody", "A: 1\r\n", "body"},
		{"A: 1\r\n", "A: 1\r\n", ""},
	} {
		m := SplitMessage([]byte(tc.raw))
		if string(m.Header) != tc.header || string(m.Body) != tc.body || !m.BodyComplete {
			t.Errorf("%q: header %q body %q", tc.raw, m.Header, m.Body)
		}
	}
}

// A saved message with LF line ends (as a mail client writes it) verifies
// as the CRLF original.
func TestSavedWithLFLineEndsVerifies(t *testing.T) {
	w := newWorld(t)
	raw := strings.ReplaceAll(w.signedCopy(), "\r\n", "\n")
	if v := verify(t, raw, trustOpts(w)); !v.Authenticated || v.Path != PathDKIM {
		t.Fatalf("verdict %v %q", v.Authenticated, v.Reason)
	}
}

func TestTruncatedHeaderLeavesSignaturesUnchecked(t *testing.T) {
	_, o := arcWorld(t)
	msg := SplitMessage([]byte(fixture(t, "arc-two.eml")))
	msg.HeaderTruncated = true
	v := Verify(context.Background(), msg, o)
	if v.Authenticated || v.BodyChecked || v.ARC.Result != ResultUnchecked || v.Checks.DKIM.Result != ResultUnchecked {
		t.Fatalf("verdict %v %q arc %s dkim %s", v.Authenticated, v.Reason, v.ARC.Result, v.Checks.DKIM.Result)
	}
	if !strings.Contains(v.Reason, "header cut at the fetch limit") {
		t.Errorf("reason %q", v.Reason)
	}
}
