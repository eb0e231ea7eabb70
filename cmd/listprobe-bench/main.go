//go:build unix

// Command listprobe-bench measures what `listprobe serve` costs at scale:
// it runs the probe service as serve does (probe.Service.Run, with its
// /metrics scraped like Prometheus would) against the sandbox mail world
// (internal/sandbox) with thousands of lists for a few runs of a schedule,
// and reports the CPU time per probe, the peak memory, the IMAP and SMTP
// sessions opened, the most probes in flight and SMTP connections open at
// once, how the schedule's jitter and the in-flight cap spread the probes,
// and the share of probes whose outcome is not what the sandbox caused,
// which must be 0 (the exit status is 1 otherwise).
//
// Issue 9's run, 2,000 lists on a one-minute schedule for five minutes:
//
//	go run ./cmd/listprobe-bench -lists 2000 -duration 5m
//
// and a quick check: go run ./cmd/listprobe-bench -lists 200 -duration 2m
//
// Lists get sandbox policies in the proportions of -mix (by default 86 %
// deliver, 4 % deliver 5 s late, 4 % hold, 4 % reject, 2 % drop), and each
// list's expected outcome follows from its policy: delivered, delivered,
// held, rejected, lost.
//
// It is a command rather than a Go benchmark because it measures one long
// run, not an operation repeated b.N times, and because getrusage must see
// listprobe alone: the sandbox (SMTP, IMAP, the list simulator and
// Mailman's REST API) runs in a child process, this program run again, so
// its CPU time and memory are reported apart. Probes in flight are counted
// from the service's history (each probe from its start to its outcome);
// SMTP and IMAP connections are counted by the sandbox (sandbox.Stats).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/promslog"
	"github.com/robfig/cron/v3"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
	probeweb "github.com/listprobe/listprobe/probe/web"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// settings are the benchmark's flags.
type settings struct {
	lists       int
	duration    time.Duration
	schedule    string
	timeout     time.Duration
	delay       time.Duration
	mix         mix
	maxInFlight int
	mailman     bool
	cleanup     bool
	scrape      time.Duration
	cpuProfile  string
	memProfile  string
	jsonOut     bool
	shardIndex  int
	shardCount  int
	args        []string // as given, for the sandbox process
}

func parseFlags(args []string, stderr io.Writer) (*settings, error) {
	fs := flag.NewFlagSet("listprobe-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := &settings{args: args}
	fs.IntVar(&s.lists, "lists", 2000, "number of lists")
	fs.DurationVar(&s.duration, "duration", 5*time.Minute, "how long the schedule runs; the probes of its last run are then awaited")
	fs.StringVar(&s.schedule, "schedule", "* * * * *", "cron schedule of every list")
	fs.DurationVar(&s.timeout, "timeout", 30*time.Second, "probe timeout (a dropped post is lost after it)")
	fs.DurationVar(&s.delay, "delay", 5*time.Second, "how late lists with the delay policy deliver (shorter than -timeout)")
	mixText := fs.String("mix", "deliver=86,delay=4,hold=4,reject=4,drop=2", "share of lists per sandbox policy: deliver, delay, hold, reject, drop")
	fs.IntVar(&s.maxInFlight, "max-in-flight", 0, "probe.Options.MaxInFlight (0: listprobe's default)")
	fs.BoolVar(&s.mailman, "mailman", true, "give every list Mailman REST access (held queue, moderation settings, discard_held)")
	fs.BoolVar(&s.cleanup, "cleanup", true, "cleanup: true on the member and reader accounts (delete each probe's copy and notices once recorded)")
	fs.DurationVar(&s.scrape, "scrape", 15*time.Second, "scrape /metrics this often, as Prometheus would (0: never)")
	fs.StringVar(&s.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured run to this file")
	fs.StringVar(&s.memProfile, "memprofile", "", "write a heap profile at the end of the measured run to this file")
	fs.BoolVar(&s.jsonOut, "json", false, "print the figures as JSON instead of text")
	fs.IntVar(&s.shardCount, "shard.count", 1, "run serve as one of this many shards (--shard.count): the sandbox has every list, this replica probes its share")
	fs.IntVar(&s.shardIndex, "shard.index", 0, "the shard this run is (--shard.index), 0 to -shard.count-1")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if s.mix, err = parseMix(*mixText); err != nil {
		return nil, err
	}
	switch {
	case s.lists < 1:
		return nil, fmt.Errorf("-lists %d: want at least 1", s.lists)
	case s.duration <= 0:
		return nil, fmt.Errorf("-duration %s: want a positive duration", s.duration)
	case s.shardCount < 1 || s.shardIndex < 0 || s.shardIndex >= s.shardCount:
		return nil, fmt.Errorf("-shard.index %d -shard.count %d: want 0 <= index < count", s.shardIndex, s.shardCount)
	case s.timeout <= 0:
		return nil, fmt.Errorf("-timeout %s: want a positive duration", s.timeout)
	case s.mix[sandbox.Delay] > 0 && (s.delay <= 0 || s.delay > s.timeout/2):
		// Half the timeout leaves room for a probe that waits for a slot:
		// a delayed copy must still arrive in time.
		return nil, fmt.Errorf("-delay %s: want a positive duration at most half of -timeout %s", s.delay, s.timeout)
	}
	return s, nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "listprobe-bench: %v\n", err)
		return 2
	}
	lists := plan(s.lists, s.mix)
	if os.Getenv(worldEnv) != "" {
		return runWorld(lists, s.delay, stdin, stdout)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fig, err := bench(ctx, s, lists, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "listprobe-bench: %v\n", err)
		return 1
	}
	if s.jsonOut {
		err = fig.writeJSON(stdout)
	} else {
		err = fig.writeText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "listprobe-bench: %v\n", err)
		return 1
	}
	if fig.Wrong > 0 {
		return 1
	}
	return 0
}

