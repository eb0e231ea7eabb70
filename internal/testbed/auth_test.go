package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-msgauth/dkim"
)

// verifications verifies every DKIM-Signature of msg against the testbed's
// DNS (go-msgauth, the library listprobe uses).
func verifications(t *testing.T, e Env, msg []byte) []*dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: e.LookupTXT(t)})
	if err != nil {
		t.Fatalf("DKIM verification: %v", err)
	}
	return vs
}

// signedBy returns the verification of msg's signature by domain (nil when
// it has none).
func signedBy(vs []*dkim.Verification, domain string) *dkim.Verification {
	for _, v := range vs {
		if v.Domain == domain {
			return v
		}
	}
	return nil
}

func header(t *testing.T, msg []byte) mail.Header {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("reading a copy: %v", err)
	}
	return m.Header
}

// Each list server's copy carries a DKIM signature of its list's domain
// (OpenDKIM on the list servers' outgoing path) that verifies against the
// testbed's DNS; Mailman's copy is ARC-sealed by lists.example.test too,
// and Mailman found the member's own signature valid, which it can only
// have done by asking the testbed's DNS (its resolv.conf names it).
func TestListCopiesAreSignedByTheirListDomain(t *testing.T) {
	e := LoadAuth(t)
	e.LockDNS(t)
	lists := map[string]string{
		e.Get(t, "LIST"):       e.Get(t, "LIST_DOMAIN"),
		e.Get(t, "SYMPA_LIST"): e.Get(t, "SYMPA_DOMAIN"),
		e.Get(t, "MLMMJ_LIST"): e.Get(t, "MLMMJ_DOMAIN"),
	}
	for list, domain := range lists {
		t.Run(domain, func(t *testing.T) {
			t.Parallel()
			subject := post(t, e, "MEMBER", list, "dkim")
			msg := e.WaitMessage(t, "READER", bySubject(subject), 60*time.Second)
			vs := verifications(t, e, msg)
			v := signedBy(vs, domain)
			if v == nil {
				t.Fatalf("the copy has no DKIM-Signature d=%s: %v\n%s", domain, vs, msg)
			}
			if v.Err != nil {
				t.Fatalf("the d=%s signature does not verify: %v", domain, v.Err)
			}
			if want := e.Get(t, "DKIM_SELECTOR"); !strings.Contains(headerValue(msg, "DKIM-Signature", "d="+domain), "s="+want) {
				t.Errorf("the d=%s signature does not use selector %s", domain, want)
			}
			h := header(t, msg)
			ar := h.Get("Authentication-Results")
			if !strings.HasPrefix(ar, e.Get(t, "AUTHSERV_ID")+";") || !strings.Contains(ar, "dkim=pass header.d="+domain) {
				t.Errorf("the readers' MX did not record dkim=pass for %s: %q", domain, ar)
			}
			if domain != e.Get(t, "LIST_DOMAIN") {
				return
			}
			seal := headerValue(msg, "ARC-Seal", "")
			if !strings.Contains(seal, "d="+e.Get(t, "ARC_DOMAIN")) || !strings.Contains(seal, "s="+e.Get(t, "ARC_SELECTOR")) || !strings.Contains(seal, "i=1") {
				t.Errorf("Mailman's copy has no ARC-Seal i=1 of %s: %q", e.Get(t, "ARC_DOMAIN"), seal)
			}
			if aar := headerValue(msg, "ARC-Authentication-Results", ""); !strings.Contains(aar, "dkim=pass header.d="+e.Get(t, "MAIL_DOMAIN")) {
				t.Errorf("Mailman did not verify the member's signature through the testbed's DNS: %q", aar)
			}
			if !strings.Contains(ar, "arc=pass") {
				t.Errorf("the readers' MX did not find Mailman's ARC seal valid: %q", ar)
			}
		})
	}
}

// headerValue returns the unfolded value of the first field name of msg
// whose value contains sub.
func headerValue(msg []byte, name, sub string) string {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return ""
	}
	for _, v := range m.Header[textproto.CanonicalMIMEHeaderKey(name)] {
		v = strings.Join(strings.Fields(v), " ")
		if strings.Contains(v, sub) {
			return v
		}
	}
	return ""
}

