package probe

import (
	"context"
	"fmt"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// Every reload that changes a Mailman server's settings replaces its
// watcher. The old one must leave nothing behind: no keep-alive connection
// to the REST API, no goroutine. Twenty reloads (SIGHUP's path: the file
// rewritten, Reload) leave the goroutine count where one left it.
func TestReloadsReplacingMailmanWatchersLeaveNoGoroutines(t *testing.T) {
	const list = "users@lists.example.org"
	lists := []sandbox.List{{Address: list, Policy: sandbox.Deliver, Members: []string{testMember}}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	w.Config(t, 20*time.Second, lists, w.MailmanConfig(t))
	svc := NewService(w.File, testLogger(t), nil)
	runService(t, svc)
	refresh := regexp.MustCompile(`refresh: [0-9a-z]+`)

	reload := func(i int) {
		t.Helper()
		old := svc.mailman.get("main")
		rewrite(t, w.File, func(s string) string { return refresh.ReplaceAllString(s, fmt.Sprintf("refresh: %dms", 3600000+i)) })
		if err := svc.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		nw := svc.mailman.get("main")
		if nw == old {
			t.Fatal("the reload kept the old watcher")
		}
		// The new watcher reads the settings at once: its connection is
		// open, and idle in its pool, once the state is read.
		waitFor(t, 10*time.Second, "the new watcher's first read", func() bool {
			st, ok := nw.State(list)
			return ok && st.Up
		})
	}
	reload(0)
	before := settledGoroutines(0)
	for i := 1; i <= 20; i++ {
		reload(i)
	}
	after := settledGoroutines(before)
	// Each leaked watcher left 2 client goroutines and 1 on the server.
	if after > before+3 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d after one reload, %d after 20 more; stacks:\n%s", before, after, buf[:runtime.Stack(buf, true)])
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
