package probe

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe/config"
)

// queueFile makes a queue entry stamped at, with a hash in slice s of 2.
func queueFile(at time.Time, s int) mailmanrest.QueueFile {
	hash := strings.Repeat("0", 40)
	if s == 1 {
		hash = "8" + strings.Repeat("1", 39)
	}
	name := fmt.Sprintf("%d.%06d+%s", at.Unix(), at.Nanosecond()/1000, hash)
	f, ok := mailmanrest.ParseQueueFile(name)
	if !ok {
		panic(name)
	}
	return f
}

func oneSlice(string) int { return 1 }

func TestLostProbeReasonNamesTheQueueItsPostIsIn(t *testing.T) {
	sent := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	now := sent.Add(4 * time.Minute)
	old := queueFile(sent.Add(-time.Hour), 0) // long before the probe: never looked at
	mine := func(q string, s int) (queueSnapshot, mailmanrest.QueueFile) {
		f := queueFile(sent.Add(1200*time.Millisecond), s)
		return queueSnapshot{at: now, queues: []mailmanrest.Queue{
			{Name: "shunt", Count: 1, Files: []mailmanrest.QueueFile{old}},
			{Name: q, Count: 2, Files: []mailmanrest.QueueFile{old, f}},
		}}, f
	}
	for _, c := range []struct {
		queue  string
		slices int
		want   string
	}{
		{"shunt", 1, "Mailman shunted the post (see shunt queue entry "},
		{"bad", 1, "Mailman gave up on the post as bad (see bad queue entry "},
		{"retry", 1, "Mailman could not hand the post to the MTA and is retrying it, for 3m59s now (see retry queue entry "},
		{"out", 1, "stuck in the out queue for 3m59s (see out queue entry "},
		{"out", 2, ", runner slice 1 of 2)"},
		{"pipeline", 1, "not yet out of the pipeline: waiting in the pipeline queue for 3m59s (see pipeline queue entry "},
		{"in", 1, "not yet out of the pipeline: waiting in the in queue for 3m59s"},
	} {
		s, f := mine(c.queue, 1)
		reads := 0
		has := func(q string, g mailmanrest.QueueFile) (bool, error) {
			reads++
			if g == old {
				t.Errorf("%s: read an entry older than the probe", c.queue)
			}
			return q == c.queue && g == f, nil
		}
		slices := func(q string) int {
			if q == c.queue {
				return c.slices
			}
			return 1
		}
		d := diagnoseQueues(s, sent, has, slices)
		if !strings.Contains(d.reason, c.want) || !strings.Contains(d.reason, f.Name) || strings.Contains(d.reason, "probably") {
			t.Errorf("post in %s: reason %q, want it to contain %q and the entry", c.queue, d.reason, c.want)
		}
		if reads != 1 {
			t.Errorf("post in %s: %d entries read, want 1", c.queue, reads)
		}
		// Without queue_dir, the entry that came after the probe is named
		// as probably the probe's.
		d = diagnoseQueues(s, sent, nil, slices)
		if !strings.HasPrefix(d.reason, "probably: ") || !strings.Contains(d.reason, c.want) || !strings.Contains(d.reason, "1.2s after the probe was sent") {
			t.Errorf("post in %s, no queue_dir: reason %q", c.queue, d.reason)
		}
	}
}

func TestLostProbeReasonWhenNoQueueHoldsThePost(t *testing.T) {
	sent := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var files []mailmanrest.QueueFile
	for i := range 50 {
		files = append(files, queueFile(sent.Add(time.Duration(i)*time.Second), 0))
	}
	s := queueSnapshot{at: sent.Add(time.Minute), queues: []mailmanrest.Queue{{Name: "out", Count: 50, Files: files}, {Name: "archive", Count: 1, Files: files[:1]}}}
	reads := 0
	d := diagnoseQueues(s, sent, func(string, mailmanrest.QueueFile) (bool, error) { reads++; return false, nil }, oneSlice)
	if reads != queueFileReads {
		t.Errorf("read %d entries, want the bound %d", reads, queueFileReads)
	}
	if !strings.Contains(d.reason, "the post is in none of Mailman's shunt, bad, retry, out, pipeline and in queues (20 entries read)") {
		t.Errorf("reason %q", d.reason)
	}
	d = diagnoseQueues(queueSnapshot{at: sent}, sent, nil, oneSlice)
	if !strings.HasPrefix(d.reason, "no post that arrived after the probe was sent waits in Mailman's") {
		t.Errorf("empty queues: %q", d.reason)
	}
}

