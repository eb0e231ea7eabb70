package probe

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/probe/config"
)

// fakeSession is a mailbox session in a given state, with no server.
func fakeSession(name string, up bool, err error) *accountSession {
	return &accountSession{name: name, address: name + "@example.org", server: "imap.example.org:993",
		up: up, failed: !up && err != nil, err: err, changed: make(chan struct{})}
}

// fakeRun is a probe of list@lists.example.org posted by poster, read by
// reader, accepted by SMTP at accepted.
func fakeRun(reader, poster *accountSession) *probeRun {
	accepted := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	return &probeRun{
		list:      &config.ListConfig{Address: "list@lists.example.org", Poster: "member", Reader: "reader", Expect: config.ExpectDelivered},
		poster:    &config.AccountConfig{Address: "member@example.org"},
		logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		res:       &Result{Started: accepted.Add(-time.Second)},
		accepted:  accepted,
		timeout:   time.Minute,
		reader:    reader,
		readers:   []*readerRun{{account: "reader", box: reader}},
		posterBox: poster,
		pending:   &pendingProbe{sightings: make(chan *sighting, sightingBuffer)},
	}
}

func TestWaitSessionsDoesNotPostWhenTheReaderIsDown(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:993: connection refused")
	r := fakeRun(fakeSession("reader", false, refused), nil)
	r.failFast = true
	r.res.Started = time.Now()
	if !waitSessions(context.Background(), r) {
		t.Fatal("a reader that refused the login did not decide the probe")
	}
	if r.res.Outcome != Error || !strings.Contains(r.res.Reason, "connection refused") || !strings.Contains(r.res.Reason, "reader@example.org") {
		t.Errorf("outcome %s %q, want error naming the reader and the refusal", r.res.Outcome, r.res.Reason)
	}
}

func TestWaitSessionsPostsWhenANoticeMailboxIsDown(t *testing.T) {
	r := fakeRun(fakeSession("reader", true, nil), fakeSession("member", false, errors.New("login refused")))
	r.failFast = true
	r.res.Started = time.Now()
	if waitSessions(context.Background(), r) {
		t.Fatalf("a down notice mailbox stopped the probe: %s %q", r.res.Outcome, r.res.Reason)
	}
}

func TestWaitSessionsGivesUpAtTheDeadlineWithoutFailFast(t *testing.T) {
	r := fakeRun(fakeSession("reader", false, nil), nil)
	r.res.Started = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if !waitSessions(ctx, r) || r.res.Outcome != Error || !strings.Contains(r.res.Reason, "no session yet") {
		t.Errorf("outcome %s %q, want error: no session yet", r.res.Outcome, r.res.Reason)
	}
}

func TestComposeProbeRefusesABadAddress(t *testing.T) {
	r := fakeRun(nil, nil)
	r.msg = compose.Probe{From: "not an address", List: "list@lists.example.org", Token: "lp1.x", Date: time.Now()}
	if !composeProbe(context.Background(), r) || r.res.Outcome != SendFailed || r.res.Evidence != "compose" {
		t.Errorf("outcome %s %q (%s), want send_failed from compose", r.res.Outcome, r.res.Reason, r.res.Evidence)
	}
}

// What one piece of evidence does to a probe.
func TestApplyEvidence(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		e       sighting
		decided bool
		outcome Outcome
		reason  string
	}{
		{"the copy in the reader's mailbox", sighting{kind: checks.KindProbeCopy, account: "reader", seenAt: at.Add(420 * time.Millisecond)}, true, Delivered, "0.420s after SMTP accepted"},
		{"a copy in another mailbox", sighting{kind: checks.KindProbeCopy, account: "member", seenAt: at}, false, "", ""},
		{"a copy a moderator released", sighting{kind: checks.KindProbeCopy, account: "reader", approved: true, approvedAt: at.Add(93 * time.Second)}, true, Held, "held, then approved by a moderator after 1m33s"},
		{"a hold notice", sighting{trust: TrustAuthenticated, kind: checks.KindHoldNotice, manager: "mailman3", account: "member", reason: "The message comes from a moderated member"}, true, Held, "moderated member"},
		{"the held queue", sighting{trust: TrustAuthenticated, kind: checks.KindHoldNotice, manager: "mailman3-rest", reason: "Emergency moderation", requestID: 7}, true, Held, "Emergency"},
		{"a rejection notice", sighting{trust: TrustAuthenticated, kind: checks.KindRejection, account: "member", reason: "Post by non-member"}, true, Rejected, "non-member"},
		{"a bounce for the list", sighting{trust: TrustAuthenticated, kind: checks.KindBounce, account: "member", recipient: "List@lists.example.org", reason: "550 5.1.1 unknown"}, true, Rejected, "550"},
		{"a bounce naming no recipient, in the poster's mailbox", sighting{trust: TrustAuthenticated, kind: checks.KindBounce, account: "member", reason: "550 refused"}, true, Rejected, "550"},
		{"a bounce naming no recipient, in the reader's mailbox", sighting{trust: TrustAuthenticated, kind: checks.KindBounce, account: "reader", reason: "550 refused"}, false, "", ""},
		{"a subscriber's bounce", sighting{trust: TrustAuthenticated, kind: checks.KindBounce, account: "member", recipient: "someone@example.net", reason: "550 mailbox full"}, false, "", ""},
		{"a notice-limit warning", sighting{kind: checks.KindNoticeLimit, account: "member"}, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeRun(nil, nil)
			if got := applyEvidence(r, tc.e); got != tc.decided {
				t.Fatalf("decided = %v, want %v", got, tc.decided)
			}
			if r.res.Outcome != tc.outcome || !strings.Contains(r.res.Reason, tc.reason) {
				t.Errorf("outcome %s %q, want %s containing %q", r.res.Outcome, r.res.Reason, tc.outcome, tc.reason)
			}
			if tc.outcome != Delivered && r.res.Latency != nil {
				t.Errorf("a %s probe has a latency", r.res.Outcome)
			}
		})
	}
}

