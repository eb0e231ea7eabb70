package probe

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/probe/config"
)

// The /metrics budget per list (issue 18), once every list has a result,
// its Mailman settings and its memberships, with list addresses of 36
// characters like listprobe-bench's (bench-00001-deliver@lists.bench.test).
//
// Prometheus scrapes with gzip, and that is the goal of 1.5 KB. The text
// before compression cannot meet it while the contract's series stay
// (DESIGN.md: listprobe_probes_total and listprobe_last_outcome with one
// series per outcome, the two histograms): those alone are about 3 KB per
// list (the README's "Latency and cost" itemizes them). So the text has a
// budget of its own, a little above what it takes today, so that any
// growth fails here too. The junk outcome (issue 16) added a series per
// list to each of the two per-outcome families: 5,586 bytes per list.
const (
	maxGzipBytesPerList  = 1536
	maxPlainBytesPerList = 5700
)

// scrapeWorld returns metrics for n lists, each with a Mailman server and
// a result: nine in ten delivered with four hops, the others held with
// Mailman's reason, as a large list host's would look.
func scrapeWorld(tb testing.TB, n int) *Metrics {
	tb.Helper()
	cfg := &config.Config{
		Accounts: map[string]*config.AccountConfig{
			"member": {Address: "member@example.org", IMAP: &config.IMAPConfig{}},
			"reader": {Address: "reader@example.org", IMAP: &config.IMAPConfig{}},
		},
	}
	for i := range n {
		cfg.Lists = append(cfg.Lists, &config.ListConfig{
			Address: fmt.Sprintf("bench-%05d-deliver@lists.bench.test", i), Poster: "member", Reader: "reader",
			Mailman: "main", Expect: config.ExpectDelivered,
		})
	}
	m := NewMetrics()
	m.Configure(cfg)
	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	member := MemberState{Subscribed: true, DeliveryMode: "regular", DeliveryStatus: "enabled"}
	for i, l := range cfg.Lists {
		lat := 1.25 + float64(i%7)
		r := &Result{List: l.Address, Outcome: Delivered, Expected: Delivered, OK: true, Latency: &lat,
			SubmitDuration: 12 * time.Millisecond, Started: now, Finished: now.Add(3 * time.Second),
			Hops: []Hop{{Seconds: 0}, {Seconds: 1}, {Seconds: 0}, {Seconds: 1}}, Authentication: benchVerdict}
		st := MailmanState{Up: true, DefaultMemberAction: "defer", DefaultNonmemberAction: "hold", Poster: member, Reader: member}
		if i%10 == 9 {
			r = &Result{List: l.Address, Outcome: Held, Expected: Delivered, SubmitDuration: 15 * time.Millisecond,
				Reason: "held by Mailman: The message is not from a list member", Started: now, Finished: now.Add(40 * time.Second)}
			st.DefaultMemberAction = "hold"
			st.Held = 3
		}
		m.Record(r)
		m.Mailman(l.Address, st)
	}
	return m
}

// benchVerdict is a delivered copy's authentication verdict: a list that
// signs, seals and lacks one-click unsubscribe.
var benchVerdict = &Authentication{DKIM: AuthCheck{Result: AuthPass}, SPF: AuthCheck{Result: AuthPass}, DMARC: AuthCheck{Result: AuthPass},
	ARC: AuthCheck{Result: AuthPass}, ListID: AuthCheck{Result: AuthPass}, OneClickUnsubscribe: AuthCheck{Result: AuthFail}}

// scrape returns /metrics as Prometheus gets it, uncompressed and with
// gzip.
func scrape(tb testing.TB, m *Metrics) (plain, gz []byte) {
	tb.Helper()
	h := m.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	plain = rec.Body.Bytes()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" {
		tb.Fatalf("/metrics did not answer with gzip: %q", rec.Header().Get("Content-Encoding"))
	}
	return plain, rec.Body.Bytes()
}

// TestMetricsBytesPerList fails when /metrics at 2,000 lists grows past
// the budget per list, or stops growing linearly with the lists.
func TestMetricsBytesPerList(t *testing.T) {
	perList := map[int]float64{}
	for _, n := range []int{200, 2000} {
		plain, gz := scrape(t, scrapeWorld(t, n))
		perList[n] = float64(len(plain)) / float64(n)
		gzPerList := float64(len(gz)) / float64(n)
		t.Logf("%d lists: %d bytes (%.0f per list), gzip %d bytes (%.0f per list)", n, len(plain), perList[n], len(gz), gzPerList)
		if n != 2000 {
			continue
		}
		if perList[n] > maxPlainBytesPerList {
			t.Errorf("/metrics at %d lists: %.0f bytes per list, budget %d", n, perList[n], maxPlainBytesPerList)
		}
		if gzPerList > maxGzipBytesPerList {
			t.Errorf("/metrics at %d lists with gzip: %.0f bytes per list, budget %d", n, gzPerList, maxGzipBytesPerList)
		}
		checkSeriesPerList(t, plain, n)
	}
	// Linear: the fixed part (Go and process metrics, HELP and TYPE lines)
	// spread over fewer lists makes 200 lists' share a little larger.
	if d := perList[200]/perList[2000] - 1; d < 0 || d > 0.05 {
		t.Errorf("bytes per list: %.0f at 200 lists, %.0f at 2,000: not linear", perList[200], perList[2000])
	}
}

// checkSeriesPerList fails when a metric family has more series per list
// than its budget: the count, not the bytes, is what a new label value or
// a state set brings.
func checkSeriesPerList(t *testing.T, text []byte, lists int) {
	t.Helper()
	series, size := map[string]int{}, map[string]int{}
	for line := range strings.SplitSeq(string(text), "\n") {
		if line == "" || line[0] == '#' || !strings.Contains(line, `list="`) {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		series[name]++
		size[name] += len(line) + 1
	}
	total := 0
	for _, name := range slices.Sorted(maps.Keys(series)) {
		total += series[name]
		t.Logf("%-50s %5.2f series, %4d bytes per list", name, float64(series[name])/float64(lists), size[name]/lists)
	}
	const maxSeriesPerList = 60 // 58.5 with junk's two series
	if got := float64(total) / float64(lists); got > maxSeriesPerList {
		t.Errorf("%.1f series per list, budget %d", got, maxSeriesPerList)
	}
}

// BenchmarkScrape measures one scrape of /metrics (gzip, as Prometheus
// asks) with every list's series set.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{2000, 10000} {
		b.Run(fmt.Sprintf("lists=%d", n), func(b *testing.B) {
			m := scrapeWorld(b, n)
			plain, gz := scrape(b, m)
			h := m.Handler()
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			b.ResetTimer()
			for b.Loop() {
				h.ServeHTTP(discard{}, req)
			}
			b.ReportMetric(float64(len(plain))/float64(n), "bytes/list")
			b.ReportMetric(float64(len(gz))/float64(n), "gzip-bytes/list")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
		})
	}
}

// discard is a ResponseWriter that drops the answer.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) WriteHeader(int)             {}
func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkMetricsMemory reports the heap that every list's series hold
// at 10,000 lists, and what one scrape allocates.
func BenchmarkMetricsMemory(b *testing.B) {
	for b.Loop() {
		before := heapInUse()
		m := scrapeWorld(b, 10000)
		held := heapInUse()
		b.ReportMetric(float64(held-before)/(1<<20), "MiB-series")
		b.ReportMetric(float64(held-before)/10000, "bytes/list")
		runtime.KeepAlive(m)
	}
}
