package checks

import (
	"io"
	"mime"
	netmail "net/mail"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/listprobe/listprobe/checks/idn"
)

// What a message's header says, read within bounds: who sent it (a person,
// a mail server, or one of a list's robot addresses) and its fields
// decoded to one line of UTF-8.

// sender is what the From field says about who wrote a message.
type sender struct {
	address      string // lower-case address, "" when there is none
	mailerDaemon bool   // MAILER-DAEMON, postmaster: a mail server writing about delivery
	// role is the robot role of the address: "owner", "bounces",
	// "request"... for a list's robot (list is then that list's posting
	// address), "site" for a list server's own robot (mailman@, sympa@) at
	// domain. "" for anyone else.
	role   string
	list   string
	domain string
	// authors counts the addresses in From: a message "from" the list and
	// someone else at once is no message of the list's.
	authors int
}

// robotOf reports whether the sender is one of list's robot addresses, or
// the robot of the list server that runs it.
func (s sender) robotOf(list string) bool {
	switch s.role {
	case "":
		return false
	case "site":
		_, domain, _ := strings.Cut(list, "@")
		return idn.ASCIIDomain(domain) == idn.ASCIIDomain(s.domain)
	}
	return idn.SameAddress(s.list, list)
}

// The local-part suffixes of a list's robot addresses: Mailman 2.1 and 3
// (-bounces, -owner, -request, -admin, -confirm, -join, -leave,
// -subscribe, -unsubscribe), Sympa (-editor, -request, -owner). mlmmj uses
// "+" instead of "-" (list+owner, list+bounces-...).
var robotSuffixes = []string{"bounces", "owner", "request", "admin", "confirm", "join", "leave", "subscribe", "unsubscribe", "editor", "moderate", "help"}

// siteRobots are the local parts of a list server's own addresses.
var siteRobots = map[string]bool{"mailman": true, "mailman-bounces": true, "mailman-owner": true, "sympa": true, "sympa-request": true, "mlmmj": true}

var reAddress = regexp.MustCompile(`[^\s<>"(),;:@]+@[^\s<>"(),;:@]+`)

var addressParser = netmail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charsetReader}}

func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	if message.CharsetReader == nil {
		return input, nil
	}
	return message.CharsetReader(strings.ToLower(charset), input)
}

func senderOf(h mail.Header) sender {
	var s sender
	raw := fieldText(h, "From")
	if addrs, err := addressParser.ParseList(raw); err == nil && len(addrs) > 0 {
		s.address = strings.ToLower(addrs[0].Address)
		s.authors = len(addrs)
	} else if m := reAddress.FindAllString(raw, 2); len(m) > 0 {
		s.address = strings.ToLower(m[0])
		s.authors = len(m)
	}
	s.address = readableString(s.address)
	local, domain, _ := strings.Cut(s.address, "@")
	if f := strings.Fields(raw); s.address == "" && len(f) > 0 {
		// "From: MAILER-DAEMON (Mail Delivery System)" without a domain, as
		// some servers write it.
		local = strings.ToLower(strings.Trim(f[0], "<>\""))
	}
	switch local {
	case "mailer-daemon", "mailerdaemon", "mailer_daemon", "postmaster", "mdaemon":
		s.mailerDaemon = true
	}
	if domain == "" {
		return s
	}
	s.domain = domain
	if siteRobots[local] {
		s.role = "site"
		return s
	}
	if base, ext, ok := strings.Cut(local, "+"); ok && base != "" {
		// mlmmj's robots (list+owner, list+bounces-12) or VERP
		// (list-bounces+probe=example.org).
		for _, role := range robotSuffixes {
			if ext == role || strings.HasPrefix(ext, role+"-") {
				s.role, s.list = role, base+"@"+domain
				return s
			}
		}
		local = base
	}
	for _, role := range robotSuffixes {
		if base, ok := strings.CutSuffix(local, "-"+role); ok && base != "" {
			s.role, s.list = role, base+"@"+domain
			return s
		}
	}
	return s
}

// autoSubmitted reports an RFC 3834 Auto-Submitted field other than "no".
func autoSubmitted(h mail.Header) bool {
	v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted")))
	return v != "" && !strings.HasPrefix(v, "no")
}

// fieldText returns the raw value of a header field, cut to maxFieldBytes:
// a 20 MB field must not make 20 MB of work.
func fieldText(h mail.Header, key string) string {
	v := h.Get(key)
	if len(v) > maxFieldBytes {
		v = v[:maxFieldBytes]
	}
	return v
}

// contentType returns the lower-cased media type and the parameters of
// the Content-Type field, read within maxFieldBytes.
func contentType(h mail.Header) (string, map[string]string) {
	mt, params, _ := mime.ParseMediaType(fieldText(h, "Content-Type"))
	return strings.ToLower(mt), params
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// decodedSubject returns the Subject as one line of UTF-8: RFC 2047 words
// decoded in their declared charsets, raw 8-bit bytes read as ReadableText
// reads them.
func decodedSubject(h mail.Header) string {
	return decodedField(fieldText(h, "Subject"))
}

func decodedField(raw string) string {
	s, err := wordDecoder.DecodeHeader(raw)
	if err != nil {
		s = raw
	}
	return collapse(readableString(s))
}

// listIDField returns the identifier of the List-Id field, lower-cased and
// without angle brackets: "Test list <test.lists.example.org>" gives
// "test.lists.example.org".
func listIDField(h mail.Header) string {
	id := fieldText(h, "List-Id")
	if i := strings.LastIndexByte(id, '<'); i >= 0 {
		id = id[i+1:]
		if j := strings.IndexByte(id, '>'); j >= 0 {
			id = id[:j]
		}
	}
	return strings.ToLower(strings.TrimSpace(readableString(id)))
}

// addressOf reads the address out of "rfc822; user@example.org" or
// "<user@example.org>".
func addressOf(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	if a, err := netmail.ParseAddress(v); err == nil {
		return strings.ToLower(a.Address)
	}
	return strings.ToLower(reAddress.FindString(v))
}
