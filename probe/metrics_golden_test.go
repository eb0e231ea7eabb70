package probe

import (
	"flag"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/probe/config"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/metrics_golden.txt from the current /metrics")

// goldenWorld drives Metrics through every per-list family and its corner
// cases: series at zero from the start, state sets, info series replaced
// or removed, histograms at their bucket bounds, escaping, hops past the
// cap, a list removed and an expectation changed by a reload, and calls
// about lists that are not configured.
func goldenWorld(t testing.TB) *Metrics {
	t.Helper()
	m := NewMetrics()
	m.Configure(goldenConfig(config.ExpectHeld, true))
	at := time.Date(2026, 12, 6, 18, 0, 0, 123456789, time.UTC)
	f := func(v float64) *float64 { return &v }
	hops := func(n int) []Hop {
		var hs []Hop
		for i := range n {
			hs = append(hs, Hop{Seconds: float64(i) + 0.25})
		}
		return hs
	}
	for i, lat := range []float64{0.5, 1, 2.4999, 300, 301, 0.1} {
		m.Record(&Result{List: "a@lists.example.org", Outcome: Delivered, Expected: Delivered, OK: true, Latency: f(lat),
			SubmitDuration: time.Duration(i*7+1) * 10 * time.Millisecond, Finished: at.Add(time.Duration(i) * time.Minute),
			Hops: hops(5 + i), Authentication: benchVerdict})
	}
	m.Record(&Result{List: "a@lists.example.org", Outcome: Lost, Expected: Delivered, Reason: "no copy within 4m0s", Finished: at.Add(7 * time.Minute)})
	m.LateDelivery("a@lists.example.org")
	m.LateDelivery("a@lists.example.org")
	m.NoticeLimit("a@lists.example.org", at)
	m.Record(&Result{List: "b@lists.example.org", Outcome: Held, Expected: Held, OK: true, SubmitDuration: 30 * time.Second,
		Reason: "held: \"moderation\" queue\\ id=123\nnext <abc@example.org>", Finished: at})
	m.Record(&Result{List: "b@lists.example.org", Outcome: Rejected, Expected: Held, Reason: `rejected: 550 5.7.1 "no" \ 2026-12-06T18:00:01Z`, Finished: at.Add(time.Second)})
	m.Record(&Result{List: "c@lists.example.org", Outcome: Delivered, Expected: Delivered, OK: true, Latency: f(2.5), Finished: at,
		Archive: &ArchiveResult{Result: Archived, Latency: f(20)}, Authentication: benchVerdict})
	m.Record(&Result{List: "c@lists.example.org", Outcome: Delivered, Expected: Delivered, OK: true, Latency: f(3), Finished: at.Add(time.Minute),
		Archive: &ArchiveResult{Result: ArchiveLost}})
	m.Record(&Result{List: "e@lists.example.org", Outcome: SendFailed, Expected: Delivered, Reason: "connection refused", Finished: at})
	// Several readers: each one's outcome and latency; a reader without a
	// copy has no latency series.
	m.Record(&Result{List: "f@lists.example.org", Outcome: Junk, Expected: Delivered, Reason: "reader2 found the copy in Junk", Finished: at,
		Readers: []ReaderResult{{Reader: "reader", Outcome: Delivered, Latency: f(1.5)}, {Reader: "reader2", Outcome: Junk, Latency: f(2)}}})
	m.Record(&Result{List: "f@lists.example.org", Outcome: Lost, Expected: Delivered, Reason: "no copy for reader2", Finished: at.Add(time.Minute),
		Readers: []ReaderResult{{Reader: "reader", Outcome: Delivered, Latency: f(1)}, {Reader: "reader2", Outcome: Lost}, {Reader: "stranger", Outcome: Lost}}})
	m.Record(&Result{List: "g@lists.example.org", Outcome: Delivered, Expected: Delivered, OK: true, Latency: f(1), Finished: at,
		Readers: []ReaderResult{{Reader: "reader", Outcome: Delivered, Latency: f(1)}, {Reader: "reader2", Outcome: Delivered, Latency: f(0.5)}}})
	m.Record(&Result{List: "c@lists.example.org", Outcome: Delivered, Expected: Delivered, OK: true, Latency: f(1), Finished: at.Add(2 * time.Minute),
		Readers: []ReaderResult{{Reader: "reader", Outcome: Delivered, Latency: f(1)}, {Reader: "reader2", Outcome: Delivered, Latency: f(0.5)}}})
	m.Record(&Result{List: "gone@lists.example.org", Outcome: Delivered, Expected: Delivered, Latency: f(1), Finished: at})
	m.LateDelivery("gone@lists.example.org")
	m.NoticeLimit("gone@lists.example.org", at)
	goldenMailman(m, at)
	m.MailmanQueues("main", []mailmanrest.Queue{{Name: "in"}, {Name: "out", Count: 1}}, true, func(string) int { return 1 }, at)
	m.Forged("member")
	m.MailboxUp("reader", true)
	m.MailboxUp("stranger", true)
	m.Reloaded(true)
	// A reload: e is gone, b's expectation changes.
	m.Configure(goldenConfig(config.ExpectDelivered, false))
	m.Record(&Result{List: "e@lists.example.org", Outcome: Delivered, Expected: Delivered, Latency: f(1), Finished: at})
	m.MailmanRoster("e@lists.example.org", 1, 2)
	return m
}

