//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// The sandbox runs in a child process (this program again, with
// worldEnv set) so that getrusage of the benchmark's own process measures
// listprobe alone: the simulated list server, SMTP and IMAP servers cost
// CPU and memory that a real listprobe does not pay.
//
// The child prints a worldHello line on stdout once its servers listen,
// then answers each "stats" line on stdin with a worldStats line, and
// closes the world and exits when stdin ends (so it never outlives the
// benchmark).
const worldEnv = "LISTPROBE_BENCH_WORLD"

// worldHello tells the benchmark where the child's servers listen.
type worldHello struct {
	SMTP, IMAP      string
	MailmanURL      string
	MailmanUsername string
	MailmanPassword string
	Error           string `json:",omitempty"`
}

// worldStats is the child's answer to "stats".
type worldStats struct {
	Stats   sandbox.Stats
	Rusage  usage
	Elapsed time.Duration
}

// usage is the part of getrusage the report uses.
type usage struct {
	User, Sys time.Duration
	MaxRSSKiB int64 // ru_maxrss, in KiB on Linux
}

func getUsage(who int) usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return usage{}
	}
	return usage{
		User:      time.Duration(ru.Utime.Nano()),
		Sys:       time.Duration(ru.Stime.Nano()),
		MaxRSSKiB: int64(ru.Maxrss),
	}
}

func (u usage) cpu() time.Duration { return u.User + u.Sys }

// runWorld is the child: it serves the world for the plan until stdin ends.
func runWorld(lists []benchList, delay time.Duration, stdin io.Reader, stdout io.Writer) int {
	start := time.Now()
	enc := json.NewEncoder(stdout)
	w, err := sandbox.Start(sandboxOptions(lists, delay))
	if err != nil {
		enc.Encode(worldHello{Error: err.Error()})
		return 1
	}
	defer w.Close()
	enc.Encode(worldHello{SMTP: w.SMTPAddr, IMAP: w.IMAPAddr, MailmanURL: w.MailmanURL,
		MailmanUsername: w.MailmanUsername, MailmanPassword: w.MailmanPassword})
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		if sc.Text() == "stats" {
			enc.Encode(worldStats{Stats: w.Stats(), Rusage: getUsage(syscall.RUSAGE_SELF), Elapsed: time.Since(start)})
		}
	}
	return 0
}

// world is the benchmark's handle on the child.
type world struct {
	worldHello
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *json.Decoder
	lists []benchList
}

// startWorld starts the child with the same plan and waits for its servers.
func startWorld(lists []benchList, args []string, stderr io.Writer) (*world, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sandbox process: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), worldEnv+"=1")
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox process: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sandbox process: %w", err)
	}
	w := &world{cmd: cmd, in: in, out: json.NewDecoder(out), lists: lists}
	if err := w.out.Decode(&w.worldHello); err != nil {
		w.close()
		return nil, fmt.Errorf("sandbox process: no greeting: %w", err)
	}
	if w.Error != "" {
		w.close()
		return nil, fmt.Errorf("sandbox process: %s", w.Error)
	}
	return w, nil
}

// stats asks the child for its counters and resource use.
func (w *world) stats() (worldStats, error) {
	var s worldStats
	if _, err := io.WriteString(w.in, "stats\n"); err != nil {
		return s, fmt.Errorf("sandbox process: %w", err)
	}
	if err := w.out.Decode(&s); err != nil {
		return s, fmt.Errorf("sandbox process: stats: %w", err)
	}
	return s, nil
}

// close ends the child and waits for it.
func (w *world) close() error {
	w.in.Close()
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		w.cmd.Process.Kill()
		return errors.Join(errors.New("sandbox process did not end within a minute: killed"), <-done)
	}
}
