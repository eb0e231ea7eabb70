package authn

import (
	"bytes"
	"context"
	"strings"
	"time"
)

// Result is the outcome of one check, in the words of RFC 8601.
type Result string

// Results. Unchecked is listprobe's own: the check needs the body and the
// caller had only the header (or a cut body).
const (
	ResultPass      Result = "pass"
	ResultFail      Result = "fail"
	ResultNone      Result = "none"
	ResultTempError Result = "temperror" // a DNS failure: says nothing about the message
	ResultPermError Result = "permerror" // a malformed signature, key or record
	ResultUnchecked Result = "unchecked" // the body was not available
)

// Check is the result of one check, with the domain it is about.
type Check struct {
	Result Result `json:"result"`
	Domain string `json:"domain"`
	Reason string `json:"reason,omitempty"`
}

// Checks is the per-check verdict of a list copy (the "authentication"
// object of once's JSON).
type Checks struct {
	DKIM                Check `json:"dkim"`
	SPF                 Check `json:"spf"`
	DMARC               Check `json:"dmarc"`
	ARC                 Check `json:"arc"`
	ListID              Check `json:"list_id"`
	OneClickUnsubscribe Check `json:"one_click_unsubscribe"`
}

// Path names how a message was shown to come from the list's server.
type Path string

// Paths, in the order Verify tries them.
const (
	PathDKIM     Path = "dkim"     // a verifying DKIM signature of the list's domain or a signing domain
	PathARC      Path = "arc"      // a verifying ARC set (seal and message signature) of such a domain
	PathAuthRes  Path = "authres"  // the trusted receiving server's Authentication-Results
	PathReceived Path = "received" // the Received hop the trusted receiving server added
)

// Options says whom to trust. The zero value trusts nobody: every message
// is then unauthenticated, but its Checks are still computed.
type Options struct {
	// ListDomain is the list's domain, the right-hand side of its address.
	ListDomain string
	// SigningDomains are further d= domains whose DKIM signatures or ARC
	// seals count as the list server's (a provider's signing domain).
	SigningDomains []string
	// AuthServIDs are the authserv-ids of the receiving server (the
	// reader's): only its Authentication-Results count (RFC 8601 section
	// 5), and only those above the hop where it took the message in.
	AuthServIDs []string
	// ReceiverHosts are the names the receiving server writes after "by"
	// in its Received fields. Default: AuthServIDs.
	ReceiverHosts []string
	// AuthResultsBelowReceived also trusts the one field directly below
	// the receiver's entry hop when it is an Authentication-Results: where
	// rspamd's milter puts its own ("just after the first Received"). The
	// sender's fields start at that very place, so turn this on only for
	// a receiver that adds its results to every message, or removes the
	// incoming ones from every message (rspamd's milter_headers removes
	// them, except for the local and authenticated senders it skips by
	// default). Default false: only the fields above the entry hop.
	AuthResultsBelowReceived bool
	// ListHosts are the list server's host names or IP addresses as the
	// receiving server records the connection in its Received field (the
	// reverse name or address in parentheses, never the HELO name).
	ListHosts []string
	// Resolver looks up keys and DMARC records. Nil: every lookup fails
	// with a temporary error.
	Resolver TXTResolver
	// MaxLookups caps the distinct DNS names looked up per message.
	// Default 16.
	MaxLookups int
	// Timeout bounds the whole verification. Default 10s.
	Timeout time.Duration
}

// Bounds of the work on one message: real messages stay far below them,
// and a hostile one is judged on what fits.
const (
	defaultMaxLookups = 16
	defaultTimeout    = 10 * time.Second
	maxHeaderBytes    = 1 << 20 // beyond it the header is not read
	maxFields         = 1000    // header fields
	maxSignatures     = 8       // DKIM-Signature fields verified, topmost first
	maxSignedFields   = 128     // h= entries of one signature
	maxARCSets        = 50      // RFC 8617 section 4.2.1
	maxAuthResults    = 16      // trusted Authentication-Results fields read
	maxReceived       = 32      // Received fields walked from the top
)

// Message is a message as listprobe has it: the raw header section and,
// when fetched, the body.
type Message struct {
	Header []byte // the raw header section, CRLF or LF line ends
	Body   []byte // the raw body, nil when not fetched
	// BodyComplete says Body is the whole body. False (header only, or a
	// body cut at a fetch limit): body hashes cannot be checked and the
	// DKIM and ARC checks say unchecked.
	BodyComplete bool
	// HeaderTruncated says Header was cut at a fetch limit: signed fields
	// may be missing, so DKIM signatures and the ARC chain say unchecked.
	HeaderTruncated bool
}

