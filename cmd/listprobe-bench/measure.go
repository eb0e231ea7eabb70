//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe"
)

// figures is what the benchmark reports.
type figures struct {
	Settings   map[string]any
	Lists      int // the lists this run (its shard) probes
	WorldLists int // the lists in the sandbox
	CPUs       int
	GOMAXPROCS int
	GoVersion  string
	LoadStart  string // /proc/loadavg's 1, 5 and 15 minute averages when the run began
	LoadEnd    string // and when it was measured

	StartupSeconds    float64 // from NewService to Ready: config load, sessions, schedule
	StartupCPUSeconds float64
	Runs              int // runs of the schedule in the window
	Due               int // Runs × lists
	Finished          int // probes finished in the window (listprobe_probes_total)
	NotFinished       int // Due − Finished: skipped (a list's previous probe still in flight) or still in flight
	Wrong             int // finished probes whose outcome is not what the sandbox caused
	WrongShare        float64
	WrongExamples     []string
	Outcomes          map[string]map[string]int // policy -> outcome -> probes

	CPUSeconds, CPUUserSeconds, CPUSysSeconds float64 // listprobe's process, from NewService to the snapshot
	CPUSecondsPerProbe                        float64
	RunCPUSecondsPerProbe                     float64 // the same without the startup
	PeakRSSMiB                                float64 // getrusage ru_maxrss
	VmHWMMiB                                  float64 // /proc/self/status
	HeapInuseMiB                              float64
	Goroutines                                int
	// The heap live at a collection: at most, over the window (sampled
	// every 2 s), and at the end after one.
	PeakLiveHeapMiB, LiveHeapEndMiB float64
	PeakGoroutines                  int

	World           sandbox.Stats
	WorldCPUSeconds float64
	WorldPeakRSSMiB float64

	MaxInFlight       int     // the cap
	PeakInFlight      int     // most probes between start and finish at once (from the kept history)
	CapBusyShare      float64 // probe-seconds in flight / (cap × window)
	StartAfterRun     percentiles
	LastStartAfterRun []float64              // per run of the schedule: seconds from the run to its last probe's start
	SlotSeconds       map[string]percentiles // policy -> seconds from a probe's start to its finish
	Latency           map[string]percentiles // policy -> delivery latency
	MeanLogBytes      float64                // the log a kept result holds, on average (most hold none)

	Scrapes           int
	ScrapeSeconds     float64 // mean
	ScrapeMaxSeconds  float64
	ScrapeBytes       int // with gzip, as Prometheus asks
	ScrapePlainBytes  int // without
	StatusPageSeconds float64
	StatusPageBytes   int

	Warnings map[string]int // log messages at warning level or above, by message
}

type percentiles struct {
	N                        int
	Mean, P50, P90, P99, Max float64
}

