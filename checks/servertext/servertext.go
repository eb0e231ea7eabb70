// Package servertext implements the cleaning that every text a server sends
// goes through before listprobe stores it, for the packages below checks
// that talk to servers (mailmanrest, submit): one line of valid UTF-8
// without control characters, cut to a length. It reads text as
// checks.ReadableText does: valid UTF-8 as it is, anything else as
// Windows-1252.
package servertext

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// MaxLen is the usual bound on one text from a server: the bound on a
// notice's reason.
const MaxLen = 1000

// IsBidiControl reports whether r is one of Unicode's bidirectional
// formatting characters (marks, embeddings, overrides, isolates). A server
// text carrying one can reorder what a page, a log line or an alert shows
// ("lost" written to read as "delivered"); listprobe stores none of them.
func IsBidiControl(r rune) bool {
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f',
		r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// Clean makes s one line of valid UTF-8 without control characters or
// bidi controls (line breaks and other white space become single spaces)
// and cuts it to at
// most n bytes, never inside a rune, marking the cut with "...".
func Clean(s string, n int) string {
	if !utf8.ValidString(s) {
		if dec, err := charmap.Windows1252.NewDecoder().String(s); err == nil {
			s = dec
		}
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\uFEFF' || r == '\uFFFD' || IsBidiControl(r):
			return -1
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return Truncate(strings.Join(strings.Fields(s), " "), n)
}

// Truncate shortens s to at most n bytes, never inside a rune, and marks
// the cut with "...".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut]) + "..."
}