// Breaking the list's DKIM key in DNS makes the copy's signature fail, and
// restoring it makes the same copy verify again: the change is served at
// once (TTL 1 s, no cache in NSD).
func TestBrokenDKIMKeyInDNSFailsTheListSignature(t *testing.T) {
	e := LoadAuth(t)
	domain := e.Get(t, "MLMMJ_DOMAIN")
	subject := post(t, e, "MEMBER", e.Get(t, "MLMMJ_LIST"), "dkim-break")
	msg := e.WaitMessage(t, "READER", bySubject(subject), 60*time.Second)
	key := e.Get(t, "DKIM_SELECTOR") + "._domainkey." + domain

	e.SetDNSRecord(t, key, "TXT", "v=DKIM1; k=rsa; p=MIIBroken")
	if v := signedBy(verifications(t, e, msg), domain); v == nil || v.Err == nil {
		t.Fatalf("with a broken key the d=%s signature still verifies: %+v", domain, v)
	}
	e.DeleteDNSRecord(t, key, "TXT")
	v := signedBy(verifications(t, e, msg), domain)
	if v == nil || v.Err == nil || !dkim.IsPermFail(v.Err) {
		t.Fatalf("with no key the d=%s signature is not a permanent failure: %+v", domain, v)
	}
	e.RestoreDNSRecord(t, key, "TXT")
	if v := signedBy(verifications(t, e, msg), domain); v == nil || v.Err != nil {
		t.Fatalf("with the key restored the d=%s signature does not verify: %+v", domain, v)
	}
}

// trip is a post's body and where each reader's copy of it must be filed.
type trip struct {
	body            string
	reader, reader2 string // "INBOX" or the Junk mailbox
	flagged         bool   // X-Spam-Flag: YES
}

// The same post, with the stricter domain's trip phrase in it, reaches the
// lenient reader's INBOX and the strict reader's Junk; the phrase for
// everyone sends both copies to Junk, flagged X-Spam-Flag: YES; and an
// ordinary post reaches both INBOXes. Mailman's copies score lowest (its
// ARC seal counts -1), mlmmj's as most list copies do.
func TestSpamTripFilesByEachReaderDomainsRule(t *testing.T) {
	e := LoadAuth(t)
	junk := e.Get(t, "JUNK_MAILBOX")
	for _, account := range []string{"READER", "READER2"} {
		if got := e.JunkMailbox(t, account); got != junk {
			t.Fatalf("%s's \\Junk mailbox is %q, want %q", account, got, junk)
		}
	}
	trips := []trip{
		{"hello", "INBOX", "INBOX", false},
		{"a footer with " + e.Get(t, "SPAM_TRIP_STRICT") + " in it", "INBOX", junk, false},
		{"a footer with " + e.Get(t, "SPAM_TRIP_ALL") + " in it", junk, junk, true},
	}
	for _, list := range []string{e.Get(t, "LIST"), e.Get(t, "MLMMJ_LIST")} {
		for i, c := range trips {
			t.Run(fmt.Sprint(list, "/", i), func(t *testing.T) {
				t.Parallel()
				tripped(t, e, list, junk, c)
			})
		}
	}
}

// tripped posts c.body to list and checks where each reader's copy is filed.
func tripped(t *testing.T, e Env, list, junk string, c trip) {
	t.Helper()
	subject := fmt.Sprintf("testbed spam trip %d", time.Now().UnixNano())
	e.Submit(t, "MEMBER", list, []byte("From: "+e.Get(t, "MEMBER")+"\r\nTo: "+list+"\r\nSubject: "+subject+
		"\r\nMessage-ID: <spamtrip."+fmt.Sprint(time.Now().UnixNano())+"@example.test>\r\n\r\n"+c.body+"\r\n"))
	for _, w := range []struct{ account, box string }{{"READER", c.reader}, {"READER2", c.reader2}} {
		msg := e.WaitMessageIn(t, w.account, w.box, bySubject(subject), 60*time.Second)
		h := header(t, msg)
		if h.Get("X-Spam-Status") == "" {
			t.Errorf("%s's copy has no X-Spam-Status", w.account)
		}
		if got := h.Get("X-Spam-Flag") == "YES"; got != c.flagged {
			t.Errorf("%s's copy: X-Spam-Flag %q, want flagged %v (X-Spam-Status %q)", w.account, h.Get("X-Spam-Flag"), c.flagged, h.Get("X-Spam-Status"))
		}
		other := "INBOX"
		if w.box == "INBOX" {
			other = junk
		}
		if n := e.CountIn(t, w.account, other, bySubject(subject)); n != 0 {
			t.Errorf("%s has %d copies in %s too", w.account, n, other)
		}
	}
}