func percentilesOf(v []float64) percentiles {
	if len(v) == 0 {
		return percentiles{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return percentiles{N: len(s), Mean: sum / float64(len(s)), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: s[len(s)-1]}
}

func (s *settings) describe() map[string]any {
	return map[string]any{
		"lists": s.lists, "duration": s.duration.String(), "schedule": s.schedule, "timeout": s.timeout.String(),
		"delay": s.delay.String(), "mix": s.mix.String(), "max_in_flight": s.maxInFlight, "mailman": s.mailman, "cleanup": s.cleanup,
		"scrape": s.scrape.String(), "shard_index": s.shardIndex, "shard_count": s.shardCount,
	}
}

// probeCounts reads listprobe_probes_total: list -> outcome -> probes.
func probeCounts(svc *probe.Service) map[string]map[probe.Outcome]int {
	out := map[string]map[probe.Outcome]int{}
	families, err := svc.Metrics().Gatherer().Gather()
	if err != nil {
		return out
	}
	for _, f := range families {
		if f.GetName() != "listprobe_probes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var list, outcome string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "list":
					list = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			if n := int(m.GetCounter().GetValue()); n > 0 {
				if out[list] == nil {
					out[list] = map[probe.Outcome]int{}
				}
				out[list][probe.Outcome(outcome)] += n
			}
		}
	}
	return out
}

// measure fills in the figures from the service's metrics and history and
// the world's counters, at the end of the window.
func (fig *figures) measure(svc *probe.Service, w *world, ticks []time.Time, due int, ready, end time.Time) {
	fig.Runs, fig.Due = len(ticks), due
	fig.Outcomes = map[string]map[string]int{}
	hist := svc.History()
	fig.tally(w.lists, probeCounts(svc), func(list string, outcome probe.Outcome) string {
		for _, r := range hist.Recent(list) {
			if r.Outcome == outcome {
				return r.Reason
			}
		}
		return ""
	})
	fig.NotFinished = due - fig.Finished
	if fig.Finished > 0 {
		fig.WrongShare = float64(fig.Wrong) / float64(fig.Finished)
	}

	// In flight: from each kept result's start to its finish. The history
	// keeps a list's last 10 successes and 50 failures, enough for every
	// probe of a run of up to ten runs of the schedule.
	var events []event
	var startAfter []float64
	lastStart := make([]float64, len(ticks))
	slot := map[string][]float64{}
	latency := map[string][]float64{}
	busy := 0.0
	logBytes, kept := 0, 0
	for _, l := range w.lists {
		for _, r := range hist.Recent(l.Address) {
			if r.Finished.After(end) {
				continue
			}
			events = append(events, event{r.Started, +1}, event{r.Finished, -1})
			busy += r.Finished.Sub(r.Started).Seconds()
			slot[string(l.Policy)] = append(slot[string(l.Policy)], r.Finished.Sub(r.Started).Seconds())
			if r.Latency != nil {
				latency[string(l.Policy)] = append(latency[string(l.Policy)], *r.Latency)
			}
			logBytes += len(r.Log)
			kept++
			i := sort.Search(len(ticks), func(i int) bool { return ticks[i].After(r.Started) }) - 1
			if i >= 0 {
				d := r.Started.Sub(ticks[i]).Seconds()
				startAfter = append(startAfter, d)
				lastStart[i] = max(lastStart[i], d)
			}
		}
	}
	fig.PeakInFlight = peakConcurrent(events)
	fig.MaxInFlight = svcCap(fig.Settings)
	if window := end.Sub(ready).Seconds(); window > 0 {
		fig.CapBusyShare = busy / (float64(fig.MaxInFlight) * window)
	}
	fig.StartAfterRun = percentilesOf(startAfter)
	fig.LastStartAfterRun = lastStart
	fig.SlotSeconds = map[string]percentiles{}
	for p, v := range slot {
		fig.SlotSeconds[p] = percentilesOf(v)
	}
	fig.Latency = map[string]percentiles{}
	for p, v := range latency {
		fig.Latency[p] = percentilesOf(v)
	}
	if kept > 0 {
		fig.MeanLogBytes = float64(logBytes) / float64(kept)
	}
}

// tally counts the finished probes by policy and outcome, and those whose
// outcome is not what the list's policy makes the sandbox cause; reason
// gives a kept reason for a wrong one, for the report.
func (fig *figures) tally(lists []benchList, counts map[string]map[probe.Outcome]int, reason func(list string, outcome probe.Outcome) string) {
	if fig.Outcomes == nil {
		fig.Outcomes = map[string]map[string]int{}
	}
	for _, l := range lists {
		want := expectedOutcome(l.Policy)
		byOutcome := fig.Outcomes[string(l.Policy)]
		if byOutcome == nil {
			byOutcome = map[string]int{}
			fig.Outcomes[string(l.Policy)] = byOutcome
		}
		for outcome, n := range counts[l.Address] {
			fig.Finished += n
			byOutcome[string(outcome)] += n
			if outcome == want {
				continue
			}
			fig.Wrong += n
			if len(fig.WrongExamples) < 10 {
				fig.WrongExamples = append(fig.WrongExamples, fmt.Sprintf("%s: %s, want %s: %s", l.Address, outcome, want, reason(l.Address, outcome)))
			}
		}
	}
}

// event is a probe starting (+1) or finishing (-1).
type event struct {
	at    time.Time
	delta int
}

// peakConcurrent returns the most probes between their start and finish
// at once. A probe that finishes at the instant another starts does not
// overlap it.
func peakConcurrent(events []event) int {
	events = slices.Clone(events)
	sort.Slice(events, func(i, j int) bool {
		if !events[i].at.Equal(events[j].at) {
			return events[i].at.Before(events[j].at)
		}
		return events[i].delta < events[j].delta
	})
	cur, peak := 0, 0
	for _, e := range events {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}

func svcCap(settings map[string]any) int {
	if n, _ := settings["max_in_flight"].(int); n > 0 {
		return n
	}
	return probe.DefaultMaxInFlight
}

// scraper gets /metrics from the service's handler every interval, as
// Prometheus does, so that the figures include what scrapes cost.
type scraper struct {
	handler http.Handler

	mu    sync.Mutex
	n     int
	total time.Duration
	max   time.Duration
	bytes int
}

func (s *scraper) start(every time.Duration) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				d, n := timeGet(s.handler, "/metrics", true)
				s.mu.Lock()
				s.n++
				s.total += time.Duration(d * float64(time.Second))
				s.max = max(s.max, time.Duration(d*float64(time.Second)))
				s.bytes = n
				s.mu.Unlock()
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (s *scraper) result() (n int, mean float64, bytes int, maxSeconds float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 {
		mean = s.total.Seconds() / float64(s.n)
	}
	return s.n, mean, s.bytes, s.max.Seconds()
}

// timeGet serves one GET of path (asking for gzip, as Prometheus does, when
// gz) and returns how long it took and how many bytes the answer had.
func timeGet(h http.Handler, path string, gz bool) (seconds float64, bytes int) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := &countingWriter{header: http.Header{}}
	start := time.Now()
	h.ServeHTTP(rec, req)
	return time.Since(start).Seconds(), rec.n
}

// countingWriter is an http.ResponseWriter that keeps only the size.
type countingWriter struct {
	header http.Header
	n      int
}

func (c *countingWriter) Header() http.Header         { return c.header }
func (c *countingWriter) WriteHeader(int)             {}
func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)

// logCounter is the service's log handler: it formats every record as
// serve would (into the handler it wraps) and counts the warnings and
// errors by message.
type logCounter struct {
	slog.Handler
	c *logCounts
}

type logCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func newLogCounter(h slog.Handler) *logCounter {
	return &logCounter{Handler: h, c: &logCounts{m: map[string]int{}}}
}

func (l *logCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		l.c.mu.Lock()
		l.c.m[r.Message]++
		l.c.mu.Unlock()
	}
	return l.Handler.Handle(ctx, r)
}

func (l *logCounter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logCounter{Handler: l.Handler.WithAttrs(attrs), c: l.c}
}

func (l *logCounter) WithGroup(name string) slog.Handler {
	return &logCounter{Handler: l.Handler.WithGroup(name), c: l.c}
}

func (l *logCounter) warnings() map[string]int {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return maps.Clone(l.c.m)
}

// sortedByCount returns the keys of m, most frequent first.
func sortedByCount(m map[string]int) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
