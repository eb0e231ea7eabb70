package authn

import (
	"fmt"
	"strings"
)

// checkListHeaders fills the List-Id and one-click unsubscribe checks
// (RFC 2919; RFC 8058 section 4: List-Unsubscribe with an https URI and
// List-Unsubscribe-Post: List-Unsubscribe=One-Click, both covered by a
// valid DKIM signature).
func (s *state) checkListHeaders() {
	c := &s.v.Checks
	switch ids := values(s.fields, "list-id"); {
	case len(ids) == 0:
		c.ListID = Check{Result: ResultNone, Reason: "no List-Id"}
	case len(ids) > 1:
		c.ListID = Check{Result: ResultFail, Reason: "more than one List-Id"}
	default:
		id := ids[0]
		i, j := strings.LastIndexByte(id, '<'), strings.LastIndexByte(id, '>')
		if i < 0 || j < i+2 {
			c.ListID = Check{Result: ResultFail, Reason: "List-Id without <list-id>"}
		} else {
			c.ListID = Check{Result: ResultPass, Domain: strings.ToLower(id[i+1 : j])}
		}
	}
	c.OneClickUnsubscribe = s.oneClick()
}

func (s *state) oneClick() Check {
	unsub, post := values(s.fields, "list-unsubscribe"), values(s.fields, "list-unsubscribe-post")
	if len(unsub) == 0 && len(post) == 0 {
		return Check{Result: ResultNone, Reason: "no List-Unsubscribe"}
	}
	if len(unsub) != 1 || !hasHTTPS(unsub[0]) {
		return Check{Result: ResultFail, Reason: "List-Unsubscribe has no https URI"}
	}
	if len(post) != 1 || !strings.EqualFold(strings.TrimSpace(post[0]), "List-Unsubscribe=One-Click") {
		return Check{Result: ResultFail, Reason: "no List-Unsubscribe-Post: List-Unsubscribe=One-Click"}
	}
	unchecked := ""
	for _, sig := range s.v.Signatures {
		if !contains(sig.Headers, "list-unsubscribe") || !contains(sig.Headers, "list-unsubscribe-post") {
			continue
		}
		switch sig.Result {
		case ResultPass:
			return Check{Result: ResultPass, Domain: sig.Domain}
		case ResultUnchecked:
			unchecked = sig.Domain
		}
	}
	if unchecked != "" {
		return Check{Result: ResultUnchecked, Domain: unchecked, Reason: "the covering DKIM signature was not checked: " + s.uncheckedWhy()}
	}
	return Check{Result: ResultFail, Reason: "List-Unsubscribe and List-Unsubscribe-Post are not both covered by a verifying DKIM signature's h="}
}

// hasHTTPS reports whether a List-Unsubscribe value ("<mailto:...>,
// <https://...>") holds an https URI.
func hasHTTPS(v string) bool {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if strings.HasPrefix(part, "<") && strings.HasSuffix(part, ">") &&
			len(part) > len("<https://>") && strings.EqualFold(part[1:9], "https://") {
			return true
		}
	}
	return false
}

// useTrustedDKIM takes the receiving server's word for signatures this
// verification could not check (no body): a trusted dkim=pass for their
// domain. They then pass for the checks, but not for the DKIM path: the
// authres path names whom it believed.
func (s *state) useTrustedDKIM() {
	for i := range s.v.Signatures {
		sig := &s.v.Signatures[i]
		if sig.Result != ResultUnchecked {
			continue
		}
		for _, ar := range s.v.AuthResults {
			if ar.Method == "dkim" && ar.Result == "pass" && ar.Domain == sig.Domain {
				sig.Result, sig.VerifiedBy, sig.Reason = ResultPass, ar.AuthServID, "dkim=pass in the Authentication-Results of "+ar.AuthServID
				break
			}
		}
	}
}

// decide fills the checks and the overall answer: the first path that
// proves the list server sent the message, in the order dkim, arc,
// authres, received.
func (s *state) decide() {
	c := &s.v.Checks
	c.DKIM = s.dkimCheck()
	c.SPF = s.spfCheck()
	c.ARC = Check{Result: s.v.ARC.Result, Reason: s.v.ARC.Reason}
	if n := len(s.v.ARC.Sets); n > 0 {
		c.ARC.Domain = s.v.ARC.Sets[n-1].Domain
	}
	if len(s.listDomains()) == 0 && len(s.opts.ListHosts) == 0 {
		s.v.Reason = "nothing configured to trust (no list domain, signing domain or list host)"
		return
	}
	var why []string
	for _, p := range []struct {
		path Path
		try  func() (bool, string)
	}{{PathDKIM, s.dkimPath}, {PathARC, s.arcPath}, {PathAuthRes, s.authresPath}, {PathReceived, s.receivedPath}} {
		ok, reason := p.try()
		if ok {
			s.v.Authenticated, s.v.Path, s.v.Reason = true, p.path, reason
			return
		}
		if reason != "" {
			why = append(why, reason)
		}
	}
	if len(why) == 0 {
		why = append(why, "no signature from "+strings.Join(s.listDomains(), " or ")+
			", no trusted Authentication-Results for it, no Received hop from the list server")
	}
	if temp := s.pathTempError(); temp != "" {
		s.v.TempError = "DNS lookup failed: " + temp
		why = append([]string{s.v.TempError}, why...)
	}
	s.v.Reason = strings.Join(why, "; ")
}

// pathTempError is the DNS failure that kept a signature or ARC set of the
// list's domains from being verified, or "".
func (s *state) pathTempError() string {
	for _, sig := range s.v.Signatures {
		if s.isListDomain(sig.Domain) && sig.Result == ResultTempError {
			return sig.Reason
		}
	}
	for _, set := range s.v.ARC.Sets {
		if s.isListDomain(set.Domain) && (set.Seal == ResultTempError || set.MessageSignature == ResultTempError) {
			return set.Reason
		}
	}
	return ""
}

// dkimPath finds a signature of the list's domains that this verification
// found valid.
func (s *state) dkimPath() (bool, string) {
	reason := ""
	for _, sig := range s.v.Signatures {
		if !s.isListDomain(sig.Domain) {
			continue
		}
		if sig.Result == ResultPass && sig.VerifiedBy == "" {
			return true, "DKIM signature of " + sig.Domain + " verifies"
		}
		if reason != "" {
			continue
		}
		switch sig.Result {
		case ResultUnchecked, ResultPass:
			reason = "DKIM signature of " + sig.Domain + " not checked: " + s.uncheckedWhy()
		default:
			reason = fmt.Sprintf("DKIM signature of %s does not verify: %s", sig.Domain, sig.Reason)
		}
	}
	if reason == "" && len(s.listDomains()) > 0 {
		reason = "no DKIM signature of " + strings.Join(s.listDomains(), " or ")
	}
	return false, reason
}

// spfCheck reports the trusted receiving server's SPF result.
func (s *state) spfCheck() Check {
	for _, ar := range s.v.AuthResults {
		if ar.Method != "spf" {
			continue
		}
		c := Check{Domain: ar.Domain, Reason: "Authentication-Results of " + ar.AuthServID + ": spf=" + ar.Result}
		switch ar.Result {
		case "pass":
			c.Result = ResultPass
		case "none":
			c.Result = ResultNone
		case "temperror":
			c.Result = ResultTempError
		default:
			c.Result = ResultFail
		}
		return c
	}
	return Check{Result: ResultNone, Reason: "no SPF result in a trusted Authentication-Results"}
}
