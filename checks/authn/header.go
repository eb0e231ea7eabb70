package authn

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// field is one header field as it was transmitted.
type field struct {
	lower string // the field name in lower case
	raw   string // "Name: value\r\n", folded lines kept, CRLF line ends
}

// value returns the field's value unfolded, without the name and colon,
// trimmed.
func (f field) value() string {
	_, v, _ := strings.Cut(f.raw, ":")
	v = strings.ReplaceAll(v, "\r\n", "")
	return strings.TrimSpace(v)
}

// errHeaderTooBig says that a header has more fields than Limits allow.
var errHeaderTooBig = errors.New("header too big")

// parseHeader splits a raw header section into fields, normalising bare LF
// line ends to CRLF. It stops at the first empty line. A line that is
// neither a field nor a continuation (no colon) is skipped, as DKIM
// verifiers do not see it either. More than maxFields fields is an error.
func parseHeader(raw []byte, maxFields int) ([]field, error) {
	var fields []field
	for len(raw) > 0 {
		line := raw
		rest := []byte(nil)
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, rest = raw[:i], raw[i+1:]
		}
		raw = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) > 0 {
				fields[len(fields)-1].raw += string(line) + "\r\n"
			}
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		if len(fields) == maxFields {
			return nil, fmt.Errorf("%w: more than %d fields", errHeaderTooBig, maxFields)
		}
		fields = append(fields, field{
			lower: strings.ToLower(string(bytes.TrimSpace(name))),
			raw:   string(line) + "\r\n",
		})
	}
	return fields, nil
}

// writeHeader renders fields back as a header section with its empty line.
func writeHeader(fields []field) []byte {
	var b bytes.Buffer
	for _, f := range fields {
		b.WriteString(f.raw)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// values returns the values of the fields named name (lower case), topmost
// first.
func values(fields []field, name string) []string {
	var vs []string
	for _, f := range fields {
		if f.lower == name {
			vs = append(vs, f.value())
		}
	}
	return vs
}

// parseTags parses a DKIM tag list (RFC 6376 section 3.2): "t=v; t=v".
// Whitespace around tags and values is dropped; a duplicate tag or a
// segment without "=" is an error.
func parseTags(s string) (map[string]string, error) {
	tags := make(map[string]string)
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, errors.New("malformed tag list")
		}
		k = strings.TrimSpace(k)
		if _, dup := tags[k]; dup {
			return nil, fmt.Errorf("duplicate tag %q", k)
		}
		tags[k] = strings.TrimSpace(v)
	}
	return tags, nil
}

// tagList splits a colon-separated tag value ("from:to:subject"), with
// whitespace removed.
func tagList(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ":") {
		if t = stripWSP(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// stripWSP removes all whitespace (folding included), as DKIM does in
// base64 and list values.
func stripWSP(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// canonHeader canonicalises one raw field for signing (RFC 6376 section
// 3.4.1 simple: unchanged; 3.4.2 relaxed: lower-case name, unfolded,
// whitespace runs made one space, none around the colon or at the end).
func canonHeader(raw string, relaxed bool) string {
	if !relaxed {
		return raw
	}
	k, v, _ := strings.Cut(raw, ":")
	k = strings.ToLower(strings.TrimSpace(k))
	v = strings.Join(strings.FieldsFunc(v, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}), " ")
	return k + ":" + v + "\r\n"
}

// withoutSignature returns the raw signature field with the value of its
// b= tag deleted (RFC 6376 section 3.7: the signature field is hashed with
// an empty b=).
func withoutSignature(raw string) string {
	name, v, _ := strings.Cut(raw, ":")
	parts := strings.Split(v, ";")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if ok && stripWSP(k) == "b" {
			parts[i] = p[:strings.IndexByte(p, '=')+1]
		}
	}
	return name + ":" + strings.Join(parts, ";")
}

// picker selects the header fields named in h= from the bottom up: the
// n-th occurrence of a name in h= is the n-th field of that name counted
// from the bottom of the header (RFC 6376 section 5.4.2).
type picker struct {
	fields []field
	used   map[string]int
}

func newPicker(fields []field) *picker {
	return &picker{fields: fields, used: make(map[string]int)}
}

// pick returns the next field named name, or false when none is left (a
// name signed more often than present contributes nothing).
func (p *picker) pick(name string) (field, bool) {
	name = strings.ToLower(name)
	skip := p.used[name]
	for i := len(p.fields) - 1; i >= 0; i-- {
		if p.fields[i].lower != name {
			continue
		}
		if skip == 0 {
			p.used[name]++
			return p.fields[i], true
		}
		skip--
	}
	return field{}, false
}

// contains reports whether list holds name, case-insensitively.
func contains(list []string, name string) bool {
	for _, s := range list {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}
