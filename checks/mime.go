package checks

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// The bounds of what the classifier reads of one message, whatever arrives:
// a mailbox hands it at most BodyLimit bytes, but explain reads files whole
// and a hostile message can nest parts deeply or attach thousands of them.
// Work stays proportional to these bounds, never to the message.
const (
	maxBodyBytes  = 4 << 20 // of the body handed to Classify
	maxPartBytes  = 1 << 20 // of one MIME part
	maxDepth      = 8       // of nested multiparts
	maxParts      = 64      // MIME parts visited, in document order
	maxFieldBytes = 16 << 10
	maxTextBytes  = 64 << 10 // of the text a notice or bounce wrote itself
)

// parsedBody is what the classifier reads of a body: the text the sender
// wrote itself, the messages it attaches or returns, and the fields of
// delivery status and disposition reports.
type parsedBody struct {
	texts    []string // text/plain parts outside attached messages, UTF-8, with \n line ends
	attached []attachedMessage
	reports  []reportBlock // message/delivery-status field blocks, in order
	mdn      []reportBlock // message/disposition-notification field blocks
	digest   bool          // a multipart/digest part: a digest of posts, never a notice
	parts    int           // MIME parts visited (at most maxParts+1)
}

// text returns the text parts, at most maxTextBytes of them: notices and
// bounce explanations are a few lines, and the regular expressions that
// read them must not run over megabytes.
func (pb *parsedBody) text() string {
	return Truncate(strings.Join(pb.texts, "\n\n"), maxTextBytes)
}

// attachedMessage is a message/rfc822 part or a text/rfc822-headers part.
type attachedMessage struct {
	header mail.Header
	body   []byte // the raw body; nil for headers only
}

type reportField struct{ key, value string }

// reportBlock is one group of fields in a delivery status report (RFC
// 3464): the per-message block or one recipient's.
type reportBlock []reportField

func (b reportBlock) get(key string) string {
	for _, f := range b {
		if f.key == key {
			return f.value
		}
	}
	return ""
}

// parseBody reads body under header h. It never fails: a truncated or
// malformed body yields what could be read.
func parseBody(h mail.Header, body []byte) *parsedBody {
	pb := &parsedBody{}
	if len(body) == 0 {
		return pb
	}
	if len(body) > maxBodyBytes {
		body = body[:maxBodyBytes]
	}
	hdr := message.Header{Header: h.Header.Header.Copy()}
	for _, key := range []string{"Content-Type", "Content-Transfer-Encoding"} {
		if v := hdr.Get(key); len(v) > maxFieldBytes {
			hdr.Set(key, v[:maxFieldBytes])
		}
	}
	mt, _, _ := hdr.ContentType()
	mt = strings.ToLower(mt)
	if !hdr.Has("Content-Transfer-Encoding") && (mt == "" || strings.HasPrefix(mt, "text/")) {
		// Mailbox fetches Content-Transfer-Encoding, but a message saved
		// by a client or cut out of a forward may have lost it, and
		// Mailman 3 writes its utf-8 notices in base64.
		body = sniffTransferEncoding(body)
	}
	e, err := message.New(hdr, bytes.NewReader(body))
	if e == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
		pb.texts = append(pb.texts, decodeUndeclared(body))
		return pb
	}
	pb.walk(e, 0)
	return pb
}

