package probe

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/probe/config"
)

// BenchmarkAudit10000Lists audits a sandbox Mailman of 10,000 lists (and
// two more) once per iteration, at an unthrottled pace, and reports what a
// round costs: REST requests, the series' bytes per list in the text
// format, the scrape's time, and the heap the audit's state keeps per list.
func BenchmarkAudit10000Lists(b *testing.B) {
	const n = 10000
	w := startAuditWorld(b, n)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	as, a := startAudit(b, w, 1000)
	reg := prometheus.NewRegistry()
	reg.MustRegister(as)
	b.ResetTimer()
	rounds := 0
	for b.Loop() {
		auditWait(b, 10*time.Minute, "an audit round", func() bool {
			s := a.summary()
			return s.RoundEnd.After(time.Time{}) && roundsEnded(a) > rounds
		})
		rounds = roundsEnded(a)
	}
	b.StopTimer()
	a.cancel() // the scrape alone: the next round would compete for the CPU
	s := a.summary()
	if len(s.Lists) != n+1 {
		b.Fatalf("audited %d lists, want %d", len(s.Lists), n+1)
	}
	start := time.Now()
	size := auditBytes(b, reg)
	scrape := time.Since(start)
	if _, err := reg.Gather(); err != nil {
		b.Fatal(err)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(s.Requests), "requests/round")
	b.ReportMetric(float64(config.RoundRequests(s.Total, len(s.Lists))), "formula-requests/round")
	b.ReportMetric(float64(size)/float64(len(s.Lists)), "series-bytes/list")
	b.ReportMetric(float64(scrape.Milliseconds()), "scrape-ms")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(len(s.Lists)), "heap-bytes/list")
	b.ReportMetric(s.RoundTook.Seconds(), "round-s")
}

// roundsEnded counts the whole rounds the audit finished.
func roundsEnded(a *auditor) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rounds
}

// BenchmarkAuditScrape10000Lists measures collecting and encoding the
// audit's series of 10,000 lists, as a scrape of /metrics does, with and
// without a baseline (a drift series per list).
func BenchmarkAuditScrape10000Lists(b *testing.B) {
	for _, baseline := range []*config.AuditBaseline{{DefaultMemberAction: []string{"defer", "accept"}}, nil} {
		name := "baseline"
		if baseline == nil {
			name = "no-baseline"
		}
		b.Run(name, func(b *testing.B) {
			m := &config.MailmanConfig{URL: "http://127.0.0.1:1/3.1", Username: "u", Audit: &config.AuditConfig{
				Refresh: config.Duration(time.Minute), MaxRequestsPerSecond: 10, Baseline: baseline,
			}}
			a := newAuditor("main", m, slog.New(slog.NewTextHandler(io.Discard, nil)))
			for i := range 10000 {
				l := fmt.Sprintf("list-%04d@lists.example.org", i)
				a.lists[l] = &AuditedList{List: l, Read: time.Now(), Policy: mailmanrest.ListPolicy{DefaultMemberAction: "defer", DefaultNonmemberAction: "hold"}}
			}
			as := &auditors{m: map[string]*auditor{"main": a}}
			reg := prometheus.NewRegistry()
			reg.MustRegister(as)
			size := 0
			for b.Loop() {
				size = auditBytes(b, reg)
			}
			b.ReportMetric(float64(size)/10000, "series-bytes/list")
		})
	}
}

// auditBytesBudget is the most bytes of audit series a list may cost in the
// text format, with a baseline that checks one setting (docs/mailman-audit.md
// states 458 for names like list-0137@lists.example.org).
const auditBytesBudget = 500

// TestAuditSeriesBytesPerList fails when the audit's series of 2,000 lists
// grow past auditBytesBudget per list.
func TestAuditSeriesBytesPerList(t *testing.T) {
	m := &config.MailmanConfig{URL: "http://127.0.0.1:1/3.1", Username: "u", Audit: &config.AuditConfig{
		Refresh: config.Duration(time.Minute), MaxRequestsPerSecond: 10,
		Baseline: &config.AuditBaseline{DefaultMemberAction: []string{"defer", "accept"}},
	}}
	a := newAuditor("main", m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := range 2000 {
		l := fmt.Sprintf("list-%04d@lists.example.org", i)
		a.lists[l] = &AuditedList{List: l, Read: time.Now(), Held: i % 3, Policy: mailmanrest.ListPolicy{DefaultMemberAction: "defer", DefaultNonmemberAction: "hold"}}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&auditors{m: map[string]*auditor{"main": a}})
	if per := auditBytes(t, reg) / 2000; per > auditBytesBudget {
		t.Errorf("the audit's series take %d bytes per list, past the budget of %d", per, auditBytesBudget)
	} else {
		t.Logf("%d bytes per list", per)
	}
}
