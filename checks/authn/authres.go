package authn

import (
	"net"
	"regexp"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// Hop is what a Received field says about one handover.
type Hop struct {
	Helo    string `json:"helo,omitempty"`    // the name the sender gave (HELO/EHLO): chosen by the sender, never trusted
	Host    string `json:"host,omitempty"`    // the reverse name the receiver recorded, in parentheses
	Address string `json:"address,omitempty"` // the address the receiver recorded, in brackets
	By      string `json:"by,omitempty"`      // the receiving host
}

// AuthResult is one result of a trusted Authentication-Results field.
type AuthResult struct {
	AuthServID string `json:"authserv_id"`
	Method     string `json:"method"` // dkim, spf, dmarc, arc
	Result     string `json:"result"`
	// Domain is what the result is about: header.d (dkim), the
	// smtp.mailfrom domain or smtp.helo (spf), header.from (dmarc).
	Domain string `json:"domain,omitempty"`
}

var (
	reFrom       = regexp.MustCompile(`(?i)^\s*from\s+([^\s;()]+)?\s*(\(([^()]*)\))?`)
	reBy         = regexp.MustCompile(`(?i)(?:^|\s)by\s+([^\s;()]+)`)
	reBracketed  = regexp.MustCompile(`\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]`)
	reHostInInfo = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)
)

// parseReceived reads the from and by clauses of a Received field. The
// parenthesised TCP information after the from name is what the receiver
// itself saw: "from helo (reverse.name [192.0.2.1])" (Postfix),
// "from helo ([192.0.2.1])".
func parseReceived(v string) Hop {
	if len(v) > maxReceivedBytes {
		v = v[:maxReceivedBytes]
	}
	if i := strings.LastIndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	var hop Hop
	if m := reFrom.FindStringSubmatch(v); m != nil {
		hop.Helo = strings.ToLower(strings.Trim(m[1], "[]"))
		info := m[3]
		if a := reBracketed.FindStringSubmatch(info); a != nil {
			hop.Address = strings.ToLower(a[1])
		}
		for _, w := range strings.Fields(info) {
			w = strings.ToLower(w)
			if reHostInInfo.MatchString(w) && net.ParseIP(w) == nil && w != "unknown" && !strings.Contains(w, "=") {
				hop.Host = strings.TrimSuffix(w, ".")
				break
			}
		}
	}
	if m := reBy.FindStringSubmatch(stripComments(v)); m != nil {
		hop.By = strings.ToLower(strings.TrimSuffix(m[1], "."))
	}
	return hop
}

const maxReceivedBytes = 4 << 10

// names reports whether the hop's recorded connection (reverse name or
// address, never the HELO name) is one of hosts.
// Names reports whether the hop's connection data (the reverse name or
// the address the receiver recorded, never the HELO name) names one of
// hosts.
func (h Hop) Names(hosts []string) bool { return h.names(hosts) }

func (h Hop) names(hosts []string) bool {
	for _, x := range hosts {
		x = strings.ToLower(strings.TrimSuffix(strings.Trim(strings.TrimSpace(x), "[]"), "."))
		if x == "" {
			continue
		}
		if x == h.Host || x == h.Address || sameIP(x, h.Address) {
			return true
		}
	}
	return false
}

func sameIP(a, b string) bool {
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	return ia != nil && ib != nil && ia.Equal(ib)
}

// byReceiver reports whether the receiving server wrote the hop.
func (s *state) byReceiver(h Hop) bool {
	for _, x := range s.opts.ReceiverHosts {
		if h.By != "" && strings.EqualFold(strings.TrimSuffix(x, "."), h.By) {
			return true
		}
	}
	return false
}

// internal reports whether a hop the receiver wrote came from the receiver
// itself (a content filter, LMTP to the mailbox): the connection names a
// receiver host, or, with no connection recorded at all (a local socket),
// the from name does.
func (s *state) internal(h Hop) bool {
	if h.Host == "" && h.Address == "" {
		return h.Helo == "" || contains(s.opts.ReceiverHosts, h.Helo)
	}
	return h.names(s.opts.ReceiverHosts)
}

