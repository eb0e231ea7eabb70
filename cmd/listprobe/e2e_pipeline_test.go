package main

// End-to-end tests of what listprobe reads of Mailman's pipeline, on the
// real testbed: a shunted post, members disabled by real bounces, and the
// digest. The stuck out runner is in faults_pipeline_test.go: stopping it
// holds back every list's mail, so it runs in the fault suite.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/internal/testbed"
	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// mailmanQueueDir is where Debian's Mailman keeps its queues (the testbed's
// mailman.cfg: queue_dir).
const mailmanQueueDir = "/var/lib/mailman3/queue"

// pipelineService starts listprobe's service on the list, with the
// pipeline keys added to the testbed's Mailman server.
func pipelineService(t *testing.T, l *e2eList, timeout time.Duration, keys string) *probe.Service {
	t.Helper()
	file := l.config(t, timeout, true, "")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "refresh: 1s }", "refresh: 1s, "+keys+" }", 1)
	if text == string(data) {
		t.Fatal("the e2e config has no Mailman server line to extend")
	}
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every ProbeNow posts a new probe (none shares an earlier result).
	svc := probe.NewService("", slog.New(slog.NewTextHandler(io.Discard, nil)), &probe.Options{OnDemandMinInterval: time.Nanosecond})
	svc.Start(context.Background(), cfg)
	t.Cleanup(svc.Stop)
	return svc
}

// labelGauge is the value of the series of name whose labels include
// labels, or -1 when there is none.
func labelGauge(t *testing.T, svc *probe.Service, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := svc.Metrics().Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == k && lp.GetValue() == v)
				}
				if !found {
					continue series
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// removeQueuedProbe deletes, through REST, the entries of queue that hold
// messageID: what the test made Mailman keep.
func removeQueuedProbe(t *testing.T, l *e2eList, queue, messageID string) int {
	t.Helper()
	ctx := context.Background()
	files, err := l.admin.QueueFiles(ctx, queue)
	if err != nil {
		t.Error(err)
		return 0
	}
	n := 0
	for _, name := range files {
		f, ok := mailmanrest.ParseQueueFile(name)
		if !ok {
			continue
		}
		if has, _ := mailmanrest.QueueFileHas(mailmanQueueDir, queue, f, messageID); has {
			if err := l.admin.DeleteQueueFile(ctx, queue, name); err != nil {
				t.Error(err)
			}
			n++
		}
	}
	return n
}

// A list whose subject_prefix makes Mailman's pipeline runner raise
// ("unsupported format character") shunts every post: the probe is lost,
// and its reason names the shunt queue entry that holds it.
func TestE2ELostProbeNamesTheShunt(t *testing.T) {
	tb := testbed.Load(t)
	testbed.NeedRoot(t) // the queue files are Mailman's
	l := newE2EList(t, tb, map[string]any{"subject_prefix": "[shunt %y] "})
	svc := pipelineService(t, l, 15*time.Second, "queue_dir: "+mailmanQueueDir)
	r, _, err := svc.ProbeNow(context.Background(), l.address)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", r.Outcome, r.Reason)
	if r.MessageID != "" {
		t.Cleanup(func() { removeQueuedProbe(t, l, "shunt", r.MessageID) })
	}
	if r.Outcome != probe.Lost || !strings.HasPrefix(r.Reason, "Mailman shunted the post (see shunt queue entry ") {
		t.Fatalf("outcome %s (%q), want lost naming the shunt", r.Outcome, r.Reason)
	}
	if n := removeQueuedProbe(t, l, "shunt", r.MessageID); n != 1 {
		t.Errorf("%d shunt entries hold the probe, want 1", n)
	}
	if v := labelGauge(t, svc, "listprobe_mailman_queue_up", map[string]string{"mailman": "testbed"}); v != 1 {
		t.Errorf("listprobe_mailman_queue_up = %v", v)
	}
}

// Twenty members whose addresses fail for good (a domain Postfix bounces),
// with a bounce score threshold of 1: one post makes Postfix refuse or
// bounce it for them, Mailman disables the twenty, and the share of bounce-disabled
// members goes from 0 to 20 of 22.
func TestE2EMembersDisabledByRealBounces(t *testing.T) {
	tb := testbed.Load(t)
	l := newE2EList(t, tb, map[string]any{"bounce_score_threshold": 1, "bounce_notify_owner_on_disable": false})
	ctx := context.Background()
	for i := range 20 {
		if err := l.admin.Subscribe(ctx, l.address, fmt.Sprintf("gone%02d@nowhere.example.test", i), "member"); err != nil {
			t.Fatal(err)
		}
	}
	svc := pipelineService(t, l, 30*time.Second, "roster_refresh: 1s")
	ratio := func() float64 {
		return labelGauge(t, svc, "listprobe_mailman_members_disabled_by_bounces_ratio", map[string]string{"list": l.address})
	}
	waitUntil(t, 20*time.Second, "the share read at 0", func() bool { return ratio() == 0 })
	// The post's outcome depends on how the testbed's MTA refuses the
	// twenty (a DSN later, or 550 at RCPT time, where Postfix may drop
	// the connection after so many errors and Mailman retries the rest);
	// either way Mailman scores a bounce for each of the twenty. A post
	// Mailman shunts (the testbed's SQLite reuses list ids, see its
	// README) reaches nobody: then another one is sent.
	for attempt := 1; ratio() < 20.0/22; attempt++ {
		if attempt > 3 {
			t.Fatalf("after 3 posts: %v of %v members disabled by bounces", labelGauge(t, svc, "listprobe_mailman_members_disabled_by_bounces", nil), labelGauge(t, svc, "listprobe_mailman_members", nil))
		}
		r, _, err := svc.ProbeNow(ctx, l.address)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("post %d, which makes the bounces: %s (%q)", attempt, r.Outcome, r.Reason)
		deadline := time.Now().Add(60 * time.Second)
		for ratio() < 20.0/22 && time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
		}
	}
	want := fmt.Sprintf(`
# HELP listprobe_mailman_members Members of the list, as Mailman counts them.
# TYPE listprobe_mailman_members gauge
listprobe_mailman_members{list=%[1]q} 22
# HELP listprobe_mailman_members_disabled_by_bounces Members of the list whose delivery Mailman disabled because of bounces (delivery_status by_bounces).
# TYPE listprobe_mailman_members_disabled_by_bounces gauge
listprobe_mailman_members_disabled_by_bounces{list=%[1]q} 20
`, l.address)
	if err := testutil.GatherAndCompare(svc.Metrics().Gatherer(), strings.NewReader(want), "listprobe_mailman_members", "listprobe_mailman_members_disabled_by_bounces"); err != nil {
		t.Error(err)
	}
}