func TestQueueMetricsExportDepthOldestAgeAndSlices(t *testing.T) {
	m := NewMetrics()
	cfg := &config.Config{Mailman: map[string]*config.MailmanConfig{"main": {}}}
	m.Configure(cfg)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	qs := []mailmanrest.Queue{
		{Name: "out", Count: 3, Files: []mailmanrest.QueueFile{queueFile(now.Add(-4*time.Minute), 1), queueFile(now.Add(-2*time.Second), 0), queueFile(now.Add(-time.Second), 1)}},
		{Name: "in", Count: 0},
	}
	slices := func(q string) int {
		if q == "out" {
			return 2
		}
		return 1
	}
	m.MailmanQueues("main", qs, true, slices, now)
	m.MailmanQueues("gone", qs, true, slices, now) // not configured: no series
	want := `
# HELP listprobe_mailman_queue_oldest_age_seconds Age of the oldest entry of the queue, from the time Mailman wrote into its file name (0 when empty).
# TYPE listprobe_mailman_queue_oldest_age_seconds gauge
listprobe_mailman_queue_oldest_age_seconds{mailman="main",queue="in"} 0
listprobe_mailman_queue_oldest_age_seconds{mailman="main",queue="out"} 240
# HELP listprobe_mailman_queue_slice_oldest_age_seconds Age of the oldest entry of one runner slice of the queue (slices as configured under slices:), 0 when the slice is empty.
# TYPE listprobe_mailman_queue_slice_oldest_age_seconds gauge
listprobe_mailman_queue_slice_oldest_age_seconds{mailman="main",queue="out",slice="0"} 2
listprobe_mailman_queue_slice_oldest_age_seconds{mailman="main",queue="out",slice="1"} 240
# HELP listprobe_mailman_queue_messages Entries waiting in one of the Mailman server's queues (in, pipeline, out, virgin, archive, shunt, bad, retry...).
# TYPE listprobe_mailman_queue_messages gauge
listprobe_mailman_queue_messages{mailman="main",queue="in"} 0
listprobe_mailman_queue_messages{mailman="main",queue="out"} 3
# HELP listprobe_mailman_queue_up 1 when the last read of the Mailman server's queues (REST /queues) worked.
# TYPE listprobe_mailman_queue_up gauge
listprobe_mailman_queue_up{mailman="main"} 1
`
	names := []string{"listprobe_mailman_queue_oldest_age_seconds", "listprobe_mailman_queue_slice_oldest_age_seconds", "listprobe_mailman_queue_messages", "listprobe_mailman_queue_up"}
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// The queue empties, a read fails, the server leaves the config.
	m.MailmanQueues("main", []mailmanrest.Queue{{Name: "in"}}, true, slices, now)
	if n := seriesCount(t, m, "listprobe_mailman_queue_slice_oldest_age_seconds"); n != 0 {
		t.Errorf("a queue gone from the listing keeps %d slice series", n)
	}
	m.MailmanQueues("main", nil, false, slices, now)
	if v := testutil.ToFloat64(m.pipe.queueUp.WithLabelValues("main")); v != 0 {
		t.Errorf("queue_up after a failed read = %v", v)
	}
	m.Configure(&config.Config{})
	if n := seriesCount(t, m, names...); n != 0 {
		t.Errorf("%d series left of a server no longer configured", n)
	}
	if problems, err := testutil.GatherAndLint(m.Gatherer()); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestDigestAndRosterMetrics(t *testing.T) {
	m := NewMetrics()
	m.Configure(&config.Config{Lists: []*config.ListConfig{{Address: "l@example.org", Mailman: "main", Expect: config.ExpectDelivered}}, Mailman: map[string]*config.MailmanConfig{"main": {}}})
	last := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	m.MailmanDigest("l@example.org", mailmanrest.Digest{Enabled: true, SendPeriodic: true, Frequency: "monthly", SizeThresholdKB: 30, LastSentAt: last}, 24*time.Hour)
	m.MailmanRoster("l@example.org", 20, 22)
	for name, want := range map[string]float64{
		"listprobe_mailman_digest_enabled":                     1,
		"listprobe_mailman_digest_interval_seconds":            86400,
		"listprobe_mailman_members_disabled_by_bounces_ratio":  20.0 / 22,
		"listprobe_mailman_digest_size_threshold_bytes":        30 * 1024,
		"listprobe_mailman_digest_last_sent_timestamp_seconds": float64(last.Unix()),
		"listprobe_mailman_members":                            22,
		"listprobe_mailman_members_disabled_by_bounces":        20,
	} {
		if n := seriesCount(t, m, name); n != 1 {
			t.Errorf("%s has %d series, want 1", name, n)
		}
		if got := seriesValue(t, m, name, "list", "l@example.org"); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	m.MailmanDigest("l@example.org", mailmanrest.Digest{Enabled: true, SendPeriodic: false, Frequency: "daily"}, 24*time.Hour)
	if v := seriesValue(t, m, "listprobe_mailman_digest_interval_seconds", "list", "l@example.org"); v != 0 {
		t.Errorf("a digest not sent periodically has period %v, want 0 (never overdue)", v)
	}
	m.Configure(&config.Config{})
	if n := seriesCount(t, m, "listprobe_mailman_members", "listprobe_mailman_digest_enabled"); n != 0 {
		t.Errorf("%d series of a removed list", n)
	}
}

// In the sandbox (Mailman's REST API with empty queues), a dropped post is
// lost, and its reason says that no queue holds anything that arrived after
// it; the queue metrics say the read worked.
func TestDroppedPostIsInNoMailmanQueue(t *testing.T) {
	lists := []sandbox.List{{Address: "blackhole@lists.example.org", Policy: sandbox.Drop}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 2*time.Second, lists, w.MailmanConfig(t)))
	r := probeList(t, rt, "blackhole@lists.example.org")
	wantOutcome(t, r, Lost, "no copy and no evidence within 2s; no post that arrived after the probe was sent waits in Mailman's shunt, bad, retry, out, pipeline and in queues")
	m := rt.Metrics()
	if v := testutil.ToFloat64(m.pipe.queueUp.WithLabelValues("main")); v != 1 {
		t.Errorf("listprobe_mailman_queue_up = %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.pipe.queueOldest.WithLabelValues("main", "out")); v != 0 {
		t.Errorf("out queue oldest age = %v, want 0", v)
	}
	if v := seriesValue(t, m, "listprobe_mailman_members", "list", "blackhole@lists.example.org"); v != 3 {
		t.Errorf("listprobe_mailman_members = %v, want 3 (member, reader, moderator)", v)
	}
}

// The reasons that name a queue entry keep listprobe_last_reason_info's
// reason label to one value per cause: entry names, ages and times drop out.
func TestQueueReasonsMakeBoundedLabels(t *testing.T) {
	sent := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	label := func(q string, after, age time.Duration) string {
		f := queueFile(sent.Add(after), 1)
		h := queueHit{queue: q, file: f, proven: true, slice: 1, slices: 2, age: age, after: after}
		return reasonLabel(&Result{Outcome: Lost, Reason: h.reason() + "; no copy and no evidence within 4m0s"})
	}
	for _, q := range []string{"shunt", "out", "retry", "pipeline"} {
		a, b := label(q, 1200*time.Millisecond, 3*time.Minute+59*time.Second), label(q, 2*time.Second, 4*time.Minute+12*time.Second)
		if a != b {
			t.Errorf("%s: two probes give two labels:\n%s\n%s", q, a, b)
		}
		if !strings.Contains(a, q+" queue") {
			t.Errorf("%s: the label lost the queue: %s", q, a)
		}
	}
}