// readTrustedZone walks the header from the top (the newest fields) down
// to the hop where the receiving server took the message in from outside.
// Only the Authentication-Results fields above that hop, with a trusted
// authserv-id, were written by the receiver (RFC 8601 sections 5 and
// 7.1): everything below, and everything when a stranger's Received field
// comes first, was written by someone else.
func (s *state) readTrustedZone() {
	if len(s.opts.ReceiverHosts) == 0 {
		return
	}
	var candidates []string
	received := 0
	for i, f := range s.fields {
		switch f.lower {
		case "authentication-results":
			if len(candidates) < maxAuthResults {
				candidates = append(candidates, f.value())
			}
		case "received":
			received++
			hop := parseReceived(f.value())
			if received > maxReceived || !s.byReceiver(hop) {
				return // a stranger's hop, or the walk is too long: nothing is trusted
			}
			if s.internal(hop) {
				continue
			}
			s.v.Received = &hop
			if s.opts.AuthResultsBelowReceived && i+1 < len(s.fields) && s.fields[i+1].lower == "authentication-results" {
				candidates = append(candidates, s.fields[i+1].value())
			}
			for _, c := range candidates {
				s.v.AuthResults = append(s.v.AuthResults, s.parseAuthResults(c)...)
			}
			return
		}
	}
}

// parseAuthResults reads one Authentication-Results value if its
// authserv-id is trusted.
func (s *state) parseAuthResults(v string) []AuthResult {
	id, results, _ := authres.Parse(stripComments(v))
	if !contains(s.opts.AuthServIDs, id) {
		return nil
	}
	var out []AuthResult
	for _, r := range results {
		ar := AuthResult{AuthServID: strings.ToLower(id)}
		switch r := r.(type) {
		case *authres.DKIMResult:
			ar.Method, ar.Result, ar.Domain = "dkim", string(r.Value), normDomain(r.Domain)
			if ar.Domain == "" {
				ar.Domain = addressDomain(r.Identifier)
			}
		case *authres.SPFResult:
			ar.Method, ar.Result, ar.Domain = "spf", string(r.Value), addressDomain(r.From)
			if ar.Domain == "" {
				ar.Domain = normDomain(r.Helo)
			}
		case *authres.DMARCResult:
			ar.Method, ar.Result, ar.Domain = "dmarc", string(r.Value), normDomain(r.From)
		case *authres.ARCResult:
			ar.Method, ar.Result = "arc", string(r.Value)
		default:
			continue
		}
		out = append(out, ar)
	}
	return out
}

// addressDomain returns the domain of "local@domain", "@domain" or
// "domain".
func addressDomain(a string) string {
	a = strings.Trim(strings.TrimSpace(a), "<>\"")
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		a = a[i+1:]
	}
	return normDomain(a)
}

// stripComments removes RFC 5322 comments (nested parentheses, outside
// quoted strings), which go-msgauth's parser does not expect: OpenDKIM
// writes "dkim=pass (2048-bit key; unprotected) header.d=...".
func stripComments(v string) string {
	var b strings.Builder
	depth, quoted, escaped := 0, false, false
	for _, r := range v {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case quoted && r == '"':
			quoted = false
		case depth == 0 && r == '"':
			quoted = true
		case !quoted && r == '(':
			depth++
			continue
		case !quoted && r == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// authresPath finds a trusted dkim=pass or spf=pass for the list's domains.
func (s *state) authresPath() (bool, string) {
	for _, ar := range s.v.AuthResults {
		if ar.Result != "pass" {
			continue
		}
		switch {
		case ar.Method == "dkim" && s.isListDomain(ar.Domain):
			return true, "Authentication-Results of " + ar.AuthServID + ": dkim=pass for " + ar.Domain
		case ar.Method == "spf" && s.isListDomain(ar.Domain):
			return true, "Authentication-Results of " + ar.AuthServID + ": spf=pass for " + ar.Domain
		}
	}
	return false, ""
}

// receivedPath reports whether the receiver's entry hop names the list
// server.
func (s *state) receivedPath() (bool, string) {
	h := s.v.Received
	if h == nil || len(s.opts.ListHosts) == 0 {
		return false, ""
	}
	who := h.Host
	if h.Address != "" {
		who += " [" + h.Address + "]"
	}
	if !h.names(s.opts.ListHosts) {
		if who = strings.TrimSpace(who); who == "" {
			who = "a host it did not record"
		}
		return false, "Received by " + h.By + " from " + who + ", not the list server"
	}
	return true, "Received by " + h.By + " from the list server " + strings.TrimSpace(who)
}
