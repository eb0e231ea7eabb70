package probe

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/probe/config"
)

// pipelineMetrics are the metrics of Mailman's pipeline: its queues (per
// server), and per list the members Mailman disabled by bounces and the
// digest.
type pipelineMetrics struct {
	queueUp         *prometheus.GaugeVec
	queueMessages   *prometheus.GaugeVec
	queueOldest     *prometheus.GaugeVec
	sliceOldest     *prometheus.GaugeVec
	members         *prometheus.GaugeVec
	bounceDisabled  *prometheus.GaugeVec
	digestEnabled   *prometheus.GaugeVec
	digestPeriod    *prometheus.GaugeVec
	digestThreshold *prometheus.GaugeVec
	disabledRatio   *prometheus.GaugeVec
	digestLastSent  *prometheus.GaugeVec
	archiveResult   *prometheus.GaugeVec
	archiveLatency  *prometheus.HistogramVec
	servers         map[string]bool
	queues          map[string]map[string]bool // server -> the queues it has series for
}

func newPipelineMetrics(reg *prometheus.Registry) *pipelineMetrics {
	p := &pipelineMetrics{
		queueUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_queue_up", Help: "1 when the last read of the Mailman server's queues (REST /queues) worked.",
		}, []string{"mailman"}),
		queueMessages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_queue_messages", Help: "Entries waiting in one of the Mailman server's queues (in, pipeline, out, virgin, archive, shunt, bad, retry...).",
		}, []string{"mailman", "queue"}),
		queueOldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_queue_oldest_age_seconds", Help: "Age of the oldest entry of the queue, from the time Mailman wrote into its file name (0 when empty).",
		}, []string{"mailman", "queue"}),
		sliceOldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_queue_slice_oldest_age_seconds", Help: "Age of the oldest entry of one runner slice of the queue (slices as configured under slices:), 0 when the slice is empty.",
		}, []string{"mailman", "queue", "slice"}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_members", Help: "Members of the list, as Mailman counts them.",
		}, []string{"list"}),
		bounceDisabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_members_disabled_by_bounces", Help: "Members of the list whose delivery Mailman disabled because of bounces (delivery_status by_bounces).",
		}, []string{"list"}),
		disabledRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_members_disabled_by_bounces_ratio", Help: "The share of the list's members whose delivery Mailman disabled because of bounces (0 to 1).",
		}, []string{"list"}),
		digestEnabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_digest_enabled", Help: "1 when the list offers digests (digests_enabled).",
		}, []string{"list"}),
		digestPeriod: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_digest_interval_seconds", Help: "How often the list's digest is expected (the server's digest_interval), 0 when its digests are off or not sent periodically (digest_send_periodic).",
		}, []string{"list"}),
		digestThreshold: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_digest_size_threshold_bytes", Help: "The size at which the list's digest goes out early (digest_size_threshold).",
		}, []string{"list"}),
		digestLastSent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_mailman_digest_last_sent_timestamp_seconds", Help: "When Mailman last sent the list's digest (digest_last_sent_at), in seconds since the epoch; 0: never.",
		}, []string{"list"}),
		archiveResult: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listprobe_archive_result", Help: "Whether the list's last delivered probe reached its archive: 1 for archived or archive_lost, 0 for the other (lists with archive:).",
		}, []string{"list", "result"}),
		archiveLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "listprobe_archive_latency_seconds", Help: "Time from the post's acceptance by SMTP to the post seen in the list's archive.",
			Buckets: []float64{0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600},
		}, []string{"list"}),
		servers: map[string]bool{},
		queues:  map[string]map[string]bool{},
	}
	reg.MustRegister(p.queueUp, p.queueMessages, p.queueOldest, p.sliceOldest, p.members, p.bounceDisabled,
		p.digestEnabled, p.digestPeriod, p.digestThreshold, p.digestLastSent, p.disabledRatio, p.archiveResult, p.archiveLatency)
	return p
}

func (p *pipelineMetrics) listVecs() []*prometheus.GaugeVec {
	return []*prometheus.GaugeVec{p.members, p.bounceDisabled, p.disabledRatio, p.digestEnabled, p.digestPeriod, p.digestThreshold, p.digestLastSent}
}

