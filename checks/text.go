package checks

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	// Declared charsets (ISO-8859-x, Windows-125x, Shift_JIS, ISO-2022-JP,
	// GB2312, KOI8-R...) in MIME parts and RFC 2047 words decode in this
	// package itself, not only in a binary that happens to import it.
	_ "github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"

	"github.com/listprobe/listprobe/checks/servertext"
)

// ReadableText turns bytes a mail server sent, in no declared charset (an
// SMTP reply, a DSN's Diagnostic-Code, a text part without a charset), into
// one line of valid UTF-8 fit for a log line, a label, JSON or a page.
//
// Bytes that are valid UTF-8 are kept as they are. Anything else is read as
// Windows-1252, a superset of Latin-1 and what such servers send in
// practice, so that "Empf\xe4nger" reads "Empfänger", not "Empf�nger".
// Control characters (NUL, ESC, C1 controls, DEL) are dropped, runs of white
// space including line ends become one space, and the ends are trimmed.
func ReadableText(b []byte) string {
	return collapse(decodeUndeclared(b))
}

// decodeUndeclared is ReadableText without joining lines: parsers still
// need the line structure of a notice or a report. It keeps \n and \t and
// drops every other control character.
func decodeUndeclared(b []byte) string {
	var s string
	if utf8.Valid(b) {
		s = string(b)
	} else if dec, err := charmap.Windows1252.NewDecoder().Bytes(b); err == nil {
		// The five bytes Windows-1252 leaves undefined decode as U+FFFD;
		// like C1 controls, they carry nothing readable.
		s = strings.ReplaceAll(string(dec), "\uFFFD", "")
	} else {
		s = string(b)
	}
	return dropControls(strings.ToValidUTF8(s, "\uFFFD"))
}

// readableString is decodeUndeclared for a string that may hold raw bytes
// (a header field read without a charset).
func readableString(s string) string {
	if utf8.ValidString(s) && !hasControls(s) {
		return s
	}
	return decodeUndeclared([]byte(s))
}

func hasControls(s string) bool {
	for _, r := range s {
		if isDroppedControl(r) {
			return true
		}
	}
	return false
}

func isDroppedControl(r rune) bool {
	if r == '\n' || r == '\t' {
		return false
	}
	return unicode.IsControl(r) && r != '\r' || r == '\uFEFF' || servertext.IsBidiControl(r)
}

// dropControls removes control characters except line ends and tabs; CR is
// turned into a line end.
func dropControls(s string) string {
	if !hasControls(s) && !strings.ContainsRune(s, '\r') {
		return s
	}
	s = normalizeNL(s)
	return strings.Map(func(r rune) rune {
		switch {
		case !isDroppedControl(r):
			return r
		case unicode.IsSpace(r): // form feed, vertical tab, NEL
			return ' '
		}
		return -1
	}, s)
}

// oneLine makes any text one line of valid UTF-8 without controls: the last
// guard before a reason leaves the classifier.
func oneLine(s string) string {
	return collapse(dropControls(strings.ToValidUTF8(s, "\uFFFD")))
}

// collapse joins the words of s with single spaces: Mailman and MTAs wrap
// their text, and the wrapping carries no meaning.
func collapse(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

var reHyphenBreak = regexp.MustCompile(`(\w)-\n[ \t]*(\w)`)

// unwrap is collapse for wrapped prose: Python's textwrap, which Mailman
// uses, also breaks lines after the hyphen of "test-owner".
func unwrap(s string) string {
	return collapse(reHyphenBreak.ReplaceAllString(s, "$1-$2"))
}

// Truncate shortens s to at most n bytes, never inside a rune, and marks
// the cut with "...". Text from servers goes through it before it reaches
// a label, a log line or a page. It is servertext.Truncate, kept here for
// the callers that already import checks.
func Truncate(s string, n int) string { return servertext.Truncate(s, n) }

func normalizeNL(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
