package probe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe/config"
	"github.com/listprobe/listprobe/probe/internal/probetest"
)

// The world of these tests (package probetest), by their old names.
const (
	testMember    = probetest.Member
	testReader    = probetest.Reader
	testModerator = probetest.Moderator
	testKey       = probetest.Key
)

var (
	testLogger = probetest.Logger
	waitFor    = probetest.WaitFor
	testLoad   = probetest.Load
)

type testWorld = probetest.World

func startTestWorld(t testing.TB, opts sandbox.Options) *testWorld { return probetest.Start(t, opts) }

// startRuntime starts a service for cfg, without a schedule, and stops it
// at the end of the test.
func startRuntime(t testing.TB, cfg *config.Config) *Service {
	t.Helper()
	svc := NewService("", testLogger(t), nil)
	svc.Start(context.Background(), cfg)
	t.Cleanup(svc.Stop)
	return svc
}

// probeList runs one probe of list now, as the schedule would.
func probeList(t testing.TB, svc *Service, list string) *Result {
	t.Helper()
	cfg := svc.Config()
	l := cfg.List(list)
	if l == nil {
		t.Fatalf("no list %s", list)
	}
	return svc.runProbe(cfg, l)
}

func wantOutcome(t *testing.T, r *Result, want Outcome, reason string) {
	t.Helper()
	if r.Outcome != want {
		t.Fatalf("outcome = %s (%s; evidence %q), want %s\nlog:\n%s", r.Outcome, r.Reason, r.Evidence, want, r.Log)
	}
	if !strings.Contains(r.Reason, reason) {
		t.Errorf("reason = %q, want it to contain %q", r.Reason, reason)
	}
}

func TestHealthyListIsDelivered(t *testing.T) {
	lists := []sandbox.List{{Address: "healthy@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	r := probeList(t, rt, "healthy@lists.example.org")
	wantOutcome(t, r, Delivered, "copy seen")
	if !r.OK || r.Latency == nil || *r.Latency < 0 {
		t.Errorf("ok=%v latency=%v", r.OK, r.Latency)
	}
	if !strings.Contains(r.MessageID, r.Token) || !strings.HasPrefix(r.SubmitReply, "250") {
		t.Errorf("message id %q, submit reply %q", r.MessageID, r.SubmitReply)
	}
	if got := seriesValue(t, rt.metrics, "listprobe_probes_total", "list", "healthy@lists.example.org", "outcome", "delivered"); got != 1 {
		t.Errorf("listprobe_probes_total{outcome=delivered} = %v", got)
	}
	if got := seriesValue(t, rt.metrics, "listprobe_probe_success", "list", "healthy@lists.example.org"); got != 1 {
		t.Errorf("listprobe_probe_success = %v", got)
	}
	// The histogram series exists from the start: count its observations.
	want := fmt.Sprintf(`
# HELP listprobe_delivery_latency_seconds Time from the post's acceptance by SMTP to its copy seen in the reader mailbox.
# TYPE listprobe_delivery_latency_seconds histogram
listprobe_delivery_latency_seconds_count{list="healthy@lists.example.org"} 1
listprobe_delivery_latency_seconds_sum{list="healthy@lists.example.org"} %v
`, *r.Latency)
	got := familyText(t, rt.metrics.Gatherer(), "listprobe_delivery_latency_seconds")
	for _, line := range strings.Split(strings.TrimSpace(want), "\n")[2:] {
		if !strings.Contains(string(got), line) {
			t.Errorf("latency histogram lacks %q:\n%s", line, got)
		}
	}
}

// The incident: a configuration change made the list hold every member post.
func TestIncidentEveryMemberPostHeld(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Hold}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	r := probeList(t, rt, "users@lists.example.org")
	wantOutcome(t, r, Held, "The message comes from a moderated member")
	if r.OK {
		t.Error("a held probe of a list expected to deliver is OK")
	}
	if !strings.Contains(r.Evidence, "hold notice") {
		t.Errorf("evidence = %q", r.Evidence)
	}
	// The list is fixed: the next probe is delivered again.
	w.SetPolicy("users@lists.example.org", sandbox.Deliver)
	wantOutcome(t, probeList(t, rt, "users@lists.example.org"), Delivered, "")
}

func TestAnnouncementListExpectedHeldIsOK(t *testing.T) {
	lists := []sandbox.List{{Address: "announce@lists.example.org", Policy: sandbox.Hold, HoldReason: "Post to moderated list"}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 20*time.Second, lists, func(s string) string {
		return strings.Replace(s, "    reader: reader\n", "    reader: reader\n    expect: held\n", 1)
	})
	rt := startRuntime(t, cfg)
	r := probeList(t, rt, "announce@lists.example.org")
	wantOutcome(t, r, Held, "Post to moderated list")
	if !r.OK {
		t.Error("held is the expectation but the probe is not OK")
	}
}

func TestRejectedListIsRejected(t *testing.T) {
	lists := []sandbox.List{{Address: "closed@lists.example.org", Policy: sandbox.Reject, RejectReason: "Members may not post here"}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	wantOutcome(t, probeList(t, rt, "closed@lists.example.org"), Rejected, "Members may not post here")
}

func TestPermanentSMTPRefusalIsRejected(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	// A list the SMTP server does not know: 550 5.1.1 to RCPT.
	cfg := w.Config(t, 10*time.Second, lists, func(s string) string {
		return strings.Replace(s, "users@lists.example.org", "nosuchlist@lists.example.org", 1)
	})
	rt := startRuntime(t, cfg)
	r := probeList(t, rt, "nosuchlist@lists.example.org")
	wantOutcome(t, r, Rejected, "550")
	if !strings.Contains(r.Evidence, "RCPT") {
		t.Errorf("evidence = %q, want the SMTP stage", r.Evidence)
	}
}

func TestDroppedPostIsLost(t *testing.T) {
	lists := []sandbox.List{{Address: "blackhole@lists.example.org", Policy: sandbox.Drop}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 2*time.Second, lists, nil))
	r := probeList(t, rt, "blackhole@lists.example.org")
	wantOutcome(t, r, Lost, "no copy and no evidence within 2s")
	if r.Latency != nil {
		t.Error("a lost probe has a latency")
	}
}

func TestSlowButInTimeIsDelivered(t *testing.T) {
	lists := []sandbox.List{{Address: "slow@lists.example.org", Policy: sandbox.Delay, Delay: time.Second}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 30*time.Second, lists, nil))
	r := probeList(t, rt, "slow@lists.example.org")
	wantOutcome(t, r, Delivered, "")
	// The latency includes the list's delay: a lower bound, not a timing.
	if *r.Latency < 1 {
		t.Errorf("latency %.3fs is shorter than the list's 1s delay", *r.Latency)
	}
}

