package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/testbed"
)

// End-to-end tests of the copy's authentication verdict on the real
// testbed: OpenDKIM signs the list's copies for lists.example.test, Mailman
// 3 seals them with ARC, NSD serves the keys and the DMARC records, rspamd
// at the readers' MX writes Authentication-Results below its Received
// field. Each change shows in the verdict of the next probe.

// authnOnce is once's JSON result with the copy's authentication verdict.
type authnOnce struct {
	Outcome        string `json:"outcome"`
	Reason         string `json:"reason"`
	Authentication map[string]struct {
		Result, Domain, Detail, Reason string
	} `json:"authentication"`
}

// authnList is a Mailman list of the test's own, posted to by
// poster@reject-poster.test (whose domain publishes p=reject), with a
// config that trusts the testbed's receiving server and asks its DNS.
type authnList struct {
	*e2eList
	file string
}

func newAuthnList(t *testing.T, e testbed.Env, settings map[string]any) *authnList {
	t.Helper()
	l := newE2EList(t, e, settings)
	if err := l.admin.Subscribe(context.Background(), l.address, e.Get(t, "REJECT_POSTER"), "member"); err != nil {
		t.Fatal(err)
	}
	file := l.config(t, 90*time.Second, false, "    list_server: testbed\nlist_servers:\n  testbed:\n    authserv_ids: ["+
		e.Get(t, "AUTHSERV_ID")+"]\n    authres_below_received: true\n")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// The poster is the p=reject domain's account (the config's DNS is
	// already the testbed's).
	s := string(raw)
	if !strings.Contains(s, e.Get(t, "DNS")) {
		t.Fatalf("the e2e config does not ask the testbed's DNS:\n%s", s)
	}
	for _, v := range []string{"", "_PASSWORD_FILE"} {
		s = strings.Replace(s, e.Get(t, "MEMBER"+v), e.Get(t, "REJECT_POSTER"+v), -1)
	}
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return &authnList{e2eList: l, file: file}
}

// probe runs one probe and returns its result; the copy must be delivered.
func (l *authnList) probe(t *testing.T, what string) authnOnce {
	t.Helper()
	code, out, errOut := runCmd(t, "once", "--config.file="+l.file, "--output=json", "--log.level=warn")
	var doc struct{ Results []authnOnce }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
		t.Fatalf("%s: once: exit %d, %v\nstdout: %s\nstderr: %s", what, code, err, out, errOut)
	}
	r := doc.Results[0]
	t.Logf("%s: %s: %+v", what, r.Outcome, r.Authentication)
	if r.Outcome != "delivered" || len(r.Authentication) != 6 {
		t.Fatalf("%s: outcome %s (%s), authentication %v; want a delivered copy with its six checks", what, r.Outcome, r.Reason, r.Authentication)
	}
	return r
}

func wantCheck(t *testing.T, r authnOnce, check, result, domain string) {
	t.Helper()
	c := r.Authentication[check]
	if c.Result != result || domain != "" && c.Domain != domain {
		t.Errorf("%s = %+v, want %s for %q", check, c, result, domain)
	}
}

func TestE2ECopyAuthenticationFollowsTheListsKeysAndSettings(t *testing.T) {
	e := testbed.LoadAuth(t)
	e.LockDNS(t)
	domain := e.Get(t, "LIST_DOMAIN")
	l := newAuthnList(t, e, map[string]any{"dmarc_mitigate_action": "munge_from"})

	// Copies that pass: the From is the list's (munged), signed by the
	// list's domain and sealed by Mailman.
	r := l.probe(t, "munge_from")
	for _, c := range []string{"dkim", "spf", "dmarc", "arc"} {
		wantCheck(t, r, c, "pass", domain)
	}
	wantCheck(t, r, "list_id", "pass", "")
	// Mailman 3.3.8's List-Unsubscribe is mailto only, never one-click.
	wantCheck(t, r, "one_click_unsubscribe", "fail", "")

	// The list's DKIM key removed from DNS: its signature fails; ARC,
	// under its own key, still passes.
	keyName := e.Get(t, "DKIM_SELECTOR") + "._domainkey." + domain
	e.DeleteDNSRecord(t, keyName, "TXT")
	r = l.probe(t, "DKIM key removed")
	wantCheck(t, r, "dkim", "fail", domain)
	wantCheck(t, r, "arc", "pass", domain)
	e.RestoreDNSRecord(t, keyName, "TXT")

	// ARC signing broken: Mailman's ARC key removed from DNS.
	arcName := e.Get(t, "ARC_SELECTOR") + "._domainkey." + e.Get(t, "ARC_DOMAIN")
	e.DeleteDNSRecord(t, arcName, "TXT")
	r = l.probe(t, "ARC key removed")
	wantCheck(t, r, "arc", "fail", domain)
	wantCheck(t, r, "dkim", "pass", domain)
	e.RestoreDNSRecord(t, arcName, "TXT")

	// dmarc_mitigate_action switched off: the From stays the p=reject
	// poster's, whose signature the list's changes broke.
	if err := l.admin.SetListConfig(context.Background(), l.address, map[string]any{"dmarc_mitigate_action": "no_mitigation"}); err != nil {
		t.Fatal(err)
	}
	r = l.probe(t, "no_mitigation")
	wantCheck(t, r, "dmarc", "fail", e.Get(t, "REJECT_DOMAIN"))
	wantCheck(t, r, "dkim", "pass", domain)
}
