package probe

import (
	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/authn"
)

// This file is the authentication verdict of a delivered copy as the
// probe's result carries it: what a receiving server would judge of the
// copy (DKIM, SPF, DMARC, ARC, List-Id, one-click unsubscribe), in once's
// JSON, on the pages and in the metric listprobe_copy_authentication_info.

// AuthResult is one check's result as the contract names it: pass, fail or
// none.
type AuthResult string

// The values of AuthResult.
const (
	AuthPass AuthResult = "pass"
	AuthFail AuthResult = "fail"
	AuthNone AuthResult = "none"
)

// AuthCheck is the result of one check of a copy.
//
// Result is always pass, fail or none. Where checks/authn said more,
// Detail keeps its word: permerror (a malformed signature, key or record:
// a receiver fails it, so Result is fail), temperror (a DNS failure) or
// unchecked (the header or body was not complete). The last two say
// nothing about the copy, so Result is none and the metric says "not
// known" (-2) rather than "none" (-1).
type AuthCheck struct {
	Result AuthResult `json:"result"`
	Domain string     `json:"domain"`
	Detail string     `json:"detail,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

// Known says whether the check could be made: not a DNS failure, not a
// cut message.
func (c AuthCheck) Known() bool {
	return c.Detail != string(authn.ResultTempError) && c.Detail != string(authn.ResultUnchecked)
}

// Authentication is the verdict on a delivered copy: once's
// "authentication" object.
type Authentication struct {
	DKIM                AuthCheck `json:"dkim"`
	SPF                 AuthCheck `json:"spf"`
	DMARC               AuthCheck `json:"dmarc"`
	ARC                 AuthCheck `json:"arc"`
	ListID              AuthCheck `json:"list_id"`
	OneClickUnsubscribe AuthCheck `json:"one_click_unsubscribe"`
}

// AuthChecks names the checks, in the order of the JSON object; the names
// are the values of the metric's check label.
var AuthChecks = []string{"dkim", "spf", "dmarc", "arc", "list_id", "one_click_unsubscribe"}

// Each returns the checks with their names, in the order of AuthChecks.
func (a *Authentication) Each() []NamedAuthCheck {
	return []NamedAuthCheck{
		{"dkim", a.DKIM}, {"spf", a.SPF}, {"dmarc", a.DMARC},
		{"arc", a.ARC}, {"list_id", a.ListID}, {"one_click_unsubscribe", a.OneClickUnsubscribe},
	}
}

// NamedAuthCheck is one check with its name.
type NamedAuthCheck struct {
	Name string
	AuthCheck
}

// AuthenticationOf turns checks/authn's per-check verdict into the result's.
// nil: no verdict (the copy was not checked).
func AuthenticationOf(c *authn.Checks) *Authentication {
	if c == nil {
		return nil
	}
	return &Authentication{
		DKIM: authCheckOf(c.DKIM), SPF: authCheckOf(c.SPF), DMARC: authCheckOf(c.DMARC),
		ARC: authCheckOf(c.ARC), ListID: authCheckOf(c.ListID), OneClickUnsubscribe: authCheckOf(c.OneClickUnsubscribe),
	}
}

func authCheckOf(c authn.Check) AuthCheck {
	out := AuthCheck{Domain: c.Domain, Reason: c.Reason}
	switch c.Result {
	case authn.ResultPass:
		out.Result = AuthPass
	case authn.ResultFail:
		out.Result = AuthFail
	case authn.ResultPermError:
		out.Result, out.Detail = AuthFail, string(c.Result)
	case authn.ResultNone, "":
		out.Result = AuthNone
	default: // temperror, unchecked, and any word a later authn adds
		out.Result, out.Detail = AuthNone, string(c.Result)
		if out.Detail != string(authn.ResultTempError) {
			out.Detail = string(authn.ResultUnchecked)
		}
	}
	return out
}

// AuthLabel is a check's value in listprobe_copy_authentication_info:
// pass, fail, none, or unknown (a DNS failure or a cut message).
func AuthLabel(c AuthCheck) string {
	if !c.Known() {
		return "unknown"
	}
	return string(c.Result)
}

// Summary is the verdict in a short line: "dkim=pass (lists.example.test)
// spf=pass arc=pass dmarc=fail (reject-poster.test) ...". A domain is
// shown after a check only when it differs from the one shown before, so
// the line stays short.
func (a *Authentication) Summary() string {
	s, last := "", ""
	for i, c := range a.Each() {
		if i > 0 {
			s += " "
		}
		s += c.Name + "=" + string(c.Result)
		if c.Detail != "" {
			s += "/" + c.Detail
		}
		if c.Domain != "" && c.Domain != last {
			s += " (" + c.Domain + ")"
			last = c.Domain
		}
	}
	return s
}

// clean makes every text of the verdict one readable, bounded line: the
// domains and reasons come from the copy's header.
func (a *Authentication) clean() {
	for _, c := range []*AuthCheck{&a.DKIM, &a.SPF, &a.DMARC, &a.ARC, &a.ListID, &a.OneClickUnsubscribe} {
		c.Domain = checks.Truncate(readable(c.Domain), maxResultField)
		c.Reason = checks.Truncate(readable(c.Reason), maxResultField)
	}
}

// setAuthentication sets listprobe_copy_authentication_info to a delivered
// copy's verdict: one series per list, always 1, with one label per check
// (an info series: six gauges per list would cost /metrics six series per
// list), replaced when the verdict changes. A copy without a verdict
// leaves no series: nothing is known. Metrics.mu must be held.
func (l *listSeries) setAuthentication(a *Authentication) {
	if a == nil {
		l.authn = nil
		return
	}
	var now authValues
	for i, c := range a.Each() {
		now[i] = AuthLabel(c.AuthCheck)
	}
	if l.authn == nil || *l.authn != now {
		l.authn = &now
	}
}