// A held address's message waits in Postfix's hold queue, reaches nobody,
// and is delivered at once when released; an address of its own (a
// +detail of the reader's) keeps everyone else's mail flowing.
func TestHeldCopyWaitsUntilReleased(t *testing.T) {
	e := LoadAuth(t)
	rcpt := fmt.Sprintf("reader+hold%d@%s", time.Now().UnixNano(), e.Get(t, "MAIL_DOMAIN"))
	e.HoldCopies(t, rcpt)
	subject := fmt.Sprintf("testbed held %d", time.Now().UnixNano())
	msg := []byte("From: " + e.Get(t, "MEMBER") + "\r\nTo: " + rcpt + "\r\nSubject: " + subject + "\r\n\r\nheld\r\n")
	e.InjectForeign(t, Foreign{From: e.Get(t, "MEMBER"), To: []string{rcpt}}, msg)
	ids := e.WaitHeldCopies(t, rcpt, 1, 30*time.Second)
	time.Sleep(time.Second)
	if n := e.CountIn(t, "READER", "INBOX", bySubject(subject)); n != 0 {
		t.Fatalf("a held message reached the reader: %d copies (queue ids %v)", n, ids)
	}
	// The reader's own address is not held.
	other := post(t, e, "MEMBER", e.Get(t, "READER"), "not-held")
	e.WaitMessage(t, "READER", bySubject(other), 30*time.Second)

	e.ReleaseCopies(t, rcpt)
	e.WaitMessage(t, "READER", bySubject(subject), 30*time.Second)
	if ids := e.HeldCopies(t, rcpt); len(ids) != 0 {
		t.Errorf("still held after the release: %v", ids)
	}
}

// Mail from the stranger's host shows that host in the Received field the
// readers' MX adds, is signed by nobody, and fails SPF for the list
// domain it pretends to come from.
func TestForeignMailComesFromAnotherHost(t *testing.T) {
	e := LoadAuth(t)
	e.LockDNS(t)
	// It also forges the MX's verdicts, which the MX removes.
	msg, bounces, subject := e.ForgedHoldNotice(t, "X-Spam-Status: No, score=-100\r\n")
	e.InjectForeign(t, Foreign{From: bounces, To: []string{e.Get(t, "READER")}}, msg)
	got := e.WaitMessage(t, "READER", bySubject(subject), 30*time.Second)
	h := header(t, got)
	received := headerValue(got, "Received", "by "+e.Get(t, "TLS_SERVER_NAME")+" (Postfix)")
	if !strings.Contains(received, "from "+e.Get(t, "STRANGER_HELO")) || !strings.Contains(received, "["+e.Get(t, "STRANGER_ADDR")+"]") {
		t.Errorf("the MX's Received field does not name the stranger's host: %q", received)
	}
	if vs := verifications(t, e, got); len(vs) != 0 {
		t.Errorf("foreign mail carries DKIM signatures: %+v", vs)
	}
	if ars := h["Authentication-Results"]; len(ars) != 1 || !strings.Contains(ars[0], "spf=fail") || strings.Contains(ars[0], "dkim=pass") {
		t.Errorf("want the MX's one Authentication-Results with spf=fail for %s from %s, got %q", bounces, e.Get(t, "STRANGER_ADDR"), ars)
	}
	if st := h["X-Spam-Status"]; len(st) != 1 || strings.Contains(st[0], "-100") {
		t.Errorf("the forged X-Spam-Status survived: %q", st)
	}
}

// The stranger is in no trusted network: it delivers to the testbed's
// domains only, and relays nowhere else.
func TestStrangerCannotRelay(t *testing.T) {
	e := LoadAuth(t)
	err := e.injectForeign(Foreign{From: "x@" + e.Get(t, "STRANGER_DOMAIN"), To: []string{"someone@elsewhere.test"}}, []byte("Subject: relay\r\n\r\nx\r\n"))
	if err == nil {
		t.Fatal("the stranger's host relayed to elsewhere.test")
	}
	var se interface{ Temporary() bool }
	if !errors.As(err, &se) {
		t.Fatalf("relay refusal is not an SMTP error: %v", err)
	}
}