// configure forgets the series of servers and lists that are gone. Called
// with Metrics.mu held.
func (p *pipelineMetrics) configure(cfg *config.Config, lists map[string]bool, known []string) {
	archived := map[string]bool{}
	for _, l := range cfg.Lists {
		if l.Archive != nil {
			archived[l.Address] = true
			p.archiveResult.WithLabelValues(l.Address, Archived)
			p.archiveResult.WithLabelValues(l.Address, ArchiveLost)
			p.archiveLatency.WithLabelValues(l.Address)
		}
	}
	for _, l := range known {
		if !lists[l] {
			for _, v := range p.listVecs() {
				v.DeletePartialMatch(prometheus.Labels{"list": l})
			}
		}
		if !archived[l] {
			p.archiveResult.DeletePartialMatch(prometheus.Labels{"list": l})
			p.archiveLatency.DeletePartialMatch(prometheus.Labels{"list": l})
		}
	}
	for s := range p.servers {
		if _, ok := cfg.Mailman[s]; !ok {
			for _, v := range []*prometheus.GaugeVec{p.queueUp, p.queueMessages, p.queueOldest, p.sliceOldest} {
				v.DeletePartialMatch(prometheus.Labels{"mailman": s})
			}
			delete(p.servers, s)
			delete(p.queues, s)
		}
	}
	for s := range cfg.Mailman {
		p.servers[s] = true
		p.queueUp.WithLabelValues(s)
	}
}

// MailmanQueues records a read of a server's queues at now; queues nil
// with ok false: the read failed.
func (m *Metrics) MailmanQueues(server string, queues []mailmanrest.Queue, ok bool, slices func(string) int, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pipe
	if !p.servers[server] {
		return
	}
	if !ok {
		p.queueUp.WithLabelValues(server).Set(0)
		return
	}
	p.queueUp.WithLabelValues(server).Set(1)
	seen := map[string]bool{}
	for _, q := range queues {
		seen[q.Name] = true
		p.queueMessages.WithLabelValues(server, q.Name).Set(float64(q.Count))
		age := 0.0
		if f, ok := q.Oldest(); ok {
			age = ageSeconds(now, f.Received)
		}
		p.queueOldest.WithLabelValues(server, q.Name).Set(age)
		n := slices(q.Name)
		if n <= 1 {
			p.sliceOldest.DeletePartialMatch(prometheus.Labels{"mailman": server, "queue": q.Name})
			continue
		}
		oldest := make([]float64, n)
		for _, f := range q.Files {
			if i := f.Slice(n); oldest[i] == 0 {
				oldest[i] = ageSeconds(now, f.Received)
			}
		}
		p.sliceOldest.DeletePartialMatch(prometheus.Labels{"mailman": server, "queue": q.Name})
		for i, a := range oldest {
			p.sliceOldest.WithLabelValues(server, q.Name, strconv.Itoa(i)).Set(a)
		}
	}
	// A queue the server no longer lists has no entries to age.
	for q := range p.queues[server] {
		if !seen[q] {
			for _, v := range []*prometheus.GaugeVec{p.queueMessages, p.queueOldest, p.sliceOldest} {
				v.DeletePartialMatch(prometheus.Labels{"mailman": server, "queue": q})
			}
		}
	}
	p.queues[server] = seen
}

// ageSeconds is now - t in seconds, never negative (the Mailman host's
// clock may be a little ahead).
func ageSeconds(now, t time.Time) float64 {
	return max(now.Sub(t).Seconds(), 0)
}

// MailmanRoster records a list's members and those disabled by bounces.
func (m *Metrics) MailmanRoster(list string, disabled, members int) {
	if !m.configured(list) {
		return
	}
	m.pipe.members.WithLabelValues(list).Set(float64(members))
	m.pipe.bounceDisabled.WithLabelValues(list).Set(float64(disabled))
	ratio := 0.0
	if members > 0 {
		ratio = min(float64(disabled)/float64(members), 1)
	}
	m.pipe.disabledRatio.WithLabelValues(list).Set(ratio)
}

// MailmanDigest records a list's digest settings; interval is how often
// the server sends periodic digests.
func (m *Metrics) MailmanDigest(list string, d mailmanrest.Digest, interval time.Duration) {
	if !m.configured(list) {
		return
	}
	on, period := 0.0, 0.0
	if d.Enabled {
		on = 1
		if d.SendPeriodic {
			period = interval.Seconds()
		}
	}
	m.pipe.digestEnabled.WithLabelValues(list).Set(on)
	m.pipe.digestPeriod.WithLabelValues(list).Set(period)
	m.pipe.digestThreshold.WithLabelValues(list).Set(d.SizeThresholdKB * 1024)
	last := 0.0
	if !d.LastSentAt.IsZero() {
		last = float64(d.LastSentAt.UnixNano()) / 1e9
	}
	m.pipe.digestLastSent.WithLabelValues(list).Set(last)
}

// recordArchive records a delivered probe's archive check. Called with
// Metrics.mu held, for a configured list.
func (p *pipelineMetrics) recordArchive(r *Result) {
	if r.Archive == nil {
		return
	}
	setStates(p.archiveResult, []string{r.List}, []string{Archived, ArchiveLost}, r.Archive.Result)
	if r.Archive.Latency != nil {
		p.archiveLatency.WithLabelValues(r.List).Observe(*r.Archive.Latency)
	}
}
