package probe

import (
	"maps"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/internal/version"
	"github.com/listprobe/listprobe/probe/config"
)

// ModerationActions are the values Mailman 3 takes for a moderation action.
var ModerationActions = []string{"accept", "hold", "reject", "discard", "defer"}

// The histograms' buckets. Every bucket is a series per list, about 100
// bytes of each scrape, so there are few: the delivery latency's resolve
// the alert's 2-minute threshold and the dashboard's percentiles from
// half a second to the timeout (a copy later than the list's timeout is a
// late delivery, not a latency); the SMTP conversation's tell a local
// submission from a slow or stalling one.
var (
	LatencyBuckets = []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	SubmitBuckets  = []float64{0.05, 0.25, 1, 5, 30}
)

// Metrics holds every metric listprobe exports: the per-list families
// as listSeries, written by Handler (exposition.go), and the others on a
// registry of its own.
type Metrics struct {
	// Registry has the metrics other than the per-list families: other
	// collectors are registered on it. Gatherer has them all.
	Registry *prometheus.Registry
	readerMetrics

	forged     *prometheus.CounterVec
	mailboxUp  *prometheus.GaugeVec
	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
	pipe       *pipelineMetrics // Mailman's queues
	expo       *exposition

	mu            sync.Mutex
	lists         map[string]*listSeries // the configured lists, by address
	order         []*listSeries          // the same, by address; replaced, never changed
	knownAccounts []string               // the configured accounts with a mailbox
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// NewMetrics registers every metric on a new registry, with the Go and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry:  prometheus.NewRegistry(),
		forged:    counterVec("listprobe_forged_messages_total", "Messages carrying a probe token whose signature does not verify, by mailbox account.", "mailbox"),
		mailboxUp: gaugeVec("listprobe_mailbox_up", "1 while the account's IMAP session is logged in and watching.", "account"),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "listprobe_config_last_reload_successful", Help: "1 when the last configuration reload succeeded.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "listprobe_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last loaded successfully.",
		}),
		lists: map[string]*listSeries{},
	}
	build := version.Get()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "listprobe_build_info", Help: "A metric with a constant 1 value labeled by version, revision and goversion of listprobe.",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "goversion": build.GoVersion},
	})
	buildInfo.Set(1)
	m.readerMetrics = newReaderMetrics(m.Registry)
	m.pipe = newPipelineMetrics(m.Registry)
	m.Registry.MustRegister(
		m.forged, m.mailboxUp, m.reloadOK, m.reloadTime, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.expo = newExposition(m)
	return m
}

// Handler serves /metrics: every family, in the format and compression
// the scraper asks for, as promhttp does.
func (m *Metrics) Handler() http.Handler { return m.expo }

// Configure creates every series of the lists and accounts of cfg at their
// zero values, and deletes the series of lists and accounts it no longer has.
func (m *Metrics) Configure(cfg *config.Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lists := make(map[string]*listSeries, len(cfg.Lists))
	for _, l := range cfg.Lists {
		ls := m.lists[l.Address]
		if ls == nil {
			ls = newListSeries(l.Address)
		}
		lists[l.Address] = ls
		ls.expect = int8(slices.Index(expectedOutcomes, string(l.Expect)))
		ls.setReaders(l.ReaderAccounts())
		if l.Mailman != "" && ls.mailman == nil {
			ls.mailman = &mailmanSeries{}
		}
		switch {
		case l.Archive == nil:
			ls.archive = nil
		case ls.archive == nil:
			ls.archive = &archiveSeries{latency: newHistogram(archiveBuckets)}
		}
	}
	accounts := map[string]bool{}
	for name, a := range cfg.Accounts {
		if a.IMAP != nil {
			accounts[name] = true
			m.mailboxUp.WithLabelValues(name)
			m.forged.WithLabelValues(name)
		}
	}
	for _, a := range m.knownAccounts {
		if !accounts[a] {
			m.mailboxUp.DeletePartialMatch(prometheus.Labels{"account": a})
			m.forged.DeletePartialMatch(prometheus.Labels{"mailbox": a})
		}
	}
	m.pipe.configure(cfg)
	m.lists = lists
	m.order = make([]*listSeries, 0, len(lists))
	for _, ls := range lists {
		m.order = append(m.order, ls)
	}
	slices.SortFunc(m.order, func(a, b *listSeries) int { return strings.Compare(a.name, b.name) })
	m.configureReaders(cfg)
	m.knownAccounts = slices.Sorted(maps.Keys(accounts))
}