// Mailman's DMARC mitigation asks the testbed's DNS for the poster's
// policy: a post from reject-poster.test (p=reject) is munged when the list
// mitigates (not unconditionally: only a p=reject or p=quarantine domain is),
// and the copy then passes DMARC at the readers' MX with the list's aligned
// signature; with no mitigation the copy keeps the poster's From and fails
// DMARC under p=reject (the MX only records the verdict).
func TestRejectPosterDMARCThroughMailman(t *testing.T) {
	e := LoadAuth(t)
	e.LockDNS(t)
	ctx := testContext(t)
	c := e.MailmanAdmin(t)
	local := "tb-reject-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	list := local + "@" + e.Get(t, "LIST_DOMAIN")
	if err := c.CreateList(ctx, list); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.RetireList(list) })
	for _, who := range []string{"REJECT_POSTER", "READER"} {
		if err := c.Subscribe(ctx, list, e.Get(t, who), "member"); err != nil {
			t.Fatal(err)
		}
		if err := c.SetMemberModeration(ctx, list, e.Get(t, who), "accept"); err != nil {
			t.Fatal(err)
		}
	}
	poster := e.Get(t, "REJECT_POSTER")
	for _, action := range []string{"munge_from", "no_mitigation"} {
		if err := c.SetListConfig(ctx, list, map[string]any{
			"dmarc_mitigate_action": action, "dmarc_mitigate_unconditionally": false, "admin_immed_notify": false,
		}); err != nil {
			t.Fatal(err)
		}
		subject := "testbed reject poster " + action + " " + local
		e.Submit(t, "REJECT_POSTER", list, []byte("From: "+poster+"\r\nTo: "+list+"\r\nSubject: "+subject+
			"\r\nMessage-ID: <"+action+"."+local+"@"+e.Get(t, "REJECT_DOMAIN")+">\r\n\r\nfrom a p=reject domain\r\n"))
		msg := e.WaitMessage(t, "READER", bySubject(subject), 60*time.Second)
		h := header(t, msg)
		ar := strings.Join(strings.Fields(h.Get("Authentication-Results")), " ")
		from := h.Get("From")
		switch action {
		case "munge_from":
			if !strings.Contains(from, "<"+list+">") {
				t.Errorf("munge_from: the copy's From is not the list: %q (did Mailman see p=reject in the testbed's DNS?)", from)
			}
			if !strings.Contains(ar, "dmarc=pass") {
				t.Errorf("munge_from: the copy does not pass DMARC: %q", ar)
			}
		case "no_mitigation":
			if !strings.Contains(from, poster) {
				t.Errorf("no_mitigation: the copy's From is not the poster: %q", from)
			}
			if !strings.Contains(ar, "dmarc=fail") || !strings.Contains(ar, "header.from="+e.Get(t, "REJECT_DOMAIN")) || !strings.Contains(ar, "policy=reject") {
				t.Errorf("no_mitigation: the copy does not fail DMARC under the poster's p=reject: %q", ar)
			}
		}
	}
}

// A list of the test's own with a +detail address of the reader's as a
// subscriber: holding that address holds only this list's copy for it; the
// reader's ordinary copy of the same post arrives meanwhile, and the held
// copy follows on release, as issue 15's forged-notice test needs it.
func TestHeldListCopyOfOneSubscriber(t *testing.T) {
	e := LoadAuth(t)
	NeedRoot(t)
	ctx := testContext(t)
	list := e.NewMlmmjList(t)
	tagged := strings.Replace(e.Get(t, "READER"), "@", fmt.Sprintf("+held%d@", time.Now().UnixNano()), 1)
	if err := e.MlmmjSubscribe(ctx, list, tagged); err != nil {
		t.Fatal(err)
	}
	e.HoldCopies(t, tagged)
	subject := post(t, e, "MEMBER", list, "held-copy")
	toTagged := bySubject(subject)
	toTagged.Header = append(toTagged.Header, imap.SearchCriteriaHeaderField{Key: "Delivered-To", Value: tagged})
	e.WaitHeldCopies(t, tagged, 1, 30*time.Second)
	if n := e.CountIn(t, "READER", "INBOX", bySubject(subject)); n > 1 {
		t.Fatalf("%d copies in the reader's INBOX while one is held", n)
	}
	e.WaitMessage(t, "READER", &imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}, {Key: "Delivered-To", Value: e.Get(t, "READER")}},
		Not:    []imap.SearchCriteria{{Header: []imap.SearchCriteriaHeaderField{{Key: "Delivered-To", Value: "+held"}}}},
	}, 30*time.Second)
	if n := e.CountIn(t, "READER", "INBOX", toTagged); n != 0 {
		t.Fatalf("the held copy for %s arrived before the release", tagged)
	}
	e.ReleaseCopies(t, tagged)
	e.WaitMessage(t, "READER", toTagged, 30*time.Second)
}

// tbctl changes only the testbed's own zones and writes nothing a zone
// file or an SQL statement could misread.
func TestTbctlRefusesWhatItMustNotWrite(t *testing.T) {
	e := LoadAuth(t)
	NeedRoot(t)
	ctx := testContext(t)
	for _, args := range [][]string{
		{"dns", "set", "list._domainkey.example.org", "TXT", "v=DKIM1; p=x"},
		{"dns", "set", "a b.example.test", "TXT", "x"},
		{"dns", "set", "x.example.test", "TXT", `v=DKIM1" ; p=x`},
		{"dns", "set", "x.example.test", "TXT", "two\nlines"},
		{"dns", "set", "x.example.test", "SOA", "x"},
		{"dns", "delete", "../example.test", "TXT"},
		{"queue", "hold", "reader@example.test'; drop table hold; --"},
		{"queue", "hold", "Reader@Example.test"},
	} {
		if err := e.tbctl(ctx, args...); err == nil {
			t.Errorf("tbctl %q succeeded", args)
		}
	}
	out, err := exec.Command(e.Get(t, "TBCTL"), "dns", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("tbctl dns show: %v: %s", err, out)
	}
	if strings.Contains(string(out), "example.org") || strings.Contains(string(out), "two") {
		t.Errorf("a refused change was recorded:\n%s", out)
	}
}