// bench runs the service against the sandbox and measures it.
func bench(ctx context.Context, s *settings, lists []benchList, stderr io.Writer) (*figures, error) {
	dir, err := os.MkdirTemp("", "listprobe-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	progress := progressTo(stderr)
	progress("starting the sandbox with %d lists (%s)", len(lists), s.mix)
	w, file, err := startConfiguredWorld(dir, s, lists, stderr)
	if err != nil {
		return nil, err
	}
	defer w.close()

	logs := newLogCounter(promslog.New(&promslog.Config{Writer: io.Discard}).Handler())
	fig := &figures{Settings: s.describe(), LoadStart: loadAverage(), CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	before := getUsage(syscall.RUSAGE_SELF)
	begun := time.Now()
	svc := probe.NewService(file, slog.New(logs), &probe.Options{MaxInFlight: s.maxInFlight, ShardIndex: s.shardIndex, ShardCount: s.shardCount})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(runCtx) }()
	if err := waitReady(ctx, svc, runErr); err != nil {
		return nil, err
	}
	ready := time.Now()
	atReady := getUsage(syscall.RUSAGE_SELF)
	fig.StartupSeconds = ready.Sub(begun).Seconds()
	fig.StartupCPUSeconds = (atReady.cpu() - before.cpu()).Seconds()
	cfg := svc.Config()
	lists = shareOf(lists, cfg)
	fig.Lists, fig.WorldLists = len(lists), s.lists
	progress("serve is ready after %.1fs with %d of the %d lists; the schedule runs for %s", fig.StartupSeconds, len(lists), s.lists, s.duration)

	stopProfile, err := startCPUProfile(s.cpuProfile)
	if err != nil {
		return nil, err
	}
	defer stopProfile()

	ticks, stopAt, err := runWindow(cfg.Lists[0].CronSchedule(), ready, s)
	if err != nil {
		return nil, err
	}
	due := len(ticks) * len(lists)
	progress("%d runs of the schedule from %s; waiting at most until %s for the last one's probes", len(ticks), ticks[0].Format("15:04:05"), stopAt.Format("15:04:05"))

	scrapes := &scraper{handler: probeweb.Handler(svc, nil)}
	stopSampling := fig.startSampling(scrapes, s.scrape)
	err = waitForLastRun(ctx, svc, lists, ticks, stopAt, progress)
	stopSampling()
	if err != nil {
		return nil, err
	}

	// The snapshot: everything below describes the probes finished by now.
	after := getUsage(syscall.RUSAGE_SELF)
	end := time.Now()
	fig.LoadEnd = loadAverage()
	fig.measure(svc, w, ticks, due, ready, end)
	fig.recordProcess(before, atReady, after)
	if err := writeHeapProfile(s.memProfile); err != nil {
		return nil, err
	}
	fig.measureWeb(svc, scrapes)
	fig.Warnings = logs.warnings()
	if err := fig.recordWorld(w); err != nil {
		return nil, err
	}

	progress("measured; stopping serve (probes still in flight end as cancelled and are not counted)")
	cancel()
	if err := <-runErr; err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return fig, nil
}

// measureWeb records the scrapes' figures, the uncompressed size of one
// more, and the status page's first page.
func (fig *figures) measureWeb(svc *probe.Service, scrapes *scraper) {
	fig.Scrapes, fig.ScrapeSeconds, fig.ScrapeBytes, fig.ScrapeMaxSeconds = scrapes.result()
	fig.StatusPageSeconds, fig.StatusPageBytes = timeGet(probeweb.Handler(svc, nil), "/", false)
	_, fig.ScrapePlainBytes = timeGet(probeweb.Handler(svc, nil), "/metrics", false)
}

// shareOf returns the lists of the plan that cfg (this shard's share)
// has.
func shareOf(lists []benchList, cfg *config.Config) []benchList {
	mine := map[string]bool{}
	for _, l := range cfg.Lists {
		mine[l.Address] = true
	}
	var out []benchList
	for _, l := range lists {
		if mine[l.Address] {
			out = append(out, l)
		}
	}
	return out
}

// progressTo returns a function that writes a progress line to w, with the
// time.
func progressTo(w io.Writer) func(format string, args ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(w, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

// startConfiguredWorld starts the sandbox and writes serve's configuration
// for it into dir; the caller closes the world.
func startConfiguredWorld(dir string, s *settings, lists []benchList, stderr io.Writer) (*world, string, error) {
	w, err := startWorld(lists, s.args, stderr)
	if err != nil {
		return nil, "", err
	}
	file, err := writeConfig(dir, s, w)
	if err != nil {
		w.close()
		return nil, "", err
	}
	return w, file, nil
}

// waitReady waits until svc has loaded its configuration, or its Run
// ended (with the error in runErr), or ctx ended.
func waitReady(ctx context.Context, svc *probe.Service, runErr <-chan error) error {
	for !svc.Ready() {
		select {
		case err := <-runErr:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// runWindow returns the runs of the schedule that fall in the measured
// window from ready, and when to stop waiting for the last one's probes:
// before the run after it.
func runWindow(sched cron.Schedule, ready time.Time, s *settings) (ticks []time.Time, stopAt time.Time, err error) {
	for t := sched.Next(ready); !t.After(ready.Add(s.duration)); t = sched.Next(t) {
		ticks = append(ticks, t)
	}
	if len(ticks) == 0 {
		return nil, time.Time{}, fmt.Errorf("schedule %q does not run within -duration %s", s.schedule, s.duration)
	}
	last := ticks[len(ticks)-1]
	interval := sched.Next(last).Sub(last)
	spread := min(interval/10, time.Minute) // the jitter's span, as probe documents it
	stopAt = last.Add(s.timeout + spread + 15*time.Second)
	if nextRun := sched.Next(last).Add(-2 * time.Second); nextRun.Before(stopAt) {
		stopAt = nextRun
	}
	return ticks, stopAt, nil
}

// waitForLastRun waits until the last run's probes are done or stopAt,
// telling progress of each run of the schedule as it begins.
func waitForLastRun(ctx context.Context, svc *probe.Service, lists []benchList, ticks []time.Time, stopAt time.Time, progress func(string, ...any)) error {
	last := ticks[len(ticks)-1]
	next := 0
	for now := time.Now(); now.Before(stopAt); now = time.Now() {
		if next < len(ticks) && now.After(ticks[next]) {
			progress("run %d of %d of the schedule began", next+1, len(ticks))
			next++
		}
		// Reading the history costs little, unlike gathering the metrics,
		// which would weigh on the CPU figure like an extra scrape.
		if now.After(last) && lastRunDone(svc, lists, last) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil
}

// startCPUProfile writes a CPU profile to file until stop; with no file it
// does nothing.
func startCPUProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// recordWorld records the sandbox's traffic and resource use.
func (fig *figures) recordWorld(w *world) error {
	ws, err := w.stats()
	if err != nil {
		return err
	}
	fig.World = ws.Stats
	fig.WorldCPUSeconds = ws.Rusage.cpu().Seconds()
	fig.WorldPeakRSSMiB = float64(ws.Rusage.MaxRSSKiB) / 1024
	return nil
}

// recordProcess records this process's CPU and memory use: from before
// serve started, from when it was ready, to after the measured window.
func (fig *figures) recordProcess(before, atReady, after usage) {
	fig.CPUSeconds = (after.cpu() - before.cpu()).Seconds()
	fig.CPUUserSeconds = (after.User - before.User).Seconds()
	fig.CPUSysSeconds = (after.Sys - before.Sys).Seconds()
	if fig.Finished > 0 {
		fig.CPUSecondsPerProbe = fig.CPUSeconds / float64(fig.Finished)
		fig.RunCPUSecondsPerProbe = (after.cpu() - atReady.cpu()).Seconds() / float64(fig.Finished)
	}
	fig.PeakRSSMiB = float64(after.MaxRSSKiB) / 1024
	fig.VmHWMMiB = vmHWM()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fig.HeapInuseMiB = float64(ms.HeapInuse) / (1 << 20)
	fig.LiveHeapEndMiB = liveHeapNowMiB()
	fig.Goroutines = runtime.NumGoroutine()
}

// lastRunDone reports whether every list has a probe that started at or
// after the schedule's last run and has finished.
func lastRunDone(svc *probe.Service, lists []benchList, last time.Time) bool {
	for _, l := range lists {
		r := svc.History().Last(l.Address)
		if r == nil || r.Started.Before(last) {
			return false
		}
	}
	return true
}

// writeConfig writes the listprobe configuration for the world and the
// plan, with its secrets in files beside it.
func writeConfig(dir string, s *settings, w *world) (string, error) {
	secrets := map[string]string{
		"signing.key": "listprobe-bench-signing-key-0123456789",
		"member":      benchMemberPassword,
		"reader":      benchReaderPassword,
		"mailman":     w.MailmanPassword,
	}
	for name, value := range secrets {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  schedule: %q\n  timeout: %s\n  signing_key_file: %s\n", s.schedule, s.timeout, p("signing.key"))
	b.WriteString("accounts:\n")
	fmt.Fprintf(&b, "  member:\n    address: %s\n    cleanup: %v\n", benchMember, s.cleanup)
	fmt.Fprintf(&b, "    smtp: { address: %q, tls: none, auth: plain, username: %s, password_file: %s }\n", w.SMTP, benchMember, p("member"))
	fmt.Fprintf(&b, "    imap: { address: %q, tls: none, username: %s, password_file: %s }\n", w.IMAP, benchMember, p("member"))
	fmt.Fprintf(&b, "  reader:\n    address: %s\n    cleanup: %v\n", benchReader, s.cleanup)
	fmt.Fprintf(&b, "    imap: { address: %q, tls: none, username: %s, password_file: %s }\n", w.IMAP, benchReader, p("reader"))
	if s.mailman {
		fmt.Fprintf(&b, "mailman:\n  main: { url: %q, username: %s, password_file: %s, discard_held: true }\n", w.MailmanURL, w.MailmanUsername, p("mailman"))
	}
	b.WriteString("lists:\n")
	for _, l := range w.lists {
		fmt.Fprintf(&b, "  - address: %s\n    poster: member\n    reader: reader\n", l.Address)
		if s.mailman {
			b.WriteString("    mailman: main\n")
		}
		if expectedOutcome(l.Policy) == probe.Held {
			// An announcement list, moderated by design.
			b.WriteString("    expect: held\n")
		}
	}
	file := p("listprobe.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	return file, nil
}

// writeHeapProfile writes a heap profile to file, after a collection; none
// when file is "".
func writeHeapProfile(file string) error {
	if file == "" {
		return nil
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadAverage returns the first three fields of /proc/loadavg, or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// vmHWM returns the process's peak resident set from /proc/self/status in
// MiB, or 0 where there is none.
func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib float64
			fmt.Sscanf(strings.TrimSpace(rest), "%f", &kib)
			return kib / 1024
		}
	}
	return 0
}
