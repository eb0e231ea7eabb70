package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/internal/testbed"
	"github.com/listprobe/listprobe/probe/config"
)

// auditTestbedLists is how many lists the testbed audit test creates.
const auditTestbedLists = 200

// TestAuditTestbed200Lists audits 200 lists of the real Mailman 3, flips one
// list's default_member_action to hold, and checks that its drift series
// names it within one audit interval, while an excepted announcement list
// on hold is no drift.
func TestAuditTestbed200Lists(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 200 Mailman lists (minutes)")
	}
	env := testbed.Load(t)
	t.Parallel() // minutes of Mailman work: the package's other tests run meanwhile
	admin := env.MailmanAdmin(t)
	var rnd [3]byte
	rand.Read(rnd[:])
	prefix := "audit-" + hex.EncodeToString(rnd[:]) + "-"
	domain := env.Get(t, "LIST_DOMAIN")
	lists := make([]string, auditTestbedLists)
	for i := range lists {
		lists[i] = fmt.Sprintf("%s%03d@%s", prefix, i, domain)
	}
	lists[0] = prefix + "announce@" + domain
	createTestbedLists(t, admin, lists)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := admin.SetListConfig(ctx, lists[0], map[string]any{"default_member_action": "hold"}); err != nil {
		t.Fatal(err)
	}

	m := &config.MailmanConfig{URL: env.Get(t, "MAILMAN_URL"), Username: env.Get(t, "MAILMAN_USER"),
		PasswordFile: env.Get(t, "MAILMAN_PASSWORD_FILE"), Audit: &config.AuditConfig{
			Include: []string{prefix + "*@" + domain}, Refresh: config.Duration(5 * time.Second), MaxRequestsPerSecond: 20,
			Baseline: &config.AuditBaseline{DefaultMemberAction: []string{"defer", "accept"}, Except: []string{prefix + "announce@*"}},
		}}
	cfg := loadAuditConfig(t, m)
	as := &auditors{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ctx: context.Background()}
	as.reconcile(cfg)
	defer as.stop()
	a := as.list()[0]

	auditWait(t, 10*time.Minute, "the first audit round", func() bool { return !a.summary().RoundEnd.IsZero() })
	s := a.summary()
	if len(s.Lists) != auditTestbedLists {
		t.Fatalf("audited %d lists, want %d", len(s.Lists), auditTestbedLists)
	}
	// Mailman 3.3.8 has the *_these_nonmembers settings: counted, not -1.
	if p := s.Lists[1].Policy; p.AcceptTheseNonmembers != 0 || p.DefaultMemberAction != "defer" || p.DefaultNonmemberAction != "hold" {
		t.Errorf("a new list's policy read as %+v, want defer, hold and no nonmember rules", p)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(as)
	if n := drifting(t, reg); n != "" {
		t.Fatalf("drift before any change: %s", n)
	}
	t.Logf("round of %d lists (server has %d) took %v; interval %v; %.0f requests", len(s.Lists), s.Total, s.RoundTook, s.Interval, requests(a))
	t.Logf("audit series: %d bytes per list", auditBytes(t, reg)/auditTestbedLists)

	flipped := lists[137]
	env.SetMailmanListConfig(t, flipped, map[string]any{"default_member_action": "hold"})
	flippedAt := time.Now()
	// The list is read once per round: its drift shows within one interval
	// (the rounds' spacing in force), plus the slack of a round that runs
	// slower than the last one on the shared testbed.
	interval := a.summary().Interval * 3 / 2
	auditWait(t, interval, "the flipped list's drift", func() bool { return drifting(t, reg) != "" })
	if got := drifting(t, reg); got != flipped+" default_member_action" {
		t.Fatalf("drifting: %q, want %q", got, flipped+" default_member_action")
	}
	t.Logf("drift seen %v after the flip (interval in force %v, configured %v, last round %v)", time.Since(flippedAt).Round(time.Second), a.summary().Interval, m.Audit.Interval(s.Total, len(s.Lists)), s.RoundTook)
}

// createTestbedLists creates the lists one after the other (Mailman 3.3 on
// SQLite creates lists badly in parallel) and deletes them when the test
// ends, ten seconds later, after a newer list exists (see RetireList). The
// testbed is shared: a request that finds Mailman restarting is tried again
// once it answers.
func createTestbedLists(t *testing.T, admin *testbed.MailmanAdmin, lists []string) {
	t.Helper()
	var made []string
	t.Cleanup(func() {
		time.Sleep(10 * time.Second)
		for _, l := range made {
			err := retryRestarting(func(ctx context.Context) error { return admin.DeleteList(ctx, l) })
			if err != nil && !mailmanrest.IsNotFound(err) {
				t.Errorf("deleting %s: %v", l, err)
			}
		}
	})
	start := time.Now()
	for _, l := range lists {
		err := retryRestarting(func(ctx context.Context) error {
			err := admin.CreateList(ctx, l)
			var re *mailmanrest.Error
			if errors.As(err, &re) && re.Status == http.StatusBadRequest && strings.Contains(re.Description, "already exists") {
				return nil // made by the try that Mailman's restart cut off
			}
			return err
		})
		if err != nil {
			t.Fatalf("creating %s: %v", l, err)
		}
		made = append(made, l)
	}
	t.Logf("created %d lists in %v", len(lists), time.Since(start).Round(time.Second))
}

// retryRestarting runs f until it succeeds, fails with an answer from
// Mailman, or five minutes pass: a connection refused or reset is Mailman
// restarting under another test.
func retryRestarting(f func(context.Context) error) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := f(ctx)
		cancel()
		var re *mailmanrest.Error
		if err == nil || errors.As(err, &re) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(2 * time.Second)
	}
}

// loadAuditConfig validates a config with the one Mailman server m, so
// that the audit's defaults are filled in as in serve.
func loadAuditConfig(t testing.TB, m *config.MailmanConfig) *config.Config {
	t.Helper()
	cfg, err := config.Load("audit.yml", auditConfigYAML(t, m), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// drifting returns "list setting" of every drift series at 1, joined by
// ", ".
func drifting(t testing.TB, reg prometheus.Gatherer) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "listprobe_mailman_audit_drift" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetGauge().GetValue() != 1 {
				continue
			}
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			out = append(out, l["list"]+" "+l["setting"])
		}
	}
	return strings.Join(out, ", ")
}

// auditBytes is the size of the per-list audit series in the text
// exposition format.
func auditBytes(t testing.TB, reg prometheus.Gatherer) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		switch mf.GetName() {
		case "listprobe_mailman_audit_list_info", "listprobe_mailman_audit_emergency",
			"listprobe_mailman_audit_held_messages", "listprobe_mailman_audit_drift":
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	return buf.Len()
}

func requests(a *auditor) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests
}

func auditWait(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var _ = testutil.ToFloat64