func TestAwaitEvidenceKeepsOnlyDeletableMessagesForCleanup(t *testing.T) {
	r := fakeRun(fakeSession("reader", true, nil), nil)
	r.pending.sightings <- &sighting{kind: checks.KindBounce, account: "member", recipient: "other@example.net", uid: 1, deletable: false}
	r.pending.sightings <- &sighting{kind: checks.KindProbeCopy, account: "reader", seenAt: r.accepted, uid: 2, deletable: true}
	if !awaitEvidence(context.Background(), r) || r.res.Outcome != Delivered {
		t.Fatalf("outcome %s %q, want delivered", r.res.Outcome, r.res.Reason)
	}
	if len(r.cleanup) != 1 || r.cleanup[0].uid != 2 {
		t.Errorf("cleanup %+v, want only the copy", r.cleanup)
	}
}

func TestDeadlineBlamesTheReaderNotTheList(t *testing.T) {
	r := fakeRun(fakeSession("reader", false, errors.New("connection reset")), nil)
	r.deadline(context.Background())
	if r.res.Outcome != Error || !strings.Contains(r.res.Reason, "unreachable at the deadline: connection reset") {
		t.Errorf("outcome %s %q, want error: reader unreachable", r.res.Outcome, r.res.Reason)
	}
	for _, tc := range []struct {
		m    MemberState
		want string
	}{
		{MemberState{}, "is not subscribed"},
		{MemberState{Subscribed: true, DeliveryStatus: "by_bounces"}, "disabled by bounces"},
		{MemberState{Subscribed: true, DeliveryStatus: "by_user"}, "delivery_status by_user"},
		{MemberState{Subscribed: true, DeliveryMode: "mime_digests", DeliveryStatus: "enabled"}, "receives digests"},
		{MemberState{Subscribed: true, DeliveryMode: "regular", DeliveryStatus: "enabled"}, ""},
	} {
		if got := cannotReceive(tc.m); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("cannotReceive(%+v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}

// listprobe_last_hop_seconds keeps the last hops of a long Received chain
// (the list server's, the reader's mailbox's), numbered as in the chain, and
// only the last probe's.
func TestHopSecondsKeepTheLastHops(t *testing.T) {
	m := NewMetrics()
	cfg := &config.Config{Lists: []*config.ListConfig{{Address: "l@lists.example.org", Expect: config.ExpectDelivered}}, Accounts: map[string]*config.AccountConfig{}}
	m.Configure(cfg)
	lat := 1.0
	var hops []Hop
	for i := range 10 {
		hops = append(hops, Hop{Seconds: float64(i)})
	}
	m.Record(&Result{List: "l@lists.example.org", Outcome: Delivered, Expected: Delivered, OK: true, Latency: &lat, Hops: hops})
	if n := seriesCount(t, m, "listprobe_last_hop_seconds"); n != maxHopSeries {
		t.Errorf("%d hop series, want %d", n, maxHopSeries)
	}
	if got := seriesValue(t, m, "listprobe_last_hop_seconds", "list", "l@lists.example.org", "hop", "10"); got != 9 {
		t.Errorf("hop 10 = %v, want 9", got)
	}
	m.Record(&Result{List: "l@lists.example.org", Outcome: Delivered, Expected: Delivered, OK: true, Latency: &lat, Hops: hops[:2]})
	if n := seriesCount(t, m, "listprobe_last_hop_seconds"); n != 2 {
		t.Errorf("%d hop series after a two-hop copy, want 2", n)
	}
}
