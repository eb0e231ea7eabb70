package probe

import (
	"runtime"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe/config"
)

// Every reload that changes a Mailman server's settings replaces its
// watcher. The old one must leave nothing behind: no keep-alive connection
// to the REST API, no goroutine. Twenty reloads leave the goroutine count
// where one left it.
func TestReplacingMailmanWatchersLeavesNoGoroutines(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Deliver, Members: []string{testMember}}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 20*time.Second, lists, w.MailmanConfig(t))
	svc := startRuntime(t, cfg)

	replace := func(i int) {
		t.Helper()
		next := *cfg
		m := *cfg.Mailman["main"]
		m.Refresh = config.Duration(time.Hour + time.Duration(i)*time.Millisecond)
		next.Mailman = map[string]*config.MailmanConfig{"main": &m}
		svc.mailman.reconcile(&next)
		wt := svc.mailman.get("main")
		// The new watcher reads the settings at once: its connection
		// is open and idle in its pool once the state is read.
		waitFor(t, 10*time.Second, "the new watcher's first read", func() bool {
			st, ok := wt.State("users@lists.example.org")
			return ok && st.Up
		})
	}
	replace(0)
	before := settledGoroutines(0)
	for i := 1; i <= 20; i++ {
		replace(i)
	}
	after := settledGoroutines(before)
	// Each leaked watcher left 2 client goroutines and 1 on the server.
	if after > before+3 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d after one watcher, %d after 20 more replaced it; stacks:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// settledGoroutines waits up to 5 s for the goroutine count to reach want
// (goroutines of closed connections end shortly after the close) and
// returns it; want 0 waits for the count to stop falling.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if want > 0 && m <= want || want == 0 && m == n {
			return m
		}
		n = m
	}
	return n
}
