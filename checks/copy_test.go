package checks

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/token"
)

const testList = "test@lists.example.org"

// fixture reads one evidence fixture as a Mailbox hands it over.
func fixture(t *testing.T, name string) (header func() mail.Header, body []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	_, body = splitEvidenceFixture(t, raw)
	return func() mail.Header {
		h, _ := splitEvidenceFixture(t, raw)
		return h
	}, body
}

// TestClassifyForwardAndReplyMarkersAreNoCopy: the anonymous list's copy
// carries the probe only in its Subject. Under any person's reply or
// forward marker, in any language or client convention, that Subject is a
// person's, and the message is unrelated, with no token to count or
// delete, even though it comes from the list with its List-Id.
func TestClassifyForwardAndReplyMarkersAreNoCopy(t *testing.T) {
	header, body := fixture(t, "probe_copy-mailman3-anonymous-list.eml")
	tok := evidenceTokens["copyanonymous222"]
	subject := compose.SubjectPrefix + " " + tok
	if got := Classify(header(), body); got.Kind != KindProbeCopy || got.Copy != CopyFromList || !got.IsCopyOf(testList, "") {
		t.Fatalf("the fixture itself: %+v, want a copy from the list", got)
	}
	for _, s := range []string{
		"Fwd: " + subject, "FW: " + subject, "Fw: " + subject, "RV: " + subject, "I: " + subject,
		"ENC: " + subject, "VB: " + subject, "Doorst: " + subject, "WG: " + subject, "TR: " + subject,
		"Vs: " + subject, "Rif: " + subject, "Enc: " + subject, "PD: " + subject, "转发: " + subject,
		"回复：" + subject, "Re: " + subject, "RE: [Test] " + subject, "Antw: " + subject, "SV: " + subject,
		"AW: " + subject, "Odp: " + subject, "YNT: " + subject, "Re[2]: " + subject, "Re^3: " + subject,
		"Отв: " + subject, "Επ: " + subject, "השב: " + subject, "رد: " + subject, "Svar: " + subject,
		"[Fwd: " + subject + "]", "[Test] [Fwd: " + subject + "]", subject + " (fwd)", "[Fwd] " + subject,
		"(fwd) " + subject, "[Test] Re: " + subject, "Re: Fwd: [Test] " + subject, "Fwd " + subject,
		"WG [Test] " + subject, "Weitergeleitet: " + subject, "Automatic reply: " + subject,
		"Out of office: [Test] " + subject, subject + " - thanks", subject + " " + tok,
		"[Test] " + subject + " [2/2]", "=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte("转发: ")) + "?= " + subject,
	} {
		h := header()
		h.Set("Subject", s)
		if got := Classify(h, body); got.Kind != KindUnrelated || len(got.Tokens) > 0 || got.IsCopyOf(testList, "") {
			t.Errorf("Subject %q: %+v, want unrelated without tokens", s, got)
		}
	}
	// What lists themselves do to a subject keeps it the probe's.
	for _, s := range []string{
		subject, "[Test] " + subject, "[test 42] " + subject, "(Test) " + subject, "【Test】 " + subject,
		"[Test] [Team] " + subject, "  [Test]   " + subject + "  ", "[Test: announcements] " + subject,
	} {
		h := header()
		h.Set("Subject", s)
		if got := Classify(h, body); got.Kind != KindProbeCopy || !got.IsCopyOf(testList, "") {
			t.Errorf("Subject %q: %+v, want the list's copy", s, got)
		}
	}
}

// TestClassifyCopyNeedsTheList: a message with the probe's own subject is
// a copy only from the list's own address with that list's List-Id: not
// from a person, another list, or a robot address of the list (digests).
func TestClassifyCopyNeedsTheList(t *testing.T) {
	header, body := fixture(t, "probe_copy-mailman3-anonymous-list.eml")
	for _, tc := range []struct{ from, listID string }{
		{"Mallory <mallory@example.org>", "<test.lists.example.org>"},
		{"test@lists.example.org.evil.test", "<test.lists.example.org>"},
		{"Other <other@lists.example.org>", "<other.lists.example.org>"},
		{"Test <test@lists.example.org>", "<other.lists.example.org>"},
		{"Test <test@lists.example.org>", ""},
		{"test-request@lists.example.org", "<test.lists.example.org>"},
		{"test-owner@lists.example.org", "<test.lists.example.org>"},
		{"Test <test@lists.example.org>, Mallory <mallory@example.org>", "<test.lists.example.org>"},
		{"test@lists.example.org mallory@example.org", "<test.lists.example.org>"},
	} {
		h := header()
		h.Set("From", tc.from)
		if tc.listID == "" {
			h.Del("List-Id")
		} else {
			h.Set("List-Id", tc.listID)
		}
		got := Classify(h, body)
		if got.IsCopyOf(testList, "probe@example.org") || got.Deletable(testList, "probe@example.org") || got.Kind == KindProbeCopy {
			t.Errorf("From %q, List-Id %q: %+v, want no copy", tc.from, tc.listID, got)
		}
	}
}

