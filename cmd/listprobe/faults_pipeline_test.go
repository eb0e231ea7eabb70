//go:build faults

package main

// Stopping Mailman's out runner holds back every list's mail on the shared
// testbed, so this test is in the fault suite, which runs alone after the
// others (go test -tags faults -p 1 -run TestFault).

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/testbed"
	"github.com/listprobe/listprobe/probe"
)

// Mailman's out runner stops (SIGSTOP). With several slices, one stopped
// slice keeps the posts hashed to it while the others deliver: the slice's
// oldest entry ages, some probes pass, and a lost one names the queue and
// the slice. Then the whole runner stops: the probe's reason says it is
// stuck in the out queue, and the queue's oldest entry (what
// MailmanQueueStuck reads) grows. SIGCONT lets the posts out.
func TestFaultStuckOutRunnerIsNamed(t *testing.T) {
	tb := testbed.Load(t)
	testbed.NeedRoot(t)
	slices := len(testbed.MailmanRunners(t, "out"))
	if slices == 0 {
		t.Fatal("no Mailman out runner is running")
	}
	l := newE2EList(t, tb, nil)
	svc := pipelineService(t, l, 12*time.Second, fmt.Sprintf("queue_dir: %s, slices: { out: %d }", mailmanQueueDir, slices))
	ctx := context.Background()
	outAge := func(slice string) float64 {
		if slice == "" {
			return labelGauge(t, svc, "listprobe_mailman_queue_oldest_age_seconds", map[string]string{"queue": "out"})
		}
		return labelGauge(t, svc, "listprobe_mailman_queue_slice_oldest_age_seconds", map[string]string{"queue": "out", "slice": slice})
	}
	var stuck []string
	t.Cleanup(func() {
		// Whatever was still stuck goes out once the runner runs again.
		testbed.ResumeMailmanRunner(t, "out")
		_ = stuck
	})
	if slices > 1 {
		last := fmt.Sprint(slices - 1)
		testbed.PauseMailmanRunner(t, "out", slices-1)
		delivered, lost := 0, 0
		for i := 0; i < 8 && (delivered == 0 || lost == 0); i++ {
			r, _, err := svc.ProbeNow(ctx, l.address)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("slice %s stopped, probe %d: %s: %s", last, i, r.Outcome, r.Reason)
			switch r.Outcome {
			case probe.Delivered:
				delivered++
			case probe.Lost:
				lost++
				stuck = append(stuck, r.MessageID)
				want := fmt.Sprintf(", runner slice %s of %d)", last, slices)
				if !strings.HasPrefix(r.Reason, "stuck in the out queue for ") || !strings.Contains(r.Reason, want) {
					t.Errorf("lost probe: reason %q, want it stuck in the out queue, %q", r.Reason, want)
				}
				waitUntil(t, 10*time.Second, "the stopped slice's oldest entry aging", func() bool { return outAge(last) >= 5 && outAge("0") < 5 })
			default:
				t.Errorf("probe %d: outcome %s (%q), want delivered or lost", i, r.Outcome, r.Reason)
			}
		}
		if delivered == 0 || lost == 0 {
			t.Errorf("one slice of %d stopped: %d delivered, %d lost; want both", slices, delivered, lost)
		}
		testbed.ResumeMailmanRunner(t, "out")
		waitUntil(t, 30*time.Second, "the out queue emptying after SIGCONT", func() bool { return outAge("") == 0 })
	}
	testbed.PauseMailmanRunner(t, "out", -1)
	r, _, err := svc.ProbeNow(ctx, l.address)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("out runner stopped: %s: %s", r.Outcome, r.Reason)
	if r.Outcome != probe.Lost || !strings.HasPrefix(r.Reason, "stuck in the out queue for ") || !strings.Contains(r.Reason, "(see out queue entry ") {
		t.Errorf("outcome %s (%q), want lost, stuck in the out queue", r.Outcome, r.Reason)
	}
	waitUntil(t, 10*time.Second, "the out queue's oldest entry aging", func() bool { return outAge("") >= 10 })
	testbed.ResumeMailmanRunner(t, "out")
	waitUntil(t, 30*time.Second, "the out queue emptying after SIGCONT", func() bool { return outAge("") == 0 })
}