func (pb *parsedBody) walk(e *message.Entity, depth int) {
	pb.parts++
	if depth > maxDepth || pb.parts > maxParts {
		return
	}
	mt, params, _ := e.Header.ContentType()
	mt = strings.ToLower(mt)
	if mt == "multipart/digest" {
		pb.digest = true
	}
	if mr := e.MultipartReader(); mr != nil {
		if params["boundary"] == "" {
			return
		}
		for pb.parts <= maxParts {
			p, err := mr.NextPart()
			if p == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
				return // io.EOF, or a truncated or broken body: keep what was read
			}
			pb.walk(p, depth+1)
		}
		return
	}
	data, _ := io.ReadAll(io.LimitReader(e.Body, maxPartBytes))
	switch mt {
	case "message/rfc822", "message/global":
		pb.attached = append(pb.attached, readAttached(data, false))
	case "text/rfc822-headers", "message/global-headers":
		pb.attached = append(pb.attached, readAttached(data, true))
	case "message/delivery-status", "message/global-delivery-status":
		pb.reports = append(pb.reports, readReportBlocks(data)...)
	case "message/disposition-notification", "message/global-disposition-notification":
		pb.mdn = append(pb.mdn, readReportBlocks(data)...)
	case "", "text/plain":
		// go-message decoded a declared charset; us-ascii and utf-8
		// parts, and parts that declare none, may still hold 8-bit bytes.
		pb.texts = append(pb.texts, decodeUndeclared(data))
	}
}

// readAttached parses an attached message or header block.
func readAttached(data []byte, headersOnly bool) attachedMessage {
	br := bufio.NewReader(bytes.NewReader(data))
	th, err := textproto.ReadHeader(br)
	if err != nil && th.Len() == 0 {
		// A header cut short (a truncated body): read what is there.
		th, _ = textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(data), strings.NewReader("\r\n\r\n"))))
	}
	am := attachedMessage{header: mail.Header{Header: message.Header{Header: th}}}
	if !headersOnly {
		rest, _ := io.ReadAll(br)
		am.body = rest
	}
	return am
}

// readReportBlocks splits a delivery status or disposition report into its
// blocks of fields, unfolding continuation lines. Keys are lower-cased;
// values are read as ReadableText reads them (reports declare no charset,
// and a Diagnostic-Code quotes the remote server's reply byte for byte).
func readReportBlocks(data []byte) []reportBlock {
	var blocks []reportBlock
	var cur reportBlock
	var value []string // the lines of the last field of cur
	flushField := func() {
		if len(cur) > 0 && len(value) > 1 {
			cur[len(cur)-1].value = strings.Join(value, " ")
		}
		value = nil
	}
	for _, line := range strings.Split(decodeUndeclared(data), "\n") {
		if strings.TrimSpace(line) == "" {
			flushField()
			if len(cur) > 0 {
				blocks = append(blocks, cur)
				cur = nil
			}
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(cur) > 0 {
			value = append(value, strings.TrimSpace(line))
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		flushField()
		cur = append(cur, reportField{key: strings.ToLower(strings.TrimSpace(k)), value: strings.TrimSpace(v)})
		value = []string{cur[len(cur)-1].value}
	}
	flushField()
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks
}

var (
	reBase64Line = regexp.MustCompile(`^[A-Za-z0-9+/]{1,200}={0,2}$`)
	reQPEscape   = regexp.MustCompile(`=[0-9A-F]{2}`)
)

// sniffTransferEncoding decodes a body whose Content-Transfer-Encoding is
// unknown when it is plainly base64 or quoted-printable, and returns it
// unchanged otherwise.
func sniffTransferEncoding(body []byte) []byte {
	text := strings.TrimSpace(normalizeNL(string(body)))
	lines := strings.Split(text, "\n")
	if len(lines) > 0 && text != "" {
		isBase64 := true
		for i, l := range lines {
			l = strings.TrimSpace(l)
			if !reBase64Line.MatchString(l) || (i < len(lines)-1 && len(l)%4 != 0) {
				isBase64 = false
				break
			}
		}
		if isBase64 {
			if dec, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), "")); err == nil && isMostlyText(dec) {
				return dec
			}
		}
	}
	softBreak := bytes.Contains(body, []byte("=\n")) || bytes.Contains(body, []byte("=\r\n"))
	if softBreak && reQPEscape.Match(body) {
		if dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err == nil {
			return dec
		}
	}
	return body
}

func isMostlyText(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	bad := 0
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			bad++
		}
	}
	return bad*50 < len(b)
}
