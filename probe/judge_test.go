package probe

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/probe/config"
)

const (
	judgeList  = "users@lists.example.org"
	judgeSympa = "t-ae793767@sympa.example.test" // the list of the Sympa capture
)

// judgeConfig is a configuration with a member that posts (with cleanup),
// a reader that reads without cleanup, and a Sympa list the member posts to.
func judgeConfig(t *testing.T, readerCleanup bool) *config.Config {
	t.Helper()
	return judgeConfigServer(t, readerCleanup, "")
}

// judgeConfigServer is judgeConfig with judgeList's list_server block
// ("" for none), given in YAML flow style: "{ hosts: [192.0.2.10], ... }".
func judgeConfigServer(t *testing.T, readerCleanup bool, server string) *config.Config {
	t.Helper()
	servers, listServer := "", ""
	if server != "" {
		servers, listServer = "list_servers:\n  main: "+server+"\n", ", list_server: main"
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "key"), []byte(testKey), 0o600)
	t.Setenv("LISTPROBE_JUDGE_TEST_PW", "unused")
	text := fmt.Sprintf(`global: { signing_key_file: key, timeout: 4m }
accounts:
  member: { address: %[1]s, cleanup: true, smtp: { address: "127.0.0.1:1", tls: none }, imap: { address: "127.0.0.1:1", tls: none, username: member, password_env: LISTPROBE_JUDGE_TEST_PW } }
  reader: { address: %[2]s, cleanup: %[5]t, imap: { address: "127.0.0.1:1", tls: none, username: reader, password_env: LISTPROBE_JUDGE_TEST_PW } }
%[6]slists:
  - { address: %[3]s, poster: member, reader: reader%[7]s }
  - { address: %[4]s, poster: member, reader: reader }
`, testMember, testReader, judgeList, judgeSympa, readerCleanup, servers, listServer)
	file := filepath.Join(dir, "listprobe.yml")
	os.WriteFile(file, []byte(text), 0o600)
	cfg, err := config.LoadFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fakeProbes is a view of probes given as data.
type fakeProbes struct {
	known    map[string]KnownProbe
	instance string
	started  time.Time
}

func (f fakeProbes) Probe(id string) (KnownProbe, bool) { p, ok := f.known[id]; return p, ok }
func (f fakeProbes) PendingOf(list string) []KnownProbe {
	var out []KnownProbe
	for _, p := range f.known {
		if p.Pending && p.List == list {
			out = append(out, p)
		}
	}
	return out
}
func (f fakeProbes) Restart() (string, time.Time, bool) {
	return f.instance, f.started, f.instance != ""
}

func incoming(t *testing.T, account, raw string, at time.Time) Incoming {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(br)
	return Incoming{Account: account, Header: mail.Header{Header: message.Header{Header: h}}, Body: body, SeenAt: at}
}

