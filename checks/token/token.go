// Package token implements the probe token: a random id, the list and the
// send time, signed with HMAC-SHA256 so that any copy, notice or bounce
// that quotes it can be verified without state, and found in any text
// (Find) without trusting it until Verify says so.
package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Header is the header field that carries the probe token.
const Header = "X-Listprobe-Token"

// Prefix starts every probe token. It names the format version, so that
// a later format can be told apart.
const Prefix = "lp1"

// tokenEncoding is lower-case base32 without padding: case-insensitive on
// decode, and made only of characters that survive Subject headers, quoted
// subjects in notices and the local part of a Message-ID.
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const (
	tokenIDBytes  = 10 // 80 bits of randomness: 16 characters
	tokenMACBytes = 15 // 120 bits of HMAC-SHA256: 24 characters
)

// tokenPattern finds candidate tokens in any text: a header, a quoted subject
// or the local part of a Message-ID.
var tokenPattern = regexp.MustCompile(`(?i)\blp1\.[a-z2-7]{16}\.[0-9]{1,12}\.[a-z2-7]{2,200}\.[a-z2-7]{24}\b`)

// Token identifies one probe: a random id, the list it was posted to and the
// time it was sent. Encoded and signed, it is verifiable without any state.
type Token struct {
	ID     string
	List   string
	SentAt time.Time
}

// ErrForged is returned by Signer.Verify for a token whose signature does not
// match: it was not made with this signing key, or it was altered.
var ErrForged = errors.New("probe token signature does not verify")

// Signer signs and verifies probe tokens with an HMAC-SHA256 key.
type Signer struct {
	key []byte
}

// MinKeyLen is the shortest signing key NewSigner accepts.
const MinKeyLen = 16

// NewSigner returns a Signer for key, which must be at least MinKeyLen
// bytes long. Surrounding white space (a trailing newline in a key file) is
// ignored.
func NewSigner(key []byte) (*Signer, error) {
	k := []byte(strings.TrimSpace(string(key)))
	if len(k) < MinKeyLen {
		return nil, fmt.Errorf("signing key is %d bytes long, want at least %d", len(k), MinKeyLen)
	}
	return &Signer{key: k}, nil
}

// NewToken returns a token with a fresh random id for a probe of list sent at
// sentAt (kept to the second).
func (s *Signer) NewToken(list string, sentAt time.Time) Token {
	var id [tokenIDBytes]byte
	if _, err := rand.Read(id[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // rand.Read never fails on supported platforms
	}
	return Token{ID: tokenEncoding.EncodeToString(id[:]), List: strings.ToLower(list), SentAt: sentAt.Truncate(time.Second)}
}

// NewTokenWithOrigin is NewToken with the first two bytes of the id set to
// origin, so that the process that sent a probe can later recognise it as
// its own (after a restart, say) without keeping state. The other 64 bits
// of the id stay random.
func (s *Signer) NewTokenWithOrigin(list string, sentAt time.Time, origin [2]byte) Token {
	var id [tokenIDBytes]byte
	if _, err := rand.Read(id[2:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // rand.Read never fails on supported platforms
	}
	id[0], id[1] = origin[0], origin[1]
	return Token{ID: tokenEncoding.EncodeToString(id[:]), List: strings.ToLower(list), SentAt: sentAt.Truncate(time.Second)}
}

// Origin returns an origin for NewTokenWithOrigin that names label (a
// process's role and instance) under this signing key: the same for every
// run of that process, unguessable without the key, and with its high bit
// set, so that it never equals a random origin with the high bit clear.
func (s *Signer) Origin(label string) [2]byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("listprobe origin\x00" + label))
	sum := m.Sum(nil)
	return [2]byte{sum[0] | 0x80, sum[1]}
}

// Origin returns the first two bytes of the token's id: the origin
// NewTokenWithOrigin put there (random for NewToken).
func (t Token) Origin() ([2]byte, bool) {
	id, err := tokenEncoding.DecodeString(strings.ToLower(t.ID))
	if err != nil || len(id) != tokenIDBytes {
		return [2]byte{}, false
	}
	return [2]byte{id[0], id[1]}, true
}

// Encode returns the signed text form of t:
// lp1.<id>.<unix seconds>.<base32 list>.<base32 MAC>.
func (s *Signer) Encode(t Token) string {
	body := fmt.Sprintf("%s.%s.%d.%s", Prefix, strings.ToLower(t.ID), t.SentAt.Unix(), tokenEncoding.EncodeToString([]byte(strings.ToLower(t.List))))
	return body + "." + tokenEncoding.EncodeToString(s.mac(body))
}

func (s *Signer) mac(body string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return m.Sum(nil)[:tokenMACBytes]
}

// Verify checks an encoded token and returns what it carries. It returns
// ErrForged when the signature does not match, and another error when the
// text is not a token at all.
func (s *Signer) Verify(encoded string) (Token, error) {
	t, body, sig, err := parseToken(encoded)
	if err != nil {
		return Token{}, err
	}
	if !hmac.Equal(sig, s.mac(body)) {
		return Token{}, ErrForged
	}
	return t, nil
}

// Parse decodes an encoded token without verifying its signature: what
// it claims, for display when no signing key is at hand.
func Parse(encoded string) (Token, error) {
	t, _, _, err := parseToken(encoded)
	return t, err
}

func parseToken(encoded string) (t Token, body string, sig []byte, err error) {
	s := strings.ToLower(strings.TrimSpace(encoded))
	if !tokenPattern.MatchString(s) || tokenPattern.FindString(s) != s {
		return Token{}, "", nil, fmt.Errorf("%q is not a probe token", encoded)
	}
	parts := strings.Split(s, ".")
	secs, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return Token{}, "", nil, fmt.Errorf("probe token time %q: %w", parts[2], err)
	}
	list, err := tokenEncoding.DecodeString(parts[3])
	if err != nil {
		return Token{}, "", nil, fmt.Errorf("probe token list: %w", err)
	}
	sig, err = tokenEncoding.DecodeString(parts[4])
	if err != nil || len(sig) != tokenMACBytes {
		return Token{}, "", nil, fmt.Errorf("probe token signature is malformed")
	}
	t = Token{ID: parts[1], List: string(list), SentAt: time.Unix(secs, 0)}
	return t, strings.Join(parts[:4], "."), sig, nil
}

// Find returns every candidate probe token in text, lower-cased and in
// order of appearance, without duplicates. Candidates are not verified.
func Find(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range tokenPattern.FindAllString(text, -1) {
		m = strings.ToLower(m)
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}
