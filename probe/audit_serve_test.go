package probe

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// serve audits the Mailman server of its probed list: the 40 lists it does
// not probe get only the audit's series, each list's drift is exported, and
// a reload that drops the audit drops its series.
func TestServeAuditsListsItDoesNotProbe(t *testing.T) {
	lists := []sandbox.List{{Address: "canary@lists.example.org", Policy: sandbox.Deliver}}
	all := append([]sandbox.List{}, lists...)
	for i := range 40 {
		all = append(all, sandbox.List{Address: fmt.Sprintf("team-%02d@lists.example.org", i), Policy: sandbox.Deliver})
	}
	w := startTestWorld(t, sandbox.Options{Lists: all})
	w.World.SetPolicy("team-07@lists.example.org", sandbox.Hold)
	mailman := w.MailmanConfig(t)
	w.Config(t, 10*time.Second, lists, func(s string) string {
		s = mailman(s)
		return strings.Replace(s, "refresh: 200ms }", "refresh: 200ms, audit: { refresh: 1s, max_requests_per_second: 500, baseline: { default_member_action: [defer, accept] } } }", 1)
	})
	svc := NewService(w.File, testLogger(t), nil)
	runService(t, svc)
	waitFor(t, 20*time.Second, "an audit round", func() bool {
		a := svc.Audits()
		return len(a) == 1 && !a[0].RoundEnd.IsZero()
	})
	reg := svc.Metrics().Registry
	if got := drifting(t, reg); got != "team-07@lists.example.org default_member_action" {
		t.Fatalf("drifting: %q", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var other []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "list" && strings.HasPrefix(l.GetValue(), "team-") && !strings.HasPrefix(mf.GetName(), "listprobe_mailman_audit_") {
					other = append(other, mf.GetName())
				}
			}
		}
	}
	if len(other) > 0 {
		t.Errorf("lists audited but not probed have other series: %v", other)
	}
	if n := testutil.CollectAndCount(svc.audits, "listprobe_mailman_audit_list_info"); n != 41 {
		t.Errorf("%d info series, want 41 (the probed list is audited too)", n)
	}

	rewrite(t, w.File, func(s string) string {
		return strings.Replace(s, ", audit: { refresh: 1s, max_requests_per_second: 500, baseline: { default_member_action: [defer, accept] } }", "", 1)
	})
	if err := svc.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(svc.audits); n != 0 {
		t.Errorf("%d audit series after the audit was removed, want 0", n)
	}
}