// TestIsCopyOfByMessageID: a copy by Message-ID is the poster's copy only
// when From is the poster or the list itself; anyone else sending a
// message with the probe's Message-ID (a person bouncing it on) is not.
func TestIsCopyOfByMessageID(t *testing.T) {
	header, body := fixture(t, "probe_copy-mailman3-list-copy.eml")
	h := header()
	ev := Classify(h, body)
	if ev.Copy != CopyByMessageID || ev.From != "probe@example.org" {
		t.Fatalf("fixture: %+v", ev)
	}
	for _, tc := range []struct {
		list, poster string
		want         bool
	}{
		{testList, "probe@example.org", true},
		{testList, "PROBE@example.org", true},
		{testList, "other@example.org", false},
		{testList, "", false},
		{"other@lists.example.org", "probe@example.org", false},
	} {
		if got := ev.IsCopyOf(tc.list, tc.poster); got != tc.want {
			t.Errorf("IsCopyOf(%q, %q) = %v, want %v", tc.list, tc.poster, got, tc.want)
		}
		if got := ev.Deletable(tc.list, tc.poster); got != tc.want {
			t.Errorf("Deletable(%q, %q) = %v, want %v", tc.list, tc.poster, got, tc.want)
		}
	}
	// A Message-ID that contains the token but is not the token is no
	// probe's (a reply's made up from the parent's).
	h.Set("Message-Id", "<re-"+evidenceTokens["copymm3listcopy2"]+"@example.org>")
	h.Del(token.Header)
	if got := Classify(h, body); got.Kind == KindProbeCopy {
		t.Errorf("Message-ID containing a token: %+v, want no copy", got)
	}
}

// TestDeletableNotices: notices from the list's robots that name its probe
// in what the list server wrote are deletable; for another list, or once a
// person forwards them, they are not.
func TestDeletableNotices(t *testing.T) {
	for name, list := range map[string]string{
		"hold_notice-mailman3-moderated-member.eml":      testList,
		"hold_notice-mailman2-nonmember.eml":             testList,
		"moderator_notice-mailman3-moderated-member.eml": testList,
		"rejection-mailman3-moderator-refused.eml":       testList,
		"rejection-mailman2-nonmember.eml":               testList,
		"bounce-postfix-headers-only.eml":                testList,
		"bounce-mta-qmail-plain.eml":                     testList,
		"bounce-postfix-unknown-list.eml":                "nolist@lists.example.org",
	} {
		header, body := fixture(t, name)
		ev := Classify(header(), body)
		if !ev.Deletable(list, "probe@example.org") {
			t.Errorf("%s: not deletable for %s: %+v", name, list, ev)
		}
		if ev.Deletable("other@lists.example.org", "probe@example.org") {
			t.Errorf("%s: deletable for another list", name)
		}
		h := header()
		h.Set("From", "Alice <alice@example.org>")
		h.Del("Auto-Submitted")
		h.Set("Subject", "Fwd: "+h.Get("Subject"))
		if got := Classify(h, body); got.Deletable(list, "probe@example.org") || len(got.Tokens) > 0 {
			t.Errorf("%s forwarded by a person: %+v, want nothing deletable", name, got)
		}
	}
	for _, name := range []string{"hold_notice-mailman3-someone-elses-post.eml", "notice_limit-mailman3.eml", "hold_notice-mailman3-other-lists-probe.eml"} {
		header, body := fixture(t, name)
		if ev := Classify(header(), body); ev.Deletable(testList, "probe@example.org") || ev.Deletable("other@lists.example.org", "probe@example.org") {
			t.Errorf("%s: deletable: %+v", name, ev)
		}
	}
}

// TestClassifyAutomaticRejectionOnlyFromOwner: Mailman sends its automatic
// rejection from -owner; the same shape from -request (a digest) or
// -bounces is no rejection.
func TestClassifyAutomaticRejectionOnlyFromOwner(t *testing.T) {
	header, body := fixture(t, "rejection-mailman3-moderated-member.eml")
	if got := Classify(header(), body); got.Kind != KindRejection {
		t.Fatalf("fixture: %+v", got)
	}
	for _, from := range []string{"test-request@lists.example.org", "test-bounces@lists.example.org", "alice@example.org"} {
		h := header()
		h.Set("From", from)
		if got := Classify(h, body); got.Kind == KindRejection || len(got.Tokens) > 0 {
			t.Errorf("From %s: %+v, want no rejection", from, got)
		}
	}
}

