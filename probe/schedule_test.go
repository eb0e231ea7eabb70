package probe

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// The schedule runs each list's probes, and a list's probe never overlaps
// its previous one even when it takes as long as the interval.
func TestServiceSchedulesWithoutOverlap(t *testing.T) {
	lists := []sandbox.List{
		{Address: "healthy@lists.example.org", Policy: sandbox.Deliver},
		{Address: "blackhole@lists.example.org", Policy: sandbox.Drop},
	}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	w.Config(t, 900*time.Millisecond, lists, func(s string) string {
		return strings.Replace(s, `schedule: "@every 1h"`, `schedule: "@every 1s"`, 1)
	})
	svc := NewService(w.File, testLogger(t), &Options{Load: testLoad})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := svc.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	delivered := svc.Metrics().probes.WithLabelValues("healthy@lists.example.org", "delivered")
	lost := svc.Metrics().probes.WithLabelValues("blackhole@lists.example.org", "lost")
	waitFor(t, 30*time.Second, "scheduled probes", func() bool {
		return testutil.ToFloat64(delivered) >= 3 && testutil.ToFloat64(lost) >= 3
	})
	recent := svc.History().Recent("blackhole@lists.example.org")
	for i := 1; i < len(recent); i++ {
		newer, older := recent[i-1], recent[i]
		if newer.Started.Before(older.Finished) {
			t.Errorf("probe started %s before the previous one finished %s", newer.Started.Format(time.StampMilli), older.Finished.Format(time.StampMilli))
		}
	}
}

func TestJitterIsStablePerListAndBounded(t *testing.T) {
	a1 := jitterFor("a@lists.example.org", 5*time.Minute)
	a2 := jitterFor("a@lists.example.org", 5*time.Minute)
	b := jitterFor("b@lists.example.org", 5*time.Minute)
	if a1 != a2 {
		t.Error("jitter changes between calls")
	}
	if a1 == b {
		t.Error("two lists get the same offset")
	}
	for _, iv := range []time.Duration{time.Second, 5 * time.Minute, time.Hour} {
		if j := jitterFor("a@lists.example.org", iv); j < 0 || j >= min(iv/10, time.Minute) {
			t.Errorf("jitter %s for interval %s", j, iv)
		}
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
	late := svc.Metrics().late.WithLabelValues("slow@lists.example.org")
	waitFor(t, 20*time.Second, "the late copy counted after the reload", func() bool { return testutil.ToFloat64(late) == 1 })
}
