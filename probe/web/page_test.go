package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
	"github.com/listprobe/listprobe/probe/internal/probetest"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// The world of these tests (package probetest).
const (
	testMember = probetest.Member
	testReader = probetest.Reader
)

var (
	testLogger = probetest.Logger
	waitFor    = probetest.WaitFor
)

func startTestWorld(t testing.TB, opts sandbox.Options) *probetest.World {
	return probetest.Start(t, opts)
}

// startRuntime starts a service for cfg, without a schedule, whose
// on-demand probes are never rate-limited; it stops with the test.
func startRuntime(t testing.TB, cfg *config.Config) *probe.Service {
	t.Helper()
	svc := probe.NewService("", testLogger(t), &probe.Options{OnDemandMinInterval: time.Nanosecond})
	svc.Start(context.Background(), cfg)
	t.Cleanup(svc.Stop)
	return svc
}

// probeList runs one probe of list now.
func probeList(t testing.TB, svc *probe.Service, list string) *probe.Result {
	t.Helper()
	r, _, err := svc.ProbeNow(context.Background(), list)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantOutcome(t *testing.T, r *probe.Result, want probe.Outcome, reason string) {
	t.Helper()
	if r.Outcome != want || !strings.Contains(r.Reason, reason) {
		t.Fatalf("outcome = %s (%s), want %s with %q\nlog:\n%s", r.Outcome, r.Reason, want, reason, r.Log)
	}
}

// stubService is a Service of fixed parts, for pages without a mail world:
// a mailbox session exists for each account in boxes, down with its error
// (up when nil).
type stubService struct {
	cfg     *config.Config
	history *probe.History
	boxes   map[string]error
	junk    map[string]probe.FolderState
}

func (s *stubService) Config() *config.Config { return s.cfg }
func (s *stubService) Loaded() time.Time      { return chartStart }
func (s *stubService) Ready() bool            { return s.cfg != nil }
func (s *stubService) Reload(context.Context) error {
	return errors.New("stubService does not reload")
}
func (s *stubService) ProbeNow(context.Context, string) (*probe.Result, time.Duration, error) {
	return nil, 0, errors.New("stubService does not probe")
}
func (s *stubService) History() *probe.History { return s.history }
func (s *stubService) Metrics() *probe.Metrics { return probe.NewMetrics() }
func (s *stubService) MailboxState(account string) (bool, time.Time, bool, error) {
	err, ok := s.boxes[account]
	return ok && err == nil, chartStart, ok, err
}
func (s *stubService) JunkState(account string) (probe.FolderState, bool) {
	st, ok := s.junk[account]
	return st, ok
}
func (s *stubService) MailmanState(string) (probe.MailmanState, bool) {
	return probe.MailmanState{}, false
}
func (s *stubService) NoticeLimit(string) time.Time { return time.Time{} }

// getPage fetches path from the service's handler and returns the body;
// it fails the test unless the status is want.
func getPage(t *testing.T, svc Service, path string, want int) (string, http.Header) {
	t.Helper()
	srv := httptest.NewServer(Handler(svc, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s, want %d:\n%s", path, resp.Status, want, b)
	}
	return string(b), resp.Header
}

// section returns the part of the page from the first occurrence of start
// to the next occurrence of end after it.
func section(t *testing.T, page, start, end string) string {
	t.Helper()
	i := strings.Index(page, start)
	if i < 0 {
		t.Fatalf("page has no %q:\n%s", start, page)
	}
	j := strings.Index(page[i:], end)
	if j < 0 {
		t.Fatalf("page has no %q after %q", end, start)
	}
	return page[i : i+j]
}

// checkCSP checks that the page runs no script, loads nothing, and allows
// exactly its own style sheet.
func checkCSP(t *testing.T, page string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "default-src 'none'; ") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	_, style, _ := strings.Cut(page, "<style>")
	style, _, _ = strings.Cut(style, "</style>")
	sum := sha256.Sum256([]byte(style))
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Errorf("Content-Security-Policy %q does not allow the page's style sheet (%s)", csp, want)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", h.Get("X-Content-Type-Options"))
	}
}