func TestListIDOf(t *testing.T) {
	if got := listIDOf("Test@Lists.Example.org"); got != "test.lists.example.org" {
		t.Errorf("listIDOf = %q", got)
	}
	header, _ := fixture(t, "unrelated-reply-to-probe-copy.eml")
	if got := listIDField(header()); got != "test.lists.example.org" {
		t.Errorf("listIDField(List-Id: Test list <test.lists.example.org>) = %q", got)
	}
}

func TestSenderRoles(t *testing.T) {
	for _, tc := range []struct{ from, role, list string }{
		{"test-bounces@lists.example.org", "bounces", testList},
		{"test-bounces+probe=example.org@lists.example.org", "bounces", testList},
		{"Test <test-owner@lists.example.org>", "owner", testList},
		{"test-confirm+a1b2c3@lists.example.org", "confirm", testList},
		{"test-join@lists.example.org", "join", testList},
		{"test-leave@lists.example.org", "leave", testList},
		{"test+owner@lists.example.org", "owner", testList},
		{"test+bounces-42-probe=example.org@lists.example.org", "bounces", testList},
		{"test-editor@lists.example.org", "editor", testList},
		{"mailman@lists.example.org", "site", ""},
		{"sympa@lists.example.org", "site", ""},
		{"test@lists.example.org", "", ""},
		{"probe@example.org", "", ""},
		{"-owner@lists.example.org", "", ""},
	} {
		h := mail.Header{}
		h.Set("From", tc.from)
		s := senderOf(h)
		if s.role != tc.role || s.list != tc.list {
			t.Errorf("From %q: role %q list %q, want %q %q", tc.from, s.role, s.list, tc.role, tc.list)
		}
	}
	h := mail.Header{}
	h.Set("From", "mailman@lists.example.org")
	if s := senderOf(h); !s.robotOf(testList) || s.robotOf("test@other.example.org") {
		t.Errorf("site robot of its own domain only")
	}
}

// TestListManagerList: a list manager's rules plug in as one more entry of
// the list; Classify asks them about mail from a list's robot addresses,
// keeps only tokens of that list's probes, and LooksLikeNotice asks them
// too.
func TestListManagerList(t *testing.T) {
	managers := append(slices.Clone(listManagers), listManager{
		name:      "example",
		looksLike: func(h mail.Header) bool { return h.Has("X-Example-Manager") },
		classify: func(m *incoming) (Evidence, bool) {
			if m.subject != "Example hold" {
				return Evidence{}, false
			}
			return Evidence{Kind: KindHoldNotice, Manager: "example", List: m.sender.list, Reason: "held",
				Tokens: token.Find(m.parsed().text())}, true
		},
	})
	var h mail.Header
	h.Set("X-Example-Manager", "1")
	if !looksLikeNotice(h, managers) {
		t.Error("LooksLikeNotice does not ask the added manager")
	}
	h.Set("From", "test-owner@lists.example.org")
	h.Set("Subject", "Example hold")
	ours, theirs := evidenceTokens["copysubjectonly2"], "lp1.otherlistsprobe2.1700000000.n52gqzlsibwgs43uomxgk6dbnvygyzjon5zgo.zm5olnd5ikjquqlwkhlfnos3"
	ev := classifyWith(h, []byte(ours+"\r\n"+theirs+"\r\n"), managers)
	if ev.Kind != KindHoldNotice || ev.Manager != "example" || len(ev.Tokens) != 1 || ev.Tokens[0] != ours {
		t.Errorf("%+v, want the example manager's hold naming only the list's own probe", ev)
	}
}

