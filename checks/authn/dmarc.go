package authn

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
)

// checkDMARC computes the DMARC result that the message's aligned DKIM and
// SPF results imply under the From domain's policy (RFC 7489 section 6.6):
// the policy comes from _dmarc.<From domain>, else from the organizational
// domain's record (its sp=, if any).
func (s *state) checkDMARC() {
	c := &s.v.Checks.DMARC
	from := fromDomain(s.fields)
	if from == "" {
		*c = Check{Result: ResultFail, Reason: "From does not hold exactly one address"}
		return
	}
	c.Domain = from
	rec, err := s.lookupDMARC(from)
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		c.Result, c.Reason = ResultNone, "no DMARC record"
		return
	case err != nil && (dmarc.IsTempFail(err) || isTemporary(err)):
		c.Result, c.Reason = ResultTempError, "DNS lookup failed: "+err.Error()
		return
	case err != nil:
		c.Result, c.Reason = ResultFail, "DMARC record: "+strings.TrimPrefix(err.Error(), "dmarc: ")
		return
	}
	policy := rec.Policy
	if from != orgDomain(from) && rec.SubdomainPolicy != "" && rec.org {
		policy = rec.SubdomainPolicy
	}
	if by := s.alignedPass(from, rec); by != "" {
		c.Result, c.Reason = ResultPass, by
		return
	}
	if s.alignedUnchecked(from, rec.DKIMAlignment == dmarc.AlignmentStrict) {
		c.Result, c.Reason = ResultUnchecked, fmt.Sprintf("p=%s; an aligned DKIM signature was not checked: %s", policy, s.uncheckedWhy())
		return
	}
	c.Result, c.Reason = ResultFail, fmt.Sprintf("p=%s: no aligned DKIM or SPF pass", policy)
}

type dmarcRecord struct {
	*dmarc.Record
	org bool // found at the organizational domain
}

func (s *state) lookupDMARC(from string) (dmarcRecord, error) {
	opts := &dmarc.LookupOptions{LookupTXT: s.l.txt}
	rec, err := dmarc.LookupWithOptions(from, opts)
	if errors.Is(err, dmarc.ErrNoPolicy) {
		if org := orgDomain(from); org != from {
			rec, err = dmarc.LookupWithOptions(org, opts)
			return dmarcRecord{rec, true}, err
		}
	}
	return dmarcRecord{rec, false}, err
}

// alignedPass names the aligned pass, or "".
func (s *state) alignedPass(from string, rec dmarcRecord) string {
	for _, sig := range s.v.Signatures {
		if sig.Result == ResultPass && aligned(sig.Domain, from, rec.DKIMAlignment == dmarc.AlignmentStrict) {
			return "aligned DKIM pass of " + sig.Domain
		}
	}
	for _, ar := range s.v.AuthResults {
		if ar.Method == "spf" && ar.Result == "pass" && aligned(ar.Domain, from, rec.SPFAlignment == dmarc.AlignmentStrict) {
			return "aligned SPF pass of " + ar.Domain + " (Authentication-Results of " + ar.AuthServID + ")"
		}
	}
	return ""
}

func (s *state) alignedUnchecked(from string, strict bool) bool {
	for _, sig := range s.v.Signatures {
		if sig.Result == ResultUnchecked && aligned(sig.Domain, from, strict) {
			return true
		}
	}
	return false
}
