package submit

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/listprobe/listprobe/checks/mailtls"
	"github.com/listprobe/listprobe/internal/testcert"
)

// submitTestBackend is a go-smtp backend that records what it receives and
// answers MAIL, RCPT and DATA as a test tells it to.
type submitTestBackend struct {
	username, password string // AUTH PLAIN credentials; empty: no AUTH offered

	mailErr, rcptErr, dataErr error
	stall                     chan struct{} // if non-nil, MAIL waits for it to close

	mu       sync.Mutex
	mails    int // MAIL commands seen
	authed   []string
	received []submitTestMessage
}

type submitTestMessage struct {
	helo string // the EHLO name in force at MAIL
	from string
	to   []string
	data []byte
}

func (be *submitTestBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &submitTestSession{be: be, conn: c}
	if be.username == "" {
		return s, nil
	}
	return &submitTestAuthSession{s}, nil
}

func (be *submitTestBackend) snapshot() (mails int, received []submitTestMessage, authed []string) {
	be.mu.Lock()
	defer be.mu.Unlock()
	return be.mails, append([]submitTestMessage(nil), be.received...), append([]string(nil), be.authed...)
}

type submitTestSession struct {
	be   *submitTestBackend
	conn *smtp.Conn
	cur  submitTestMessage
}

func (s *submitTestSession) Reset()        { s.cur = submitTestMessage{} }
func (s *submitTestSession) Logout() error { return nil }

func (s *submitTestSession) Mail(from string, opts *smtp.MailOptions) error {
	s.be.mu.Lock()
	s.be.mails++
	s.be.mu.Unlock()
	if s.be.stall != nil {
		<-s.be.stall
	}
	if s.be.mailErr != nil {
		return s.be.mailErr
	}
	s.cur.from = from
	s.cur.helo = s.conn.Hostname()
	return nil
}

func (s *submitTestSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.be.rcptErr != nil {
		return s.be.rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *submitTestSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.be.dataErr != nil {
		return s.be.dataErr
	}
	s.cur.data = b
	s.be.mu.Lock()
	s.be.received = append(s.be.received, s.cur)
	s.be.mu.Unlock()
	return nil
}

// submitTestAuthSession adds AUTH PLAIN to a session.
type submitTestAuthSession struct{ *submitTestSession }

func (s *submitTestAuthSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *submitTestAuthSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.be.username || password != s.be.password {
			return smtp.ErrAuthFailed
		}
		s.be.mu.Lock()
		s.be.authed = append(s.be.authed, username)
		s.be.mu.Unlock()
		return nil
	}), nil
}

// submitTestServerTLS says how startSubmitServer secures its listener.
type submitTestServerTLS int

const (
	submitServerPlain    submitTestServerTLS = iota // clear text, no STARTTLS offered
	submitServerSTARTTLS                            // STARTTLS offered
	submitServerImplicit                            // TLS from the first byte
)

// startSubmitServer runs a real go-smtp server for be on 127.0.0.1:0 and
// returns its address.
func startSubmitServer(t *testing.T, be *submitTestBackend, mode submitTestServerTLS, cert testcert.Cert) string {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "mx.example.org"
	s.AllowInsecureAuth = mode == submitServerPlain
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case submitServerSTARTTLS:
		s.TLSConfig = cert.Server
	case submitServerImplicit:
		s.TLSConfig = cert.Server
		ln = tls.NewListener(ln, cert.Server)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		if be.stall != nil {
			select {
			case <-be.stall:
			default:
				close(be.stall)
			}
		}
		s.Close()
	})
	return ln.Addr().String()
}

const submitTestMsg = "From: member@example.org\r\nTo: list@lists.example.org\r\nSubject: listprobe delivery test\r\n\r\nThis is a listprobe test.\r\n"

func submitTestAuth(username, password string) func() sasl.Client {
	return func() sasl.Client { return sasl.NewPlainClient("", username, password) }
}

func asSubmitError(t *testing.T, err error) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("Submit succeeded, want an error")
	}
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *Error", err, err)
	}
	return se
}

