package probe

import (
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/listprobe/listprobe/checks/mailmanrest"
)

// The audit's series. Per audited list: one info series with both default
// actions as labels, emergency, the held queue depth, and one drift series
// per setting the baseline checks; per server: the round's bookkeeping.
var (
	auditInfoDesc = prometheus.NewDesc("listprobe_mailman_audit_list_info",
		"Always 1: an audited list's default_member_action and default_nonmember_action as labels (unknown: a value Mailman does not have).",
		[]string{"mailman", "list", "default_member_action", "default_nonmember_action"}, nil)
	auditEmergencyDesc = prometheus.NewDesc("listprobe_mailman_audit_emergency",
		"1 when the audited list's emergency moderation is on: every post is held.", []string{"mailman", "list"}, nil)
	auditHeldDesc = prometheus.NewDesc("listprobe_mailman_audit_held_messages",
		"Posts waiting in the audited list's moderation queue.", []string{"mailman", "list"}, nil)
	auditDriftDesc = prometheus.NewDesc("listprobe_mailman_audit_drift",
		"1 when the audited list's setting is not one the server's audit baseline allows (want), 0 when it is; only the settings the baseline checks.",
		[]string{"mailman", "list", "setting", "want"}, nil)
	auditListsDesc = prometheus.NewDesc("listprobe_mailman_audit_lists",
		"Lists the server's audit reads (after include, exclude and max_lists).", []string{"mailman"}, nil)
	auditSkippedDesc = prometheus.NewDesc("listprobe_mailman_audit_lists_skipped",
		"Lists the last audit round left out: past max_lists, or named unusably by the server.", []string{"mailman"}, nil)
	auditUpDesc = prometheus.NewDesc("listprobe_mailman_audit_up",
		"1 when the audit's last paging through the server's /lists worked.", []string{"mailman"}, nil)
	auditRoundDesc = prometheus.NewDesc("listprobe_mailman_audit_last_round_timestamp_seconds",
		"When the audit's last whole round ended, in seconds since the epoch (0: none yet).", []string{"mailman"}, nil)
	auditRoundSecondsDesc = prometheus.NewDesc("listprobe_mailman_audit_round_duration_seconds",
		"How long the audit's last whole round took.", []string{"mailman"}, nil)
	auditIntervalDesc = prometheus.NewDesc("listprobe_mailman_audit_interval_seconds",
		"The time between the starts of two audit rounds: refresh, or longer when the round's requests at max_requests_per_second need longer, or the last round's length when the server answered slower.", []string{"mailman"}, nil)
	auditRequestsDesc = prometheus.NewDesc("listprobe_mailman_audit_requests_total",
		"REST requests the audit sent to the server.", []string{"mailman"}, nil)
	auditErrorsDesc = prometheus.NewDesc("listprobe_mailman_audit_request_errors_total",
		"REST requests of the audit that failed.", []string{"mailman"}, nil)
)

// Describe implements prometheus.Collector.
func (as *auditors) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{auditInfoDesc, auditEmergencyDesc, auditHeldDesc, auditDriftDesc,
		auditListsDesc, auditSkippedDesc, auditUpDesc, auditRoundDesc, auditRoundSecondsDesc, auditIntervalDesc,
		auditRequestsDesc, auditErrorsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the series are made from the
// audits' state at each scrape, so a list gone from the server or from the
// config leaves no series behind, and a changed baseline counts at once.
func (as *auditors) Collect(ch chan<- prometheus.Metric) {
	for _, a := range as.list() {
		a.collect(ch)
	}
}

func (a *auditor) collect(ch chan<- prometheus.Metric) {
	cfg := a.cfg.Load()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// In the order the registry sorts them in: its sort is then cheap.
	names := make([]string, 0, len(a.lists))
	for name := range a.lists {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		l := a.lists[name]
		if l.Read.IsZero() {
			continue // never read: nothing to say
		}
		p := l.Policy
		gauge(auditInfoDesc, 1, a.name, l.List, actionLabel(p.DefaultMemberAction), actionLabel(p.DefaultNonmemberAction))
		gauge(auditEmergencyDesc, boolValue(p.Emergency), a.name, l.List)
		gauge(auditHeldDesc, float64(l.Held), a.name, l.List)
		for _, d := range cfg.Checks(l.List) {
			gauge(auditDriftDesc, boolValue(!d.Allows(AuditSetting(p, d.Setting))), a.name, l.List, d.Setting, d.Want)
		}
	}
	gauge(auditListsDesc, float64(len(a.lists)), a.name)
	gauge(auditSkippedDesc, float64(a.skipped), a.name)
	gauge(auditUpDesc, boolValue(a.up), a.name)
	end := 0.0
	if !a.roundEnd.IsZero() {
		end = float64(a.roundEnd.UnixNano()) / 1e9
	}
	gauge(auditRoundDesc, end, a.name)
	gauge(auditRoundSecondsDesc, a.roundTook.Seconds(), a.name)
	gauge(auditIntervalDesc, a.interval(cfg).Seconds(), a.name)
	ch <- prometheus.MustNewConstMetric(auditRequestsDesc, prometheus.CounterValue, a.requests, a.name)
	ch <- prometheus.MustNewConstMetric(auditErrorsDesc, prometheus.CounterValue, a.errors, a.name)
}

// actionLabel keeps a label's values bounded: a value Mailman does not have
// is "unknown", whatever it was.
func actionLabel(action string) string {
	if action == "" || strings.HasPrefix(action, mailmanrest.UnknownSettingPrefix) {
		return "unknown"
	}
	return action
}

// AuditSetting is a policy's value of a baseline setting, as the baseline
// writes it.
func AuditSetting(p mailmanrest.ListPolicy, setting string) string {
	switch setting {
	case "default_member_action":
		return p.DefaultMemberAction
	case "default_nonmember_action":
		return p.DefaultNonmemberAction
	case "emergency":
		return strconv.FormatBool(p.Emergency)
	}
	return ""
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