// chartMarks returns how many marks of a kind and class the chart in html
// draws.
func chartMarks(html, kind, class string) int {
	m := regexp.MustCompile(`<path class="` + kind + " " + class + `" data-marks="(\d+)"`).FindStringSubmatch(html)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestStatusPageWithoutConfigLoaded(t *testing.T) {
	svc := probe.NewService("", testLogger(t), nil)
	page, h := getPage(t, svc, "/", http.StatusOK)
	if !strings.Contains(page, "no configuration loaded yet") {
		t.Errorf("page does not say no configuration is loaded:\n%s", page)
	}
	if strings.Contains(page, "<table") {
		t.Errorf("page without a configuration shows a table:\n%s", page)
	}
	checkCSP(t, page, h)
	getPage(t, svc, "/result?id=nothing", http.StatusNotFound)
}

// The incident, on the page: a held list shows the Mailman setting that
// holds it, since when, and a chart with one failed probe.
func TestStatusPageExplainsHeldListWithMailmanSettings(t *testing.T) {
	lists := []sandbox.List{
		{Address: "users@lists.example.org", Policy: sandbox.Hold, Members: []string{testMember}},
		{Address: "healthy@lists.example.org", Policy: sandbox.Deliver, Members: []string{testMember}},
	}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, w.MailmanConfig(t)))
	wantOutcome(t, probeList(t, rt, "users@lists.example.org"), probe.Held, "moderated member")
	wantOutcome(t, probeList(t, rt, "healthy@lists.example.org"), probe.Delivered, "")
	wantOutcome(t, probeList(t, rt, "healthy@lists.example.org"), probe.Delivered, "")
	waitFor(t, 10*time.Second, "Mailman settings read", func() bool {
		st, ok := rt.MailmanState("users@lists.example.org")
		return ok && st.Up
	})

	page, h := getPage(t, rt, "/", http.StatusOK)
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Error("the page has a script")
	}
	checkCSP(t, page, h)
	why := section(t, page, `<tr class="why" data-list="users@lists.example.org">`, "</tr>")
	for _, want := range []string{
		"Mailman settings (main), seen with these values since " + time.Now().UTC().Format("2006-01-02"),
		`default member action</span> <span class="value bad">hold</span>`,
		"every member&#39;s post waits for a moderator",
		`poster&#39;s moderation action</span> <span class="value">none</span>`,
		`emergency moderation</span> <span class="value">off</span>`,
		`held posts in the queue</span> <span class="value">`,
		`<span class="member-head">The poster member@example.org:</span>`,
		`<span class="member-head">The reader reader@example.org:</span>`,
		`subscribed</span> <span class="value">yes</span>`,
	} {
		if !strings.Contains(why, want) {
			t.Errorf("the held list's explanation lacks %q:\n%s", want, why)
		}
	}
	if strings.Contains(why, "None of the settings") {
		t.Error("the hold is explained, yet the page says nothing explains it")
	}
	// The held list's chart: one probe, drawn as one failure band.
	row := section(t, page, "<strong>users@lists.example.org</strong>", "</tr>")
	if !strings.Contains(row, `data-probes="1"`) || chartMarks(row, "band", "bad") != 1 || strings.Contains(row, `class="dot`) {
		t.Errorf("the held list's chart is not one failure:\n%s", row)
	}
	// The healthy list: no explanation, two delivered dots joined by a line.
	if strings.Contains(page, `data-list="healthy@lists.example.org"`) {
		t.Error("a healthy list gets an explanation")
	}
	row = section(t, page, "<strong>healthy@lists.example.org</strong>", "</tr>")
	if !strings.Contains(row, `data-probes="2"`) || chartMarks(row, "dot", "ok") != 2 || !strings.Contains(row, "<polyline") {
		t.Errorf("the healthy list's chart is not two deliveries:\n%s", row)
	}
	// Every mailbox session, up.
	boxes := section(t, page, `<table class="mailboxes">`, "</table>")
	for _, want := range []string{"<td>member</td><td>member@example.org</td><td>poster of 2 lists</td><td><span class=\"ok\">up</span>", "<td>reader</td><td>reader@example.org</td><td>reader of 2 lists</td><td><span class=\"ok\">up</span>"} {
		if !strings.Contains(boxes, want) {
			t.Errorf("mailboxes lack %q:\n%s", want, boxes)
		}
	}

	// A delivered probe's page shows its copy's hops.
	res, _ := getPage(t, rt, "/result?id="+rt.History().Last("healthy@lists.example.org").ID, http.StatusOK)
	if hops := section(t, res, `<table class="hops">`, "</table>"); strings.Count(hops, "<tr>") < 2 || !strings.Contains(res, "resolution of one second") {
		t.Errorf("the delivered probe's page shows no hops:\n%s", res)
	}

	// The held probe's own page.
	id := rt.History().Last("users@lists.example.org").ID
	res, _ = getPage(t, rt, "/result?id="+id, http.StatusOK)
	if !strings.Contains(res, "Probe of users@lists.example.org") || !strings.Contains(res, "The message comes from a moderated member") {
		t.Errorf("result page:\n%s", res)
	}
}

