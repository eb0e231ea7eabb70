package probe

import (
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
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

// Metrics holds every metric listprobe exports, on a registry of its own.
type Metrics struct {
	Registry *prometheus.Registry
	readerMetrics

	probes           *prometheus.CounterVec
	success          *prometheus.GaugeVec
	lastOutcome      *prometheus.GaugeVec
	expected         *prometheus.GaugeVec
	lastReason       *prometheus.GaugeVec
	latency          *prometheus.HistogramVec
	submitDuration   *prometheus.HistogramVec
	lastProbe        *prometheus.GaugeVec
	lastDelivered    *prometheus.GaugeVec
	late             *prometheus.CounterVec
	forged           *prometheus.CounterVec
	mailboxUp        *prometheus.GaugeVec
	reloadOK         prometheus.Gauge
	reloadTime       prometheus.Gauge
	noticeLimit      *prometheus.GaugeVec
	mailmanUp        *prometheus.GaugeVec
	mailmanHeld      *prometheus.GaugeVec
	memberAction     *prometheus.GaugeVec
	nonmemberAction  *prometheus.GaugeVec
	ownAction        *prometheus.GaugeVec
	emergency        *prometheus.GaugeVec
	hopSeconds       *prometheus.GaugeVec
	memberSubscribed *prometheus.GaugeVec
	memberDelivery   *prometheus.GaugeVec
	memberMode       *prometheus.GaugeVec
	copyAuthn        *prometheus.GaugeVec
	pipe             *pipelineMetrics // Mailman's queues, digests and bounce-disabled members

	mu            sync.Mutex
	reasons       map[string]prometheus.Labels // list -> labels of its listprobe_last_reason_info series
	hops          map[string][]string          // list -> the hop labels of its listprobe_last_hop_seconds series
	infos         map[infoKey]string           // the value of each info series
	authn         map[string]authLabels        // list -> its listprobe_copy_authentication_info labels
	lists         map[string]bool              // the configured lists
	knownAccounts []string                     // the configured accounts with a mailbox
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
		Registry:    prometheus.NewRegistry(),
		probes:      counterVec("listprobe_probes_total", "Probes finished, by list and outcome.", "list", "outcome"),
		success:     gaugeVec("listprobe_probe_success", "1 when the list's last probe outcome matched its expectation, 0 otherwise.", "list"),
		lastOutcome: gaugeVec("listprobe_last_outcome", "The outcome of the list's last probe: 1 for that outcome, 0 for the others.", "list", "outcome"),
		expected:    gaugeVec("listprobe_probe_expected", "The outcome the list is expected to have: 1 for it, 0 for the others.", "list", "outcome"),
		lastReason:  gaugeVec("listprobe_last_reason_info", "Always 1: the outcome and reason of the list's last probe, one series per list.", "list", "outcome", "reason"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "listprobe_delivery_latency_seconds", Help: "Time from the post's acceptance by SMTP to its copy seen in the reader mailbox.",
			Buckets: LatencyBuckets,
		}, []string{"list"}),
		submitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "listprobe_submit_duration_seconds", Help: "Duration of the SMTP conversation that posts a probe.",
			Buckets: SubmitBuckets,
		}, []string{"list"}),
		lastProbe:     gaugeVec("listprobe_last_probe_timestamp_seconds", "When the list's last probe finished, in seconds since the epoch.", "list"),
		lastDelivered: gaugeVec("listprobe_last_delivered_timestamp_seconds", "When a probe copy of the list was last delivered in time, in seconds since the epoch (0: never).", "list"),
		late:          counterVec("listprobe_late_deliveries_total", "Probe copies that arrived after their probe's timeout.", "list"),
		forged:        counterVec("listprobe_forged_messages_total", "Messages carrying a probe token whose signature does not verify, by mailbox account.", "mailbox"),
		mailboxUp:     gaugeVec("listprobe_mailbox_up", "1 while the account's IMAP session is logged in and watching.", "account"),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "listprobe_config_last_reload_successful", Help: "1 when the last configuration reload succeeded.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "listprobe_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last loaded successfully.",
		}),
		noticeLimit:      gaugeVec("listprobe_notice_limit_reached_timestamp_seconds", "When the list server last told the poster it sends no more notices today (0: never); holds after it are silent.", "list"),
		mailmanUp:        gaugeVec("listprobe_mailman_up", "1 when the last Mailman REST read of the list worked.", "list"),
		mailmanHeld:      gaugeVec("listprobe_mailman_held_messages", "Posts waiting in the list's moderation queue, probes or not.", "list"),
		memberAction:     gaugeVec("listprobe_mailman_default_member_action_info", "Always 1: the list's default_member_action (accept, hold, reject, discard, defer) as the action label.", "list", "action"),
		nonmemberAction:  gaugeVec("listprobe_mailman_default_nonmember_action_info", "Always 1: the list's default_nonmember_action (accept, hold, reject, discard, defer) as the action label.", "list", "action"),
		ownAction:        gaugeVec("listprobe_mailman_member_moderation_action_info", "Always 1: the probe poster's own moderation_action on the list as the action label (default: none, the list default applies).", "list", "action"),
		emergency:        gaugeVec("listprobe_mailman_emergency", "1 when the list's emergency moderation is on.", "list"),
		hopSeconds:       gaugeVec("listprobe_last_hop_seconds", "Seconds between one Received hop of the last delivered copy and the one before it (hop 1 is the first server; Received dates have one-second resolution).", "list", "hop"),
		memberSubscribed: gaugeVec("listprobe_mailman_member_subscribed", "1 when the probe's poster or reader (role) is a member of the list, as Mailman says.", "list", "role"),
		memberDelivery:   gaugeVec("listprobe_mailman_member_delivery_status_info", "Always 1: the delivery_status of the probe's poster's or reader's membership as the status label (by_bounces: Mailman stopped delivering to it); absent when Mailman reports none.", "list", "role", "status"),
		memberMode:       gaugeVec("listprobe_mailman_member_delivery_mode_info", "Always 1: the delivery_mode of the probe's poster's or reader's membership as the mode label (a reader on digests gets no copies); absent when Mailman reports none.", "list", "role", "mode"),
		copyAuthn:        gaugeVec("listprobe_copy_authentication_info", "Always 1: the authentication verdict of the list's last delivered copy, one label per check: pass, fail, none or unknown (a DNS failure or a cut message).", append([]string{"list"}, AuthChecks...)...),
		authn:            map[string]authLabels{},
		reasons:          map[string]prometheus.Labels{},
		hops:             map[string][]string{},
		infos:            map[infoKey]string{},
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
		m.probes, m.success, m.lastOutcome, m.expected, m.lastReason, m.latency, m.submitDuration,
		m.lastProbe, m.lastDelivered, m.late, m.forged, m.mailboxUp, m.reloadOK, m.reloadTime,
		m.noticeLimit, m.mailmanUp, m.mailmanHeld, m.memberAction, m.nonmemberAction, m.ownAction,
		m.emergency, m.hopSeconds, m.memberSubscribed, m.memberDelivery, m.memberMode, m.copyAuthn, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Configure creates every series of the lists and accounts of cfg at their
