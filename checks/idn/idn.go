// Package idn implements what listprobe needs of international mail
// addresses (RFC 6530): the ASCII form of a domain (IDNA 2008, via
// golang.org/x/net/idna), comparing addresses whatever form their domains
// are written in, and choosing how to give a server an envelope: as it is
// with SMTPUTF8 (RFC 6531) when the server offers it, else with each domain
// in its ASCII form. A local part in Unicode has no ASCII form: only a
// server that offers SMTPUTF8 takes it.
package idn

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrUTF8LocalPart is a local part that is not ASCII, for a server without
// SMTPUTF8.
var ErrUTF8LocalPart = errors.New("the local part is not ASCII and the server does not offer SMTPUTF8 (RFC 6531): it cannot be sent there")

// ASCIIAddress returns addr with its domain in its ASCII (A-label) form, or
// an error when the domain is not a valid international domain name. The
// local part is left as it is, ASCII or not.
func ASCIIAddress(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr, nil
	}
	local, domain := addr[:at], addr[at+1:]
	if IsASCII(domain) {
		return addr, nil
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("domain %q is not a valid international domain name: %w", domain, err)
	}
	return local + "@" + ascii, nil
}

// ASCIIDomain is the ASCII form of a domain, lower-cased; a domain that is
// not a valid international name is only lower-cased.
func ASCIIDomain(d string) string {
	if !IsASCII(d) {
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
	ia, ib := strings.LastIndexByte(a, '@'), strings.LastIndexByte(b, '@')
	if ia < 0 || ib < 0 {
		return false
	}
	return strings.EqualFold(a[:ia], b[:ib]) && ASCIIDomain(a[ia+1:]) == ASCIIDomain(b[ib+1:])
}

// Envelope says how to give a server these addresses: as they are, with
// SMTPUTF8, when any is not ASCII and the server offers it (smtputf8);
// otherwise each domain in its ASCII form, or an *AddressError naming the
// address whose local part cannot be sent.
func Envelope(smtputf8 bool, from string, to []string) (string, []string, bool, error) {
	all := append([]string{from}, to...)
	ascii := true
	for _, a := range all {
		ascii = ascii && IsASCII(a)
	}
	if ascii {
		return from, to, false, nil
	}
	if smtputf8 {
		return from, to, true, nil
	}
	out := make([]string, len(all))
	for i, a := range all {
		local := a
		if at := strings.LastIndexByte(a, '@'); at >= 0 {
			local = a[:at]
		}
		if !IsASCII(local) {
			return "", nil, false, &AddressError{Address: a, From: i == 0, Err: ErrUTF8LocalPart}
		}
		conv, err := ASCIIAddress(a)
		if err != nil {
			return "", nil, false, &AddressError{Address: a, From: i == 0, Err: err}
		}
		out[i] = conv
	}
	return out[0], out[1:], false, nil
}

// AddressError is an envelope address that cannot be given to the server.
type AddressError struct {
	Address string
	From    bool // MAIL FROM, not RCPT TO
	Err     error
}

func (e *AddressError) Error() string {
	a := e.Address
	if len(a) > 320 {
		a = a[:320] + "..."
	}
	return fmt.Sprintf("address %q: %v", a, e.Err)
}

func (e *AddressError) Unwrap() error { return e.Err }

// IsASCII reports whether s is all ASCII.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