// goldenMailman sets what Mailman said of goldenWorld's lists: settings
// replaced, a member without status or mode, a server down, rosters and
// digests, and lists that are not configured or have no mailman:.
func goldenMailman(m *Metrics, at time.Time) {
	member := MemberState{Subscribed: true, DeliveryMode: "regular", DeliveryStatus: "enabled"}
	m.Mailman("a@lists.example.org", MailmanState{Up: true, Held: 2, DefaultMemberAction: "hold", DefaultNonmemberAction: "discard",
		MemberAction: "accept", Emergency: true, Poster: member, Reader: MemberState{Subscribed: true, DeliveryMode: "mime_digests", DeliveryStatus: "by_bounces"}})
	m.Mailman("a@lists.example.org", MailmanState{Up: true, Held: 3, DefaultMemberAction: "defer", DefaultNonmemberAction: "hold",
		Poster: member, Reader: MemberState{}})
	m.Mailman("c@lists.example.org", MailmanState{Up: true, DefaultMemberAction: "accept", DefaultNonmemberAction: "hold", Poster: member, Reader: member})
	m.Mailman("c@lists.example.org", MailmanState{Up: false})
	m.Mailman("e@lists.example.org", MailmanState{Up: true, DefaultMemberAction: "accept", Poster: member, Reader: member})
	m.Mailman("gone@lists.example.org", MailmanState{Up: true, DefaultMemberAction: "accept"})
	m.MailmanRoster("a@lists.example.org", 3, 7)
	m.MailmanRoster("c@lists.example.org", 0, 0)
	m.MailmanRoster("b@lists.example.org", 5, 4)
	m.MailmanRoster("e@lists.example.org", 1, 2)
	m.MailmanDigest("a@lists.example.org", mailmanrest.Digest{Enabled: true, SendPeriodic: true, SizeThresholdKB: 30, LastSentAt: at}, 24*time.Hour)
	m.MailmanDigest("c@lists.example.org", mailmanrest.Digest{Enabled: false, SizeThresholdKB: 0.5}, 24*time.Hour)
}

