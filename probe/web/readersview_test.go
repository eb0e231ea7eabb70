package web

import (
	"errors"
	"strings"
	"testing"

	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// readersConfig is a list read by reader and reader2.
func readersConfig() (*config.Config, *config.ListConfig) {
	cfg := &config.Config{Accounts: map[string]*config.AccountConfig{
		"member": {Address: testMember}, "reader": {Address: testReader}, "reader2": {Address: "reader2@example.org"}}}
	l := &config.ListConfig{Address: "users@lists.example.org", Poster: "member", Reader: "reader", Readers: []string{"reader", "reader2"}, Mailman: "main"}
	cfg.Lists = append(cfg.Lists, l)
	return cfg, l
}

// Every reader's membership is shown and judged, not only the first's: a
// second reader on digests or disabled by bounces is marked as the cause.
func TestMailmanExplainedShowsEveryReadersMembership(t *testing.T) {
	cfg, l := readersConfig()
	member := probe.MemberState{Subscribed: true, DeliveryMode: "regular", DeliveryStatus: "enabled"}
	bounced := probe.MemberState{Subscribed: true, DeliveryMode: "regular", DeliveryStatus: "by_bounces"}
	st := probe.MailmanState{Up: true, DefaultMemberAction: "defer", DefaultNonmemberAction: "hold", Poster: member, Reader: member,
		Readers: []probe.ReaderMembership{{Account: "reader", MemberState: member}, {Account: "reader2", MemberState: bounced}}}
	mv := mailmanExplained(l, cfg, st, true)
	var roles, bad []string
	for _, m := range mv.Members {
		roles = append(roles, m.Role+" "+m.Address)
		for _, s := range m.Items {
			if s.Bad {
				bad = append(bad, m.Role+" "+s.Name+"="+s.Value)
			}
		}
	}
	if want := "poster member@example.org, reader reader@example.org, reader reader2@example.org"; strings.Join(roles, ", ") != want {
		t.Errorf("members %q, want %q", roles, want)
	}
	if want := "reader delivery status=by_bounces"; strings.Join(bad, ", ") != want {
		t.Errorf("marked %q, want %q", bad, want)
	}
	// One reader, or a state read before per-reader memberships: the
	// first reader's, as before.
	st.Readers = nil
	mv = mailmanExplained(l, cfg, st, true)
	if len(mv.Members) != 2 || mv.Members[1].Role != "reader" || mv.Members[1].Address != testReader {
		t.Errorf("without per-reader memberships: %+v", mv.Members)
	}
}

// A list without a probe yet says which of its readers' mailboxes is not
// up: the second reader's too.
func TestNoProbeYetLooksAtEveryReader(t *testing.T) {
	_, l := readersConfig()
	up := sessionView{Account: "reader", Address: testReader, State: "up", Up: true}
	for _, tc := range []struct {
		name     string
		sessions map[string]sessionView
		want     string
		bad      bool
	}{
		{"all up", map[string]sessionView{"reader": up, "reader2": {Account: "reader2", Address: "reader2@example.org", State: "up", Up: true}}, "no probe yet", false},
		{"second down", map[string]sessionView{"reader": up, "reader2": {Account: "reader2", Address: "reader2@example.org", State: "down", Since: "2026-11-25 16:00:00 UTC"}},
			"reader mailbox reader2@example.org down since 2026-11-25 16:00:00 UTC", true},
		{"second connecting", map[string]sessionView{"reader": up, "reader2": {Account: "reader2", Address: "reader2@example.org", State: "connecting"}},
			"no probe yet: reader mailbox reader2@example.org connecting", false},
		{"both down", map[string]sessionView{"reader": {Address: testReader, State: "down"}, "reader2": {Address: "reader2@example.org", State: "down"}},
			"reader mailboxes reader@example.org, reader2@example.org down", true},
	} {
		got, bad := noProbeYet(l, tc.sessions)
		if got != tc.want || bad != tc.bad {
			t.Errorf("%s: %q (bad %v), want %q (bad %v)", tc.name, got, bad, tc.want, tc.bad)
		}
	}
}

// The status page's row of a list not yet probed whose second reader is
// down says so, as a failure.
func TestStatusPageNoProbeNamesTheDownReader(t *testing.T) {
	cfg, _ := readersConfig()
	for _, a := range cfg.Accounts {
		a.IMAP = &config.IMAPConfig{}
	}
	svc := &stubService{cfg: cfg, history: probe.NewHistory(10, 50), boxes: map[string]error{"reader": nil, "reader2": errors.New("login refused"), "member": nil}}
	body, _ := getPage(t, svc, "/", 200)
	if !strings.Contains(body, `class="bad">reader mailbox reader2@example.org down`) {
		t.Errorf("the row does not name the second reader's mailbox as down:\n%s", section(t, body, "<tbody", "</tbody>"))
	}
}

// The mailbox table shows each reader's Junk folder session: up with its
// folder, a server without one (bad: copies filed as spam are not seen),
// down with its error (secrets redacted); "–" for accounts that watch none.
func TestMailboxesShowTheJunkFolderSession(t *testing.T) {
	cfg, _ := readersConfig()
	for _, a := range cfg.Accounts {
		a.IMAP = &config.IMAPConfig{}
	}
	cfg.Accounts["reader3"] = &config.AccountConfig{Address: "reader3@example.org", IMAP: &config.IMAPConfig{}}
	cfg.Lists[0].Readers = append(cfg.Lists[0].Readers, "reader3")
	svc := &stubService{cfg: cfg, history: probe.NewHistory(10, 50), boxes: map[string]error{"reader": nil, "reader2": nil, "reader3": nil, "member": nil},
		junk: map[string]probe.FolderState{
			"reader":  {Up: true, Folder: "Spam"},
			"reader2": {Missing: true, Err: errors.New("no folder marked \\Junk and no folder \"Junk\"")},
			"reader3": {Err: errors.New("imap 127.0.0.1:1: connection refused")},
		}}
	body, _ := getPage(t, svc, "/", 200)
	table := section(t, body, `<table class="mailboxes">`, "</table>")
	for _, want := range []string{
		`<td>member</td><td>member@example.org</td><td>poster of 1 list</td><td><span class="ok">up</span> <span class="muted">since 2026-11-25 16:00:00 UTC</span></td><td><span class="muted">–</span></td>`,
		`<span class="ok junk">up (Spam)</span>`,
		`<span class="bad junk">no Junk folder: copies filed as spam are not seen</span>`,
		`<span class="bad junk">down: imap 127.0.0.1:1: connection refused</span>`,
	} {
		if !strings.Contains(table, want) {
			t.Errorf("mailbox table lacks %q:\n%s", want, table)
		}
	}
}
