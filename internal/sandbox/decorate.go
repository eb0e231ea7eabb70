// The footer Mailman's decorate handler adds to a list copy: appended to
// a text body, or as a part of its own (handlers/decorate.py).

package sandbox

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// footer is the en list:member:regular:footer template, expanded.
func footer(n listNames) string {
	return "_______________________________________________\n" +
		n.displayName + " mailing list -- " + n.fqdn + "\n" +
		"To unsubscribe send an email to " + n.leave() + "\n"
}

// decorate appends the footer like decorate.py: to a text/plain body by
// concatenation, to multipart/mixed as a last part, and otherwise by
// wrapping the message in a multipart/mixed.
func decorate(m *rawMessage, foot string) {
	ct := m.get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mediaType, params = "text/plain", map[string]string{}
	}
	switch {
	case mediaType == "text/plain":
		if decorateText(m, params, foot) {
			return
		}
	case mediaType == "multipart/mixed" && params["boundary"] != "":
		decorateMixed(m, params["boundary"], foot)
		return
	}
	decorateWrap(m, foot)
}

func decorateText(m *rawMessage, params map[string]string, foot string) bool {
	mcset := strings.ToLower(params["charset"])
	if mcset == "" {
		mcset = "us-ascii"
	}
	old, err := decodeBody(m.get("Content-Transfer-Encoding"), m.body)
	if err != nil {
		return false
	}
	text := strings.ReplaceAll(string(old), "\r\n", "\n")
	if mcset != "us-ascii" && mcset != "ascii" && mcset != "utf-8" && !isASCII(text) {
		return false // a charset we would have to transcode: let decorate wrap it
	}
	sep := ""
	if !strings.HasSuffix(text, "\n") {
		sep = "\n"
	}
	payload := text + sep + foot
	m.del("Content-Transfer-Encoding")
	if isASCII(payload) {
		setContentTypeParam(m, "charset", "us-ascii")
		m.add("Content-Transfer-Encoding", "7bit")
		m.body = []byte(strings.ReplaceAll(payload, "\n", "\r\n"))
	} else {
		setContentTypeParam(m, "charset", "utf-8")
		m.add("Content-Transfer-Encoding", "base64")
		m.body = base64Lines([]byte(payload))
	}
	return true
}

// setContentTypeParam is Python's Message.set_param on Content-Type: the
// field keeps its place, parameters are quoted.
func setContentTypeParam(m *rawMessage, key, value string) {
	ct := m.get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		if !m.has("MIME-Version") {
			m.add("MIME-Version", "1.0")
		}
		m.add("Content-Type", fmt.Sprintf("text/plain; %s=%q", key, value))
		return
	}
	params[key] = value
	var b strings.Builder
	b.WriteString(mediaType)
	for k, v := range params {
		if k == key {
			continue
		}
		fmt.Fprintf(&b, "; %s=%q", k, v)
	}
	fmt.Fprintf(&b, "; %s=%q", key, value)
	m.replace("Content-Type", b.String())
}

func decodeBody(cte string, body []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		var out bytes.Buffer
		_, err := out.ReadFrom(quotedprintable.NewReader(bytes.NewReader(body)))
		return out.Bytes(), err
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		return base64.StdEncoding.DecodeString(string(clean))
	default:
		return body, nil
	}
}

// base64Lines encodes b in 76-column lines, as Python's email package does.
func base64Lines(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	for len(enc) > 76 {
		out.WriteString(enc[:76])
		out.WriteString("\r\n")
		enc = enc[76:]
	}
	out.WriteString(enc)
	out.WriteString("\r\n")
	return out.Bytes()
}

// footerPart is the text/plain part decorate.py attaches to multiparts.
func footerPart(foot string) string {
	return "Content-Type: text/plain; charset=\"us-ascii\"\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Transfer-Encoding: 7bit\r\n" +
		"Content-Disposition: inline\r\n\r\n" +
		strings.ReplaceAll(foot, "\n", "\r\n")
}

func decorateMixed(m *rawMessage, boundary, foot string) {
	end := []byte("\r\n--" + boundary + "--")
	i := bytes.LastIndex(m.body, end)
	if i < 0 {
		decorateWrap(m, foot)
		return
	}
	var b bytes.Buffer
	b.Write(m.body[:i])
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString(footerPart(foot))
	b.Write(m.body[i:])
	m.body = b.Bytes()
}

func decorateWrap(m *rawMessage, foot string) {
	var inner bytes.Buffer
	for _, f := range m.fields {
		if strings.HasPrefix(strings.ToLower(f.key), "content-") {
			inner.Write(f.raw)
		}
	}
	inner.WriteString("\r\n")
	inner.Write(m.body)
	boundary := pythonBoundary()
	var b bytes.Buffer
	b.WriteString("--" + boundary + "\r\n")
	b.Write(inner.Bytes())
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString(footerPart(foot))
	b.WriteString("\r\n--" + boundary + "--\r\n")
	m.del("Content-Type")
	m.del("Content-Transfer-Encoding")
	m.del("Content-Disposition")
	m.add("Content-Type", fmt.Sprintf("multipart/mixed; boundary=%q", boundary))
	m.body = b.Bytes()
}
