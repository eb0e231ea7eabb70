package imapwatch

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/mailtls"
	"github.com/listprobe/listprobe/checks/submit"
	"github.com/listprobe/listprobe/internal/testbed"
)

// These tests talk to the real Postfix + Dovecot testbed that
// deploy/testbed/up.sh starts; they start nothing themselves. Without the
// testbed they skip, except under CI=true, where they fail.

// mailboxTestbedTLS trusts the testbed's self-signed certificate.
func mailboxTestbedTLS(t testing.TB, env map[string]string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(env["LISTPROBE_TESTBED_CA_FILE"])
	if err != nil {
		t.Fatalf("testbed CA: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", env["LISTPROBE_TESTBED_CA_FILE"])
	}
	return &tls.Config{RootCAs: roots, ServerName: env["LISTPROBE_TESTBED_TLS_SERVER_NAME"]}
}

// The whole path through real servers: Submit to Postfix over STARTTLS with
// AUTH, Dovecot delivers, Mailbox (IDLE over STARTTLS) reports the message
// without setting \Seen, and Delete removes it with UID EXPUNGE.
func TestMailboxTestbedSeesMessageSubmittedThroughPostfix(t *testing.T) {
	env := testbed.Load(t)
	tlsConfig := mailboxTestbedTLS(t, env)
	reader, member := env["LISTPROBE_TESTBED_READER"], env["LISTPROBE_TESTBED_MEMBER"]
	readerPassword := testbed.Env(env).Secret(t, "LISTPROBE_TESTBED_READER_PASSWORD_FILE")
	memberPassword := testbed.Env(env).Secret(t, "LISTPROBE_TESTBED_MEMBER_PASSWORD_FILE")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	m, msgs := startTestbedBodyMailbox(t, ctx, env, tlsConfig, reader, readerPassword)

	var rnd [6]byte
	rand.Read(rnd[:])
	subject := "mailbox testbed " + hex.EncodeToString(rnd[:])
	msg := "From: " + member + "\r\nTo: " + reader + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + hex.EncodeToString(rnd[:]) + "@example.test>\r\n\r\nA test of listprobe's checks package.\r\n"
	sub, err := submit.Send(ctx, &submit.Options{
		Address:   env["LISTPROBE_TESTBED_SMTP"],
		TLS:       mailtls.StartTLS,
		TLSConfig: tlsConfig,
		Auth:      func() sasl.Client { return sasl.NewPlainClient("", member, memberPassword) },
	}, member, []string{reader}, []byte(msg))
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if !strings.HasPrefix(sub.Reply, "250 ") {
		t.Errorf("Reply = %q", sub.Reply)
	}

	got := awaitMessageID(t, ctx, msgs, "<"+hex.EncodeToString(rnd[:])+"@example.test>",
		"the submitted message never showed up in the reader's mailbox")
	if from := got.Header.Get("From"); from != member {
		t.Errorf("From = %q", from)
	}
	if string(got.Body) != "A test of listpr" || !got.Truncated {
		t.Errorf("Body = %q, Truncated = %v; want the first 16 bytes, truncated", got.Body, got.Truncated)
	}

	other, err := imapclient.DialStartTLS(env["LISTPROBE_TESTBED_IMAP"], &imapclient.Options{TLSConfig: tlsConfig})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Login(reader, readerPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	uidFlags := func() ([]imap.Flag, bool) {
		bufs, err := other.Fetch(imap.UIDSetNum(imap.UID(got.UID)), &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bufs {
			if b.UID == imap.UID(got.UID) {
				return b.Flags, true
			}
		}
		return nil, false
	}
	if flags, ok := uidFlags(); !ok || slices.Contains(flags, imap.FlagSeen) {
		t.Errorf("message present %v with flags %v: want present, without \\Seen", ok, flags)
	}

	if err := m.Delete(ctx, got.UIDValidity, got.UID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := other.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, ok := uidFlags(); ok {
		t.Errorf("UID %d is still there after Delete", got.UID)
	}
}

// startTestbedBodyMailbox runs a Mailbox over STARTTLS on the testbed
// reader's INBOX that fetches the first 16 bytes of the bodies of this
// test's messages, until the test ends, and checks that it uses IDLE.
func startTestbedBodyMailbox(t *testing.T, ctx context.Context, env map[string]string, tlsConfig *tls.Config, reader, readerPassword string) (*Mailbox, <-chan Message) {
	t.Helper()
	up := make(chan error, 100)
	m := New(Options{
		HeaderFields: checks.ClassifyHeaderFields,
		Address:      env["LISTPROBE_TESTBED_IMAP"],
		TLS:          mailtls.StartTLS,
		TLSConfig:    tlsConfig,
		Username:     reader,
		Password:     readerPassword,
		WantBody:     func(h mail.Header) bool { return strings.HasPrefix(h.Get("Subject"), "mailbox testbed ") },
		BodyLimit:    16,
		OnState:      reportUp(up),
	})
	msgs, unsubscribe := m.Subscribe()
	t.Cleanup(unsubscribe)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	select {
	case err := <-up:
		if err != nil {
			t.Fatalf("mailbox session: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("mailbox session never came up")
	}
	if m.polling.Load() {
		t.Error("Dovecot offers IDLE, yet the session polls")
	}
	return m, msgs
}

// reportUp is an OnState that sends nil to up when a session is up and the
// error when an attempt fails: a test waits on up for the first of them.
func reportUp(up chan<- error) func(bool, error) {
	return func(isUp bool, err error) {
		if isUp {
			up <- nil
		} else if err != nil {
			up <- err
		}
	}
}
