package probe

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/probe/config"
)

// ArchiveBuckets are the buckets of listprobe_archive_latency_seconds.
var ArchiveBuckets = []float64{0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600}

// pipelineMetrics are the metrics of Mailman's queues, per server. The
// per-list ones (members disabled by bounces, digests, the archive) are
// listSeries'.
type pipelineMetrics struct {
	queueUp       *prometheus.GaugeVec
	queueMessages *prometheus.GaugeVec
	queueOldest   *prometheus.GaugeVec
	sliceOldest   *prometheus.GaugeVec
	servers       map[string]bool
	queues        map[string]map[string]bool // server -> the queues it has series for
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
		servers: map[string]bool{},
		queues:  map[string]map[string]bool{},
	}
	reg.MustRegister(p.queueUp, p.queueMessages, p.queueOldest, p.sliceOldest)
	return p
}

// configure forgets the series of servers that are gone. Called with
// Metrics.mu held.
func (p *pipelineMetrics) configure(cfg *config.Config) {
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
	l := m.list(list)
	if l == nil {
		return
	}
	defer m.mu.Unlock()
	ratio := 0.0
	if members > 0 {
		ratio = min(float64(disabled)/float64(members), 1)
	}
	l.roster = &rosterSeries{members: float64(members), disabled: float64(disabled), ratio: ratio}
}

// MailmanDigest records a list's digest settings; interval is how often
// the server sends periodic digests.
func (m *Metrics) MailmanDigest(list string, d mailmanrest.Digest, interval time.Duration) {
	l := m.list(list)
	if l == nil {
		return
	}
	defer m.mu.Unlock()
	on, period := 0.0, 0.0
	if d.Enabled {
		on = 1
		if d.SendPeriodic {
			period = interval.Seconds()
		}
	}
	last := 0.0
	if !d.LastSentAt.IsZero() {
		last = float64(d.LastSentAt.UnixNano()) / 1e9
	}
	l.digest = &digestSeries{enabled: on, interval: period, threshold: d.SizeThresholdKB * 1024, lastSent: last}
}

// recordArchive records a delivered probe's archive check, for a list
// with archive:. Metrics.mu must be held.
func (l *listSeries) recordArchive(r *Result) {
	if r.Archive == nil || l.archive == nil {
		return
	}
	l.archive.result = r.Archive.Result
	if r.Archive.Latency != nil {
		l.archive.latency.observe(archiveBuckets, *r.Archive.Latency)
	}
}