// SplitMessage splits a whole raw message (a saved .eml) into header and
// body.
func SplitMessage(raw []byte) Message {
	// The header ends at the first empty line, whatever its line ends.
	crlf, lf := bytes.Index(raw, []byte("\r\n\r\n")), bytes.Index(raw, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf+1 < lf):
		return Message{Header: raw[:crlf+2], Body: raw[crlf+4:], BodyComplete: true}
	case lf >= 0:
		return Message{Header: raw[:lf+1], Body: raw[lf+2:], BodyComplete: true}
	}
	return Message{Header: raw, Body: nil, BodyComplete: true}
}

// Verdict is what a message proves about its sender.
type Verdict struct {
	// Authenticated says the list's server provably sent the message, by
	// Path.
	Authenticated bool `json:"authenticated"`
	Path          Path `json:"path,omitempty"`
	// Reason says, in a line, why the message is authenticated or not:
	// "DKIM signature of lists.example.test verifies", "DKIM signature of
	// lists.example.test does not verify: body hash did not verify".
	Reason string `json:"reason"`
	// TempError is the DNS failure that kept a path from being checked (a
	// key of the list's domains could not be fetched) when no other path
	// proved the message: it is then error-class evidence, neither
	// believed nor disbelieved. Empty when authenticated, or when DNS
	// answered every lookup that could have proved it.
	TempError string `json:"temperror,omitempty"`
	// BodyChecked says the body and the header were complete, so
	// signatures were checked.
	BodyChecked bool `json:"body_checked"`
	// Checks are the per-check results.
	Checks Checks `json:"authentication"`
	// Signatures are the DKIM signatures, topmost first (at most
	// maxSignatures).
	Signatures []Signature `json:"signatures,omitempty"`
	// ARC is the ARC chain.
	ARC ARCChain `json:"arc"`
	// AuthResults are the results of the trusted Authentication-Results.
	AuthResults []AuthResult `json:"authentication_results,omitempty"`
	// Received is the hop where the receiving server took the message in,
	// when it was found.
	Received *Hop `json:"received,omitempty"`
}

// Verify judges msg. It never fails: what cannot be checked says so in the
// verdict. The DNS lookups it makes are bounded by opts (MaxLookups,
// Timeout) and end with ctx.
func Verify(ctx context.Context, msg Message, opts *Options) *Verdict {
	o := withDefaults(opts)
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	v := &Verdict{BodyChecked: msg.BodyComplete && !msg.HeaderTruncated}
	fields, err := readFields(msg.Header)
	if err != nil {
		v.Reason = "header not checked: " + err.Error()
		v.Checks = uncheckedChecks(v.Reason)
		cleanVerdict(v)
		return v
	}
	l := newLookups(ctx, o.Resolver, o.MaxLookups)
	s := &state{opts: o, fields: fields, msg: msg, l: l, v: v}
	s.run()
	cleanVerdict(v)
	return v
}

func withDefaults(opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxLookups <= 0 {
		o.MaxLookups = defaultMaxLookups
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if len(o.ReceiverHosts) == 0 {
		o.ReceiverHosts = o.AuthServIDs
	}
	o.ListDomain = normDomain(o.ListDomain)
	return o
}

func readFields(header []byte) ([]field, error) {
	if len(header) > maxHeaderBytes {
		return nil, errHeaderTooBig
	}
	return parseHeader(header, maxFields)
}

func uncheckedChecks(reason string) Checks {
	c := Check{Result: ResultPermError, Reason: reason}
	return Checks{DKIM: c, SPF: c, DMARC: c, ARC: c, ListID: c, OneClickUnsubscribe: c}
}

// state is one verification in progress.
type state struct {
	opts   Options
	fields []field
	msg    Message
	l      *lookups
	v      *Verdict
}

func (s *state) run() {
	s.verifyDKIM()
	s.verifyARC()
	s.readTrustedZone()
	s.useTrustedDKIM()
	s.checkDMARC()
	s.checkListHeaders()
	s.decide()
}

// listDomains are the d= domains whose signatures count as the list
// server's.
func (s *state) listDomains() []string {
	var ds []string
	if s.opts.ListDomain != "" {
		ds = append(ds, s.opts.ListDomain)
	}
	for _, d := range s.opts.SigningDomains {
		if d = normDomain(d); d != "" {
			ds = append(ds, d)
		}
	}
	return ds
}

func (s *state) isListDomain(d string) bool {
	d = normDomain(d)
	for _, ld := range s.listDomains() {
		if d == ld {
			return true
		}
	}
	return false
}

func normDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
}
