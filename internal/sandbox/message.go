package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// rawMessage is a message split into its header fields, kept byte for byte
// in their original order, and its body. Mailman (Python's email package)
// appends new fields at the bottom and deletes fields by name; rawMessage
// offers the same two operations so that the list copies look like the
// real ones, field order included.
type rawMessage struct {
	fields []rawField
	body   []byte
}

type rawField struct {
	key   string // as written, e.g. "Subject"
	value string // unfolded, leading white space trimmed
	raw   []byte // the complete field with its CRLF, folding kept
}

// parseMessage splits raw into header fields and body. Bare LF line endings
// are turned into CRLF first, as an MTA would.
func parseMessage(raw []byte) (*rawMessage, error) {
	raw = toCRLF(raw)
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("parse message header: %w", err)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return nil, fmt.Errorf("read message body: %w", err)
	}
	m := &rawMessage{body: body}
	fs := h.Fields()
	for fs.Next() {
		b, err := fs.Raw()
		if err != nil {
			return nil, fmt.Errorf("header field %s: %w", fs.Key(), err)
		}
		m.fields = append(m.fields, rawField{key: fs.Key(), value: fs.Value(), raw: append([]byte(nil), b...)})
	}
	return m, nil
}

// toCRLF normalises line endings to CRLF.
func toCRLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/40)
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// get returns the first value of key, or "".
func (m *rawMessage) get(key string) string {
	for _, f := range m.fields {
		if strings.EqualFold(f.key, key) {
			return f.value
		}
	}
	return ""
}

// has reports whether a field named key exists.
func (m *rawMessage) has(key string) bool {
	for _, f := range m.fields {
		if strings.EqualFold(f.key, key) {
			return true
		}
	}
	return false
}

// del removes every field named key.
func (m *rawMessage) del(key string) {
	out := m.fields[:0]
	for _, f := range m.fields {
		if !strings.EqualFold(f.key, key) {
			out = append(out, f)
		}
	}
	m.fields = out
}

// add appends a field at the bottom of the header. Mailman sends
// msg.as_string(), which does not fold header fields, so neither does add.
func (m *rawMessage) add(key, value string) {
	m.fields = append(m.fields, rawField{key: key, value: value, raw: []byte(key + ": " + value + "\r\n")})
}

// prepend inserts a field at the top, as MTAs do with Received and
// Return-Path.
func (m *rawMessage) prepend(key, value, cont string) {
	f := rawField{key: key, value: value, raw: []byte(foldField(key, value, cont))}
	m.fields = append([]rawField{f}, m.fields...)
}

// replace changes the value of the first field named key in place,
// keeping its position (like Python's Message.replace_header).
func (m *rawMessage) replace(key, value string) {
	for i, f := range m.fields {
		if strings.EqualFold(f.key, key) {
			m.fields[i] = rawField{key: f.key, value: value, raw: []byte(f.key + ": " + value + "\r\n")}
			return
		}
	}
	m.add(key, value)
}

// bytes renders the message.
func (m *rawMessage) bytes() []byte {
	var b bytes.Buffer
	for _, f := range m.fields {
		b.Write(f.raw)
	}
	b.WriteString("\r\n")
	b.Write(m.body)
	return b.Bytes()
}

// clone returns a deep enough copy to mutate headers and body independently.
func (m *rawMessage) clone() *rawMessage {
	c := &rawMessage{fields: append([]rawField(nil), m.fields...), body: append([]byte(nil), m.body...)}
	return c
}

// maxLineLen is where MTAs fold the fields they add (Received).
const maxLineLen = 78

// foldField renders "Key: value\r\n", folding at spaces so that no line is
// longer than maxLineLen when it can be helped; cont starts each
// continuation line.
func foldField(key, value, cont string) string {
	var b strings.Builder
	line := key + ": "
	words := strings.Split(value, " ")
	first := true
	for _, w := range words {
		switch {
		case first:
			line += w
			first = false
		case len(line)+1+len(w) > maxLineLen && strings.TrimSpace(line) != "":
			b.WriteString(line)
			b.WriteString("\r\n")
			line = cont + w
		default:
			line += " " + w
		}
	}
	b.WriteString(line)
	b.WriteString("\r\n")
	return b.String()
}

// wordDecoder decodes RFC 2047 encoded words in any charset go-message
// knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeHeader decodes RFC 2047 encoded words; on error it returns the
// value as is, like Mailman's oneline().
func decodeHeader(v string) string {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// oneline joins a possibly multi-line decoded header value into one line.
func oneline(v string) string {
	v = decodeHeader(v)
	v = strings.ReplaceAll(v, "\r\n", "")
	return strings.ReplaceAll(v, "\n", "")
}

// isASCII reports whether s is 7-bit.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// headerSender is Mailman's msg.sender: the first address of From:, then
// the envelope sender, Reply-To: and Sender:, lower-cased.
func headerSender(m *rawMessage, envelopeFrom string) string {
	for _, key := range []string{"From", "", "Reply-To", "Sender"} {
		if key == "" {
			if envelopeFrom != "" {
				return strings.ToLower(envelopeFrom)
			}
			continue
		}
		for _, f := range m.fields {
			if !strings.EqualFold(f.key, key) {
				continue
			}
			addrs, err := mail.ParseAddressList(decodeHeader(f.value))
			if err == nil && len(addrs) > 0 {
				return strings.ToLower(addrs[0].Address)
			}
		}
	}
	return ""
}
