//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

func (fig *figures) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(fig)
}

func (fig *figures) writeText(out io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	s := fig.Settings
	mailman := "off"
	if s["mailman"] == true {
		mailman = "on (discard_held)"
	}
	p("listprobe-bench: %d lists, schedule %q, timeout %s, mix %s (delay %s), cap %d probes in flight, Mailman REST %s, cleanup %v, /metrics scraped every %s",
		s["lists"], s["schedule"], s["timeout"], s["mix"], s["delay"], fig.MaxInFlight, mailman, s["cleanup"], s["scrape"])
	if fig.Lists != fig.WorldLists {
		p("shard:       %v of %v: this replica probes %d of the sandbox's %d lists (%.1f%%)", s["shard_index"], s["shard_count"], fig.Lists, fig.WorldLists, 100*float64(fig.Lists)/float64(fig.WorldLists))
	}
	p("machine: %d CPUs, GOMAXPROCS %d, %s; load average %s at the start, %s at the end", fig.CPUs, fig.GOMAXPROCS, fig.GoVersion, fig.LoadStart, fig.LoadEnd)
	p("")
	p("probes:      %d runs of the schedule, %d probes due, %d finished, %d not finished (skipped while the list's previous probe was in flight, or still in flight)",
		fig.Runs, fig.Due, fig.Finished, fig.NotFinished)
	p("outcomes:    %d of %d not what the sandbox caused (%.3f%%)", fig.Wrong, fig.Finished, 100*fig.WrongShare)
	for _, pol := range policies {
		byOutcome := fig.Outcomes[string(pol)]
		if len(byOutcome) == 0 {
			continue
		}
		var parts []string
		for _, o := range sortedByCount(byOutcome) {
			parts = append(parts, fmt.Sprintf("%s %d", o, byOutcome[o]))
		}
		p("  %-8s → %s (want %s)", pol, strings.Join(parts, ", "), expectedOutcome(pol))
	}
	for _, e := range fig.WrongExamples {
		p("  wrong: %s", e)
	}
	p("")
	perProbe := fig.CPUSecondsPerProbe * 1000
	p("listprobe:   CPU %.1f s (user %.1f, sys %.1f) = %.2f ms per probe (%.2f ms without the startup's %.1f s of CPU in %.1f s)",
		fig.CPUSeconds, fig.CPUUserSeconds, fig.CPUSysSeconds, perProbe, fig.RunCPUSecondsPerProbe*1000, fig.StartupCPUSeconds, fig.StartupSeconds)
	p("memory:      peak RSS %.0f MiB (VmHWM %.0f MiB); live heap at most %.0f MiB (at a collection, sampled every 2 s), %.0f MiB at the end; heap in use %.0f MiB and %d goroutines at the end (at most %d); kept results' logs %.0f bytes on average (a list's newest success and its failures keep one)",
		fig.PeakRSSMiB, fig.VmHWMMiB, fig.PeakLiveHeapMiB, fig.LiveHeapEndMiB, fig.HeapInuseMiB, fig.Goroutines, fig.PeakGoroutines, fig.MeanLogBytes)
	w := fig.World
	p("sessions:    IMAP %d opened (at most %d open at once); SMTP %d opened (at most %d open at once); Mailman REST %d requests; %d list posts, %d messages stored",
		w.IMAPSessions, w.IMAPPeakOpen, w.SMTPSessions, w.SMTPPeakOpen, w.RESTRequests, w.ListPosts, w.Stored)
	p("in flight:   at most %d probes at once (cap %d); the cap was %.0f%% busy over the window", fig.PeakInFlight, fig.MaxInFlight, 100*fig.CapBusyShare)
	sa := fig.StartAfterRun
	var last []string
	for _, d := range fig.LastStartAfterRun {
		last = append(last, fmt.Sprintf("%.1f", d))
	}
	p("spread:      a probe starts after its run of the schedule by p50 %.1f s, p90 %.1f s, p99 %.1f s, max %.1f s; the last probe of each run started after %s s",
		sa.P50, sa.P90, sa.P99, sa.Max, strings.Join(last, ", "))
	for _, pol := range policies {
		if sl, ok := fig.SlotSeconds[string(pol)]; ok {
			line := fmt.Sprintf("  %-8s start to finish: mean %.2f s, p90 %.2f s, max %.2f s", pol, sl.Mean, sl.P90, sl.Max)
			if lat, ok := fig.Latency[string(pol)]; ok {
				line += fmt.Sprintf("; latency p50 %.3f s, p90 %.3f s, max %.3f s", lat.P50, lat.P90, lat.Max)
			}
			p("%s", line)
		}
	}
	if fig.Scrapes > 0 {
		p("scrapes:     %d of /metrics with gzip, %.0f ms on average, %.0f ms at most, %.2f MB each (%.1f MB, %.0f bytes per list, uncompressed)", fig.Scrapes, 1000*fig.ScrapeSeconds, 1000*fig.ScrapeMaxSeconds, float64(fig.ScrapeBytes)/1e6,
			float64(fig.ScrapePlainBytes)/1e6, float64(fig.ScrapePlainBytes)/float64(max(fig.Lists, 1)))
	}
	p("status page: %.0f ms, %.0f kB", 1000*fig.StatusPageSeconds, float64(fig.StatusPageBytes)/1e3)
	p("sandbox:     CPU %.1f s, peak RSS %.0f MiB (its own process, not counted above)", fig.WorldCPUSeconds, fig.WorldPeakRSSMiB)
	if len(fig.Warnings) > 0 {
		p("warnings logged:")
		for _, m := range sortedByCount(fig.Warnings) {
			p("  %6d × %s", fig.Warnings[m], m)
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}