// zero values, and deletes the series of lists and accounts it no longer has.
func (m *Metrics) Configure(cfg *config.Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lists := map[string]bool{}
	for _, l := range cfg.Lists {
		lists[l.Address] = true
		for _, o := range Outcomes {
			m.probes.WithLabelValues(l.Address, string(o))
			m.lastOutcome.WithLabelValues(l.Address, string(o))
		}
		setStates(m.expected, []string{l.Address}, outcomeNames([]Outcome{Delivered, Held}), string(l.Expect))
		m.success.WithLabelValues(l.Address)
		m.noticeLimit.WithLabelValues(l.Address)
		m.latency.WithLabelValues(l.Address)
		m.submitDuration.WithLabelValues(l.Address)
		m.lastProbe.WithLabelValues(l.Address)
		m.lastDelivered.WithLabelValues(l.Address)
		m.late.WithLabelValues(l.Address)
		if l.Mailman != "" {
			m.mailmanUp.WithLabelValues(l.Address)
			m.mailmanHeld.WithLabelValues(l.Address)
			m.emergency.WithLabelValues(l.Address)
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
	// Forget the lists and accounts that are gone.
	for _, vec := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.probes, m.success, m.lastOutcome, m.expected, m.lastReason, m.latency, m.submitDuration, m.lastProbe,
		m.lastDelivered, m.late, m.noticeLimit, m.mailmanUp, m.mailmanHeld, m.emergency, m.memberAction,
		m.nonmemberAction, m.ownAction, m.hopSeconds, m.memberSubscribed, m.memberDelivery, m.memberMode, m.copyAuthn} {
		for _, l := range m.knownLists() {
			if !lists[l] {
				vec.DeletePartialMatch(prometheus.Labels{"list": l})
			}
		}
	}
	for _, a := range m.knownAccounts {
		if !accounts[a] {
			m.mailboxUp.DeletePartialMatch(prometheus.Labels{"account": a})
			m.forged.DeletePartialMatch(prometheus.Labels{"mailbox": a})
		}
	}
	for l := range m.reasons {
		if !lists[l] {
			delete(m.reasons, l)
		}
	}
	for l := range m.hops {
		if !lists[l] {
			delete(m.hops, l)
		}
	}
	for k := range m.infos {
		if !lists[k.list] {
			delete(m.infos, k)
		}
	}
	for l := range m.authn {
		if !lists[l] {
			delete(m.authn, l)
		}
	}
	m.pipe.configure(cfg, lists, m.knownLists())
	m.lists = lists
	m.configureReaders(cfg)
	m.knownAccounts = slices.Sorted(maps.Keys(accounts))
}

func (m *Metrics) knownLists() []string { return slices.Sorted(maps.Keys(m.lists)) }

// Record counts a finished probe.
func (m *Metrics) Record(r *Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := r.List
	if !m.lists[l] {
		// Removed by a reload while its probe was in flight: recording it
		// would bring back the series Configure deleted.
		return
	}
	m.probes.WithLabelValues(l, string(r.Outcome)).Inc()
	m.pipe.recordArchive(r)
	setStates(m.lastOutcome, []string{l}, outcomeNames(Outcomes), string(r.Outcome))
	if r.OK {
		m.success.WithLabelValues(l).Set(1)
	} else {
		m.success.WithLabelValues(l).Set(0)
	}
	if old, ok := m.reasons[l]; ok {
		m.lastReason.Delete(old)
	}
	labels := prometheus.Labels{"list": l, "outcome": string(r.Outcome), "reason": reasonLabel(r)}
	m.lastReason.With(labels).Set(1)
	m.reasons[l] = labels
	m.recordReaders(r)
	if r.SubmitDuration > 0 {
		m.submitDuration.WithLabelValues(l).Observe(r.SubmitDuration.Seconds())
	}
	if r.Outcome == Delivered && r.Latency != nil {
		// Deleting by exact labels: a partial match would look at every
		// list's series, on every probe.
		for _, hop := range m.hops[l] {
			m.hopSeconds.DeleteLabelValues(l, hop)
		}
		// The last hops are the ones that matter (the list server, the
		// reader's mailbox); a hop keeps its number in the chain.
		first := max(len(r.Hops)-maxHopSeries, 0)
		hops := make([]string, 0, len(r.Hops)-first)
		for i, h := range r.Hops[first:] {
			hop := strconv.Itoa(first + i + 1)
			m.hopSeconds.WithLabelValues(l, hop).Set(h.Seconds)
			hops = append(hops, hop)
		}
		m.hops[l] = hops
		m.latency.WithLabelValues(l).Observe(*r.Latency)
		m.setAuthentication(l, r.Authentication)
		m.lastDelivered.WithLabelValues(l).Set(float64(r.Finished.UnixNano()) / 1e9)
	}
	m.lastProbe.WithLabelValues(l).Set(float64(r.Finished.UnixNano()) / 1e9)
}

// LateDelivery counts a copy that arrived after its probe's timeout.
func (m *Metrics) LateDelivery(list string) {
	if m.configured(list) {
		m.late.WithLabelValues(list).Inc()
	}
}

// configured reports whether list is in the running configuration; series
// of other lists are never created.
func (m *Metrics) configured(list string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lists[list]
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
	if !m.configured(list) {
		return
	}
	m.noticeLimit.WithLabelValues(list).Set(float64(at.Unix()))
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
	if !m.configured(list) {
		return
	}
	if !s.Up {
		m.mailmanUp.WithLabelValues(list).Set(0)
		return
	}
	m.mailmanUp.WithLabelValues(list).Set(1)
	m.mailmanHeld.WithLabelValues(list).Set(float64(s.Held))
	e := 0.0
	if s.Emergency {
		e = 1
	}
	m.emergency.WithLabelValues(list).Set(e)
	own := s.MemberAction
	if own == "" {
		own = "default"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setInfo(m.memberAction, infoKey{list: list}, s.DefaultMemberAction)
	m.setInfo(m.nonmemberAction, infoKey{list: list}, s.DefaultNonmemberAction)
	m.setInfo(m.ownAction, infoKey{list: list}, own)
	for role, ms := range map[string]MemberState{"poster": s.Poster, "reader": s.Reader} {
		v := 0.0
		if ms.Subscribed {
			v = 1
		}
		m.memberSubscribed.WithLabelValues(list, role).Set(v)
		m.setInfo(m.memberDelivery, infoKey{list: list, role: role}, ms.DeliveryStatus)
		m.setInfo(m.memberMode, infoKey{list: list, role: role}, ms.DeliveryMode)
	}
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

// infoKey names one info series of a list (and a role, for memberships).
type infoKey struct {
	vec        *prometheus.GaugeVec
	list, role string
}

// setInfo sets an info series: one series, always 1, whose last label
// carries the current value, in place of a state set's one series
// per possible value (as kube-state-metrics and node_exporter do for sets
// of more than two or three values). The series of an earlier value is
// deleted, by its exact labels (a partial match would look at every
// list's series); an empty value leaves no series. m.mu must be held.
func (m *Metrics) setInfo(vec *prometheus.GaugeVec, k infoKey, value string) {
	k.vec = vec
	// The label values in the vector's order: list, [role,] the value. Kept
	// as the value alone: a map of labels per series would cost 10,000
	// lists 30 MB.
	values := func(v string) []string {
		if k.role != "" {
			return []string{k.list, k.role, v}
		}
		return []string{k.list, v}
	}
	if old, ok := m.infos[k]; ok {
		if old == value {
			return
		}
		vec.DeleteLabelValues(values(old)...)
		delete(m.infos, k)
	}
	if value == "" {
		return
	}
	vec.WithLabelValues(values(value)...).Set(1)
	m.infos[k] = value
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
