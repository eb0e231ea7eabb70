package checks

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// International addresses (RFC 6530): a domain in Unicode (exämple.test)
// has an ASCII form (xn--exmple-cua.test, IDNA 2008) that every server
// takes; a local part in Unicode has none, and only a server that offers
// SMTPUTF8 (RFC 6531) takes it.

// errUTF8LocalPart is a non-ASCII local part for a server without SMTPUTF8.
var errUTF8LocalPart = errors.New("the local part is not ASCII and the server does not offer SMTPUTF8 (RFC 6531): it cannot be sent there")

// ASCIIAddress returns addr with its domain in its ASCII (A-label) form, or
// an error when the domain is not a valid international domain name. The
// local part is left as it is, ASCII or not.
func ASCIIAddress(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr, nil
	}
	local, domain := addr[:at], addr[at+1:]
	if isASCII(domain) {
		return addr, nil
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("domain %q is not a valid international domain name: %w", domain, err)
	}
	return local + "@" + ascii, nil
}

// asciiDomain is the ASCII form of a domain, lower-cased; a domain that is
// not a valid international name is only lower-cased.
func asciiDomain(d string) string {
	if !isASCII(d) {
		if a, err := idna.Lookup.ToASCII(d); err == nil {
			return a
		}
	}
	return strings.ToLower(d)
}

// SameAddress reports whether a and b are one mail address: local parts
// equal without regard to case (as listprobe has always compared them) and
// domains equal in their ASCII form, so that liste@exämple.test and
// liste@xn--exmple-cua.test are one list.
func SameAddress(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	la, da, oka := strings.Cut(a, "@")
	lb, db, okb := strings.Cut(b, "@")
	return oka && okb && strings.EqualFold(la, lb) && asciiDomain(da) == asciiDomain(db)
}

// envelope says how to give the server these addresses: as they are, with
// SMTPUTF8 when any is not ASCII and the server offers it; else each domain
// in its ASCII form, and an error naming the address whose local part
// cannot be sent.
func envelope(smtputf8 bool, from string, to []string) (string, []string, bool, error) {
	all := append([]string{from}, to...)
	ascii := true
	for _, a := range all {
		ascii = ascii && isASCII(a)
	}
	if ascii {
		return from, to, false, nil
	}
	if smtputf8 {
		return from, to, true, nil
	}
	out := make([]string, len(all))
	for i, a := range all {
		at := strings.LastIndexByte(a, '@')
		if at >= 0 && !isASCII(a[:at]) || at < 0 && !isASCII(a) {
			return "", nil, false, &addressError{addr: a, from: i == 0, err: errUTF8LocalPart}
		}
		conv, err := ASCIIAddress(a)
		if err != nil {
			return "", nil, false, &addressError{addr: a, from: i == 0, err: err}
		}
		out[i] = conv
	}
	return out[0], out[1:], false, nil
}

// addressError is an envelope address that cannot be given to the server.
type addressError struct {
	addr string
	from bool // MAIL FROM, not RCPT TO
	err  error
}

func (e *addressError) Error() string {
	return fmt.Sprintf("address %s: %v", Truncate(oneLine(e.addr), 320), e.err)
}

func (e *addressError) Unwrap() error { return e.err }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