// TestRealListRewrites: the copies the testbed's Mailman 3.3.8 made of
// probes when it rewrote them (captured by TestCaptureListRewrites) are
// the member's copies of the list's probes, each carrying its probe the
// way that rewrite does; and the approved one says so.
func TestRealListRewrites(t *testing.T) {
	signer, err := token.NewSigner([]byte("listprobe-evidence-test-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Copy{
		"probe_copy-mailman3-real-list-copy.eml":             CopyByMessageID,
		"probe_copy-mailman3-real-anonymous-list.eml":        CopyFromList,
		"probe_copy-mailman3-real-dmarc-munge-from.eml":      CopyByMessageID,
		"probe_copy-mailman3-real-wrap-message.eml":          CopyWrapped,
		"probe_copy-mailman3-real-approved-by-moderator.eml": CopyByMessageID,
	} {
		header, body := fixture(t, name)
		h := header()
		if !LooksLikeNotice(h) {
			body = nil // the body a Mailbox would not fetch
		}
		ev := Classify(h, body)
		if ev.Kind != KindProbeCopy || ev.Copy != want || len(ev.Tokens) != 1 {
			t.Errorf("%s: %+v, want a copy by %q", name, ev, want)
			continue
		}
		tok, err := signer.Verify(ev.Tokens[0])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !ev.IsCopyOf(tok.List, "member@example.test") || !ev.Deletable(tok.List, "member@example.test") {
			t.Errorf("%s: not the member's copy of %s: %+v", name, tok.List, ev)
		}
		if ev.IsCopyOf("checks-00000000@lists.example.test", "member@example.test") {
			t.Errorf("%s: a copy of another list", name)
		}
		if approved := name == "probe_copy-mailman3-real-approved-by-moderator.eml"; ev.Approved != approved || approved && ev.ApprovedAt.IsZero() {
			t.Errorf("%s: approved %v at %v", name, ev.Approved, ev.ApprovedAt)
		}
		// Mailman drops the Received fields of the post when it makes a
		// new message (anonymous_list, wrap_message): only its own hop and
		// the reader's delivery are left.
		minHops := 3
		if want == CopyFromList || want == CopyWrapped {
			minHops = 2
		}
		if hops := Hops(h); len(hops) < minHops || hops[len(hops)-1].With != "LMTP" || hops[len(hops)-1].At.IsZero() {
			t.Errorf("%s: hops %+v, want at least %d ending with LMTP delivery", name, hops, minHops)
		}
	}
}

// TestBounceOfAPersonsMessage: a bounce returning a person's message that
// answers or quotes a probe names no probe, even though the returned body
// and subject carry its token; the same bounce of the probe itself does.
func TestBounceOfAPersonsMessage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, "bounce-postfix-unknown-list.eml"))
	if err != nil {
		t.Fatal(err)
	}
	tok := evidenceTokens["bouncepostfixunk"]
	s := string(raw)
	for _, r := range []*strings.Replacer{
		strings.NewReplacer("Subject: listprobe", "Subject: Re: listprobe", "Message-ID: <"+tok, "Message-ID: <re-"+tok, "X-Listprobe-Token: "+tok, "X-Listprobe-Token: none"),
		strings.NewReplacer("Subject: listprobe", "Subject: AW: listprobe", "Message-ID: <"+tok, "Message-ID: <CAF00-"+tok, "X-Listprobe-Token: "+tok+"\n", ""),
	} {
		h, body := splitEvidenceFixture(t, []byte(r.Replace(s)))
		if ev := Classify(h, body); len(ev.Tokens) > 0 || ev.Deletable("nolist@lists.example.org", "probe@example.org") {
			t.Errorf("bounce of a person's reply: %+v, want no probe named", ev)
		}
	}
}

// A person who writes a list robot's address into From still sends with an
// envelope of their own: the Return-Path the receiving server records then
// disagrees with From, and such a notice is never deleted. The list's own
// notices (envelope in the list's domain) and bounces (null sender) are.
func TestDeletableNoticesNeedTheRobotsEnvelope(t *testing.T) {
	for _, tc := range []struct {
		fixture, list, returnPath string
		deletable                 bool
	}{
		{"hold_notice-mailman3-moderated-member.eml", testList, "<test-bounces@lists.example.org>", true},
		{"hold_notice-mailman3-moderated-member.eml", testList, "<TEST-bounces+probe=example.org@Lists.Example.Org>", true},
		{"hold_notice-mailman3-moderated-member.eml", testList, "", true},
		{"hold_notice-mailman3-moderated-member.eml", testList, "<mallory@example.net>", false},
		{"rejection-mailman3-moderator-refused.eml", testList, "<mallory@lists.example.org.evil.example>", false},
		{"bounce-postfix-headers-only.eml", testList, "<>", true},
		{"bounce-postfix-headers-only.eml", testList, "<mallory@example.net>", false},
	} {
		header, body := fixture(t, tc.fixture)
		h := header()
		h.Del("Return-Path")
		if tc.returnPath != "" {
			h.Set("Return-Path", tc.returnPath)
		}
		ev := Classify(h, body)
		if got := ev.Deletable(tc.list, "probe@example.org"); got != tc.deletable {
			t.Errorf("%s with Return-Path %q: deletable %v, want %v (%+v)", tc.fixture, tc.returnPath, got, tc.deletable, ev)
		}
	}
}
