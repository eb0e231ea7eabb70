package probe

import (
	"slices"
	"sort"
	"strconv"

	dto "github.com/prometheus/client_model/go"
)

// listSeries is what /metrics says of one configured list, kept as plain
// values (about 600 bytes a list, where client_golang's series took
// 18 KB) and written into the text at each scrape by listFamilies.
// Metrics.mu guards it.
//
// A new per-list family is a field here, set under Metrics.mu where its
// value is learnt, and an entry of listFamilies that writes it.
type listSeries struct {
	name string
	// label is name as a label value, escaped once: the value of every
	// "list" label seriesWriter writes.
	label  string
	expect int8 // index in expectedOutcomes; -1: none
	last   int8 // index in Outcomes of the last probe's outcome; -1: none yet
	// probes counts the finished probes by outcome, as Outcomes.
	probes        [maxOutcomes]uint64
	success       bool
	reasonOutcome Outcome // the last probe's, for listprobe_last_reason_info
	reason        string  // "" until a probe finished
	latency       histogram
	submit        histogram
	lastProbe     float64
	lastDelivered float64
	late          uint64
	noticeLimit   float64
	// hops are the last delivered copy's hop seconds, numbered from
	// firstHop+1.
	hops     []float64
	firstHop int
	authn    *authValues // the last delivered copy's verdict; nil: none
	mailman  *mailmanSeries
	roster   *rosterSeries
	digest   *digestSeries
	archive  *archiveSeries
	readers  []readerSeries // lists with several readers only
}

// maxOutcomes bounds len(Outcomes) (a test checks it).
const maxOutcomes = 8

// mailmanSeries is what Mailman's REST API said of a list with mailman:.
type mailmanSeries struct {
	// read: Mailman answered once; the settings below are known.
	read          bool
	up, emergency bool
	held          float64
	// The info series' values; "" leaves no series.
	memberAction, nonmemberAction, ownAction string
	// poster, reader: the probe accounts' memberships (roles in this order).
	members [2]MemberState
}

// rosterSeries is a list's members and those disabled by bounces.
type rosterSeries struct{ members, disabled, ratio float64 }

// digestSeries is a list's digest settings.
type digestSeries struct{ enabled, interval, threshold, lastSent float64 }

// archiveSeries is the archive check of a list with archive:.
type archiveSeries struct {
	result  string // Archived, ArchiveLost or "" before the first check
	latency histogram
}

// authValues are the labels of listprobe_copy_authentication_info but
// the list, in the order of AuthChecks.
type authValues [6]string

// histogram is a client_golang histogram's state: counts per bucket (not
// cumulative; the last counts what is above every bound) and the sum.
type histogram struct {
	counts []uint64
	sum    float64
}

// buckets are a histogram's upper bounds and their le labels.
type buckets struct {
	bounds []float64
	les    []string
}

func newBuckets(bounds []float64) *buckets {
	b := &buckets{bounds: bounds}
	for _, v := range bounds {
		b.les = append(b.les, string(appendFloat(nil, v)))
	}
	return b
}

var (
	latencyBuckets = newBuckets(LatencyBuckets)
	submitBuckets  = newBuckets(SubmitBuckets)
	archiveBuckets = newBuckets(ArchiveBuckets)
)

func newHistogram(b *buckets) histogram { return histogram{counts: make([]uint64, len(b.bounds)+1)} }

// observe counts v in the first bucket whose bound is at least v, as
// client_golang does (NaN counts above every bound).
func (h *histogram) observe(b *buckets, v float64) {
	i := sort.SearchFloat64s(b.bounds, v)
	h.counts[i]++
	h.sum += v
}

func newListSeries(name string) *listSeries {
	return &listSeries{name: name, label: string(appendLabelValue(nil, name)), expect: -1, last: -1,
		latency: newHistogram(latencyBuckets), submit: newHistogram(submitBuckets)}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// The label values in the order client_golang writes a family's series:
// sorted.
var (
	outcomesSorted   = sortedIndexes(outcomeNames(Outcomes))
	expectedOutcomes = []string{string(Delivered), string(Held)}
	memberRoles      = [2]string{"poster", "reader"}
	hopLabels        = func() []string {
		var s []string
		for i := 1; i <= 64; i++ {
			s = append(s, strconv.Itoa(i))
		}
		return s
	}()
)

// sortedIndexes returns the indexes of names in the order of the names.
func sortedIndexes(names []string) []int {
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if names[a] < names[b] {
			return -1
		}
		if names[a] > names[b] {
			return 1
		}
		return 0
	})
	return idx
}

