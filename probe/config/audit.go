package config

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/listprobe/listprobe/checks/mailmanrest"
)

// Defaults of a Mailman server's audit.
const (
	// DefaultAuditRefresh is the shortest time between the starts of two
	// audit rounds; a round of many lists takes longer (AuditConfig.Interval).
	DefaultAuditRefresh = 5 * time.Minute
	// DefaultAuditRate is how many REST requests per second an audit sends
	// at most: 600 a minute.
	DefaultAuditRate = 10
	// DefaultAuditMaxLists bounds the lists one server's audit keeps, so
	// that a server answering with a million lists cannot grow the series
	// and the memory without end.
	DefaultAuditMaxLists = 20000
	// AuditRequestsPerList is the REST requests an audit sends per list
	// and round: the list's configuration and its held queue's depth.
	AuditRequestsPerList = 2
)

// AuditConfig says which lists of a Mailman server are audited: read,
// without posting, for the settings that decide whether a member's post goes
// out, and compared with a baseline. `audit: all` is short for
// `audit: {lists: all}`.
type AuditConfig struct {
	// Lists is "all" (the default, and the only choice): every list the
	// server's /lists names, then filtered by Include and Exclude.
	Lists string `yaml:"lists"`
	// Include and Exclude are shell globs (Go's path.Match: *, ?, [a-z])
	// matched against the whole list address, case-insensitively, e.g.
	// "*@lists.example.org" or "announce-*@*". A list is audited when it
	// matches some Include (none: every list) and no Exclude.
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// Refresh is the shortest time between the starts of two rounds.
	// Default 5m.
	Refresh Duration `yaml:"refresh"`
	// MaxRequestsPerSecond bounds the audit's REST load on the server.
	// Default 10. A round of L lists sends ceil(L/100) + 2L requests, so it
	// takes at least that divided by this rate.
	MaxRequestsPerSecond float64 `yaml:"max_requests_per_second"`
	// MaxLists is the most lists audited; more are left out, in the
	// server's order, and counted. Default 20000.
	MaxLists int `yaml:"max_lists"`
	// Baseline is what every audited list should have; a list that differs
	// is drift, exported and alerted on. Default: no baseline.
	Baseline *AuditBaseline `yaml:"baseline"`
}

// AuditBaseline is the operator's declared policy for a server's lists,
// e.g. "every list but the announcement lists delivers member posts":
//
//	baseline:
//	  default_member_action: [defer, accept]
//	  except: ["announce*@*"]
type AuditBaseline struct {
	// DefaultMemberAction and DefaultNonmemberAction are the allowed
	// values (accept, hold, reject, discard, defer); empty: not checked.
	DefaultMemberAction    []string `yaml:"default_member_action"`
	DefaultNonmemberAction []string `yaml:"default_nonmember_action"`
	// Emergency is the allowed emergency moderation; unset: not checked.
	Emergency *bool `yaml:"emergency"`
	// Except are globs, like AuditConfig.Include, of lists the baseline
	// does not apply to (they are still audited and exported).
	Except []string `yaml:"except"`
}

// AuditAll is the only value of AuditConfig.Lists.
const AuditAll = "all"

// shorthand is `audit: all`.
func (a *AuditConfig) shorthand(s string) error {
	if s != AuditAll {
		return fmt.Errorf("%q is not a choice: write `audit: all` or a mapping with lists, include, exclude, baseline", s)
	}
	a.Lists = AuditAll
	return nil
}

// scalarShorthand is a struct type whose field may also be written as one
// value (`audit: all`); the decoder calls shorthand with it.
type scalarShorthand interface{ shorthand(string) error }

var _ scalarShorthand = (*AuditConfig)(nil)

