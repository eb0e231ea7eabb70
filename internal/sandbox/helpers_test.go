package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// waitTimeout is generous: the tests assert order and content, never
// speed, and must pass on a loaded CI machine under -race.
const waitTimeout = 30 * time.Second

// startSandboxWorld starts a world and closes it when the test ends.
func startSandboxWorld(t *testing.T, opts Options) *World {
	t.Helper()
	w, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// sandboxPost is a probe-like post from a member to a list.
func sandboxPost(from, to, subject, messageID string) []byte {
	return []byte(strings.ReplaceAll(fmt.Sprintf(`From: %s
To: %s
Subject: %s
Date: Wed, 25 Nov 2026 16:00:00 +0000
Message-ID: %s
X-Listprobe-Token: lp1.test.token
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

This is an automated delivery test.
It is safe to discard.
`, from, to, subject, messageID), "\n", "\r\n"))
}

// sandboxSubmit submits raw over SMTP with AUTH PLAIN, as a real client
// does.
func sandboxSubmit(t *testing.T, w *World, user, password, from string, to []string, raw []byte) error {
	t.Helper()
	c, err := smtp.Dial(w.SMTPAddr)
	if err != nil {
		t.Fatalf("smtp dial %s: %v", w.SMTPAddr, err)
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, password)); err != nil {
			return err
		}
	}
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

// mustSubmitAsMember posts as the demo member and fails the test on error.
func mustSubmitAsMember(t *testing.T, w *World, to string, raw []byte) {
	t.Helper()
	if err := sandboxSubmit(t, w, DemoMember, DemoMemberPassword, DemoMember, []string{to}, raw); err != nil {
		t.Fatalf("submit to %s: %v", to, err)
	}
}

// sandboxIMAPLogin connects to the world's IMAP server and selects INBOX.
func sandboxIMAPLogin(t *testing.T, addr, user, password string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, opts)
	if err != nil {
		t.Fatalf("imap dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("imap login %s: %v", user, err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("imap select INBOX: %v", err)
	}
	return c
}

// fetchedMessage is a message read over IMAP by a test.
type fetchedMessage struct {
	UID   imap.UID
	Flags []imap.Flag
	Raw   []byte
}

func (m fetchedMessage) header(t *testing.T) mail.Header {
	t.Helper()
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(m.Raw)))
	if err != nil {
		t.Fatalf("parse message UID %d: %v\n%s", m.UID, err, m.Raw)
	}
	return msg.Header
}

func (m fetchedMessage) body(t *testing.T) string {
	t.Helper()
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(m.Raw)))
	if err != nil {
		t.Fatalf("parse message UID %d: %v", m.UID, err)
	}
	b, err := io.ReadAll(msg.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitInbox logs in over IMAP (a real client, over loopback) and polls
// until the INBOX holds at least n messages, then returns them all. It
// reads with BODY.PEEK so that it changes no flag.
func waitInbox(t *testing.T, w *World, user, password string, n int) []fetchedMessage {
	t.Helper()
	c := sandboxIMAPLogin(t, w.IMAPAddr, user, password, nil)
	defer c.Logout()
	deadline := time.Now().Add(waitTimeout)
	for {
		if err := c.Noop().Wait(); err != nil {
			t.Fatalf("NOOP: %v", err)
		}
		if int(c.Mailbox().NumMessages) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("INBOX of %s: %d messages after %v, want %d", user, c.Mailbox().NumMessages, waitTimeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n == 0 && c.Mailbox().NumMessages == 0 {
		return nil
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	var out []fetchedMessage
	for _, m := range msgs {
		fm := fetchedMessage{UID: m.UID, Flags: m.Flags}
		for _, b := range m.BodySection {
			fm.Raw = b.Bytes
		}
		out = append(out, fm)
	}
	return out
}

// wantSMTPCode checks that err is an SMTP reply with the given code and
// enhanced code.
func wantSMTPCode(t *testing.T, err error, code int, enhanced smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want SMTP %d", err, err, code)
	}
	if se.Code != code || se.EnhancedCode != enhanced {
		t.Fatalf("SMTP reply %d %v %q, want %d %v", se.Code, se.EnhancedCode, se.Message, code, enhanced)
	}
}

// drainSandboxQueue returns once the list runner has processed every post
// submitted so far: it queues a marker behind them and waits for it.
func drainSandboxQueue(t *testing.T, w *World) {
	t.Helper()
	done := make(chan struct{})
	if !w.enqueue(func() { close(done) }) {
		t.Fatal("world is closed")
	}
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("list runner did not drain its queue")
	}
}