// Record counts a finished probe.
func (m *Metrics) Record(r *Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lists[r.List]
	if l == nil {
		// Removed by a reload while its probe was in flight: recording it
		// would bring back the series Configure deleted.
		return
	}
	l.last = int8(slices.Index(Outcomes, r.Outcome))
	if l.last >= 0 {
		l.probes[l.last]++
	}
	l.recordArchive(r)
	l.success = r.OK
	l.reasonOutcome, l.reason = r.Outcome, reasonLabel(r)
	l.recordReaders(r)
	if r.SubmitDuration > 0 {
		l.submit.observe(submitBuckets, r.SubmitDuration.Seconds())
	}
	if r.Outcome == Delivered && r.Latency != nil {
		// The last hops are the ones that matter (the list server, the
		// reader's mailbox); a hop keeps its number in the chain.
		l.firstHop = max(len(r.Hops)-maxHopSeries, 0)
		l.hops = l.hops[:0]
		for _, h := range r.Hops[l.firstHop:] {
			l.hops = append(l.hops, h.Seconds)
		}
		l.latency.observe(latencyBuckets, *r.Latency)
		l.setAuthentication(r.Authentication)
		l.lastDelivered = float64(r.Finished.UnixNano()) / 1e9
	}
	l.lastProbe = float64(r.Finished.UnixNano()) / 1e9
}

// list returns the configured list's series, and locks m.mu when there
// is one: the caller unlocks it.
func (m *Metrics) list(name string) *listSeries {
	m.mu.Lock()
	l := m.lists[name]
	if l == nil {
		m.mu.Unlock()
	}
	return l
}

// LateDelivery counts a copy that arrived after its probe's timeout.
func (m *Metrics) LateDelivery(list string) {
	if l := m.list(list); l != nil {
		l.late++
		m.mu.Unlock()
	}
}

// Forged counts a message with a forged token seen in an account's mailbox.
func (m *Metrics) Forged(account string) { m.forged.WithLabelValues(account).Inc() }

// MailboxUp sets the state of an account's IMAP session.
func (m *Metrics) MailboxUp(account string, up bool) {
	m.mu.Lock()
	known := slices.Contains(m.knownAccounts, account)
	m.mu.Unlock()
	if !known {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.mailboxUp.WithLabelValues(account).Set(v)
}

// NoticeLimit records that the list server stopped sending notices for today.
func (m *Metrics) NoticeLimit(list string, at time.Time) {
	if l := m.list(list); l != nil {
		l.noticeLimit = float64(at.Unix())
		m.mu.Unlock()
	}
}

// Reloaded records the result of a configuration (re)load.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloadOK.Set(1)
		m.reloadTime.SetToCurrentTime()
	} else {
		m.reloadOK.Set(0)
	}
}

// MailmanState is what Mailman's REST API said about a list.
type MailmanState struct {
	Up                     bool
	Held                   int
	DefaultMemberAction    string
	DefaultNonmemberAction string
	MemberAction           string // "" or "default" when the member has none of its own
	Emergency              bool
	// Poster and Reader are the probe accounts' memberships of the list
	// (Reader: its first reader's).
	Poster, Reader MemberState
	// Readers are every reader's membership, the first one's too, in the
	// order of the list's readers (mailman_readers.go).
	Readers []ReaderMembership
	// Since is when the settings above were first read with these values
	// (or when the API was first found down).
	Since time.Time
}

// MemberState is what the list server says of a probe account's
// membership.
type MemberState = mailmanrest.Membership

// The delivery modes and statuses of a Mailman 3 membership.
var (
	DeliveryModes    = []string{"regular", "plaintext_digests", "mime_digests", "summary_digests"}
	DeliveryStatuses = []string{"enabled", "by_user", "by_bounces", "by_moderator", "unknown"}
)