func TestSubmitDeliversOverSTARTTLSWithAuth(t *testing.T) {
	cert := testcert.New(t)
	be := &submitTestBackend{username: "member@example.org", password: "s3cret"}
	addr := startSubmitServer(t, be, submitServerSTARTTLS, cert)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := Send(ctx, &Options{
		Address:   addr,
		TLSConfig: &tls.Config{RootCAs: cert.Roots},
		Auth:      submitTestAuth("member@example.org", "s3cret"),
		LocalName: "probe.example.org",
	}, "member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if sub.Reply != "250 2.0.0 OK: queued" {
		t.Errorf("Reply = %q, want the server's final reply with its code", sub.Reply)
	}
	if sub.AcceptedAt.IsZero() || sub.Duration <= 0 {
		t.Errorf("AcceptedAt = %v, Duration = %v: want both set", sub.AcceptedAt, sub.Duration)
	}
	_, received, authed := be.snapshot()
	if len(received) != 1 {
		t.Fatalf("server received %d messages, want 1", len(received))
	}
	got := received[0]
	if got.from != "member@example.org" || len(got.to) != 1 || got.to[0] != "list@lists.example.org" {
		t.Errorf("envelope = %q -> %q", got.from, got.to)
	}
	if got.helo != "probe.example.org" {
		t.Errorf("EHLO name over TLS = %q, want LocalName", got.helo)
	}
	if string(got.data) != submitTestMsg {
		t.Errorf("data = %q, want %q", got.data, submitTestMsg)
	}
	if len(authed) != 1 || authed[0] != "member@example.org" {
		t.Errorf("authenticated as %q, want member@example.org", authed)
	}
}

