package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// The audit page, /audit: each audited Mailman server's lists, compactly,
// those that differ from the baseline first, auditPageSize a page.

//go:embed audit.html
var auditHTML string

var auditTemplate = template.Must(template.New("audit.html").Parse(auditHTML))

// auditPageSize is how many lists of a server one page shows.
const auditPageSize = 100

// auditCSP allows the audit page's own style sheet by its hash.
var auditCSP = func() string {
	_, style, _ := strings.Cut(auditHTML, "<style>")
	style, _, _ = strings.Cut(style, "</style>")
	sum := sha256.Sum256([]byte(style))
	return fmt.Sprintf("default-src 'none'; style-src 'sha256-%s'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", base64.StdEncoding.EncodeToString(sum[:]))
}()

// auditor is the optional part of the service that audits servers.
type auditor interface{ Audits() []probe.AuditSummary }

var _ auditor = (*probe.Service)(nil)

type auditView struct {
	Filter  string
	Servers []auditServerView
}

type auditServerView struct {
	Server                                   string
	Up                                       bool
	Audited, Total, Skipped, Drifting, Shown int
	Requests                                 int
	RoundEnd, RoundTook, Interval, Rate      string
	Baseline                                 string
	Rows                                     []auditRow
	From, To                                 int
	Prev, Next                               string
}

type auditRow struct {
	List, Member, Nonmember, Rules, Drift, Err string
	Emergency                                  bool
	Held                                       int
}

func (h *handler) serveAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter := strings.ToLower(strings.TrimSpace(q.Get("q")))
	if len(filter) > 200 {
		filter = filter[:200]
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	v := auditView{Filter: filter}
	if a, ok := h.svc.(auditor); ok {
		for _, s := range a.Audits() {
			v.Servers = append(v.Servers, auditServer(s, filter, page))
		}
	}
	var b bytes.Buffer
	if err := auditTemplate.Execute(&b, v); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.Header().Set("Content-Security-Policy", auditCSP)
	w.Write(b.Bytes())
}

// auditServer is one server's part of the page: its lists filtered, the
// drifting ones first, then emergency or held, then by address.
func auditServer(s probe.AuditSummary, filter string, page int) auditServerView {
	v := auditServerView{Server: s.Server, Up: s.Up, Audited: len(s.Lists), Total: s.Total, Skipped: s.Skipped,
		Requests: s.Requests, Interval: s.Interval.String(), Rate: strconv.FormatFloat(s.Config.MaxRequestsPerSecond, 'g', -1, 64),
		Baseline: baselineText(s.Config.Baseline)}
	if !s.RoundEnd.IsZero() {
		v.RoundEnd = s.RoundEnd.UTC().Format(time.RFC3339)
		v.RoundTook = s.RoundTook.Round(time.Millisecond).String()
	}
	var rows []auditRow
	for _, l := range s.Lists {
		row := auditListRow(s.Config, l)
		if row.Drift != "" {
			v.Drifting++
		}
		if filter == "" || strings.Contains(l.List, filter) {
			rows = append(rows, row)
		}
	}
	rank := func(r auditRow) int {
		switch {
		case r.Drift != "":
			return 0
		case r.Emergency || r.Held > 0 || r.Err != "":
			return 1
		}
		return 2
	}
	sort.SliceStable(rows, func(i, j int) bool { return rank(rows[i]) < rank(rows[j]) })
	v.Shown = len(rows)
	start := min((page-1)*auditPageSize, len(rows))
	end := min(start+auditPageSize, len(rows))
	v.Rows, v.From, v.To = rows[start:end], start+1, end
	link := func(p int) string {
		q := url.Values{"page": {strconv.Itoa(p)}}
		if filter != "" {
			q.Set("q", filter)
		}
		return "audit?" + q.Encode()
	}
	if page > 1 {
		v.Prev = link(page - 1)
	}
	if end < len(rows) {
		v.Next = link(page + 1)
	}
	return v
}

func auditListRow(cfg *config.AuditConfig, l probe.AuditedList) auditRow {
	p := l.Policy
	row := auditRow{List: l.List, Member: p.DefaultMemberAction, Nonmember: p.DefaultNonmemberAction,
		Emergency: p.Emergency, Held: l.Held, Err: l.Err}
	if l.Read.IsZero() {
		row.Member, row.Nonmember = "not read yet", ""
		return row
	}
	if p.AcceptTheseNonmembers >= 0 {
		row.Rules = fmt.Sprintf("%d/%d/%d/%d", p.AcceptTheseNonmembers, p.HoldTheseNonmembers, p.RejectTheseNonmembers, p.DiscardTheseNonmembers)
	}
	var drift []string
	for _, d := range cfg.Checks(l.List) {
		if !d.Allows(probe.AuditSetting(p, d.Setting)) {
			drift = append(drift, d.Setting+" (want "+d.Want+")")
		}
	}
	row.Drift = strings.Join(drift, ", ")
	return row
}

func baselineText(b *config.AuditBaseline) string {
	if b == nil {
		return ""
	}
	var parts []string
	if len(b.DefaultMemberAction) > 0 {
		parts = append(parts, "default_member_action "+strings.Join(b.DefaultMemberAction, "|"))
	}
	if len(b.DefaultNonmemberAction) > 0 {
		parts = append(parts, "default_nonmember_action "+strings.Join(b.DefaultNonmemberAction, "|"))
	}
	if b.Emergency != nil {
		parts = append(parts, "emergency "+strconv.FormatBool(*b.Emergency))
	}
	s := strings.Join(parts, ", ")
	if len(b.Except) > 0 {
		s += ", except " + strings.Join(b.Except, " ")
	}
	return s
}