func hopLabel(n int) string {
	if n >= 1 && n <= len(hopLabels) {
		return hopLabels[n-1]
	}
	return strconv.Itoa(n)
}

func gauge(name, help string, write func(w *seriesWriter, l *listSeries)) *listFamily {
	return &listFamily{name: name, help: help, typ: dto.MetricType_GAUGE, write: write}
}

func counter(name, help string, write func(w *seriesWriter, l *listSeries)) *listFamily {
	return &listFamily{name: name, help: help, typ: dto.MetricType_COUNTER, write: write}
}

func histogramFamily(name, help string, write func(w *seriesWriter, l *listSeries)) *listFamily {
	return &listFamily{name: name, help: help, typ: dto.MetricType_HISTOGRAM, write: write}
}

// listFamilies are the per-list families, in the order of their names (a
// test checks it). Their names, help, labels and values are the ones the
// client_golang vectors had (testdata/metrics_golden.txt).
var listFamilies = []*listFamily{
	histogramFamily("listprobe_archive_latency_seconds", "Time from the post's acceptance by SMTP to the post seen in the list's archive.",
		func(w *seriesWriter, l *listSeries) {
			if l.archive != nil {
				w.histogram(l.label, &l.archive.latency, archiveBuckets)
			}
		}),
	gauge("listprobe_archive_result", "Whether the list's last delivered probe reached its archive: 1 for archived or archive_lost, 0 for the other (lists with archive:).",
		func(w *seriesWriter, l *listSeries) {
			if l.archive != nil {
				w.series("", boolFloat(l.archive.result == ArchiveLost), "list", l.label, "result", ArchiveLost)
				w.series("", boolFloat(l.archive.result == Archived), "list", l.label, "result", Archived)
			}
		}),
	gauge("listprobe_copy_authentication_info", "Always 1: the authentication verdict of the list's last delivered copy, one label per check: pass, fail, none or unknown (a DNS failure or a cut message).",
		func(w *seriesWriter, l *listSeries) {
			if a := l.authn; a != nil {
				// dkim, spf, dmarc, arc, list_id, one_click_unsubscribe, with the labels sorted.
				w.series("", 1, "arc", a[3], "dkim", a[0], "dmarc", a[2], "list", l.label, "list_id", a[4], "one_click_unsubscribe", a[5], "spf", a[1])
			}
		}),
	histogramFamily("listprobe_delivery_latency_seconds", "Time from the post's acceptance by SMTP to its copy seen in the reader mailbox.",
		func(w *seriesWriter, l *listSeries) { w.histogram(l.label, &l.latency, latencyBuckets) }),
	gauge("listprobe_last_delivered_timestamp_seconds", "When a probe copy of the list was last delivered in time, in seconds since the epoch (0: never).",
		func(w *seriesWriter, l *listSeries) { w.series("", l.lastDelivered, "list", l.label) }),
	gauge("listprobe_last_hop_seconds", "Seconds between one Received hop of the last delivered copy and the one before it (hop 1 is the first server; Received dates have one-second resolution).",
		func(w *seriesWriter, l *listSeries) {
			for i, s := range l.hops {
				w.series("", s, "hop", hopLabel(l.firstHop+i+1), "list", l.label)
			}
		}),
	gauge("listprobe_last_outcome", "The outcome of the list's last probe: 1 for that outcome, 0 for the others.",
		func(w *seriesWriter, l *listSeries) {
			for _, i := range outcomesSorted {
				w.series("", boolFloat(int(l.last) == i), "list", l.label, "outcome", string(Outcomes[i]))
			}
		}),
	gauge("listprobe_last_probe_timestamp_seconds", "When the list's last probe finished, in seconds since the epoch.",
		func(w *seriesWriter, l *listSeries) { w.series("", l.lastProbe, "list", l.label) }),
	gauge("listprobe_last_reason_info", "Always 1: the outcome and reason of the list's last probe, one series per list.",
		func(w *seriesWriter, l *listSeries) {
			if l.reason != "" {
				w.series("", 1, "list", l.label, "outcome", string(l.reasonOutcome), "reason", l.reason)
			}
		}),
	counter("listprobe_late_deliveries_total", "Probe copies that arrived after their probe's timeout.",
		func(w *seriesWriter, l *listSeries) { w.series("", float64(l.late), "list", l.label) }),
	gauge("listprobe_mailman_default_member_action_info", "Always 1: the list's default_member_action (accept, hold, reject, discard, defer) as the action label.",
		mailmanInfo(func(s *mailmanSeries) string { return s.memberAction })),
	gauge("listprobe_mailman_default_nonmember_action_info", "Always 1: the list's default_nonmember_action (accept, hold, reject, discard, defer) as the action label.",
		mailmanInfo(func(s *mailmanSeries) string { return s.nonmemberAction })),
	rosterGauge("listprobe_mailman_digest_enabled", "1 when the list offers digests (digests_enabled).",
		nil, func(d *digestSeries) float64 { return d.enabled }),
	rosterGauge("listprobe_mailman_digest_interval_seconds", "How often the list's digest is expected (the server's digest_interval), 0 when its digests are off or not sent periodically (digest_send_periodic).",
		nil, func(d *digestSeries) float64 { return d.interval }),
	rosterGauge("listprobe_mailman_digest_last_sent_timestamp_seconds", "When Mailman last sent the list's digest (digest_last_sent_at), in seconds since the epoch; 0: never.",
		nil, func(d *digestSeries) float64 { return d.lastSent }),
	rosterGauge("listprobe_mailman_digest_size_threshold_bytes", "The size at which the list's digest goes out early (digest_size_threshold).",
		nil, func(d *digestSeries) float64 { return d.threshold }),
	gauge("listprobe_mailman_emergency", "1 when the list's emergency moderation is on.",
		func(w *seriesWriter, l *listSeries) {
			if l.mailman != nil {
				w.series("", boolFloat(l.mailman.emergency), "list", l.label)
			}
		}),
	gauge("listprobe_mailman_held_messages", "Posts waiting in the list's moderation queue, probes or not.",
		func(w *seriesWriter, l *listSeries) {
			if l.mailman != nil {
				w.series("", l.mailman.held, "list", l.label)
			}
		}),
	gauge("listprobe_mailman_member_delivery_mode_info", "Always 1: the delivery_mode of the probe's poster's or reader's membership as the mode label (a reader on digests gets no copies); absent when Mailman reports none.",
		func(w *seriesWriter, l *listSeries) {
			if l.mailman != nil {
				for i, ms := range l.mailman.members {
					if ms.DeliveryMode != "" {
						w.series("", 1, "list", l.label, "mode", ms.DeliveryMode, "role", memberRoles[i])
					}
				}
			}
		}),
	gauge("listprobe_mailman_member_delivery_status_info", "Always 1: the delivery_status of the probe's poster's or reader's membership as the status label (by_bounces: Mailman stopped delivering to it); absent when Mailman reports none.",
		func(w *seriesWriter, l *listSeries) {
			if l.mailman != nil {
				for i, ms := range l.mailman.members {
					if ms.DeliveryStatus != "" {
						w.series("", 1, "list", l.label, "role", memberRoles[i], "status", ms.DeliveryStatus)
					}
				}
			}
		}),
	gauge("listprobe_mailman_member_moderation_action_info", "Always 1: the probe poster's own moderation_action on the list as the action label (default: none, the list default applies).",
		mailmanInfo(func(s *mailmanSeries) string { return s.ownAction })),
	gauge("listprobe_mailman_member_subscribed", "1 when the probe's poster or reader (role) is a member of the list, as Mailman says.",
		func(w *seriesWriter, l *listSeries) {
			if l.mailman != nil && l.mailman.read {
				for i, ms := range l.mailman.members {
					w.series("", boolFloat(ms.Subscribed), "list", l.label, "role", memberRoles[i])
				}
			}
		}),
	rosterGauge("listprobe_mailman_members", "Members of the list, as Mailman counts them.",
		func(r *rosterSeries) float64 { return r.members }, nil),
	rosterGauge("listprobe_mailman_members_disabled_by_bounces", "Members of the list whose delivery Mailman disabled because of bounces (delivery_status by_bounces).",
		func(r *rosterSeries) float64 { return r.disabled }, nil),
	rosterGauge("listprobe_mailman_members_disabled_by_bounces_ratio", "The share of the list's members whose delivery Mailman disabled because of bounces (0 to 1).",
		func(r *rosterSeries) float64 { return r.ratio }, nil),
	gauge("listprobe_mailman_up", "1 when the last Mailman REST read of the list worked.",
		func(w *seriesWriter, l *listSeries) {
			if l.mailman != nil {
				w.series("", boolFloat(l.mailman.up), "list", l.label)
			}
		}),
	gauge("listprobe_notice_limit_reached_timestamp_seconds", "When the list server last told the poster it sends no more notices today (0: never); holds after it are silent.",
		func(w *seriesWriter, l *listSeries) { w.series("", l.noticeLimit, "list", l.label) }),
	gauge("listprobe_probe_expected", "The outcome the list is expected to have: 1 for it, 0 for the others.",
		func(w *seriesWriter, l *listSeries) {
			for i, o := range expectedOutcomes {
				w.series("", boolFloat(int(l.expect) == i), "list", l.label, "outcome", o)
			}
		}),
	gauge("listprobe_probe_success", "1 when the list's last probe outcome matched its expectation, 0 otherwise.",
		func(w *seriesWriter, l *listSeries) { w.series("", boolFloat(l.success), "list", l.label) }),
	counter("listprobe_probes_total", "Probes finished, by list and outcome.",
		func(w *seriesWriter, l *listSeries) {
			for _, i := range outcomesSorted {
				w.series("", float64(l.probes[i]), "list", l.label, "outcome", string(Outcomes[i]))
			}
		}),
	gauge("listprobe_reader_last_latency_seconds", "Seconds from the post's acceptance by SMTP to its copy seen by one reader of a list with several readers, in INBOX or Junk, in the last probe; absent when that reader saw no copy.",
		func(w *seriesWriter, l *listSeries) {
			for _, r := range l.readers {
				if r.copy {
					w.series("", r.latency, "list", l.label, "reader", r.reader)
				}
			}
		}),
	gauge("listprobe_reader_last_outcome_info", "Always 1: what one reader of a list with several readers saw of the last probe (delivered, junk, lost, error, or the list's outcome), one series per list and reader.",
		func(w *seriesWriter, l *listSeries) {
			for _, r := range l.readers {
				if r.outcome != "" {
					w.series("", 1, "list", l.label, "outcome", string(r.outcome), "reader", r.reader)
				}
			}
		}),
	histogramFamily("listprobe_submit_duration_seconds", "Duration of the SMTP conversation that posts a probe.",
		func(w *seriesWriter, l *listSeries) { w.histogram(l.label, &l.submit, submitBuckets) }),
}

// mailmanInfo writes an info series of a list's Mailman settings, with
// the value as the action label.
func mailmanInfo(value func(*mailmanSeries) string) func(w *seriesWriter, l *listSeries) {
	return func(w *seriesWriter, l *listSeries) {
		if l.mailman == nil {
			return
		}
		if v := value(l.mailman); v != "" {
			w.series("", 1, "action", v, "list", l.label)
		}
	}
}

// rosterGauge writes a gauge of the list's roster (roster set) or of its
// digest (digest set), once Mailman told them.
func rosterGauge(name, help string, roster func(*rosterSeries) float64, digest func(*digestSeries) float64) *listFamily {
	return gauge(name, help, func(w *seriesWriter, l *listSeries) {
		switch {
		case roster != nil && l.roster != nil:
			w.series("", roster(l.roster), "list", l.label)
		case digest != nil && l.digest != nil:
			w.series("", digest(l.digest), "list", l.label)
		}
	})
}
