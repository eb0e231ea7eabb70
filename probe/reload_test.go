package probe

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// runService runs svc.Run until the test ends and waits for it to be ready
// with the reader's session up. The returned function stops it and waits
// for Run to return.
func runService(t *testing.T, svc *Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := svc.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	waitFor(t, 10*time.Second, "ready", svc.Ready)
	up := svc.Metrics().mailboxUp.WithLabelValues("reader")
	waitFor(t, 10*time.Second, "reader mailbox up", func() bool { return testutil.ToFloat64(up) == 1 })
	return stop
}

// inFlight starts an on-demand probe of list and returns its result channel.
func inFlight(t *testing.T, svc *Service, list string) <-chan *Result {
	t.Helper()
	ch := make(chan *Result, 1)
	go func() {
		r, _, err := svc.ProbeNow(context.Background(), list)
		if err != nil {
			t.Error(err)
		}
		ch <- r
	}()
	// Wait until it is registered, so the reload comes while it is pending.
	waitFor(t, 5*time.Second, "the probe pending", func() bool { return len(svc.reg.pendingFor(list)) == 1 })
	return ch
}

func rewrite(t *testing.T, file string, f func(string) string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := f(string(b))
	if s == string(b) {
		t.Fatal("the config rewrite changed nothing")
	}
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A reload that leaves an account's connection settings alone keeps its
// session: a probe in flight is delivered, the session is the same one, and
// listprobe_mailbox_up stays 1.
func TestReloadKeepsUnchangedSessionsForProbesInFlight(t *testing.T) {
	lists := []sandbox.List{{Address: "slow@lists.example.org", Policy: sandbox.Delay, Delay: time.Second}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	w.Config(t, 10*time.Second, lists, nil)
	svc := NewService(w.File, testLogger(t), nil)
	runService(t, svc)
	before := svc.sessions.get("reader")

	res := inFlight(t, svc, "slow@lists.example.org")
	rewrite(t, w.File, func(s string) string { return strings.Replace(s, "timeout: 10s", "timeout: 11s", 1) })
	if err := svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, <-res, Delivered, "")
	if svc.sessions.get("reader") != before {
		t.Error("the reader's session was replaced although its settings did not change")
	}
	if up := testutil.ToFloat64(svc.Metrics().mailboxUp.WithLabelValues("reader")); up != 1 {
		t.Errorf("listprobe_mailbox_up{account=reader} = %v after the reload, want 1", up)
	}
}

// A reload that changes the reader's settings gives it a new session; the
// probe in flight keeps the old one until it ends (delivered, not error),
// the old one then stops, and listprobe_mailbox_up is the new session's
// (before, the old session's "down" at its end overwrote the new "up").
func TestReloadChangingASessionLetsProbesInFlightFinish(t *testing.T) {
	lists := []sandbox.List{{Address: "slow@lists.example.org", Policy: sandbox.Delay, Delay: time.Second}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	w.Config(t, 10*time.Second, lists, nil)
	svc := NewService(w.File, testLogger(t), nil)
	runService(t, svc)
	old := svc.sessions.get("reader")

	res := inFlight(t, svc, "slow@lists.example.org")
	rewrite(t, w.File, func(s string) string {
		return strings.Replace(s, "username: reader@example.org, password_file: reader }", "username: reader@example.org, password_file: reader, mailbox: inbox }", 1)
	})
	if err := svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if svc.sessions.get("reader") == old {
		t.Fatal("the reader's settings changed but its session was kept")
	}
	wantOutcome(t, <-res, Delivered, "")
	select {
	case <-old.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the replaced session did not stop once its last probe finished")
	}
	up := svc.Metrics().mailboxUp.WithLabelValues("reader")
	waitFor(t, 10*time.Second, "the new session up", func() bool { return testutil.ToFloat64(up) == 1 })
	// The old session's end must not have said "down" for the account.
	time.Sleep(100 * time.Millisecond)
	if v := testutil.ToFloat64(up); v != 1 {
		t.Errorf("listprobe_mailbox_up{account=reader} = %v once the old session stopped, want 1", v)
	}
}

// A list removed by a reload while its probe is in flight does not come
// back in the metrics when that probe records its outcome.
func TestListRemovedWhileInFlightStaysGone(t *testing.T) {
	lists := []sandbox.List{
		{Address: "slow@lists.example.org", Policy: sandbox.Delay, Delay: time.Second},
		{Address: "healthy@lists.example.org", Policy: sandbox.Deliver},
	}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	w.Config(t, 10*time.Second, lists, nil)
	svc := NewService(w.File, testLogger(t), nil)
	runService(t, svc)

	res := inFlight(t, svc, "slow@lists.example.org")
	rewrite(t, w.File, func(s string) string {
		return strings.Replace(s, "  - address: slow@lists.example.org\n    poster: member\n    reader: reader\n    list_server: sandbox\n", "", 1)
	})
	if err := svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, <-res, Delivered, "")
	mfs, err := svc.Metrics().Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "list" && lp.GetValue() == "slow@lists.example.org" {
					t.Errorf("%s has a series for the removed list", mf.GetName())
				}
			}
		}
	}
}

// Run returns only once every session, a replaced one still held by a
// probe included, has ended.
func TestRunWaitsForRetiredSessions(t *testing.T) {
	lists := []sandbox.List{{Address: "blackhole@lists.example.org", Policy: sandbox.Drop}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	w.Config(t, 3*time.Second, lists, nil)
	svc := NewService(w.File, testLogger(t), nil)
	stop := runService(t, svc)
	old := svc.sessions.get("reader")
	res := inFlight(t, svc, "blackhole@lists.example.org")
	rewrite(t, w.File, func(s string) string {
		return strings.Replace(s, "username: reader@example.org, password_file: reader }", "username: reader@example.org, password_file: reader, mailbox: inbox }", 1)
	})
	if err := svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	current := svc.sessions.get("reader")
	stop()
	for name, s := range map[string]*accountSession{"replaced": old, "current": current} {
		select {
		case <-s.done:
		default:
			t.Errorf("Run returned before the %s reader session ended", name)
		}
	}
	if r := <-res; r.Outcome != Error || !strings.Contains(r.Reason, "cancelled") {
		t.Errorf("probe in flight at shutdown: %s %q, want error: cancelled", r.Outcome, r.Reason)
	}
}

// A copy that arrives late, after a reload replaced the runtime that sent
// the probe, is still counted as a late delivery.
func TestLateCopyAfterReloadIsCounted(t *testing.T) {
	lists := []sandbox.List{{Address: "slow@lists.example.org", Policy: sandbox.Delay, Delay: 2 * time.Second}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	w.Config(t, 500*time.Millisecond, lists, nil)
	svc := NewService(w.File, testLogger(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		svc.Run(ctx)
	}()
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, 10*time.Second, "ready", svc.Ready)
	up := svc.Metrics().mailboxUp.WithLabelValues("reader")
	waitFor(t, 10*time.Second, "reader mailbox up", func() bool { return testutil.ToFloat64(up) == 1 })

	r, _, err := svc.ProbeNow(ctx, "slow@lists.example.org")
	if err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, r, Lost, "")
	if err := svc.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the late copy counted after the reload", func() bool {
		return seriesValue(t, svc.Metrics(), "listprobe_late_deliveries_total", "list", "slow@lists.example.org") == 1
	})
}
