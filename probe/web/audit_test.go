package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// auditStub is a stubService that audits one server of 250 lists, of which
// list-0137 holds members' posts against the baseline, announce holds them
// by design, and list-0200 has emergency moderation on.
type auditStub struct {
	stubService
	summary probe.AuditSummary
}

func (s *auditStub) Audits() []probe.AuditSummary { return []probe.AuditSummary{s.summary} }

func newAuditStub() *auditStub {
	no := false
	cfg := &config.AuditConfig{MaxRequestsPerSecond: 10, Baseline: &config.AuditBaseline{
		DefaultMemberAction: []string{"defer", "accept"}, Emergency: &no, Except: []string{"announce*@*"}}}
	s := probe.AuditSummary{Server: "main", Up: true, Total: 260, RoundEnd: time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC),
		RoundTook: 51 * time.Second, Requests: 503, Interval: 5 * time.Minute, Config: cfg}
	add := func(list, member string, emergency bool, held int) {
		s.Lists = append(s.Lists, probe.AuditedList{List: list, Held: held, Read: s.RoundEnd,
			Policy: mailmanrest.ListPolicy{DefaultMemberAction: member, DefaultNonmemberAction: "hold", Emergency: emergency}})
	}
	add("announce@lists.example.org", "hold", false, 0)
	for i := range 249 {
		switch i {
		case 137:
			add(fmt.Sprintf("list-%04d@lists.example.org", i), "hold", false, 3)
		case 200:
			add(fmt.Sprintf("list-%04d@lists.example.org", i), "defer", true, 0)
		default:
			add(fmt.Sprintf("list-%04d@lists.example.org", i), "defer", false, 0)
		}
	}
	return &auditStub{summary: s}
}

func TestAuditPageShowsDriftFirstAndPages(t *testing.T) {
	svc := newAuditStub()
	body, hdr := getPage(t, svc, "/audit", http.StatusOK)
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("CSP %q", hdr.Get("Content-Security-Policy"))
	}
	for _, want := range []string{"250 lists audited of 260 on the server", "2 differ from the baseline",
		"default_member_action (want defer|accept)", "emergency (want false)", "Lists 1–100 of 250", `href="audit?page=2"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	first := strings.Index(body, "list-0137@")
	second := strings.Index(body, "list-0200@")
	healthy := strings.Index(body, "list-0001@")
	if first < 0 || second < 0 || healthy < 0 || first > healthy || second > healthy {
		t.Errorf("drifting lists are not first: list-0137 at %d, list-0200 at %d, list-0001 at %d", first, second, healthy)
	}
	if strings.Contains(body, "list-0150@") {
		t.Error("the first page shows more than 100 lists")
	}
	body, _ = getPage(t, svc, "/audit?page=3", http.StatusOK)
	if !strings.Contains(body, "Lists 201–250 of 250") || strings.Contains(body, "Next") {
		t.Errorf("page 3 is not the last 50 lists")
	}
	body, _ = getPage(t, svc, "/audit?q=LIST-013", http.StatusOK)
	if !strings.Contains(body, "of 10") || strings.Contains(body, "list-0200@") {
		t.Errorf("the filter list-013 shows other lists")
	}
}

func TestAuditPageWithoutAudit(t *testing.T) {
	body, _ := getPage(t, &stubService{}, "/audit", http.StatusOK)
	if !strings.Contains(body, "No Mailman server is audited") {
		t.Error("the page does not say how to turn the audit on")
	}
}