// TestJudge is the table of what counts and what may be deleted: each row
// a message, where it arrived, what listprobe knows of the probe, and the
// verdict's decisions.
func TestJudge(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	cfg := judgeConfig(t, true)
	signer := cfg.Signer()
	tok := signer.NewToken(judgeList, now.Add(-10*time.Second))
	enc := signer.Encode(tok)
	pm := compose.Probe{From: testMember, List: judgeList, Token: enc, Date: tok.SentAt}
	copyRaw, err := compose.Message(pm, nil)
	if err != nil {
		t.Fatal(err)
	}
	forger, _ := token.NewSigner([]byte("not-the-real-signing-key-000"))
	forgedRaw, _ := compose.Message(compose.Probe{From: testMember, List: judgeList, Token: forger.Encode(forger.NewToken(judgeList, now)), Date: now}, nil)
	notice := func(returnPath string) string {
		return fmt.Sprintf("Return-Path: <%s>\r\nFrom: users-bounces@lists.example.org\r\nTo: %s\r\nSubject: Your message to %s awaits moderator approval\r\nAuto-Submitted: auto-generated\r\nX-Mailman-Version: 3.3.8\r\nMessage-ID: <n1@lists.example.org>\r\n\r\nYour mail to '%s' with the subject\r\n\r\n    listprobe delivery test %s\r\n\r\nIs being held until the list moderator can review it for approval.\r\n\r\nThe message is being held because:\r\n\r\n    The message comes from a moderated member\r\n", returnPath, testMember, judgeList, judgeList, enc)
	}
	pending := fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, Pending: true, Signer: signer, Config: cfg, List: judgeList, PosterAccount: "member", SentAt: tok.SentAt}}}
	recorded := fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, Signer: signer, List: judgeList}}}
	origin := signer.Origin("host/0")
	earlyTok := signer.NewTokenWithOrigin(judgeList, now.Add(-time.Minute), origin)
	earlyRaw, _ := compose.Message(compose.Probe{From: testMember, List: judgeList, Token: signer.Encode(earlyTok), Date: earlyTok.SentAt}, nil)

	type want = judgeWant
	for _, tc := range []struct {
		name    string
		account string
		raw     string
		probes  Probes
		auth    bool // the list's server provably sent it (its authentication verdict)
		want    want
	}{
		{"the list's copy of a pending probe", "reader", string(copyRaw), pending, false,
			want{kind: checks.KindProbeCopy, copy: true, del: true, pending: true, probes: 1}},
		{"the copy of a recorded probe in its reader's mailbox is late and deleted now", "reader", string(copyRaw), recorded, false,
			want{kind: checks.KindProbeCopy, copy: true, del: true, delNow: true, recorded: true, late: true, probes: 1}},
		{"the copy of a recorded probe in the poster's mailbox is not late", "member", string(copyRaw), recorded, false,
			want{kind: checks.KindProbeCopy, copy: true, del: true, delNow: true, recorded: true, probes: 1}},
		{"the copy of another process's probe is never deleted", "reader", string(copyRaw), fakeProbes{}, false,
			want{kind: checks.KindProbeCopy, copy: true, probes: 1}},
		{"a forged copy is forged and nothing else", "reader", string(forgedRaw), pending, false,
			want{kind: checks.KindProbeCopy, forged: true}},
		{"the list's hold notice about a pending probe", "member", notice("users-bounces@lists.example.org"), pending, true,
			want{kind: checks.KindHoldNotice, del: true, pending: true, probes: 1}},
		{"a hold notice with a stranger's envelope decides but is not deleted", "member", notice("someone@elsewhere.example.net"), pending, true,
			want{kind: checks.KindHoldNotice, pending: true, probes: 1}},
		{"a hold notice about a recorded probe is deleted now", "member", notice("users-bounces@lists.example.org"), recorded, true,
			want{kind: checks.KindHoldNotice, del: true, delNow: true, recorded: true, probes: 1}},
		{"an unauthenticated hold notice is a hint, never deleted", "member", notice("users-bounces@lists.example.org"), recorded, false,
			want{kind: checks.KindHoldNotice, recorded: true, probes: 1}},
		{"an unauthenticated hold notice with a null Return-Path is never deleted", "member", notice(""), recorded, false,
			want{kind: checks.KindHoldNotice, recorded: true, probes: 1}},
		{"an earlier run's copy is claimed, late, and deleted", "reader", string(earlyRaw), fakeProbes{instance: "host/0", started: now}, false,
			want{kind: checks.KindProbeCopy, copy: true, del: true, delNow: true, recorded: true, late: true, earlierRun: true, probes: 1}},
		{"another instance's copy is not claimed", "reader", string(earlyRaw), fakeProbes{instance: "host/1", started: now}, false,
			want{kind: checks.KindProbeCopy, copy: true, probes: 1}},
		{"a copy sent long before this run started is not claimed", "reader", string(earlyRaw), fakeProbes{instance: "host/0", started: now.Add(time.Hour)}, false,
			want{kind: checks.KindProbeCopy, copy: true, probes: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := incoming(t, tc.account, tc.raw, now)
			if tc.auth {
				in.Auth = map[string]*authn.Verdict{judgeList: {Authenticated: true, Path: authn.PathDKIM, Reason: "DKIM signature of lists.example.org verifies"}}
			}
			checkJudged(t, Judge(in, cfg, tc.probes), tc.auth, tc.want)
		})
	}
}

