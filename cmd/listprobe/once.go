package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/common/promslog"
	"golang.org/x/term"

	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// once is `listprobe once`: it probes the selected lists (every list by
// default) in parallel, waits for every outcome and prints them; the exit
// code says whether every list is as expected (see onceExit).
func once(ctx context.Context, logger *slog.Logger, configFile string, lists []string, output string, stdout, stderr io.Writer) int {
	cfg, err := config.LoadFile(configFile, nil)
	if err != nil {
		fmt.Fprintf(stderr, "listprobe: invalid configuration:\n%v\n", err)
		return exitUsage
	}
	selected := cfg.Lists
	if len(lists) > 0 {
		selected = nil
		for _, name := range lists {
			var found *config.ListConfig
			for _, l := range cfg.Lists {
				if strings.EqualFold(l.Address, name) {
					found = l
				}
			}
			if found == nil {
				fmt.Fprintf(stderr, "listprobe: --list %s: no such list in %s\n", name, configFile)
				return exitUsage
			}
			selected = append(selected, found)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	names := make([]string, len(selected))
	for i, l := range selected {
		names[i] = l.Address
	}
	progress := newOnceProgress(names)
	stopProgress := func() {}
	if len(selected) > 1 && isTerminal(stderr) {
		sw, ok := underlying(stderr).(*statusWriter)
		if !ok {
			sw = &statusWriter{w: stderr}
		}
		stopProgress = progress.show(sw, time.Second)
	}
	results := probe.Once(ctx, cfg, selected, logger, nil, func(i int, done bool) {
		if done {
			progress.finished(i)
		} else {
			progress.started(i, time.Now())
		}
	})
	// Erase the progress line before the results go to the same terminal.
	stopProgress()
	return printOnce(results, output, stdout)
}

// onceExit is once's exit code for these results: a list that is not as
// expected fails the run (1); an outcome that says only that listprobe could
// not look (error) gets its own code (3), so that a deploy pipeline can tell
// "the list is broken" from "the prober is".
func onceExit(results []*probe.Result) int {
	code := exitOK
	for _, r := range results {
		switch {
		case r.OK:
		case r.Outcome == probe.Error:
			if code == exitOK {
				code = exitBlind
			}
		default:
			code = exitFailing
		}
	}
	return code
}

// printOnce writes the results in the chosen format and returns the exit
// code.
func printOnce(results []*probe.Result, output string, stdout io.Writer) int {
	code := onceExit(results)
	if output == "json" {
		// probe.Result writes message_id and sent_at as null when nothing
		// was posted.
		doc := struct {
			Results []*probe.Result `json:"results"`
		}{results}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(doc)
		return code
	}
	for _, r := range results {
		verdict := "OK"
		switch {
		case r.OK:
		case r.Outcome == probe.Error:
			verdict = "ERR"
		default:
			verdict = "FAIL"
		}
		latency := ""
		if r.Latency != nil {
			latency = fmt.Sprintf(" in %.2fs", *r.Latency)
		}
		fmt.Fprintf(stdout, "%-4s %s: %s%s (expected %s): %s\n", verdict, r.List, r.Outcome, latency, r.Expected, r.Reason)
		if r.Authentication != nil {
			fmt.Fprintf(stdout, "     authentication: %s\n", r.Authentication.Summary())
		}
		if a := r.Archive; a != nil {
			fmt.Fprintf(stdout, "     archive: %s: %s\n", a.Result, a.Reason)
		}
	}
	return code
}

// onceQuietLogger is the logger of once in a pipe or a log when no
// --log.level was given: warnings and errors only.
func onceQuietLogger(c *promslog.Config) *slog.Logger {
	quiet := *c
	quiet.Level = promslog.NewLevel()
	quiet.Level.Set("warn")
	return promslog.New(&quiet)
}

// isTerminal reports whether w is a terminal, where a progress line helps a
// person waiting; in a pipe or a log file it would only be noise.
func isTerminal(w io.Writer) bool {
	if sw, ok := underlying(w).(*statusWriter); ok {
		w = sw.w
	}
	f, ok := underlying(w).(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// statusWriter is stderr with an optional status line at the bottom: what
// others write (log lines) goes above it, and the line is drawn again after
// each complete line, so that the two never run into each other.
type statusWriter struct {
	mu     sync.Mutex
	w      io.Writer
	status string // "" when no line is drawn
}

// erase is "carriage return, erase to the end of the line".
const erase = "\r\x1b[K"

func (s *statusWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == "" {
		return s.w.Write(p)
	}
	io.WriteString(s.w, erase)
	n, err := s.w.Write(p)
	if len(p) > 0 && p[len(p)-1] == '\n' {
		io.WriteString(s.w, s.status)
	}
	return n, err
}

// setStatus draws line in place of the previous one; "" erases it.
func (s *statusWriter) setStatus(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != "" || line != "" {
		io.WriteString(s.w, erase+line)
	}
	s.status = line
}

// onceProgress tracks which of once's probes are still pending.
type onceProgress struct {
	mu    sync.Mutex
	names []string
	start []time.Time // zero until the probe starts
	done  []bool
	ndone int
}

func newOnceProgress(names []string) *onceProgress {
	return &onceProgress{names: names, start: make([]time.Time, len(names)), done: make([]bool, len(names))}
}

func (p *onceProgress) started(i int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start[i] = at
}

func (p *onceProgress) finished(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done[i] {
		p.done[i] = true
		p.ndone++
	}
}

// line says how many lists are done and which pending one has waited
// longest, e.g. "listprobe once: 3/5 lists done; waiting 42s for
// dev@lists.example.org and 1 more".
func (p *onceProgress) line(now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("listprobe once: %d/%d lists done", p.ndone, len(p.names))
	slowest, pending := -1, 0
	for i := range p.names {
		if p.done[i] || p.start[i].IsZero() {
			continue
		}
		pending++
		if slowest < 0 || p.start[i].Before(p.start[slowest]) {
			slowest = i
		}
	}
	if slowest >= 0 {
		s += fmt.Sprintf("; waiting %s for %s", now.Sub(p.start[slowest]).Truncate(time.Second), p.names[slowest])
		if pending > 1 {
			s += fmt.Sprintf(" and %d more", pending-1)
		}
	}
	return s
}

// show draws the progress line on w every interval until the returned
// function is called, which erases it.
func (p *onceProgress) show(w *statusWriter, interval time.Duration) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-ticker.C:
				w.setStatus(p.line(now))
			}
		}
	}()
	return func() {
		close(quit)
		wg.Wait()
		w.setStatus("")
	}
}
