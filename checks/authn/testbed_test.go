package authn_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/internal/testbed"
)

// On the real testbed: Mailman 3 seals with ARC, OpenDKIM signs for the
// list domain on the way out, NSD serves the keys, rspamd at the readers'
// MX writes Authentication-Results just below its Received field.

func testbedOptions(t *testing.T, e testbed.Env) *authn.Options {
	t.Helper()
	r, err := authn.NewResolver(authn.ResolverOptions{Server: e.Get(t, "DNS"), CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	return &authn.Options{ListDomain: e.Get(t, "LIST_DOMAIN"), AuthServIDs: []string{e.Get(t, "AUTHSERV_ID")},
		AuthResultsBelowReceived: true, Resolver: r}
}

// postAndRead posts to a Mailman list of the test's own and returns the
// reader's copy. Debian's Mailman 3.3.8 now and then shunts a post to a
// new list ("Multiple rows were found", see deploy/testbed/README.md):
// then it tries again on another list, up to three times.
func postAndRead(t *testing.T, e testbed.Env, what string) []byte {
	t.Helper()
	for attempt := 1; ; attempt++ {
		list := e.NewMailmanList(t)
		subject := fmt.Sprintf("authn %s %d", what, time.Now().UnixNano())
		e.Submit(t, "MEMBER", list, []byte("From: "+e.Get(t, "MEMBER")+"\r\nTo: "+list+"\r\nSubject: "+subject+
			"\r\nMessage-ID: <authn."+fmt.Sprint(time.Now().UnixNano())+"@example.test>\r\n\r\nhello\r\n"))
		crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}}}
		if attempt == 3 {
			return e.WaitMessage(t, "READER", crit, 90*time.Second)
		}
		for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if e.CountIn(t, "READER", "INBOX", crit) > 0 {
				return e.WaitMessage(t, "READER", crit, 10*time.Second)
			}
		}
		t.Logf("no copy of %q from %s after 45 s (Mailman may have shunted it): trying another list", subject, list)
	}
}

func TestTestbedListCopyIsAuthenticatedAndBreaksWithItsKeys(t *testing.T) {
	e := testbed.LoadAuth(t)
	e.LockDNS(t)
	domain := e.Get(t, "LIST_DOMAIN")
	raw := postAndRead(t, e, "copy")
	o := testbedOptions(t, e)
	v := authn.Verify(context.Background(), authn.SplitMessage(raw), o)
	if !v.Authenticated || v.Path != authn.PathDKIM {
		t.Fatalf("verdict %v %s %q\n%s", v.Authenticated, v.Path, v.Reason, raw)
	}
	for name, c := range map[string]authn.Check{"dkim": v.Checks.DKIM, "arc": v.Checks.ARC, "spf": v.Checks.SPF} {
		if c.Result != authn.ResultPass || c.Domain != domain {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if v.Checks.ListID.Result != authn.ResultPass || v.Checks.DMARC.Result == authn.ResultTempError {
		t.Errorf("list_id %+v, dmarc %+v", v.Checks.ListID, v.Checks.DMARC)
	}
	// The list's DKIM key revoked: the ARC set still proves it.
	e.SetDNSRecord(t, e.Get(t, "DKIM_SELECTOR")+"._domainkey."+domain, "TXT", "v=DKIM1; k=rsa; p=")
	v = authn.Verify(context.Background(), authn.SplitMessage(raw), o)
	if !v.Authenticated || v.Path != authn.PathARC || v.Checks.DKIM.Result == authn.ResultPass && v.Checks.DKIM.Domain == domain {
		t.Fatalf("key revoked: %v %s %q", v.Authenticated, v.Path, v.Reason)
	}
	// The ARC key gone too, and the receiver's word not asked for: not
	// authenticated, and the reason says why.
	e.DeleteDNSRecord(t, e.Get(t, "ARC_SELECTOR")+"._domainkey."+domain, "TXT")
	o.AuthServIDs = nil
	v = authn.Verify(context.Background(), authn.SplitMessage(raw), o)
	if v.Authenticated || !strings.Contains(v.Reason, "DKIM signature of "+domain+" does not verify: key revoked") ||
		!strings.Contains(v.Reason, "ARC set 1 of "+domain+" does not verify") {
		t.Fatalf("keys gone: %v %q", v.Authenticated, v.Reason)
	}
}

func TestTestbedForgedNoticeFromAnotherHostIsNotAuthenticated(t *testing.T) {
	e := testbed.LoadAuth(t)
	list := e.Get(t, "LIST")
	bounces := strings.Replace(list, "@", "-bounces@", 1)
	subject := fmt.Sprintf("Your message to %s awaits moderator approval %d", list, time.Now().UnixNano())
	msg := []byte("From: " + bounces + "\r\nTo: " + e.Get(t, "READER") + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <forged." + fmt.Sprint(time.Now().UnixNano()) + "@" + e.Get(t, "STRANGER_DOMAIN") + ">" +
		"\r\nAuthentication-Results: " + e.Get(t, "AUTHSERV_ID") + "; dkim=pass header.d=" + e.Get(t, "LIST_DOMAIN") +
		"\r\n\r\nforged\r\n")
	e.InjectForeign(t, testbed.Foreign{From: bounces, To: []string{e.Get(t, "READER")}}, msg)
	crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}}}
	raw := e.WaitMessage(t, "READER", crit, 60*time.Second)
	o := testbedOptions(t, e)
	o.ListHosts = []string{"127.0.0.1"} // the list server's outgoing connections; the stranger is 127.0.0.2
	v := authn.Verify(context.Background(), authn.SplitMessage(raw), o)
	if v.Authenticated {
		t.Fatalf("authenticated by %s: %q\n%s", v.Path, v.Reason, raw)
	}
	if v.Checks.SPF.Result != authn.ResultFail || v.Received == nil || v.Received.Address != e.Get(t, "STRANGER_ADDR") {
		t.Errorf("spf %+v, received %+v", v.Checks.SPF, v.Received)
	}
}