// A stranger can send the reader a message with the probe's Message-ID,
// From, Subject and token (issue 15): where the list's copies can be
// authenticated, such a copy is a hint, nothing else; where they cannot,
// it counts, marked unauthenticated.
func TestJudgeCopiesWhereTheyMustBeAuthenticated(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	// The list servers of the rows: one whose copies must be authenticated
	// by default (its Received hop), one that says so for its own domain's
	// DKIM alone, one that counts any copy.
	const (
		byHop  = "{ hosts: [192.0.2.10], receiver_hosts: [mx.example.org] }"
		byDKIM = "{ copies: authenticated }"
		anyOne = "{ hosts: [192.0.2.10], receiver_hosts: [mx.example.org], copies: any }"
	)
	cfgs := map[string]*config.Config{}
	for _, server := range []string{byHop, byDKIM, anyOne} {
		cfgs[server] = judgeConfigServer(t, true, server)
	}
	signer := cfgs[byHop].Signer()
	tok := signer.NewToken(judgeList, now.Add(-10*time.Second))
	copyRaw, err := compose.Message(compose.Probe{From: testMember, List: judgeList, Token: signer.Encode(tok), Date: tok.SentAt}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending := fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, Pending: true, Signer: signer, List: judgeList, PosterAccount: "member", SentAt: tok.SentAt}}}
	recorded := fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, Signer: signer, List: judgeList}}}
	type want = judgeWant
	for _, tc := range []struct {
		name    string
		account string
		raw     string
		probes  Probes
		auth    bool
		want    want
		server  string
	}{
		{"a stranger's copy where copies must be authenticated is a hint, never deleted", "reader", string(copyRaw), pending, false,
			want{kind: checks.KindProbeCopy, pending: true, probes: 1, trust: TrustHint}, byHop},
		{"an authenticated copy where copies must be authenticated is the copy", "reader", string(copyRaw), pending, true,
			want{kind: checks.KindProbeCopy, copy: true, del: true, pending: true, probes: 1}, byHop},
		{"a stranger's copy of a recorded probe is not a late delivery", "reader", string(copyRaw), recorded, false,
			want{kind: checks.KindProbeCopy, recorded: true, probes: 1, trust: TrustHint}, byHop},
		{"an authenticated copy of a recorded probe is late and deleted now", "reader", string(copyRaw), recorded, true,
			want{kind: checks.KindProbeCopy, copy: true, del: true, delNow: true, recorded: true, late: true, probes: 1}, byHop},
		{"a stranger's copy in the poster's mailbox is a hint too", "member", string(copyRaw), pending, false,
			want{kind: checks.KindProbeCopy, pending: true, probes: 1, trust: TrustHint}, byHop},
		{"copies: authenticated with only the list's own domain: a stranger's copy is a hint", "reader", string(copyRaw), pending, false,
			want{kind: checks.KindProbeCopy, pending: true, probes: 1, trust: TrustHint}, byDKIM},
		{"copies: any counts a stranger's copy, marked unauthenticated", "reader", string(copyRaw), pending, false,
			want{kind: checks.KindProbeCopy, copy: true, del: true, pending: true, probes: 1}, anyOne},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := incoming(t, tc.account, tc.raw, now)
			if tc.auth {
				in.Auth = map[string]*authn.Verdict{judgeList: {Authenticated: true, Path: authn.PathReceived, Reason: "Received by mx.example.org from the list server [192.0.2.10]"}}
			}
			checkJudged(t, Judge(in, cfgs[tc.server], tc.probes), tc.auth, tc.want)
		})
	}
}

// judgeWant is what TestJudge checks of a verdict.
type judgeWant struct {
	kind                      checks.Kind
	forged, copy, del, delNow bool
	pending, recorded, late   bool
	earlierRun                bool
	probes                    int
	// trust is the verdict's Trust when it is not what checkJudged
	// expects by default: authenticated when the row's verdict is, or
	// for a forged token; unauthenticated for another copy; a hint else.
	trust Trust
}

// checkJudged compares a verdict of TestJudge's with what its row wants.
func checkJudged(t *testing.T, v Verdict, auth bool, w judgeWant) {
	t.Helper()
	got := judgeWant{kind: v.Evidence.Kind, forged: v.Forged, copy: v.Copy, del: v.Deletable, delNow: v.DeleteNow, probes: len(v.Probes), trust: w.trust}
	for _, d := range v.Probes {
		got.pending, got.recorded, got.late, got.earlierRun = d.Pending, d.Recorded, d.Late, d.EarlierRun
		if d.List != judgeList || d.Poster != testMember {
			t.Errorf("probe of list %q by %q, want %s by %s", d.List, d.Poster, judgeList, testMember)
		}
	}
	if got != w {
		t.Errorf("verdict %+v (%s)\nwant    %+v", got, v.Why, w)
	}
	trust := w.trust
	switch {
	case trust != "":
	case auth || w.forged:
		trust = TrustAuthenticated
	case w.kind == checks.KindProbeCopy:
		trust = TrustUnauthenticated
	default:
		trust = TrustHint
	}
	if v.Trust != trust || v.Placement != PlacementInbox {
		t.Errorf("trust %s, placement %s; want trust %s (%s)", v.Trust, v.Placement, trust, v.TrustWhy)
	}
}