// The digest: a new list never sent one; once a probe is in its digest
// mailbox, `mailman digests --send` sends it, and digest_last_sent_at (what
// MailmanDigestOverdue reads) moves to now.
func TestE2EDigestSentMovesLastSent(t *testing.T) {
	tb := testbed.Load(t)
	testbed.NeedRoot(t) // mailman digests runs as the list user
	l := newE2EList(t, tb, nil)
	svc := pipelineService(t, l, 30*time.Second, "roster_refresh: 1s, digest_interval: 1h")
	last := func() float64 {
		return labelGauge(t, svc, "listprobe_mailman_digest_last_sent_timestamp_seconds", map[string]string{"list": l.address})
	}
	interval := func() float64 {
		return labelGauge(t, svc, "listprobe_mailman_digest_interval_seconds", map[string]string{"list": l.address})
	}
	waitUntil(t, 20*time.Second, "the digest settings read", func() bool { return interval() == 3600 && last() == 0 })
	r, _, err := svc.ProbeNow(context.Background(), l.address)
	if err != nil || r.Outcome != probe.Delivered {
		t.Fatalf("probe: %v %v", r, err)
	}
	before := time.Now()
	id, _ := mailmanrest.ListID(l.address)
	cfg := filepath.Join(tb.Get(t, "STATE"), "mailman", "mailman.cfg")
	out, err := exec.Command("runuser", "-u", "list", "--", "mailman", "-C", cfg, "digests", "--send", "-l", id).CombinedOutput()
	if err != nil {
		t.Fatalf("mailman digests --send: %v\n%s", err, out)
	}
	waitUntil(t, 30*time.Second, "digest_last_sent_at moving", func() bool { return last() >= float64(before.Add(-2*time.Second).Unix()) })
}

// The archive: a list whose archive is a mailbox that gets its posts (the
// reader's, here) is archived; one whose archive mailbox never gets them
// (the outsider's, not subscribed: as a stopped archiver) is archive_lost;
// the delivery stays delivered either way, in the JSON of once.
func TestE2EArchiveFoundOrLostWhileDelivered(t *testing.T) {
	tb := testbed.Load(t)
	for _, c := range []struct {
		archive, want string
	}{
		{"reader", "archived"},
		{"outsider", "archive_lost"},
	} {
		t.Run(c.want, func(t *testing.T) {
			l := newE2EList(t, tb, nil)
			file := l.config(t, 30*time.Second, true, fmt.Sprintf("    archive: { kind: imap, account: %s, timeout: 5s }\n", c.archive))
			if c.archive == "outsider" {
				data, _ := os.ReadFile(file)
				tls := "tls: starttls, ca_file: " + tb.Get(t, "CA_FILE")
				text := strings.Replace(string(data), "mailman:\n", fmt.Sprintf("  outsider:\n    address: %s\n    imap: { address: %q, %s, username: %s, password_file: %s }\nmailman:\n",
					tb.Get(t, "OUTSIDER"), tb.Get(t, "IMAP"), tls, tb.Get(t, "OUTSIDER"), tb.Get(t, "OUTSIDER_PASSWORD_FILE")), 1)
				os.WriteFile(file, []byte(text), 0o600)
			}
			code, out, errOut := runCmd(t, "once", "--config.file="+file, "--output=json", "--log.level=warn")
			var doc struct {
				Results []struct {
					Outcome string `json:"outcome"`
					Reason  string `json:"reason"`
					Archive *struct {
						Result  string   `json:"result"`
						Latency *float64 `json:"latency_seconds"`
						Reason  string   `json:"reason"`
					} `json:"archive"`
				} `json:"results"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
				t.Fatalf("once: exit %d, %v\n%s\n%s", code, err, out, errOut)
			}
			r := doc.Results[0]
			t.Logf("exit %d: %s (%s), archive %+v", code, r.Outcome, r.Reason, r.Archive)
			if code != 0 || r.Outcome != "delivered" {
				t.Errorf("exit %d, outcome %s: the archive must not change the delivery", code, r.Outcome)
			}
			if r.Archive == nil || r.Archive.Result != c.want || (c.want == "archived") != (r.Archive.Latency != nil) {
				t.Fatalf("archive %+v, want %s", r.Archive, c.want)
			}
		})
	}
}