// validate fills in the defaults and checks the audit of a server; nil is
// no audit.
func (a *AuditConfig) validate(v *validator, p []any) {
	if a == nil {
		return
	}
	switch a.Lists {
	case "":
		a.Lists = AuditAll
	case AuditAll:
	default:
		v.errorf(join(p, "lists"), "%q is not a choice: the only one is all (then include and exclude)", a.Lists)
	}
	validGlobs(v, join(p, "include"), a.Include)
	validGlobs(v, join(p, "exclude"), a.Exclude)
	if a.Refresh == 0 {
		a.Refresh = Duration(DefaultAuditRefresh)
	}
	if a.Refresh < Duration(time.Second) {
		v.errorf(join(p, "refresh"), "must be at least 1s")
	}
	if a.MaxRequestsPerSecond == 0 {
		a.MaxRequestsPerSecond = DefaultAuditRate
	}
	if !(a.MaxRequestsPerSecond >= 0.1 && a.MaxRequestsPerSecond <= 1000) {
		v.errorf(join(p, "max_requests_per_second"), "must be between 0.1 and 1000")
	}
	if a.MaxLists == 0 {
		a.MaxLists = DefaultAuditMaxLists
	}
	if a.MaxLists < 0 {
		v.errorf(join(p, "max_lists"), "must be positive")
	}
	if b := a.Baseline; b != nil {
		bp := join(p, "baseline")
		validActions(v, join(bp, "default_member_action"), b.DefaultMemberAction)
		validActions(v, join(bp, "default_nonmember_action"), b.DefaultNonmemberAction)
		validGlobs(v, join(bp, "except"), b.Except)
		undecoded := false
		for _, f := range BaselineSettings {
			undecoded = undecoded || v.reported(fieldName(join(bp, f)))
		}
		if len(b.DefaultMemberAction) == 0 && len(b.DefaultNonmemberAction) == 0 && b.Emergency == nil && !undecoded {
			v.errorf(bp, "checks nothing: set default_member_action, default_nonmember_action or emergency")
		}
	}
}

func validGlobs(v *validator, p []any, globs []string) {
	for i, g := range globs {
		if g == "" {
			v.errorf(join(p, i), "is empty")
		} else if _, err := path.Match(g, ""); err != nil {
			v.errorf(join(p, i), "%q is not a glob like *@lists.example.org: %v", g, err)
		}
	}
}

func validActions(v *validator, p []any, actions []string) {
	for i, a := range actions {
		if !slices.Contains(mailmanrest.MailmanActions, a) {
			v.errorf(join(p, i), "%q is not a Mailman action (%s)", a, strings.Join(mailmanrest.MailmanActions, ", "))
		}
	}
}

// globMatch reports whether the list address matches one of globs.
func globMatch(globs []string, list string) bool {
	list = strings.ToLower(list)
	for _, g := range globs {
		if ok, _ := path.Match(strings.ToLower(g), list); ok {
			return true
		}
	}
	return false
}

// Audited reports whether the list address is audited: it matches some
// include (or there are none) and no exclude.
func (a *AuditConfig) Audited(list string) bool {
	return (len(a.Include) == 0 || globMatch(a.Include, list)) && !globMatch(a.Exclude, list)
}

// Drift is a setting of a list that differs from the baseline.
type Drift struct {
	Setting string // default_member_action, default_nonmember_action or emergency
	Want    string // the allowed values, joined with "|"
}

// BaselineSettings are the settings a baseline can check, in order.
var BaselineSettings = []string{"default_member_action", "default_nonmember_action", "emergency"}

// Checks returns the settings the baseline checks for list, with the values
// it allows; none when the list is excepted or there is no baseline.
func (a *AuditConfig) Checks(list string) []Drift {
	b := a.Baseline
	if b == nil || globMatch(b.Except, list) {
		return nil
	}
	var out []Drift
	if len(b.DefaultMemberAction) > 0 {
		out = append(out, Drift{"default_member_action", strings.Join(b.DefaultMemberAction, "|")})
	}
	if len(b.DefaultNonmemberAction) > 0 {
		out = append(out, Drift{"default_nonmember_action", strings.Join(b.DefaultNonmemberAction, "|")})
	}
	if b.Emergency != nil {
		out = append(out, Drift{"emergency", fmt.Sprint(*b.Emergency)})
	}
	return out
}

// Allows reports whether the baseline allows value (as the REST API writes
// it: an action, or "true"/"false" for emergency) for the setting d checks.
func (d Drift) Allows(value string) bool {
	return slices.Contains(strings.Split(d.Want, "|"), value)
}

// RoundRequests is how many REST requests one audit round sends on a
// server of total lists of which audited are audited: the pages of /lists
// (100 lists a page) and two per audited list.
func RoundRequests(total, audited int) int {
	return (total+mailmanrest.ListsPageSize-1)/mailmanrest.ListsPageSize + AuditRequestsPerList*audited
}

// Interval is the time between the starts of two audit rounds: Refresh, or
// longer when the round's requests at MaxRequestsPerSecond take longer (the
// refresh grows with the list count):
//
//	interval = max(refresh, (ceil(total/100) + 2*audited) / max_requests_per_second)
func (a *AuditConfig) Interval(total, audited int) time.Duration {
	need := time.Duration(math.Ceil(float64(RoundRequests(total, audited)) / a.MaxRequestsPerSecond * float64(time.Second)))
	return max(time.Duration(a.Refresh), need)
}
