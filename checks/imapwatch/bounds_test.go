package imapwatch

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/mail"
	"github.com/listprobe/listprobe/checks/token"
)

// hugeField returns a header field of about size bytes: folded into lines
// of 78 bytes like a long References field, or on one line.
func hugeField(name string, size int, folded bool) string {
	var b strings.Builder
	b.Grow(size + size/70*3)
	b.WriteString(name + ": ")
	for i := 0; b.Len() < size; i++ {
		if folded && i > 0 {
			b.WriteString("\r\n ")
		}
		fmt.Fprintf(&b, "<%060d@example.org>", i)
	}
	b.WriteString("\r\n")
	return b.String()
}

// copyInto copies every message of the server's mailbox from into INBOX
// n times, through a second client: imapmemserver's COPY shares the
// message's bytes, so n copies of a 20 MB message cost the server 20 MB.
func copyInto(t *testing.T, addr, from string, n int) {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(mailboxTestUser, mailboxTestPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(from, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := c.Copy(imap.SeqSet{{Start: 1, Stop: 0}}, "INBOX").Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

// Mail with huge header fields arriving in bulk costs the watcher no more
// than HeaderLimit bytes a header section (two a message): the header fields are fetched partially
// and cut at a field boundary, the body only as far as BodyLimit, and the
// responses are read one message at a time. The old code fetched the whole
// fields of 64 messages at once: 50 messages with 20 MB of References read
// a gigabyte.
func TestMailboxHugeHeadersInBulkCostABoundedFetch(t *testing.T) {
	const (
		fieldSize   = hugeFieldSize
		copies      = 25 // of each of the two huge messages: 50 in all
		headerLimit = 16 << 10
		bodyLimit   = 4 << 10
	)
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	if err := srv.user.Create("Huge", nil); err != nil {
		t.Fatal(err)
	}
	appendHugeMessages(t, srv, fieldSize, bodyLimit)

	var traffic lineCounter
	r := runTestMailbox(t, srv.address(), func(o *Options) {
		o.HeaderLimit = headerLimit
		o.BodyLimit = bodyLimit
		o.WantBody = func(h mail.Header) bool { return true }
		o.DialContext = traffic.dial
	})
	r.waitState(t, true)
	before := traffic.read.Load()

	copyInto(t, srv.address(), "Huge", copies)
	srv.deliver(t, mailboxTestMessage("small after the huge ones", "x\r\n"), nil)

	for i := range 2 * copies {
		msg := r.next(t)
		if !msg.HeaderTruncated {
			t.Fatalf("message %d (UID %d): HeaderTruncated is false", i, msg.UID)
		}
		var size int
		for fields := msg.Header.Fields(); fields.Next(); {
			size += len(fields.Key()) + len(fields.Value()) + 4
		}
		if size > 2*headerLimit {
			t.Errorf("UID %d: %d bytes of header fields, over twice the limit of %d", msg.UID, size, headerLimit)
		}
		if len(msg.RawHeader) > headerLimit+2 || !msg.RawHeaderTruncated {
			t.Errorf("UID %d: whole header of %d bytes, truncated %v; want at most %d, truncated", msg.UID, len(msg.RawHeader), msg.RawHeaderTruncated, headerLimit+2)
		}
		if len(msg.Body) != bodyLimit || !msg.Truncated {
			t.Errorf("UID %d: body of %d bytes, truncated %v; want %d, truncated", msg.UID, len(msg.Body), msg.Truncated, bodyLimit)
		}
		if i%2 == 0 {
			// The huge References is dropped rather than cut in the
			// middle, and, fetched apart from the identifying fields,
			// it pushes none of them out: the Message-ID after it is
			// there.
			if got := msg.Header.Get("From"); got != "list@lists.example.org" {
				t.Errorf("UID %d: From = %q", msg.UID, got)
			}
			if msg.Header.Has("References") {
				t.Errorf("UID %d: the References field over the limit survived", msg.UID)
			}
			if got := msg.Header.Get("Message-Id"); got != "<huge.references@example.org>" {
				t.Errorf("UID %d: Message-ID = %q, want the one after the huge References", msg.UID, got)
			}
		} else if msg.Header.Len() != 0 {
			t.Errorf("UID %d: %d fields from a header whose first field is over the limit", msg.UID, msg.Header.Len())
		}
	}
	small := r.expectSubjects(t, "small after the huge ones")[0]
	if small.HeaderTruncated || small.Header.Get("Message-Id") != "<small.after.the.huge.ones@example.org>" {
		t.Errorf("the small message after the huge ones: truncated %v, header %v", small.HeaderTruncated, small.Header)
	}

	read := traffic.read.Load() - before
	// Per message: the header limit of each of the two header sections
	// and the body limit, plus a kilobyte of responses around them.
	bound := int64(2*copies+1) * (2*headerLimit + bodyLimit + 1<<10)
	t.Logf("read %d bytes for %d messages with %d MB header fields (bound %d)", read, 2*copies, fieldSize>>20, bound)
	if read > bound {
		t.Errorf("read %d bytes for %d messages: over the bound of %d", read, 2*copies+1, bound)
	}
}

// appendHugeMessages appends two messages with a header field of
// fieldSize bytes and a body of twice bodyLimit to the folder Huge: a huge,
// folded References between fields that fit, and a huge one-line Subject
// first, followed by the token.
func appendHugeMessages(t *testing.T, srv *mailboxTestServer, fieldSize, bodyLimit int) {
	t.Helper()
	body := strings.Repeat("body line\r\n", 2*bodyLimit/11)
	folded := "From: list@lists.example.org\r\nTo: reader@example.org\r\n" +
		hugeField("References", fieldSize, true) +
		"Subject: huge references\r\nMessage-ID: <huge.references@example.org>\r\n\r\n" + body
	oneLine := hugeField("Subject", fieldSize, false) +
		"From: list@lists.example.org\r\n" + token.Header + ": tok\r\n\r\n" + body
	for _, msg := range []string{folded, oneLine} {
		if _, err := srv.user.Append("Huge", strings.NewReader(msg), &imap.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCutHeaderKeepsWholeFields(t *testing.T) {
	for _, tc := range []struct {
		name, raw     string
		limit         int64
		want          string
		wantTruncated bool
	}{
		{"fits", "A: 1\r\nB: 2\r\n\r\n", 100, "A: 1\r\nB: 2\r\n\r\n", false},
		{"exactly the limit", "A: 1\r\n\r\n", 8, "A: 1\r\n\r\n", false},
		{"second field cut", "A: 1\r\nB: 22222222\r\n\r\n", 10, "A: 1\r\n\r\n", true},
		{"folded field cut in a continuation line", "A: 1\r\nB: 2\r\n 3333\r\n 4444\r\nC: 5\r\n\r\n", 20, "A: 1\r\n\r\n", true},
		{"cut right before a field", "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", 12, "A: 1\r\nB: 2\r\n\r\n", true},
		{"first field too long", "Subject: xxxxxxxxxxxxxxxxxxxx\r\nA: 1\r\n\r\n", 10, "\r\n", true},
		{"bare LF", "A: 1\nB: 2222222222\n\n", 10, "A: 1\n\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What the server sends for <0.limit+1>.
			raw := []byte(tc.raw)
			if int64(len(raw)) > tc.limit+1 {
				raw = raw[:tc.limit+1]
			}
			got, truncated := cutHeader(raw, tc.limit)
			if string(got) != tc.want || truncated != tc.wantTruncated {
				t.Errorf("cutHeader(%q, %d) = %q, %v; want %q, %v", raw, tc.limit, got, truncated, tc.want, tc.wantTruncated)
			}
			if _, err := parseWatchedHeader(got); err != nil {
				t.Errorf("the cut header does not parse: %v", err)
			}
			if tc.wantTruncated && bytes.Contains(got[:len(got)-2], []byte("\r\n\r\n")) {
				t.Errorf("the cut header has an empty line before its end")
			}
		})
	}
}