// goldenConfig is goldenWorld's configuration, and after its reload
// (expectB, withE false): b's expectation changed, e gone, g down to one
// reader.
func goldenConfig(expectB config.Expect, withE bool) *config.Config {
	accounts := map[string]*config.AccountConfig{
		"member":  {Address: "member@example.org", IMAP: &config.IMAPConfig{}},
		"reader":  {Address: "reader@example.org", IMAP: &config.IMAPConfig{}},
		"reader2": {Address: "reader2@example.org", IMAP: &config.IMAPConfig{}},
		"sender":  {Address: "sender@example.org"},
	}
	cfg := &config.Config{Accounts: accounts, Mailman: map[string]*config.MailmanConfig{"main": {}}}
	cfg.Lists = []*config.ListConfig{
		{Address: "a@lists.example.org", Mailman: "main", Expect: config.ExpectDelivered},
		{Address: "b@lists.example.org", Expect: expectB},
		{Address: "c@lists.example.org", Mailman: "main", Expect: config.ExpectDelivered, Archive: &config.ArchiveConfig{}},
		{Address: "d-ünï@lists.example.org", Expect: config.ExpectDelivered},
	}
	gReaders := []string{"reader", "reader2"}
	if !withE {
		gReaders = []string{"reader"}
	}
	cfg.Lists = append(cfg.Lists, &config.ListConfig{Address: "f@lists.example.org", Readers: []string{"reader", "reader2"}, Expect: config.ExpectDelivered},
		&config.ListConfig{Address: "g@lists.example.org", Readers: gReaders, Expect: config.ExpectDelivered})
	if withE {
		cfg.Lists = append(cfg.Lists, &config.ListConfig{Address: "e@lists.example.org", Mailman: "main", Expect: config.ExpectDelivered, Archive: &config.ArchiveConfig{}})
	}
	return cfg
}

// goldenText is /metrics as served, less the families that differ from
// run to run (Go, process, build and reload time).
func goldenText(t testing.TB, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	metricsHandler(m).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	var keep []string
	skip := false
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if name, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ = strings.Cut(name, " ")
			skip = strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") ||
				name == "listprobe_build_info" || name == "listprobe_config_last_reload_success_timestamp_seconds"
		}
		if !skip && line != "" {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n") + "\n"
}

// normalized sorts the series of each family: their order within a
// family means nothing to Prometheus.
func normalized(text string) string {
	var out, block []string
	flush := func() {
		slices.Sort(block)
		out = append(out, block...)
		block = nil
	}
	for line := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			flush()
			out = append(out, line)
			continue
		}
		block = append(block, line)
	}
	flush()
	return strings.Join(out, "\n") + "\n"
}

// TestMetricsGolden compares /metrics of goldenWorld with what the
// client_golang vectors listprobe used before wrote for it (issue 18:
// names, labels, types, HELP and values are the contract): the golden file
// was written by them (main at fd80d9b). -update rewrites it from the
// running code: for a new family or series only, its lines checked by
// hand.
func TestMetricsGolden(t *testing.T) {
	got := goldenText(t, goldenWorld(t))
	path := filepath.Join("testdata", "metrics_golden.txt")
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := normalized(got), normalized(string(want)); g != w {
		gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
		for i := range max(len(gl), len(wl)) {
			var a, b string
			if i < len(gl) {
				a = gl[i]
			}
			if i < len(wl) {
				b = wl[i]
			}
			if a != b {
				t.Fatalf("/metrics differs from %s at line %d:\n got: %s\nwant: %s", path, i+1, a, b)
			}
		}
	}
}

func metricsHandler(m *Metrics) http.Handler { return m.Handler() }

// seriesValue is the value of the series of family name that has these
// labels (name, value pairs): a counter's or gauge's value, a
// histogram's count; NaN when there is no such series.
func seriesValue(tb testing.TB, m *Metrics, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !slices.ContainsFunc(s.GetLabel(), func(p *dto.LabelPair) bool {
					return p.GetName() == labels[i] && p.GetValue() == labels[i+1]
				}) {
					continue series
				}
			}
			switch {
			case s.Counter != nil:
				return s.GetCounter().GetValue()
			case s.Gauge != nil:
				return s.GetGauge().GetValue()
			case s.Histogram != nil:
				return float64(s.GetHistogram().GetSampleCount())
			}
		}
	}
	return math.NaN()
}

// seriesCount is how many series the families named have.
func seriesCount(tb testing.TB, m *Metrics, names ...string) int {
	tb.Helper()
	n, err := testutil.GatherAndCount(m.Gatherer(), names...)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// familyText is the text format of the family name, as gathered.
func familyText(tb testing.TB, g prometheus.Gatherer, name string) string {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if mf.GetName() == name {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return b.String()
}