// sameSettings reports whether s and o say the same about the list.
func (s MailmanState) sameSettings(o MailmanState) bool {
	s.Since, o.Since = time.Time{}, time.Time{}
	return reflect.DeepEqual(s, o)
}

// Mailman records the moderation state of a list.
func (m *Metrics) Mailman(list string, s MailmanState) {
	l := m.list(list)
	if l == nil {
		return
	}
	defer m.mu.Unlock()
	if l.mailman == nil {
		l.mailman = &mailmanSeries{}
	}
	mm := l.mailman
	mm.up = s.Up
	if !s.Up {
		return
	}
	mm.read = true
	mm.held = float64(s.Held)
	mm.emergency = s.Emergency
	mm.memberAction, mm.nonmemberAction, mm.ownAction = s.DefaultMemberAction, s.DefaultNonmemberAction, s.MemberAction
	if mm.ownAction == "" {
		mm.ownAction = "default"
	}
	mm.members = [2]MemberState{s.Poster, s.Reader}
}

// ResultMetrics returns the metrics of one probe's result, as an
// on-demand probe (GET /probe) answers, in the shape of blackbox_exporter's
// /probe.
func ResultMetrics(res *Result) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	success := prometheus.NewGauge(prometheus.GaugeOpts{Name: "listprobe_probe_success", Help: "1 when the probe's outcome matched the list's expectation."})
	outcome := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "listprobe_probe_outcome", Help: "The probe's outcome: 1 for it, 0 for the others."}, []string{"outcome"})
	duration := prometheus.NewGauge(prometheus.GaugeOpts{Name: "listprobe_probe_duration_seconds", Help: "How long the probe took, from posting to its outcome."})
	latency := prometheus.NewGauge(prometheus.GaugeOpts{Name: "listprobe_probe_delivery_latency_seconds", Help: "Time from SMTP acceptance to the copy seen in the reader mailbox; NaN unless delivered."})
	reg.MustRegister(success, outcome, duration, latency)
	if res.OK {
		success.Set(1)
	}
	setStates(outcome, nil, outcomeNames(Outcomes), string(res.Outcome))
	duration.Set(res.Finished.Sub(res.Started).Seconds())
	if res.Latency != nil {
		latency.Set(*res.Latency)
	} else {
		latency.Set(math.NaN())
	}
	return reg
}

func outcomeNames(os []Outcome) []string {
	names := make([]string, len(os))
	for i, o := range os {
		names[i] = string(o)
	}
	return names
}

// setStates sets a state set: 1 for the current state, 0 for the others.
// labels are the series' other label values, before the state's.
func setStates(vec *prometheus.GaugeVec, labels []string, states []string, current string) {
	for _, st := range states {
		v := 0.0
		if st == current {
			v = 1
		}
		vec.WithLabelValues(append(labels[:len(labels):len(labels)], st)...).Set(v)
	}
}

// maxHopSeries bounds the hops exported per list: a list copy passes a
// handful of servers (submission, the list server, the reader's mailbox);
// with more, the last ones are kept (hop numbers stay below checks' cap of
// 32 Received fields).
const maxHopSeries = 8

// reasonLabel is a probe's reason as the value of the reason label of
// listprobe_last_reason_info: the list server's own sentence stays (alerts
// quote it), but whatever changes from probe to probe (latencies, times,
// queue ids, Message-IDs, tokens) is left out, so that a list keeps a
// bounded set of series. The exact text is on the page, in the JSON and in
// the log.
func reasonLabel(r *Result) string {
	if r.Outcome == Delivered {
		return "copy seen in the reader's mailbox"
	}
	s := readable(r.Reason)
	s = volatileText.ReplaceAllString(s, "…")
	return checks.Truncate(s, 120)
}

var volatileText = regexp.MustCompile(`(?i)<[^<>\s]*>|\blp1\.[a-z2-7.]+|\b\d{4}-\d\d-\d\d[T ][\d:.]+(Z|[+-]\d\d:?\d\d)?|\b\d+(\.\d+)?(ms|s|m|h)\b|\b\d+(h\d+)?m\d+(\.\d+)?s\b|\bqueued as \S+|\bid=\S+|\b[0-9a-f]{8,}\b|\b\d{5,}\b`)