// A list whose reader mailbox cannot be reached says so, with the error,
// instead of "no probe yet".
func TestStatusPageShowsReaderMailboxDown(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 3*time.Second, lists, nil)
	if err := w.StopIMAP(); err != nil {
		t.Fatal(err)
	}
	rt := startRuntime(t, cfg)
	waitFor(t, 10*time.Second, "the reader session to fail", func() bool {
		_, _, ok, err := rt.MailboxState("reader")
		return ok && err != nil
	})
	page, _ := getPage(t, rt, "/", http.StatusOK)
	row := section(t, page, "<strong>users@lists.example.org</strong>", "</tr>")
	if strings.Contains(row, "no probe yet") || !strings.Contains(row, `<td class="bad">reader mailbox reader@example.org down since `) {
		t.Errorf("the list's row does not say its reader mailbox is down:\n%s", row)
	}
	why := section(t, page, `<tr class="why" data-list="users@lists.example.org">`, "</tr>")
	if !strings.Contains(why, "reader mailbox reader@example.org") || !strings.Contains(why, `<span class="bad">down</span>`) || !strings.Contains(why, w.IMAPAddr) {
		t.Errorf("the explanation does not show the reader session down with its error:\n%s", why)
	}
	boxes := section(t, page, `<table class="mailboxes">`, "</table>")
	if !strings.Contains(boxes, `<td>reader</td><td>reader@example.org</td><td>reader of 1 list</td><td><span class="bad">down</span>`) {
		t.Errorf("mailboxes:\n%s", boxes)
	}
	if strings.Contains(page, "reader-pw") || strings.Contains(page, "member-pw") {
		t.Error("the page shows a password")
	}

	// The probe fails as error, and the page keeps saying why.
	wantOutcome(t, probeList(t, rt, "users@lists.example.org"), probe.Error, "reader@example.org")
	page, _ = getPage(t, rt, "/", http.StatusOK)
	row = section(t, page, "<strong>users@lists.example.org</strong>", "</tr>")
	if !strings.Contains(row, ">error<") || chartMarks(row, "band", "err") != 1 {
		t.Errorf("the list's row after the probe:\n%s", row)
	}
	if !strings.Contains(page, `data-list="users@lists.example.org"`) {
		t.Error("no explanation after the failed probe")
	}
}

