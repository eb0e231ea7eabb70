package probe

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// readable makes text from a mail server fit for a label, a log line, the
// JSON and the page: bytes that are not UTF-8 are read as Windows-1252 (what
// servers that send undeclared 8-bit text use in practice), control
// characters become spaces, and it is one line.
func readable(s string) string {
	if !utf8.ValidString(s) {
		if d, err := charmap.Windows1252.NewDecoder().String(s); err == nil {
			s = d
		}
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
