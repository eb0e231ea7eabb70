package probe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/internal/dnstest"
	"github.com/listprobe/listprobe/probe/config"
)

// fixtureVerdict verifies checks/authn's captured testbed copy (Mailman's
// ARC seal, OpenDKIM's signature of lists.example.test, rspamd's
// Authentication-Results) against a real DNS server serving the testbed's
// zone, less the names in without.
func fixtureVerdict(t *testing.T, without ...string) *authn.Verdict {
	t.Helper()
	dir := filepath.Join("..", "checks", "authn", "testdata")
	raw, err := os.ReadFile(filepath.Join(dir, "testbed-mailman-copy.eml"))
	if err != nil {
		t.Fatal(err)
	}
	zone, err := os.Open(filepath.Join(dir, "zone-testbed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer zone.Close()
	d := dnstest.Start(t)
	sc := bufio.NewScanner(zone)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		skip := false
		for _, w := range without {
			skip = skip || name == w
		}
		if ok && !skip {
			d.Set(name, value)
		}
	}
	r, err := authn.NewResolver(authn.ResolverOptions{Server: d.Addr, Timeout: 500 * time.Millisecond, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	return authn.Verify(context.Background(), authn.SplitMessage(raw), &authn.Options{ListDomain: "lists.example.test",
		AuthServIDs: []string{"mail.example.test"}, AuthResultsBelowReceived: true, Resolver: r})
}

// deliverCopy hands a probe run a copy in the reader's mailbox carrying v
// and returns the result.
func deliverCopy(t *testing.T, v *authn.Verdict) *Result {
	t.Helper()
	r := fakeRun(fakeSession("reader", true, nil), nil)
	e := sighting{kind: checks.KindProbeCopy, account: "reader", seenAt: r.accepted.Add(time.Second)}
	if v != nil {
		e.authn = &v.Checks
	}
	if !applyEvidence(r, e) || r.res.Outcome != Delivered {
		t.Fatalf("copy did not deliver: %s %q", r.res.Outcome, r.res.Reason)
	}
	r.res.List, r.res.Expected, r.res.OK = r.list.Address, Delivered, true
	return r.res
}

func TestDeliveredCopyCarriesItsAuthenticationVerdict(t *testing.T) {
	res := deliverCopy(t, fixtureVerdict(t))
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Authentication map[string]struct{ Result, Domain, Detail string }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"dkim": {"pass", "lists.example.test"}, "spf": {"pass", "lists.example.test"},
		"dmarc": {"pass", "lists.example.test"}, "arc": {"pass", "lists.example.test"},
		"list_id":               {"pass", "tb-dmarc-171330941260.lists.example.test"},
		"one_click_unsubscribe": {"fail", ""},
	}
	if len(doc.Authentication) != len(want) {
		t.Errorf("authentication %s, want the six checks", b)
	}
	for name, w := range want {
		if got := doc.Authentication[name]; got.Result != w[0] || got.Domain != w[1] || got.Detail != "" {
			t.Errorf("%s = %+v, want %s for %q", name, got, w[0], w[1])
		}
	}
	sum := res.Authentication.Summary()
	if !strings.HasPrefix(sum, "dkim=pass (lists.example.test) spf=pass dmarc=pass arc=pass list_id=pass (tb-dmarc-") ||
		!strings.HasSuffix(sum, "one_click_unsubscribe=fail") {
		t.Errorf("summary %q", sum)
	}
}

// The list's DKIM key removed from DNS: the signature no longer verifies
// and says why; DMARC still passes, on the receiver's aligned SPF pass
// alone (the From is the list's, rewritten by Mailman), and says so.
func TestDKIMKeyGoneShowsInTheVerdict(t *testing.T) {
	res := deliverCopy(t, fixtureVerdict(t, "list._domainkey.lists.example.test"))
	a := res.Authentication
	if a.DKIM.Result != AuthFail || a.DKIM.Domain != "lists.example.test" || !strings.Contains(a.DKIM.Reason, "no key") {
		t.Errorf("dkim %+v without the key, want fail naming the missing key", a.DKIM)
	}
	if a.DMARC.Result != AuthPass || !strings.Contains(a.DMARC.Reason, "aligned SPF pass") {
		t.Errorf("dmarc %+v, want pass by the aligned SPF", a.DMARC)
	}
	if a.ARC.Result != AuthPass {
		t.Errorf("arc %+v, want pass (its key is still there)", a.ARC)
	}
}

func TestCopyWithoutVerdictHasNoAuthentication(t *testing.T) {
	res := deliverCopy(t, nil)
	b, _ := json.Marshal(res)
	if res.Authentication != nil || strings.Contains(string(b), `"authentication"`) {
		t.Errorf("a copy without a verdict: %s", b)
	}
}

// The RFC 8601 results beyond pass, fail and none keep to the contract's
// three, with the precise word in detail, and the metric tells "not known"
// from "none".
func TestAuthenticationMapsEveryResult(t *testing.T) {
	for _, tc := range []struct {
		in     authn.Result
		result AuthResult
		detail string
		label  string
	}{
		{authn.ResultPass, AuthPass, "", "pass"},
		{authn.ResultFail, AuthFail, "", "fail"},
		{authn.ResultNone, AuthNone, "", "none"},
		{"", AuthNone, "", "none"},
		{authn.ResultPermError, AuthFail, "permerror", "fail"},
		{authn.ResultTempError, AuthNone, "temperror", "unknown"},
		{authn.ResultUnchecked, AuthNone, "unchecked", "unknown"},
		{"policy", AuthNone, "unchecked", "unknown"},
	} {
		a := AuthenticationOf(&authn.Checks{DMARC: authn.Check{Result: tc.in, Domain: "example.test"}})
		if a.DMARC.Result != tc.result || a.DMARC.Detail != tc.detail || AuthLabel(a.DMARC) != tc.label {
			t.Errorf("%q: %+v label %s, want %s/%s %s", tc.in, a.DMARC, AuthLabel(a.DMARC), tc.result, tc.detail, tc.label)
		}
	}
}

func TestCopyAuthenticationMetric(t *testing.T) {
	m := NewMetrics()
	const list = "l@lists.example.org"
	m.Configure(&config.Config{Lists: []*config.ListConfig{{Address: list, Expect: config.ExpectDelivered}}, Accounts: map[string]*config.AccountConfig{}})
	if n := seriesCount(t, m, "listprobe_copy_authentication_info"); n != 0 {
		t.Errorf("%d series before any copy, want 0", n)
	}
	lat := 1.0
	res := deliverCopy(t, fixtureVerdict(t))
	res.List, res.Latency = list, &lat
	m.Record(res)
	const head = `
# HELP listprobe_copy_authentication_info Always 1: the authentication verdict of the list's last delivered copy, one label per check: pass, fail, none or unknown (a DNS failure or a cut message).
# TYPE listprobe_copy_authentication_info gauge
`
	want := head + `listprobe_copy_authentication_info{arc="pass",dkim="pass",dmarc="pass",list="l@lists.example.org",list_id="pass",one_click_unsubscribe="fail",spf="pass"} 1
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "listprobe_copy_authentication_info"); err != nil {
		t.Error(err)
	}
	// A failed probe leaves the last copy's verdict.
	m.Record(&Result{List: list, Outcome: Lost, Expected: Delivered})
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "listprobe_copy_authentication_info"); err != nil {
		t.Errorf("after a lost probe: %v", err)
	}
	// The next copy's verdict replaces the series: one per list.
	res = deliverCopy(t, fixtureVerdict(t, "list._domainkey.lists.example.test"))
	res.List, res.Latency = list, &lat
	m.Record(res)
	want = head + `listprobe_copy_authentication_info{arc="pass",dkim="fail",dmarc="pass",list="l@lists.example.org",list_id="pass",one_click_unsubscribe="fail",spf="pass"} 1
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "listprobe_copy_authentication_info"); err != nil {
		t.Errorf("after a copy whose DKIM key is gone: %v", err)
	}
	// A DNS failure is unknown, never none.
	res.Authentication = AuthenticationOf(&authn.Checks{DMARC: authn.Check{Result: authn.ResultTempError}})
	m.Record(res)
	want = head + `listprobe_copy_authentication_info{arc="none",dkim="none",dmarc="unknown",list="l@lists.example.org",list_id="none",one_click_unsubscribe="none",spf="none"} 1
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "listprobe_copy_authentication_info"); err != nil {
		t.Errorf("after a DNS failure: %v", err)
	}
	// A copy without a verdict: nothing known, no series.
	m.Record(&Result{List: list, Outcome: Delivered, Expected: Delivered, OK: true, Latency: &lat})
	if n := seriesCount(t, m, "listprobe_copy_authentication_info"); n != 0 {
		t.Errorf("%d series after a copy without a verdict, want 0", n)
	}
	m.Record(res)
	m.Configure(&config.Config{Accounts: map[string]*config.AccountConfig{}})
	if n := seriesCount(t, m, "listprobe_copy_authentication_info"); n != 0 || len(m.lists) != 0 {
		t.Errorf("%d series (%d lists remembered) after the list was removed, want 0", n, len(m.lists))
	}
	if problems, err := testutil.GatherAndLint(m.Gatherer(), "listprobe_copy_authentication_info"); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// A list copy gets its own authentication verdict in the incoming path
// (AuthLists names its list, Authenticate checks it against a real DNS
// server), which the result then carries; and its body is fetched, since
// the list's DKIM signature covers it.
func TestCopyIsAuthenticatedForItsResult(t *testing.T) {
	dns := dnstest.Start(t)
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dns.Set("list._domainkey.lists.example.org", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(pub))
	cfg := trustConfig(t, dns.Addr)
	now := time.Now().Truncate(time.Second)
	tok := cfg.Signer().NewToken(judgeList, now.Add(-10*time.Second))
	raw, err := compose.Message(compose.Probe{From: testMember, List: judgeList, Token: cfg.Signer().Encode(tok), Date: tok.SentAt}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The list signs its copy; the From stays the poster's, whose domain
	// publishes no DMARC record.
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, bytes.NewReader(raw), &dkim.SignOptions{Domain: "lists.example.org", Selector: "list", Signer: key,
		HeaderKeys: []string{"From", "To", "Subject", "Message-ID"}}); err != nil {
		t.Fatal(err)
	}
	in := incoming(t, "reader", signed.String(), now)
	if !wantBody(in.Header) {
		t.Error("the copy's body is not fetched: its DKIM signature could not be checked")
	}
	if got := AuthLists(in, cfg); len(got) != 1 || got[0] != judgeList {
		t.Fatalf("AuthLists of a copy = %v, want its list", got)
	}
	i := strings.Index(signed.String(), "\r\n\r\n")
	msg := authn.Message{Header: signed.Bytes()[:i+2], Body: signed.Bytes()[i+4:], BodyComplete: true}
	r, err := authn.NewResolver(cfg.Global.ResolverOptions())
	if err != nil {
		t.Fatal(err)
	}
	in.Auth = Authenticate(context.Background(), in, msg, cfg, r)
	a := in.Auth[strings.ToLower(judgeList)]
	if a == nil {
		t.Fatalf("no verdict for the copy's list: %v", in.Auth)
	}
	got := AuthenticationOf(&a.Checks)
	if got.DKIM.Result != AuthPass || got.DKIM.Domain != "lists.example.org" || got.DMARC.Result != AuthNone || got.DMARC.Detail != "" {
		t.Errorf("dkim %+v, dmarc %+v; want dkim to pass for lists.example.org, dmarc none (no record)", got.DKIM, got.DMARC)
	}
	// Judged as before: a copy, trusted by its token.
	v := Judge(in, cfg, fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, Pending: true, Signer: cfg.Signer(), Config: cfg, List: judgeList, PosterAccount: "member", SentAt: tok.SentAt}}})
	if !v.Copy || v.Trust != TrustAuthenticated {
		t.Errorf("copy %v, trust %s: %s (%d probes, kind %s)", v.Copy, v.Trust, v.Why, len(v.Probes), v.Evidence.Kind)
	}
	// A human's message is not fetched whole.
	if wantBody(incoming(t, "reader", "From: someone@example.org\r\nSubject: hello\r\nMessage-ID: <h@example.org>\r\n\r\nhi\r\n", now).Header) {
		t.Error("a human's message is fetched whole")
	}
}