// Without cleanup on the reader's account, its copies are deletable (they
// are listprobe's own) but never deleted.
func TestJudgeDeletesOnlyWhereTheAccountAllows(t *testing.T) {
	cfg := judgeConfig(t, false)
	signer := cfg.Signer()
	tok := signer.NewToken(judgeList, time.Now())
	raw, _ := compose.Message(compose.Probe{From: testMember, List: judgeList, Token: signer.Encode(tok), Date: tok.SentAt}, nil)
	v := Judge(incoming(t, "reader", string(raw), time.Now()), cfg, fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, List: judgeList}}})
	if !v.Deletable || v.DeleteNow || !v.Probes[0].Late {
		t.Errorf("deletable %t, delete now %t, late %t: want a late copy, deletable but kept", v.Deletable, v.DeleteNow, v.Probes[0].Late)
	}
}

// What people make of a probe (forwards, replies, digests, a resend)
// names its verified token but is never its copy, never late, never
// deletable, whatever listprobe knows of the probe.
func TestJudgeHumanMessagesNeverCount(t *testing.T) {
	cfg := judgeConfig(t, true)
	signer := cfg.Signer()
	tok := signer.NewToken(judgeList, time.Now())
	pm := compose.Probe{From: testMember, List: judgeList, Token: signer.Encode(tok), Date: tok.SentAt}
	views := map[string]Probes{
		"pending":  fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, Pending: true, Signer: signer, Config: cfg, List: judgeList, PosterAccount: "member"}}},
		"recorded": fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, List: judgeList}}},
	}
	for name, raw := range humanMessages(judgeList, pm.Token, pm.MessageID()) {
		for view, probes := range views {
			v := Judge(incoming(t, "reader", raw, time.Now()), cfg, probes)
			if v.Copy || v.Deletable || v.DeleteNow || len(v.Probes) != 0 || v.Forged {
				t.Errorf("%s (%s probe): copy %t, deletable %t, delete now %t, probes %+v", name, view, v.Copy, v.Deletable, v.DeleteNow, v.Probes)
			}
		}
	}
}

// Sympa's notice to the poster names no probe: it decides the only pending
// probe of its list from that poster, sent before it came, and nothing
// else; it is never deletable.
func TestJudgeMatchesSympaNoticeByTime(t *testing.T) {
	cfg := judgeConfig(t, true)
	raw, err := os.ReadFile("../checks/testdata/evidence/sympa-hold_notice-editorkey-en.eml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	probe := func(id string, sentAt time.Time) KnownProbe {
		return KnownProbe{ID: id, Pending: true, Signer: cfg.Signer(), Config: cfg, List: judgeSympa, PosterAccount: "member", SentAt: sentAt}
	}
	for _, tc := range []struct {
		name    string
		account string
		known   []KnownProbe
		want    string // the matched probe's id, "" for none
	}{
		{"one pending probe", "member", []KnownProbe{probe("a", now.Add(-time.Second))}, "a"},
		{"two pending probes are ambiguous", "member", []KnownProbe{probe("a", now.Add(-time.Second)), probe("b", now.Add(-2*time.Second))}, ""},
		{"a probe sent after the notice", "member", []KnownProbe{probe("a", now.Add(time.Second))}, ""},
		{"in a mailbox that is not the poster's", "reader", []KnownProbe{probe("a", now.Add(-time.Second))}, ""},
		{"no pending probe", "member", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fakeProbes{known: map[string]KnownProbe{}}
			for _, p := range tc.known {
				f.known[p.ID] = p
			}
			v := Judge(incoming(t, tc.account, string(raw), now), cfg, f)
			got := ""
			if len(v.Probes) == 1 && v.Probes[0].ByTime && v.Probes[0].Pending {
				got = v.Probes[0].Token.ID
			}
			if got != tc.want || len(v.Probes) > 1 || v.Deletable || v.DeleteNow {
				t.Errorf("matched %q (probes %+v, deletable %t), want %q", got, v.Probes, v.Deletable, tc.want)
			}
		})
	}
}

