package authn

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/publicsuffix"
)

// Signature is one DKIM-Signature field and whether it verifies.
type Signature struct {
	Domain   string   `json:"domain"`   // d=
	Selector string   `json:"selector"` // s=
	Headers  []string `json:"headers"`  // h=, the signed header fields
	Result   Result   `json:"result"`
	Reason   string   `json:"reason,omitempty"`
	// Aligned says d= aligns with the visible From under relaxed
	// alignment (the same organizational domain).
	Aligned bool `json:"aligned"`
	// VerifiedBy is the authserv-id whose Authentication-Results vouched
	// for a signature this verification could not check (no body); empty
	// when it was verified here.
	VerifiedBy string `json:"verified_by,omitempty"`
}

const (
	reasonNoBody    = "body not fetched, so its hash cannot be checked"
	reasonHeaderCut = "header cut at the fetch limit, so signatures cannot be checked"
)

// complete says whether signatures can be checked: the whole body and the
// whole header are there.
func (s *state) complete() bool { return s.msg.BodyComplete && !s.msg.HeaderTruncated }

// uncheckedWhy says why signatures could not be checked.
func (s *state) uncheckedWhy() string {
	if s.msg.HeaderTruncated {
		return reasonHeaderCut
	}
	return reasonNoBody
}

// verifyDKIM verifies the topmost maxSignatures DKIM signatures with
// go-msgauth, looking keys up through the message's lookups.
func (s *state) verifyDKIM() {
	var keep []field // the header handed to go-msgauth
	var checked []int
	n := 0
	for _, f := range s.fields {
		if f.lower != "dkim-signature" {
			keep = append(keep, f)
			continue
		}
		n++
		if n > maxSignatures {
			continue
		}
		sig := parseSignature(f)
		if sig.Result == "" {
			keep = append(keep, f)
			checked = append(checked, len(s.v.Signatures))
		}
		s.v.Signatures = append(s.v.Signatures, sig)
	}
	from := fromDomain(s.fields)
	for i := range s.v.Signatures {
		s.v.Signatures[i].Aligned = from != "" && aligned(s.v.Signatures[i].Domain, from, false)
	}
	if len(checked) == 0 {
		return
	}
	if !s.complete() {
		for _, i := range checked {
			s.v.Signatures[i].Result, s.v.Signatures[i].Reason = ResultUnchecked, s.uncheckedWhy()
		}
		return
	}
	raw := append(writeHeader(keep), s.msg.Body...)
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT:        s.l.txt,
		MaxVerifications: maxSignatures,
	})
	for k, i := range checked {
		sig := &s.v.Signatures[i]
		switch {
		case k < len(verifs) && verifs[k] != nil:
			sig.Result, sig.Reason = dkimResult(verifs[k].Err)
		case err != nil:
			sig.Result, sig.Reason = ResultPermError, strings.TrimPrefix(err.Error(), "dkim: ")
		default:
			sig.Result, sig.Reason = ResultPermError, "not verified"
		}
	}
}

// parseSignature reads d=, s= and h= of a DKIM-Signature. Its Result is
// empty when the signature is for go-msgauth to verify, permerror when it
// is too malformed or too big to be worth it.
func parseSignature(f field) Signature {
	tags, err := parseTags(f.value())
	if err != nil {
		return Signature{Result: ResultPermError, Reason: "malformed signature: " + err.Error()}
	}
	sig := Signature{Domain: normDomain(stripWSP(tags["d"])), Selector: stripWSP(tags["s"])}
	h := tagList(tags["h"])
	if len(h) > maxSignedFields {
		sig.Result = ResultPermError
		sig.Reason = fmt.Sprintf("h= lists %d fields, more than %d", len(h), maxSignedFields)
		return sig
	}
	sig.Headers = h
	return sig
}

// dkimResult classifies a go-msgauth verification error.
func dkimResult(err error) (Result, string) {
	switch {
	case err == nil:
		return ResultPass, ""
	case dkim.IsTempFail(err):
		return ResultTempError, strings.TrimPrefix(err.Error(), "dkim: ")
	case dkim.IsPermFail(err):
		return ResultPermError, strings.TrimPrefix(err.Error(), "dkim: ")
	}
	return ResultFail, strings.TrimPrefix(err.Error(), "dkim: ")
}

// fromDomain is the domain of the visible From: one field with one
// address, or "" (RFC 7489 section 6.6.1 leaves other cases to policy).
func fromDomain(fields []field) string {
	vs := values(fields, "from")
	if len(vs) != 1 {
		return ""
	}
	addr := ""
	list, err := mail.ParseAddressList(vs[0])
	switch {
	case err == nil && len(list) == 1:
		addr = list[0].Address
	case err == nil:
		return ""
	default:
		// net/mail refuses display names in charsets it does not know
		// (ISO-2022-JP): read the address between the last angle brackets.
		i, j := strings.LastIndexByte(vs[0], '<'), strings.LastIndexByte(vs[0], '>')
		if i < 0 || j < i || strings.Count(vs[0], "@") != 1 {
			return ""
		}
		addr = vs[0][i+1 : j]
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || strings.ContainsAny(addr[at+1:], " \t<>,;") {
		return ""
	}
	return normDomain(addr[at+1:])
}

// aligned reports whether domain d aligns with the From domain: equal in
// strict mode, the same organizational domain (the public suffix list's
// registered domain) in relaxed mode (RFC 7489 section 3.1).
func aligned(d, from string, strict bool) bool {
	d, from = normDomain(d), normDomain(from)
	if d == "" || from == "" {
		return false
	}
	if d == from {
		return true
	}
	return !strict && orgDomain(d) == orgDomain(from)
}

// orgDomain is the organizational domain of d.
func orgDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// dkimCheck summarises the signatures for Checks.DKIM: a pass (aligned
// first, then the list's), else a DNS failure, else a failure, else
// unchecked, else none.
func (s *state) dkimCheck() Check {
	best := -1
	rank := func(sig Signature) int {
		switch {
		case sig.Result == ResultPass && sig.Aligned:
			return 6
		case sig.Result == ResultPass && s.isListDomain(sig.Domain):
			return 5
		case sig.Result == ResultPass:
			return 4
		case sig.Result == ResultTempError:
			return 3
		case sig.Result == ResultFail || sig.Result == ResultPermError:
			return 2
		}
		return 1
	}
	for i, sig := range s.v.Signatures {
		if best < 0 || rank(sig) > rank(s.v.Signatures[best]) {
			best = i
		}
	}
	if best < 0 {
		return Check{Result: ResultNone, Reason: "no DKIM signature"}
	}
	sig := s.v.Signatures[best]
	r := sig.Result
	if r == ResultPermError {
		r = ResultFail
	}
	return Check{Result: r, Domain: sig.Domain, Reason: sig.Reason}
}