// Text from servers and mailboxes reaches the page only escaped, and the
// page never shows a configured secret.
func TestStatusPageEscapesServerText(t *testing.T) {
	hostile := `<script>alert("x")</script><img src=x onerror=alert(1)>`
	v := pageView{
		ConfigFile: "/etc/listprobe/listprobe.yml",
		Lists: []listView{{
			Address: "users@lists.example.org", Expect: probe.Delivered, NoProbe: hostile, NoProbeBad: true,
			Chart: latencyChart("users@lists.example.org", []probe.Sample{{At: chartStart, Outcome: probe.Lost}}),
			Why: &whyView{
				Mailboxes: []sessionView{{Account: "reader", Address: "reader@example.org", State: "down", Err: hostile}},
				Mailman: &mailmanView{Server: "main", Up: true, Since: "now", Settings: []settingView{{Name: "default member action", Value: hostile, Note: hostile, Bad: true}},
					Members: []memberView{{Role: "reader", Address: hostile, Items: []settingView{{Name: "delivery status", Value: hostile}}}}},
			},
		}},
		Mailboxes: []sessionView{{Account: "reader", Address: "reader@example.org", State: "down", Err: hostile}},
	}
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, v); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script") || strings.Contains(page, "<img") {
		t.Errorf("hostile text reached the page unescaped:\n%s", page)
	}
	if n := strings.Count(page, "&lt;script&gt;"); n != 7 {
		t.Errorf("hostile text shown escaped %d times, want 7", n)
	}

	r := &probe.Result{List: "users@lists.example.org", Outcome: probe.Delivered, OK: true, Reason: hostile, Log: hostile, Started: chartStart, Finished: chartStart.Add(time.Second)}
	b.Reset()
	if err := statusTemplate.Execute(&b, pageView{Result: r, Hops: hopViews([]probe.Hop{{By: hostile, With: "ESMTPSA", At: chartStart}})}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script") {
		t.Errorf("hostile text reached the result page unescaped:\n%s", b.String())
	}
}

