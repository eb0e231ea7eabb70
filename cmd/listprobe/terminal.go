package main

import (
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// controlEscaper is the last guard between listprobe's output and a
// terminal. What once, explain and check-config print quotes servers,
// messages and config files; results are cleaned where they are read, and
// this makes sure that nothing that slipped through can move the cursor,
// clear the screen, set a window title, overwrite a line with a carriage
// return, or reorder a line with a bidi override. Control characters other
// than line feed and tab, and the bidi controls, are written as \u00XX
// escapes (valid inside JSON strings, where only C1 controls could appear
// raw); bytes that are not UTF-8 as \xNN.
type controlEscaper struct{ w io.Writer }

func (e *controlEscaper) Write(p []byte) (int, error) {
	if clean(p) {
		return e.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			out = fmt.Appendf(out, `\x%02x`, p[i])
		case mustEscape(r):
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, p[i:i+size]...)
		}
		i += size
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Unwrap returns the writer underneath, for isTerminal and the status line.
func (e *controlEscaper) Unwrap() io.Writer { return e.w }

func clean(p []byte) bool {
	for _, b := range p {
		if b < 0x20 && b != '\n' && b != '\t' || b >= 0x7f {
			return false
		}
	}
	return true
}

func mustEscape(r rune) bool {
	if r == '\n' || r == '\t' {
		return false
	}
	if unicode.IsControl(r) {
		return true
	}
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f',
		r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true // bidi controls: they reorder what a line shows
	}
	return false
}

// underlying returns the writer under any controlEscaper wrappers.
func underlying(w io.Writer) io.Writer {
	for {
		u, ok := w.(interface{ Unwrap() io.Writer })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}
