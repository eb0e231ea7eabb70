package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe/config"
)

// startServing starts a service for cfg as serve does, recognising its
// earlier runs' probes, with a fixed instance name so that a second one is
// the first one restarted.
func startServing(t *testing.T, cfg *config.Config) *Service {
	t.Helper()
	svc := NewService("", testLogger(t), &Options{Instance: "restart-test"})
	svc.claim = true
	svc.Start(context.Background(), cfg)
	return svc
}

// readerCleanup sets the reader's cleanup in a test world's config.
func readerCleanup(on bool) func(string) string {
	return func(s string) string {
		if on {
			return s
		}
		return strings.Replace(s, testReader+"\n    cleanup: true", testReader+"\n    cleanup: false", 1)
	}
}

// A delivered probe is never counted late after a restart within its
// timeout, with either cleanup setting: read-only, its copy stays in the
// reader's mailbox and the restarted process finds it; with cleanup, it
// stays when the process is killed between recording the probe and
// deleting the copy (the first run here has cleanup off to leave it), and
// the restarted process deletes it. Before, every restart counted the last
// delivered probe late.
func TestDeliveredProbeIsNeverLateAfterARestart(t *testing.T) {
	for _, cleanup := range []bool{false, true} {
		name := map[bool]string{false: "read-only reader", true: "reader with cleanup"}[cleanup]
		t.Run(name, func(t *testing.T) {
			lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver}}
			w := startTestWorld(t, sandbox.Options{Lists: lists})
			first := startServing(t, w.Config(t, time.Minute, lists, readerCleanup(false)))
			r := probeList(t, first, "users@lists.example.org")
			wantOutcome(t, r, Delivered, "")
			first.Stop()

			second := startServing(t, w.Config(t, time.Minute, lists, readerCleanup(cleanup)))
			defer second.Stop()
			waitFor(t, 10*time.Second, "the restarted process claiming the copy", func() bool {
				_, _, known := second.reg.lookup(r.ID)
				return known
			})
			if cleanup {
				waitFor(t, 10*time.Second, "the copy cleaned up", func() bool {
					msgs, err := w.Messages(testReader)
					return err == nil && len(msgs) == 0
				})
			}
			if late := seriesValue(t, second.metrics, "listprobe_late_deliveries_total", "list", "users@lists.example.org"); late != 0 {
				t.Errorf("listprobe_late_deliveries_total = %v after the restart, want 0: the probe was delivered", late)
			}
			if msgs, _ := w.Messages(testReader); !cleanup && len(msgs) != 1 {
				t.Errorf("%d messages in the read-only reader's mailbox, want its copy left alone", len(msgs))
			}
		})
	}
}

// A copy that arrives after its probe's deadline is still counted late by
// the restarted process (restarted at once, within the time the probes it
// claims may be from), and cleaned up.
func TestCopyAfterTheDeadlineIsLateAfterARestart(t *testing.T) {
	lists := []sandbox.List{{Address: "slow@lists.example.org", Policy: sandbox.Delay, Delay: 7 * time.Second}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 2*time.Second, lists, nil)
	first := startServing(t, cfg)
	wantOutcome(t, probeList(t, first, "slow@lists.example.org"), Lost, "")
	first.Stop()

	second := startServing(t, w.Config(t, 2*time.Second, lists, nil))
	defer second.Stop()
	waitFor(t, 20*time.Second, "the late copy counted", func() bool {
		return seriesValue(t, second.metrics, "listprobe_late_deliveries_total", "list", "slow@lists.example.org") == 1
	})
	waitFor(t, 10*time.Second, "the late copy cleaned up", func() bool {
		msgs, err := w.Messages(testReader)
		return err == nil && len(msgs) == 0
	})
}