func TestRedactHidesConfiguredSecrets(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 3*time.Second, lists, nil)
	for _, tc := range []struct{ in, want string }{
		{`imap: LOGIN failed: NO [AUTHENTICATIONFAILED] bad password "reader-pw"`, `imap: LOGIN failed: NO [AUTHENTICATIONFAILED] bad password "[redacted]"`},
		{"member-pw and moderator-pw", "[redacted] and [redacted]"},
		{"dial tcp 127.0.0.1:1: connect: connection refused", "dial tcp 127.0.0.1:1: connect: connection refused"},
	} {
		if got := redact(cfg, tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := redact(cfg, strings.Repeat("x", 1000)); len(got) > 310 {
		t.Errorf("a long error is %d bytes on the page", len(got))
	}
	// A session error that quotes a password shows without it.
	rt := startRuntime(t, cfg)
	waitFor(t, 10*time.Second, "the reader session up", func() bool {
		up, _, _, _ := rt.MailboxState("reader")
		return up
	})
	sv, ok := (&handler{svc: rt}).sessionView(cfg, "reader", cfg.Accounts["reader"], "")
	if !ok || sv.Account != "reader" {
		t.Fatalf("no session view for the reader: %+v", sv)
	}
	down := &stubService{cfg: cfg, boxes: map[string]error{"reader": errors.New("server said: wrong password reader-pw\r\n\x1b[31m")}}
	sv, _ = (&handler{svc: down}).sessionView(cfg, "reader", cfg.Accounts["reader"], "")
	if sv.State != "down" || sv.Err != "server said: wrong password [redacted] [31m" {
		t.Errorf("session view %+v", sv)
	}
}

// Mailman's settings are marked as the cause exactly when they explain a
// failed probe: the list's default applies only when the poster has no
// action of its own and is a member.
func TestMailmanExplainedMarksTheCause(t *testing.T) {
	cfg := &config.Config{Accounts: map[string]*config.AccountConfig{"member": {Address: testMember}, "reader": {Address: testReader}}}
	l := &config.ListConfig{Address: "users@lists.example.org", Poster: "member", Reader: "reader", Mailman: "main"}
	since := chartStart
	ok := probe.MailmanState{Up: true, DefaultMemberAction: "defer", DefaultNonmemberAction: "hold", MemberAction: "", Since: since}
	member := probe.MemberState{Subscribed: true, DeliveryMode: "regular", DeliveryStatus: "enabled", ModerationAction: "default"}
	with := func(f func(*probe.MailmanState)) probe.MailmanState { s := ok; f(&s); return s }
	for _, tc := range []struct {
		name           string
		st             probe.MailmanState
		poster, reader probe.MemberState
		known          bool
		bad            []string // the settings marked, as "name=value"
	}{
		{"healthy list", ok, member, member, true, nil},
		{"membership unknown", ok, probe.MemberState{}, probe.MemberState{}, false, nil},
		{"default member action hold", with(func(s *probe.MailmanState) { s.DefaultMemberAction = "hold" }), member, member, true, []string{"default member action=hold"}},
		{"default member action discard", with(func(s *probe.MailmanState) { s.DefaultMemberAction = "discard" }), member, member, true, []string{"default member action=discard"}},
		{"poster's own action overrides the default", with(func(s *probe.MailmanState) { s.DefaultMemberAction = "hold"; s.MemberAction = "accept" }), member, member, true, nil},
		{"poster's own action reject", with(func(s *probe.MailmanState) { s.MemberAction = "reject" }), member, member, true, []string{"poster's moderation action=reject"}},
		{"emergency", with(func(s *probe.MailmanState) { s.Emergency = true }), member, member, true, []string{"emergency moderation=on"}},
		{"poster unsubscribed: the non-member action", with(func(s *probe.MailmanState) { s.DefaultMemberAction = "hold" }), probe.MemberState{}, member, true,
			[]string{"default non-member action=hold", "poster subscribed=no"}},
		{"reader on digests", ok, member, probe.MemberState{Subscribed: true, DeliveryMode: "mime_digests", DeliveryStatus: "enabled"}, true, []string{"reader delivery=mime_digests"}},
		{"reader disabled by bounces", ok, member, probe.MemberState{Subscribed: true, DeliveryMode: "regular", DeliveryStatus: "by_bounces"}, true, []string{"reader delivery status=by_bounces"}},
		{"reader unsubscribed", ok, member, probe.MemberState{}, true, []string{"reader subscribed=no"}},
		// A poster's own delivery being off is how probe accounts are set up.
		{"poster delivery disabled", ok, probe.MemberState{Subscribed: true, DeliveryMode: "regular", DeliveryStatus: "by_user"}, member, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			st.Poster, st.Reader = tc.poster, tc.reader
			mv := mailmanExplained(l, cfg, st, tc.known)
			var bad []string
			for _, s := range mv.Settings {
				if s.Bad {
					bad = append(bad, s.Name+"="+s.Value)
				}
			}
			for _, m := range mv.Members {
				for _, s := range m.Items {
					if s.Bad {
						bad = append(bad, m.Role+" "+s.Name+"="+s.Value)
					}
				}
			}
			if strings.Join(bad, ", ") != strings.Join(tc.bad, ", ") {
				t.Errorf("marked %q, want %q", bad, tc.bad)
			}
			if mv.anyBad() != (len(tc.bad) > 0) {
				t.Errorf("anyBad = %v", mv.anyBad())
			}
			if len(mv.Members) > 0 != tc.known {
				t.Errorf("%d members shown, membership known: %v", len(mv.Members), tc.known)
			}
			if mv.Since != "2026-11-25 16:00:00 UTC" {
				t.Errorf("since %q", mv.Since)
			}
		})
	}
	down := mailmanExplained(l, cfg, probe.MailmanState{Since: since, Poster: member, Reader: member}, true)
	if down.Up || !down.anyBad() || len(down.Settings) != 0 {
		t.Errorf("Mailman down: %+v", down)
	}
}