// A "no more notices today" message in the poster's mailbox names the
// lists that poster posts to; elsewhere it names none.
func TestJudgeNoticeLimit(t *testing.T) {
	cfg := judgeConfig(t, true)
	raw := "From: users-owner@lists.example.org\r\nTo: member@example.org\r\nSubject: Last autoresponse notification for today\r\nX-Mailman-Version: 3.3.8\r\nList-Id: <users.lists.example.org>\r\nMessage-ID: <limit@lists.example.org>\r\n\r\nWe have received a message from your address <member@example.org>\r\nrequesting an automated response from the users@lists.example.org\r\nmailing list.\r\n\r\nThe number we have seen today: 10.\r\n"
	// Unauthenticated, it is a hint and limits nothing (issue 15).
	if v := Judge(incoming(t, "member", raw, time.Now()), cfg, fakeProbes{}); len(v.NoticeLimit) != 0 || len(v.NoticeLimitHints) == 0 {
		t.Errorf("an unauthenticated notice limit: limits %v, hints %v", v.NoticeLimit, v.NoticeLimitHints)
	}
	in := incoming(t, "member", raw, time.Now())
	in.Auth = map[string]*authn.Verdict{}
	for _, l := range cfg.Lists {
		in.Auth[strings.ToLower(l.Address)] = &authn.Verdict{Authenticated: true, Path: authn.PathDKIM}
	}
	v := Judge(in, cfg, fakeProbes{})
	if v.Evidence.Kind != checks.KindNoticeLimit {
		t.Fatalf("kind %s", v.Evidence.Kind)
	}
	if want := []string{judgeList}; v.Evidence.List != "" && !slices.Equal(v.NoticeLimit, want) {
		t.Errorf("notice limit for %v, want %v", v.NoticeLimit, want)
	} else if v.Evidence.List == "" && len(v.NoticeLimit) != 2 {
		t.Errorf("notice limit naming no list: for %v, want both lists", v.NoticeLimit)
	}
	if v := Judge(incoming(t, "reader", raw, time.Now()), cfg, fakeProbes{}); len(v.NoticeLimit) != 0 {
		t.Errorf("notice limit in the reader's mailbox: %v", v.NoticeLimit)
	}
}

// Without a configuration the tokens are read but not checked, and nothing
// is decided.
func TestJudgeWithoutConfigChecksNothing(t *testing.T) {
	signer, _ := token.NewSigner([]byte(testKey))
	tok := signer.NewToken(judgeList, time.Now())
	raw, _ := compose.Message(compose.Probe{From: testMember, List: judgeList, Token: signer.Encode(tok), Date: tok.SentAt}, nil)
	v := Judge(incoming(t, "", string(raw), time.Now()), nil, fakeProbes{})
	if v.Signature != SignatureUnchecked || len(v.Claimed) != 1 || v.Claimed[0].ID != tok.ID || len(v.Probes) != 0 || v.Deletable {
		t.Errorf("%+v", v)
	}
	if v := Judge(incoming(t, "", "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n", time.Now()), nil, fakeProbes{}); v.Signature != SignatureAbsent || v.Evidence.Kind != checks.KindUnrelated {
		t.Errorf("%+v", v)
	}
}

// A genuine copy resent by a subscriber keeps a signature that verifies;
// where the list server's hosts are named, the receiving server's own
// Received field shows it came from elsewhere: a replay, a hint. Without
// hosts it counts (docs/safety.md).
func TestJudgeReplayedCopy(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	for _, tc := range []struct {
		server string
		from   string // the address the receiving server took the copy in from
		want   Trust
	}{
		{"{ hosts: [192.0.2.10], receiver_hosts: [mx.example.org] }", "198.51.100.7", TrustHint},
		{"{ hosts: [192.0.2.10], receiver_hosts: [mx.example.org] }", "192.0.2.10", TrustAuthenticated},
		{"{ authserv_ids: [mx.example.org] }", "198.51.100.7", TrustAuthenticated},
	} {
		cfg := judgeConfigServer(t, true, tc.server)
		signer := cfg.Signer()
		tok := signer.NewToken(judgeList, now.Add(-10*time.Second))
		raw, _ := compose.Message(compose.Probe{From: testMember, List: judgeList, Token: signer.Encode(tok), Date: tok.SentAt}, nil)
		in := incoming(t, "reader", string(raw), now)
		in.Auth = map[string]*authn.Verdict{judgeList: {Authenticated: true, Path: authn.PathDKIM, Reason: "DKIM signature of lists.example.org verifies",
			Received: &authn.Hop{Host: "unknown", Address: tc.from, By: "mx.example.org"}}}
		v := Judge(in, cfg, fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, Pending: true, Signer: signer, List: judgeList, PosterAccount: "member"}}})
		if v.Trust != tc.want || v.Copy != (tc.want != TrustHint) || v.Deletable != (tc.want != TrustHint) {
			t.Errorf("%s, from %s: trust %s (%s), copy %t, deletable %t; want %s", tc.server, tc.from, v.Trust, v.TrustWhy, v.Copy, v.Deletable, tc.want)
		}
		if tc.want == TrustHint && !strings.Contains(v.TrustWhy, "took it in from unknown ["+tc.from+"], not from the list server: a replay") {
			t.Errorf("why %q does not say it is a replay from %s", v.TrustWhy, tc.from)
		}
	}
}
