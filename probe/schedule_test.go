package probe

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

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

	waitFor(t, 30*time.Second, "scheduled probes", func() bool {
		return seriesValue(t, svc.Metrics(), "listprobe_probes_total", "list", "healthy@lists.example.org", "outcome", "delivered") >= 3 &&
			seriesValue(t, svc.Metrics(), "listprobe_probes_total", "list", "blackhole@lists.example.org", "outcome", "lost") >= 3
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

// Two replicas over one config probe every list exactly once between them,
// and a third replica moves only the lists that must move.
func TestShardsProbeEveryListExactlyOnce(t *testing.T) {
	var lists []sandbox.List
	for i := range 12 {
		lists = append(lists, sandbox.List{Address: fmt.Sprintf("l%02d@lists.example.org", i), Policy: sandbox.Deliver})
	}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 20*time.Second, lists, nil)
	probed := map[string]int{}
	for i := range 2 {
		svc := NewService("", testLogger(t), &Options{ShardIndex: i, ShardCount: 2, Instance: fmt.Sprint("shard", i)})
		svc.Start(context.Background(), cfg)
		t.Cleanup(svc.Stop)
		mine := svc.Config().Lists
		if len(mine) == 0 || len(mine) == len(lists) {
			t.Errorf("shard %d has %d of %d lists", i, len(mine), len(lists))
		}
		for _, l := range mine {
			wantOutcome(t, probeList(t, svc, l.Address), Delivered, "")
			probed[l.Address]++
		}
	}
	for _, l := range lists {
		if probed[l.Address] != 1 {
			t.Errorf("%s probed %d times", l.Address, probed[l.Address])
		}
	}
	// Rendezvous hashing: going from 2 to 3 shards moves only lists to the
	// new shard, never between the old ones.
	moved := 0
	for i := range 1000 {
		a := fmt.Sprintf("list%d@lists.example.org", i)
		from, to := shardOf(a, 2), shardOf(a, 3)
		if from != to {
			moved++
			if to != 2 {
				t.Fatalf("%s moved from shard %d to old shard %d", a, from, to)
			}
		}
	}
	if moved < 250 || moved > 420 {
		t.Errorf("%d of 1000 lists moved to the third shard, want about a third", moved)
	}
}

// A scheduled probe waiting for its jitter or for a slot holds no
// goroutine (at 10,000 lists thousands wait at once), and stopping the
// service ends every one of them at once.
func TestScheduledProbesWaitWithoutGoroutines(t *testing.T) {
	svc := NewService("", testLogger(t), &Options{MaxInFlight: 1})
	svc.ctx, svc.cancel = context.WithCancel(context.Background())
	before := runtime.NumGoroutine()
	const n = 2000
	for i := range n {
		// An hour's jitter: the old code slept it in the caller.
		svc.scheduled(fmt.Sprintf("list-%d@lists.example.org", i), time.Hour)
	}
	svc.scheduled("list-0@lists.example.org", 0) // still in flight: skipped
	if grown := runtime.NumGoroutine() - before; grown > 10 {
		t.Errorf("%d probes waiting for their jitter hold %d goroutines", n, grown)
	}
	svc.mu.Lock()
	waiting := len(svc.running)
	svc.mu.Unlock()
	if waiting != n {
		t.Errorf("%d lists marked in flight, want %d", waiting, n)
	}
	svc.cancel()
	done := make(chan struct{})
	go func() { svc.probes.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("stopping did not end the probes waiting for their jitter")
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if len(svc.running) != 0 || len(svc.due.timers) != 0 {
		t.Errorf("after stopping: %d lists in flight, %d timers", len(svc.running), len(svc.due.timers))
	}
}
