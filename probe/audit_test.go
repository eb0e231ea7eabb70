package probe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe/config"
)

// auditConfigYAML writes a config with one probed list and the Mailman
// server m (its audit included) as YAML, with its secrets in files.
func auditConfigYAML(t testing.TB, m *config.MailmanConfig) []byte {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "signing.key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := m.PasswordFile
	if pw == "" {
		pw = filepath.Join(dir, "mailman.password")
		if err := os.WriteFile(pw, []byte(sandbox.DefaultMailmanPassword), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := m.Audit
	var b strings.Builder
	fmt.Fprintf(&b, "global: {signing_key_file: %q}\n", key)
	b.WriteString("accounts:\n  member:\n    address: probe@example.org\n")
	b.WriteString("    smtp: {address: \"127.0.0.1:1\", tls: none, auth: none}\n")
	b.WriteString("    imap: {address: \"127.0.0.1:1\", tls: none, username: probe@example.org, password_file: " + fmt.Sprintf("%q", pw) + "}\n")
	fmt.Fprintf(&b, "mailman:\n  main:\n    url: %q\n    username: %q\n    password_file: %q\n", m.URL, m.Username, pw)
	fmt.Fprintf(&b, "    audit:\n      refresh: %s\n      max_requests_per_second: %g\n", time.Duration(a.Refresh), a.MaxRequestsPerSecond)
	if a.MaxLists > 0 {
		fmt.Fprintf(&b, "      max_lists: %d\n", a.MaxLists)
	}
	writeGlobs(&b, "      include", a.Include)
	writeGlobs(&b, "      exclude", a.Exclude)
	if bl := a.Baseline; bl != nil {
		b.WriteString("      baseline:\n")
		writeGlobs(&b, "        default_member_action", bl.DefaultMemberAction)
		writeGlobs(&b, "        default_nonmember_action", bl.DefaultNonmemberAction)
		if bl.Emergency != nil {
			fmt.Fprintf(&b, "        emergency: %v\n", *bl.Emergency)
		}
		writeGlobs(&b, "        except", bl.Except)
	}
	b.WriteString("lists:\n  - {address: canary@lists.example.org, poster: member, reader: member, mailman: main}\n")
	return []byte(b.String())
}

func writeGlobs(b *strings.Builder, key string, values []string) {
	if len(values) == 0 {
		return
	}
	var q []string
	for _, v := range values {
		q = append(q, fmt.Sprintf("%q", v))
	}
	fmt.Fprintf(b, "%s: [%s]\n", key, strings.Join(q, ", "))
}

// startAuditWorld starts a sandbox with n lists named list-NNNN@lists.example.org
// besides announce@lists.example.org on hold.
func startAuditWorld(t testing.TB, n int) *sandbox.World {
	t.Helper()
	opts := sandbox.Options{Accounts: []sandbox.Account{{Address: "probe@example.org", Password: "pw"}}}
	opts.Lists = append(opts.Lists, sandbox.List{Address: "announce@lists.example.org", Policy: sandbox.Hold})
	for i := range n {
		opts.Lists = append(opts.Lists, sandbox.List{Address: fmt.Sprintf("list-%04d@lists.example.org", i), Policy: sandbox.Deliver})
	}
	opts.Lists = append(opts.Lists, sandbox.List{Address: "other@elsewhere.example.net", Policy: sandbox.Hold})
	w, err := sandbox.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// startAudit audits the world's lists on lists.example.org with the baseline
// "members' posts are delivered, but on announce lists".
func startAudit(t testing.TB, w *sandbox.World, rps float64) (*auditors, *auditor) {
	t.Helper()
	m := &config.MailmanConfig{URL: w.MailmanURL, Username: w.MailmanUsername, Audit: &config.AuditConfig{
		Include: []string{"*@lists.example.org"}, Refresh: config.Duration(time.Second), MaxRequestsPerSecond: rps,
		Baseline: &config.AuditBaseline{DefaultMemberAction: []string{"defer", "accept"}, Except: []string{"announce*@*"}},
	}}
	cfg := loadAuditConfig(t, m)
	as := &auditors{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ctx: context.Background()}
	as.reconcile(cfg)
	t.Cleanup(as.stop)
	return as, as.list()[0]
}

func TestAuditFindsTheListWhoseMembersPostsAreHeld(t *testing.T) {
	w := startAuditWorld(t, 250) // three pages of /lists
	as, a := startAudit(t, w, 1000)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(as)
	auditWait(t, 20*time.Second, "the first round", func() bool { return !a.summary().RoundEnd.IsZero() })
	s := a.summary()
	if len(s.Lists) != 251 || s.Total != 252 {
		t.Fatalf("audited %d of %d lists, want 251 of 252 (other@elsewhere is not included)", len(s.Lists), s.Total)
	}
	if got := drifting(t, reg); got != "" {
		t.Fatalf("drift before any change: %s", got)
	}
	if got, want := s.Requests, config.RoundRequests(252, 251); got != want {
		t.Errorf("a round sent %v requests, want %v (3 pages and 2 per list)", got, want)
	}

	w.SetPolicy("list-0137@lists.example.org", sandbox.Hold)
	auditWait(t, 10*time.Second, "the drift", func() bool { return drifting(t, reg) != "" })
	if got, want := drifting(t, reg), "list-0137@lists.example.org default_member_action"; got != want {
		t.Fatalf("drifting %q, want %q", got, want)
	}
	info := `
# HELP listprobe_mailman_audit_list_info Always 1: an audited list's default_member_action and default_nonmember_action as labels (unknown: a value Mailman does not have).
# TYPE listprobe_mailman_audit_list_info gauge
listprobe_mailman_audit_list_info{default_member_action="hold",default_nonmember_action="hold",list="list-0137@lists.example.org",mailman="main"} 1
`
	if err := testutil.CollectAndCompare(filterList(as, "list-0137@lists.example.org"), strings.NewReader(info), "listprobe_mailman_audit_list_info"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// filterList is the collector's series of one list.
func filterList(c prometheus.Collector, list string) prometheus.Collector {
	return listFilter{c, list}
}

type listFilter struct {
	c    prometheus.Collector
	list string
}

func (f listFilter) Describe(ch chan<- *prometheus.Desc) { f.c.Describe(ch) }
func (f listFilter) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), "variableLabels: {mailman}") {
			continue
		}
		var pb = metricDTO(m)
		for _, l := range pb.GetLabel() {
			if l.GetName() == "list" && l.GetValue() == f.list {
				ch <- m
			}
		}
	}
}

func metricDTO(m prometheus.Metric) *dto.Metric {
	var pb dto.Metric
	m.Write(&pb)
	return &pb
}

// A server that names more lists than max_lists gets only max_lists of them
// audited, the rest counted; one that claims endless pages of lists is read
// up to ten times max_lists.
func TestAuditBoundsWhatAServerCanMakeItKeep(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/3.1/lists" {
			http.Error(w, `{"title": "404 Not Found"}`, http.StatusNotFound)
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		var entries []string
		for i := range 100 {
			entries = append(entries, fmt.Sprintf(`{"fqdn_listname": "l%d-%d@lists.example.org"}`, page, i))
		}
		entries[0] = `{"fqdn_listname": "bad\u0007name@lists.example.org"}`
		fmt.Fprintf(w, `{"start": 0, "total_size": 1000000000, "entries": [%s]}`, strings.Join(entries, ","))
	}))
	defer srv.Close()
	m := &config.MailmanConfig{URL: srv.URL + "/3.1", Username: "u", Audit: &config.AuditConfig{
		Refresh: config.Duration(time.Hour), MaxRequestsPerSecond: 1000, MaxLists: 150}}
	cfg := loadAuditConfig(t, m)
	a := newAuditor("main", cfg.Mailman["main"], slog.New(slog.NewTextHandler(io.Discard, nil)))
	lists, total, skipped, err := a.discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(lists) != 150 || total != 1000000000 || skipped != 1000000000-150 {
		t.Errorf("kept %d lists of %d, skipped %d; want 150, 1000000000, %d", len(lists), total, skipped, 1000000000-150)
	}
	if got := requestsSent(a); got != 20 {
		t.Errorf("read %v pages, want 20 (ten times max_lists)", got)
	}
	for _, l := range lists {
		if strings.ContainsAny(l, "\a") {
			t.Errorf("kept the unusable name %q", l)
		}
	}
}

func requestsSent(a *auditor) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests
}