func TestResultPageShowsHopsWithTheirResolution(t *testing.T) {
	r := &probe.Result{ID: "x", List: "users@lists.example.org", Outcome: probe.Delivered, OK: true, Started: chartStart, Finished: chartStart.Add(2 * time.Second)}
	hops := []probe.Hop{
		{By: "smtp.example.org", With: "ESMTPSA", At: chartStart},
		{By: "lists.example.org", With: "ESMTP", At: chartStart.Add(time.Second), Seconds: 1},
		{By: "", With: "LMTP", At: time.Time{}, Seconds: 0},
	}
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, pageView{Result: r, Hops: hopViews(hops)}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	table := section(t, page, `<table class="hops">`, "</table>")
	for _, want := range []string{
		"<td>1</td><td><code>smtp.example.org</code></td><td>ESMTPSA</td><td>2026-11-25 16:00:00 UTC</td><td>–</td>",
		"<td>2</td><td><code>lists.example.org</code></td><td>ESMTP</td><td>2026-11-25 16:00:01 UTC</td><td>&#43;1 s</td>",
		"<td>3</td><td><code>–</code></td><td>LMTP</td><td>–</td><td>&#43;0 s</td>",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("hops table lacks %q:\n%s", want, table)
		}
	}
	if !strings.Contains(page, "resolution of one second") {
		t.Error("the page does not say Received dates have one-second resolution")
	}
	b.Reset()
	if err := statusTemplate.Execute(&b, pageView{Result: r}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Hops") {
		t.Error("a result without hops shows a hops table")
	}
}

// A held list that listprobe reads no settings of says where to look.
func TestStatusPageHintsAtMailmanWhenItHasNoSettings(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Hold, Members: []string{testMember}}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	wantOutcome(t, probeList(t, rt, "users@lists.example.org"), probe.Held, "moderated member")
	page, _ := getPage(t, rt, "/", http.StatusOK)
	why := section(t, page, `<tr class="why" data-list="users@lists.example.org">`, "</tr>")
	if !strings.Contains(why, "give it a mailman: entry") || strings.Contains(why, "Mailman settings") {
		t.Errorf("explanation of a held list without mailman:\n%s", why)
	}
}

// A list that loses posts although its Mailman settings let them through
// says that none of them explains it.
func TestStatusPageSaysWhenNoSettingExplainsAFailure(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver, Members: []string{testMember}}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, w.MailmanConfig(t)))
	waitFor(t, 10*time.Second, "Mailman settings read", func() bool {
		st, ok := rt.MailmanState("users@lists.example.org")
		return ok && st.Up
	})
	// The list server loses it after accepting it, whatever its settings.
	rt.History().Add(&probe.Result{ID: "lost-1", List: "users@lists.example.org", Outcome: probe.Lost, Expected: probe.Delivered, Reason: "no copy and no evidence within 20s", Started: time.Now(), Finished: time.Now()})
	page, _ := getPage(t, rt, "/", http.StatusOK)
	why := section(t, page, `<tr class="why" data-list="users@lists.example.org">`, "</tr>")
	if !strings.Contains(why, "None of the settings listprobe reads explains this") || strings.Contains(why, "value bad") {
		t.Errorf("explanation of a list lost with harmless settings:\n%s", why)
	}
}

// A reader mailbox that is still connecting is no failure: the list says
// it has no probe yet, in grey, and gets no explanation.
func TestStatusPageConnectingReaderIsNotDown(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		// Accept and say nothing: the IMAP greeting never comes.
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 3*time.Second, lists, func(text string) string {
		// Only the reader's IMAP server goes silent.
		i := strings.Index(text, "  reader:\n")
		return text[:i] + strings.Replace(text[i:], w.IMAPAddr, silent.Addr().String(), 1)
	})
	rt := startRuntime(t, cfg)
	page, _ := getPage(t, rt, "/", http.StatusOK)
	if _, _, _, err := rt.MailboxState("reader"); err != nil {
		t.Fatalf("the reader session failed before the page was read (the silent server should keep it connecting): %v", err)
	}
	row := section(t, page, "<strong>users@lists.example.org</strong>", "</tr>")
	if !strings.Contains(row, `<td class="muted">no probe yet: reader mailbox reader@example.org connecting</td>`) {
		t.Errorf("row of a list whose reader is connecting:\n%s", row)
	}
	if strings.Contains(page, `<tr class="why"`) {
		t.Errorf("a connecting mailbox gets an explanation:\n%s", page)
	}
	boxes := section(t, page, `<table class="mailboxes">`, "</table>")
	if !strings.Contains(boxes, `<td>reader</td><td>reader@example.org</td><td>reader of 1 list</td><td><span class="muted">connecting</span>`) {
		t.Errorf("mailboxes:\n%s", boxes)
	}
}