func TestLateCopyCountsAsLateDelivery(t *testing.T) {
	lists := []sandbox.List{{Address: "slow@lists.example.org", Policy: sandbox.Delay, Delay: 2 * time.Second}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 500*time.Millisecond, lists, nil))
	r := probeList(t, rt, "slow@lists.example.org")
	wantOutcome(t, r, Lost, "")
	waitFor(t, 20*time.Second, "a late delivery", func() bool {
		return seriesValue(t, rt.metrics, "listprobe_late_deliveries_total", "list", "slow@lists.example.org") == 1
	})
	// The recorded outcome stays.
	if got := rt.history.Last("slow@lists.example.org"); got.Outcome != Lost {
		t.Errorf("recorded outcome rewritten to %s", got.Outcome)
	}
	if got := seriesValue(t, rt.metrics, "listprobe_probes_total", "list", "slow@lists.example.org", "outcome", "delivered"); got != 0 {
		t.Errorf("late copy counted as delivered: %v", got)
	}
	if n := len(rt.history.Late("slow@lists.example.org")); n != 1 {
		t.Errorf("history has %d late copies", n)
	}
}

func TestSMTPAuthFailureIsSendFailed(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	if err := os.WriteFile(filepath.Join(w.Dir, "smtp-wrong"), []byte("wrong-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := w.Config(t, 10*time.Second, lists, func(s string) string {
		return strings.Replace(s, "username: member@example.org, password_file: member }", "username: member@example.org, password_file: smtp-wrong }", 1)
	})
	rt := startRuntime(t, cfg)
	r := probeList(t, rt, "users@lists.example.org")
	wantOutcome(t, r, SendFailed, "auth")
	if strings.Contains(r.Reason+r.Log, "wrong-password") {
		t.Error("the password shows in the reason or log")
	}
}

func TestReaderMailboxDownIsError(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 3*time.Second, lists, nil)
	if err := w.StopIMAP(); err != nil {
		t.Fatal(err)
	}
	rt := startRuntime(t, cfg)
	r := probeList(t, rt, "users@lists.example.org")
	wantOutcome(t, r, Error, "reader@example.org")
	if !strings.Contains(r.Reason, w.IMAPAddr) {
		t.Errorf("reason %q does not name the IMAP server", r.Reason)
	}
	// Nothing was posted: the list got no probe that nobody could read.
	if held, _ := w.Messages(testReader); len(held) != 0 {
		t.Errorf("reader mailbox has %d messages", len(held))
	}
}

