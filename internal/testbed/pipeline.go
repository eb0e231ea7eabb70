package testbed

import (
	"context"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// InjectQueue puts a message (its full text) for list into one of
// Mailman's queues through REST (POST /queues/<name>). Into a queue that
// no runner reads (bad, shunt) it stays until DeleteQueueFile.
func (c *MailmanAdmin) InjectQueue(ctx context.Context, queue, list, text string) error {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return err
	}
	return c.do(ctx, "POST", url.Values{"list_id": {id}, "text": {text}}, nil, "queues", queue)
}

// QueueFiles lists a queue's file bases (GET /queues/<name>).
func (c *MailmanAdmin) QueueFiles(ctx context.Context, queue string) ([]string, error) {
	var q struct {
		Files []string `json:"files"`
	}
	err := c.do(ctx, "GET", nil, &q, "queues", queue)
	return q.Files, err
}

// DeleteQueueFile removes one queue entry (DELETE /queues/<name>/<file>).
func (c *MailmanAdmin) DeleteQueueFile(ctx context.Context, queue, file string) error {
	return c.do(ctx, "DELETE", nil, nil, "queues", queue, file)
}

// MailmanRunners returns the pids of the running Mailman runner processes
// of runner (e.g. "out"), by slice: Mailman's master starts each as
// `runner ... --runner=NAME:SLICE:COUNT`. Should runners of several counts
// run at once (started by hand), those of the largest count are returned.
func MailmanRunners(t testing.TB, runner string) map[int]int {
	t.Helper()
	byCount := map[int]map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		// The runner itself is a Python process; a wrapper that started
		// it (runuser, sudo) carries the same arguments.
		if !strings.Contains(filepath.Base(args[0]), "python") {
			continue
		}
		for _, a := range args {
			spec, ok := strings.CutPrefix(a, "--runner="+runner+":")
			if !ok {
				continue
			}
			slice, count, _ := strings.Cut(spec, ":")
			n, err := strconv.Atoi(slice)
			c, cerr := strconv.Atoi(count)
			pid, perr := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			if err == nil && cerr == nil && perr == nil {
				if byCount[c] == nil {
					byCount[c] = map[int]int{}
				}
				byCount[c][n] = pid
			}
		}
	}
	best := 0
	for c := range byCount {
		best = max(best, c)
	}
	if byCount[best] == nil {
		return map[int]int{}
	}
	return byCount[best]
}

// PauseMailmanRunner stops (SIGSTOP) the Mailman runner processes of
// runner, one slice or all (slice < 0), and continues them (SIGCONT) when
// the test ends. Only Mailman runners found by their command line are
// signalled. It returns the number of slices the runner has.
func PauseMailmanRunner(t testing.TB, runner string, slice int) int {
	t.Helper()
	NeedRoot(t)
	pids := MailmanRunners(t, runner)
	if len(pids) == 0 {
		t.Fatalf("no Mailman %s runner is running", runner)
	}
	var stopped []int
	for s, pid := range pids {
		if slice >= 0 && s != slice {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP Mailman %s runner slice %d (pid %d): %v", runner, s, pid, err)
		}
		stopped = append(stopped, pid)
	}
	if len(stopped) == 0 {
		t.Fatalf("Mailman's %s runner has no slice %d (slices: %v)", runner, slice, pids)
	}
	t.Cleanup(func() {
		for _, pid := range stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	return len(pids)
}

// ResumeMailmanRunner continues what PauseMailmanRunner stopped, before the
// test ends.
func ResumeMailmanRunner(t testing.TB, runner string) {
	t.Helper()
	for s, pid := range MailmanRunners(t, runner) {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Errorf("SIGCONT Mailman %s runner slice %d (pid %d): %v", runner, s, pid, err)
		}
	}
}