// An account without an IMAP server is listed as having no session.
func TestStatusPageSaysWhichAccountsHaveNoMailbox(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 3*time.Second, lists, func(text string) string {
		// The member posts only.
		i := strings.Index(text, "  reader:\n")
		j := strings.LastIndex(text[:i], "    imap:")
		return text[:j] + text[i:]
	})
	if cfg.Accounts["member"].IMAP != nil {
		t.Fatal("the member still has an IMAP server")
	}
	rt := startRuntime(t, cfg)
	page, _ := getPage(t, rt, "/", http.StatusOK)
	boxes := section(t, page, `<table class="mailboxes">`, "</table>")
	if !strings.Contains(boxes, `<td>member</td><td>member@example.org</td><td>poster of 1 list</td><td><span class="muted">none</span><br><span class="muted">no imap: configured`) {
		t.Errorf("mailboxes:\n%s", boxes)
	}
	if strings.Contains(page, `<tr class="why"`) {
		t.Error("an account without a mailbox is explained as a failure")
	}
}

// A probe of a list with several readers shows which reader saw what.
func TestResultPageShowsWhatEachReaderSaw(t *testing.T) {
	lat := 0.02
	r := &probe.Result{ID: "x", List: "users@lists.example.org", Outcome: probe.Junk, Started: chartStart, Finished: chartStart.Add(2 * time.Second),
		Readers: []probe.ReaderResult{
			{Reader: "reader-a", Outcome: probe.Delivered, Latency: &lat, Placement: probe.PlacementInbox},
			{Reader: "reader-b", Outcome: probe.Junk, Latency: &lat, Placement: probe.PlacementJunk},
			{Reader: "reader-c", Outcome: probe.Lost},
		}}
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, pageView{Result: r}); err != nil {
		t.Fatal(err)
	}
	table := section(t, b.String(), `<table class="readers">`, "</table>")
	for _, want := range []string{
		`<td>reader-a</td><td><span class="ok">delivered</span></td><td>inbox</td><td>0.02s</td>`,
		`<td>reader-b</td><td><span class="bad">junk</span></td><td>junk</td><td>0.02s</td>`,
		`<td>reader-c</td><td><span class="bad">lost</span></td><td><span class="muted">no copy</span></td><td>–</td>`,
	} {
		if !strings.Contains(table, want) {
			t.Errorf("readers table lacks %q:\n%s", want, table)
		}
	}
	b.Reset()
	r.Readers = nil
	if err := statusTemplate.Execute(&b, pageView{Result: r}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `class="readers"`) {
		t.Error("a one-reader result shows a readers table")
	}
}

// A list whose copy a reader's filter called spam points at the filter,
// not at Mailman's moderation settings.
func TestStatusPageExplainsJunkByTheFilter(t *testing.T) {
	cfg := &config.Config{File: "t.yml", Accounts: map[string]*config.AccountConfig{"member": {Address: testMember}, "reader": {Address: testReader}}}
	l := &config.ListConfig{Address: "users@lists.example.org", Poster: "member", Reader: "reader", Expect: config.ExpectDelivered}
	cfg.Lists = append(cfg.Lists, l)
	svc := &stubService{cfg: cfg, history: probe.NewHistory(10, 50)}
	svc.history.Add(&probe.Result{ID: "j", List: l.Address, Outcome: probe.Junk, Expected: probe.Delivered, Reason: "the list delivered, but reader's filter called the copy spam",
		Started: chartStart, Finished: chartStart.Add(time.Second)})
	h := &handler{svc: svc, pages: newPageCache(pageMaxAge)}
	rec := httptest.NewRecorder()
	h.serveStatus(rec, httptest.NewRequest("GET", "/", nil))
	if body := rec.Body.String(); !strings.Contains(body, "spam filter put the copy in its Junk folder") {
		t.Errorf("the page does not point at the reader's filter:\n%s", body)
	}
}