func TestIMAPRestartMidIdleRecovers(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 30*time.Second, lists, nil))
	wantOutcome(t, probeList(t, rt, "users@lists.example.org"), Delivered, "")

	up := rt.metrics.mailboxUp.WithLabelValues("reader")
	if err := w.StopIMAP(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "listprobe_mailbox_up 0", func() bool { return testutil.ToFloat64(up) == 0 })
	if err := w.StartIMAP(); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, probeList(t, rt, "users@lists.example.org"), Delivered, "")
	if testutil.ToFloat64(up) != 1 {
		t.Error("listprobe_mailbox_up is not 1 after the reconnect")
	}
}

func TestServerWithoutIdleIsPolled(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists, NoIdle: true})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	wantOutcome(t, probeList(t, rt, "users@lists.example.org"), Delivered, "")
	wantOutcome(t, probeList(t, rt, "users@lists.example.org"), Delivered, "")
}

// Nothing lost, nobody let in: with cleanup on, listprobe deletes its own
// verified copies and notices and nothing else.
func TestCleanupTouchesOnlyVerifiedProbes(t *testing.T) {
	lists := []sandbox.List{
		{Address: "users@lists.example.org", Policy: sandbox.Deliver},
		{Address: "held@lists.example.org", Policy: sandbox.Hold},
	}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 20*time.Second, lists, nil)

	// Plant: ordinary mail, a forged probe copy (token signed with another
	// key) and a hold notice about someone else's post, in both mailboxes.
	forger, err := token.NewSigner([]byte("not-the-real-signing-key-000"))
	if err != nil {
		t.Fatal(err)
	}
	forgedToken := forger.Encode(forger.NewToken("users@lists.example.org", time.Now()))
	forged, err := compose.Message(compose.Probe{From: testMember, List: "users@lists.example.org", Token: forgedToken, Date: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ordinary := []byte("From: friend@example.org\r\nTo: reader@example.org\r\nSubject: lunch?\r\nMessage-ID: <lunch@example.org>\r\n\r\nSee you at noon.\r\n")
	othersNotice := []byte("From: held-bounces@lists.example.org\r\nTo: member@example.org\r\nSubject: Your message to held@lists.example.org awaits moderator approval\r\nAuto-Submitted: auto-generated\r\nX-Mailman-Version: 3.3.8\r\nMessage-ID: <notice-1@lists.example.org>\r\n\r\nYour mail to 'held@lists.example.org' with the subject\r\n\r\n    quarterly report\r\n\r\nIs being held until the list moderator can review it for approval.\r\n\r\nThe message is being held because:\r\n\r\n    The message comes from a moderated member\r\n")
	rt := startRuntime(t, cfg)
	// Planted while listprobe watches, so that every one of them goes
	// through classification and verification as new mail.
	for _, acct := range []string{"reader", "member"} {
		up := rt.metrics.mailboxUp.WithLabelValues(acct)
		waitFor(t, 10*time.Second, acct+" mailbox up", func() bool { return testutil.ToFloat64(up) == 1 })
	}
	for _, addr := range []string{testReader, testMember} {
		for _, m := range [][]byte{ordinary, forged, othersNotice} {
			if err := w.Append(addr, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, acct := range []string{"reader", "member"} {
		forgedSeen := rt.metrics.forged.WithLabelValues(acct)
		waitFor(t, 10*time.Second, "the forged probe counted in "+acct, func() bool { return testutil.ToFloat64(forgedSeen) == 1 })
	}
	wantOutcome(t, probeList(t, rt, "users@lists.example.org"), Delivered, "")
	wantOutcome(t, probeList(t, rt, "held@lists.example.org"), Held, "")

	for _, addr := range []string{testReader, testMember} {
		waitFor(t, 10*time.Second, addr+" cleaned up", func() bool {
			msgs, err := w.Messages(addr)
			return err == nil && len(msgs) == 3
		})
		msgs, _ := w.Messages(addr)
		for i, m := range msgs {
			want := [][]byte{ordinary, forged, othersNotice}[i]
			if string(m.Raw) != string(want) {
				t.Errorf("%s message %d changed or replaced:\n%s", addr, i, m.Raw)
			}
			if slices.Contains(m.Flags, `\Seen`) || slices.Contains(m.Flags, `\Deleted`) {
				t.Errorf("%s message %d has flags %v", addr, i, m.Flags)
			}
		}
	}
}

func TestMetricsLint(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	probeList(t, rt, "users@lists.example.org")
	problems, err := testutil.GatherAndLint(rt.metrics.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	// Every outcome of every list exists from the start.
	if n := seriesCount(t, rt.metrics, "listprobe_probes_total"); n != len(Outcomes) {
		t.Errorf("listprobe_probes_total has %d series, want %d", n, len(Outcomes))
	}
}