func TestSubmitImplicitTLSVerifiesTheCertificate(t *testing.T) {
	cert := testcert.New(t)
	be := &submitTestBackend{}
	addr := startSubmitServer(t, be, submitServerImplicit, cert)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("trusted CA", func(t *testing.T) {
		_, err := Send(ctx, &Options{Address: addr, TLS: mailtls.Implicit, TLSConfig: &tls.Config{RootCAs: cert.Roots}},
			"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
		if err != nil {
			t.Fatalf("Submit with the CA trusted: %v", err)
		}
	})
	t.Run("system roots do not know the self-signed certificate", func(t *testing.T) {
		before, _, _ := be.snapshot()
		_, err := Send(ctx, &Options{Address: addr, TLS: mailtls.Implicit},
			"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
		se := asSubmitError(t, err)
		if se.Stage != StageTLS || se.Permanent {
			t.Errorf("Stage = %q, Permanent = %v; want tls, not permanent", se.Stage, se.Permanent)
		}
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Errorf("error %v does not carry the certificate verification failure", err)
		}
		if after, _, _ := be.snapshot(); after != before {
			t.Errorf("MAIL was sent over an unverified connection")
		}
	})
}

func TestSubmitRequiresSTARTTLSWhenAsked(t *testing.T) {
	be := &submitTestBackend{}
	addr := startSubmitServer(t, be, submitServerPlain, testcert.Cert{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := Send(ctx, &Options{Address: addr, TLS: mailtls.StartTLS},
		"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
	se := asSubmitError(t, err)
	if se.Stage != StageTLS || se.Permanent {
		t.Errorf("Stage = %q, Permanent = %v; want tls, not permanent", se.Stage, se.Permanent)
	}
	if !errors.Is(err, errSTARTTLSNotOffered) || !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q should name the server and say it does not offer STARTTLS", err)
	}
	if mails, received, _ := be.snapshot(); mails != 0 || len(received) != 0 {
		t.Errorf("server saw %d MAIL commands and %d messages in clear text, want none", mails, len(received))
	}

	// The same server is fine when clear text is what the config says.
	if _, err := Send(ctx, &Options{Address: addr, TLS: mailtls.None},
		"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg)); err != nil {
		t.Fatalf("Submit with TLS none: %v", err)
	}
}

func TestSubmitAuthFailureIsNotPermanent(t *testing.T) {
	cert := testcert.New(t)
	be := &submitTestBackend{username: "member@example.org", password: "right"}
	addr := startSubmitServer(t, be, submitServerSTARTTLS, cert)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const password = "wrong-password-xyzzy"
	_, err := Send(ctx, &Options{Address: addr, TLSConfig: &tls.Config{RootCAs: cert.Roots},
		Auth: submitTestAuth("member@example.org", password)},
		"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
	se := asSubmitError(t, err)
	if se.Stage != StageAuth || se.Permanent || se.Code != 535 {
		t.Errorf("Stage = %q, Permanent = %v, Code = %d; want auth, not permanent, 535", se.Stage, se.Permanent, se.Code)
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error %q contains the password", err)
	}
	if mails, _, _ := be.snapshot(); mails != 0 {
		t.Errorf("MAIL sent after failed authentication")
	}
}

func TestSubmitFailsWhenServerOffersNoAuth(t *testing.T) {
	cert := testcert.New(t)
	be := &submitTestBackend{} // sessions without AUTH
	addr := startSubmitServer(t, be, submitServerSTARTTLS, cert)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := Send(ctx, &Options{Address: addr, TLSConfig: &tls.Config{RootCAs: cert.Roots},
		Auth: submitTestAuth("member@example.org", "s3cret")},
		"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
	se := asSubmitError(t, err)
	if se.Stage != StageAuth || se.Permanent || !errors.Is(err, errAuthNotOffered) {
		t.Errorf("got %v (Stage %q, Permanent %v); want auth stage, not permanent, AUTH not offered", err, se.Stage, se.Permanent)
	}
	if mails, _, _ := be.snapshot(); mails != 0 {
		t.Errorf("MAIL sent unauthenticated")
	}
}

func TestSubmitRejectedRecipientIsPermanent(t *testing.T) {
	be := &submitTestBackend{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "user unknown"}}
	addr := startSubmitServer(t, be, submitServerPlain, testcert.Cert{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := Send(ctx, &Options{Address: addr, TLS: mailtls.None},
		"member@example.org", []string{"nobody@lists.example.org"}, []byte(submitTestMsg))
	se := asSubmitError(t, err)
	if !se.Permanent || se.Stage != StageRcpt || se.Code != 550 || se.EnhancedCode != [3]int{5, 1, 1} || se.Message != "user unknown" {
		t.Errorf("got %+v; want permanent rcpt 550 5.1.1 user unknown", se)
	}
	if want := "smtp submit to " + addr + ": rcpt: 550 5.1.1 user unknown"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	var smtpErr *smtp.SMTPError
	if !errors.As(err, &smtpErr) {
		t.Errorf("the *smtp.SMTPError is not reachable with errors.As")
	}
}

func TestSubmitTemporaryDataFailureIsNotPermanent(t *testing.T) {
	be := &submitTestBackend{dataErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}}
	addr := startSubmitServer(t, be, submitServerPlain, testcert.Cert{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := Send(ctx, &Options{Address: addr, TLS: mailtls.None},
		"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
	se := asSubmitError(t, err)
	if se.Permanent || se.Stage != StageData || se.Code != 451 || se.EnhancedCode != [3]int{4, 3, 0} {
		t.Errorf("got %+v; want temporary data 451 4.3.0", se)
	}
}

func TestSubmitPermanentDataRejection(t *testing.T) {
	be := &submitTestBackend{dataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "spam"}}
	addr := startSubmitServer(t, be, submitServerPlain, testcert.Cert{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := Send(ctx, &Options{Address: addr, TLS: mailtls.None},
		"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
	if se := asSubmitError(t, err); !se.Permanent || se.Stage != StageData || se.Code != 554 {
		t.Errorf("got %+v; want permanent data 554", se)
	}
}

func TestSubmitConnectionRefusedNamesTheAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = Send(ctx, &Options{Address: addr, TLS: mailtls.None},
		"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
	se := asSubmitError(t, err)
	if se.Stage != StageConnect || se.Permanent || se.Address != addr {
		t.Errorf("got %+v; want connect stage, not permanent, Address %s", se, addr)
	}
	if !strings.Contains(err.Error(), "smtp submit to "+addr+": connect:") {
		t.Errorf("error %q does not name the address and stage", err)
	}
}

func TestSubmitHonoursContextDeadline(t *testing.T) {
	be := &submitTestBackend{stall: make(chan struct{})}
	addr := startSubmitServer(t, be, submitServerPlain, testcert.Cert{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()

	_, err := Send(ctx, &Options{Address: addr, TLS: mailtls.None},
		"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
	se := asSubmitError(t, err)
	if se.Stage != StageMail || se.Permanent {
		t.Errorf("Stage = %q, Permanent = %v; want mail (where the server stalled), not permanent", se.Stage, se.Permanent)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not context.DeadlineExceeded", err)
	}
}

func TestSubmitCancelledContext(t *testing.T) {
	be := &submitTestBackend{stall: make(chan struct{})}
	addr := startSubmitServer(t, be, submitServerPlain, testcert.Cert{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the server is stuck in MAIL.
		for {
			if mails, _, _ := be.snapshot(); mails > 0 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	_, err := Send(ctx, &Options{Address: addr, TLS: mailtls.None},
		"member@example.org", []string{"list@lists.example.org"}, []byte(submitTestMsg))
	if se := asSubmitError(t, err); se.Stage != StageMail || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v (stage %q); want mail stage, context.Canceled", err, se.Stage)
	}
}

func TestSubmitBadOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts *Options
		to   []string
		want string
	}{
		{"nil options", nil, []string{"a@example.org"}, "no submit options"},
		{"address without port", &Options{Address: "smtp.example.org"}, []string{"a@example.org"}, `bad address "smtp.example.org"`},
		{"unknown TLS mode", &Options{Address: "127.0.0.1:1", TLS: "ssl"}, []string{"a@example.org"}, `unknown TLS mode "ssl"`},
		{"no recipients", &Options{Address: "127.0.0.1:1"}, nil, "no recipients"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Send(ctx, tc.opts, "member@example.org", tc.to, []byte(submitTestMsg))
			asSubmitError(t, err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
