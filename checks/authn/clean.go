package authn

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Every string of a verdict may come from the message (a d= tag, a HELO
// name, a cv= value, an error that quotes them) and ends up in logs, JSON,
// the status page and a terminal. cleanVerdict makes each one a single
// line of printable text of bounded length, once, at the end of Verify, so
// that no path can forget it.

const (
	maxNameLen   = 255  // a domain, host, selector or field name
	maxReasonLen = 1000 // a reason
)

// clean replaces control characters, invalid UTF-8 and line breaks with
// "?" and cuts s to max bytes.
func clean(s string, max int) string {
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) && len(s) > 0 {
			s = s[:len(s)-1]
		}
	}
	ok := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

func cleanCheck(c *Check) {
	c.Domain, c.Reason = clean(c.Domain, maxNameLen), clean(c.Reason, maxReasonLen)
}

func cleanVerdict(v *Verdict) {
	v.Reason, v.TempError = clean(v.Reason, maxReasonLen), clean(v.TempError, maxReasonLen)
	for _, c := range []*Check{&v.Checks.DKIM, &v.Checks.SPF, &v.Checks.DMARC, &v.Checks.ARC, &v.Checks.ListID, &v.Checks.OneClickUnsubscribe} {
		cleanCheck(c)
	}
	for i := range v.Signatures {
		s := &v.Signatures[i]
		s.Domain, s.Selector, s.Reason = clean(s.Domain, maxNameLen), clean(s.Selector, maxNameLen), clean(s.Reason, maxReasonLen)
		s.VerifiedBy = clean(s.VerifiedBy, maxNameLen)
		for j := range s.Headers {
			s.Headers[j] = clean(s.Headers[j], maxNameLen)
		}
	}
	v.ARC.Reason = clean(v.ARC.Reason, maxReasonLen)
	for i := range v.ARC.Sets {
		s := &v.ARC.Sets[i]
		s.Domain, s.CV, s.Reason = clean(s.Domain, maxNameLen), clean(s.CV, maxNameLen), clean(s.Reason, maxReasonLen)
	}
	for i := range v.AuthResults {
		a := &v.AuthResults[i]
		a.AuthServID, a.Method, a.Result, a.Domain = clean(a.AuthServID, maxNameLen), clean(a.Method, maxNameLen), clean(a.Result, maxNameLen), clean(a.Domain, maxNameLen)
	}
	if h := v.Received; h != nil {
		h.Helo, h.Host, h.Address, h.By = clean(h.Helo, maxNameLen), clean(h.Host, maxNameLen), clean(h.Address, maxNameLen), clean(h.By, maxNameLen)
	}
}
