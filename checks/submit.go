package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode says how a client secures its connection.
type TLSMode string

// The TLS modes of the config file.
const (
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (ports 465, 993)
	TLSStartTLS TLSMode = "starttls" // STARTTLS, required: never silently downgraded
	TLSNone     TLSMode = "none"     // clear text
)

// SubmitOptions says where and how to submit a message over SMTP.
type SubmitOptions struct {
	Address   string      // host:port
	TLS       TLSMode     // default TLSStartTLS
	TLSConfig *tls.Config // nil: verify against the system roots with ServerName from Address
	// Auth returns a fresh SASL client for one conversation; nil means no
	// authentication.
	Auth func() sasl.Client
	// LocalName is the EHLO name. Default "localhost". With TLSStartTLS it
	// names the client in the EHLO over TLS only: go-smtp says "localhost"
	// in the EHLO that precedes STARTTLS.
	LocalName string
}

// Submission is what the SMTP server said when it accepted a message.
type Submission struct {
	Reply      string        // the final reply to DATA, e.g. "250 2.0.0 Ok: queued as 4Xz"
	AcceptedAt time.Time     // when that reply arrived
	Duration   time.Duration // the whole conversation, dial to reply
}

// The stages of an SMTP conversation, as SubmitError.Stage names them.
const (
	StageConnect = "connect" // dial, greeting, EHLO, bad options
	StageTLS     = "tls"     // STARTTLS or the TLS handshake, certificate verification
	StageAuth    = "auth"    // SMTP AUTH
	StageMail    = "mail"    // MAIL FROM
	StageRcpt    = "rcpt"    // RCPT TO
	StageData    = "data"    // DATA, the message and the final reply
)

// SubmitError says which step of an SMTP conversation failed, and why.
type SubmitError struct {
	Address string // host:port of the server
	// Stage is the step that failed: "connect", "tls", "auth", "mail",
	// "rcpt" or "data".
	Stage string
	// Code and EnhancedCode are the server's reply, when there was one
	// (zero otherwise). Message is the server's text.
	Code         int
	EnhancedCode [3]int
	Message      string
	// Permanent is true for a 5xx reply to MAIL, RCPT or DATA: the server
	// refused the post for good. Connection, TLS and authentication failures
	// and temporary replies are never permanent.
	Permanent bool
	Err       error // the underlying error
}

// Error reads like "smtp submit to 127.0.0.1:587: rcpt: 550 5.1.1 user
// unknown": the server, the step and the server's own words (or the local
// error when the server said nothing). It never contains credentials: only
// the server's reply or a local error is quoted.
func (e *SubmitError) Error() string {
	s := "smtp submit to " + e.Address + ": " + e.Stage + ": "
	if e.Code != 0 {
		s += fmt.Sprintf("%d ", e.Code)
		if e.EnhancedCode[0] > 0 {
			s += fmt.Sprintf("%d.%d.%d ", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
		}
		return s + e.Message
	}
	if e.Message == "" && e.Err != nil {
		return s + serverText(e.Err.Error())
	}
	return s + e.Message
}

// Unwrap returns the underlying error, so that errors.Is and errors.As see
// context errors, *smtp.SMTPError and TLS verification errors.
func (e *SubmitError) Unwrap() error { return e.Err }

// errSTARTTLSNotOffered is the reason for refusing to continue in clear text.
var errSTARTTLSNotOffered = errors.New("server does not offer STARTTLS and TLS is required: not sending in clear text")

// errAuthNotOffered is the reason for stopping when credentials are
// configured but the server offers no AUTH (often: not over this transport).
var errAuthNotOffered = errors.New("server offers no AUTH: refusing to submit unauthenticated")

// Submit hands msg to the SMTP server for the recipients. The conversation is
// bound to ctx: its deadline bounds every command, and cancelling ctx closes
// the connection. Every failure is a *SubmitError.
func Submit(ctx context.Context, opts *SubmitOptions, from string, to []string, msg []byte) (*Submission, error) {
	start := time.Now()
	if opts == nil {
		return nil, &SubmitError{Stage: StageConnect, Err: errors.New("no submit options")}
	}
	addr := opts.Address
	fail := func(stage string, err error) *SubmitError {
		return submitError(ctx, addr, stage, err)
	}

	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fail(StageConnect, fmt.Errorf("bad address %q: %w", addr, err))
	}
	mode := opts.TLS
	if mode == "" {
		mode = TLSStartTLS
	}
	if mode != TLSImplicit && mode != TLSStartTLS && mode != TLSNone {
		return nil, fail(StageConnect, fmt.Errorf("unknown TLS mode %q (want %q, %q or %q)", mode, TLSImplicit, TLSStartTLS, TLSNone))
	}
	if len(to) == 0 {
		return nil, fail(StageRcpt, errors.New("no recipients"))
	}
	localName := opts.LocalName
	if localName == "" {
		localName = "localhost"
	}
	tlsConfig := clientTLSConfig(opts.TLSConfig, host)

	var d net.Dialer
	rawConn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fail(StageConnect, err)
	}
	// Neither go-smtp nor net/textproto takes a context: closing the
	// connection when ctx ends unblocks whatever command is in flight.
	conn := &countingConn{Conn: rawConn}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	var c *smtp.Client
	switch mode {
	case TLSImplicit:
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fail(StageTLS, err)
		}
		c = smtp.NewClient(tc)
	case TLSNone:
		c = smtp.NewClient(conn)
	case TLSStartTLS:
		c, err = smtp.NewClientStartTLS(conn, tlsConfig)
		if err != nil {
			// go-smtp greets, says EHLO and sends STARTTLS in one call.
			// Nothing written yet means the greeting itself failed, which
			// is a connection problem rather than a TLS one.
			if conn.writes.Load() == 0 {
				return nil, fail(StageConnect, err)
			}
			var smtpErr *smtp.SMTPError
			if !conn.sentSTARTTLS.Load() && !errors.As(err, &smtpErr) && ctx.Err() == nil &&
				!isNetError(err) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				// Greeted and EHLO answered without error, yet no
				// STARTTLS sent: the server did not offer it.
				err = errSTARTTLSNotOffered
			}
			return nil, fail(StageTLS, err)
		}
	}
	defer c.Close()
	setSMTPTimeouts(ctx, c)

	// After STARTTLS, this EHLO is the first exchange over TLS: a failed
	// handshake or certificate verification shows up here.
	if err := c.Hello(localName); err != nil {
		stage := StageConnect
		if mode == TLSStartTLS {
			stage = StageTLS
		}
		return nil, fail(stage, err)
	}
	if mode == TLSStartTLS {
		if _, ok := c.TLSConnectionState(); !ok {
			return nil, fail(StageTLS, errSTARTTLSNotOffered)
		}
	}

	if opts.Auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return nil, fail(StageAuth, errAuthNotOffered)
		}
		if err := c.Auth(opts.Auth()); err != nil {
			return nil, fail(StageAuth, err)
		}
	}

	utf8Offered, _ := c.Extension("SMTPUTF8")
	from, to, useUTF8, err := envelope(utf8Offered, from, to)
	if err != nil {
		stage := StageRcpt
		if ae, ok := err.(*addressError); ok && ae.from {
			stage = StageMail
		}
		return nil, fail(stage, err)
	}
	var mailOpts *smtp.MailOptions
	if useUTF8 {
		mailOpts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(from, mailOpts); err != nil {
		return nil, fail(StageMail, err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return nil, fail(StageRcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return nil, fail(StageData, err)
	}
	if _, err := w.Write(msg); err != nil {
		return nil, fail(StageData, err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return nil, fail(StageData, err)
	}
	accepted := time.Now()
	// The message is queued: a failing QUIT changes nothing about that.
	_ = c.Quit()
	return &Submission{
		Reply:      "250 " + serverText(resp.StatusText),
		AcceptedAt: accepted,
		Duration:   accepted.Sub(start),
	}, nil
}

// submitError builds the *SubmitError for a failure at stage, taking code,
// enhanced code and text from a typed SMTP reply.
func submitError(ctx context.Context, addr, stage string, err error) *SubmitError {
	e := &SubmitError{Address: addr, Stage: stage, Err: err}
	var smtpErr *smtp.SMTPError
	if errors.As(err, &smtpErr) {
		e.Code = smtpErr.Code
		if smtpErr.EnhancedCode != smtp.NoEnhancedCode {
			e.EnhancedCode = [3]int(smtpErr.EnhancedCode)
		}
		e.Message = serverText(smtpErr.Message)
		switch stage {
		case StageMail, StageRcpt, StageData:
			e.Permanent = smtpErr.Code/100 == 5
		}
		return e
	}
	// A connection we closed because ctx ended fails with "use of closed
	// network connection" or an i/o timeout; say why instead.
	if ctxErr := ctx.Err(); ctxErr != nil {
		e.Err = ctxErr
	} else if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) && isTimeout(err) {
		e.Err = context.DeadlineExceeded
	}
	e.Message = serverText(e.Err.Error())
	return e
}

// setSMTPTimeouts bounds every command by the context's deadline, so that
// go-smtp's own defaults (5 and 12 minutes) never outlast the probe.
func setSMTPTimeouts(ctx context.Context, c *smtp.Client) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return
	}
	left := time.Until(deadline)
	if left <= 0 {
		left = time.Millisecond
	}
	c.CommandTimeout = min(c.CommandTimeout, left)
	c.SubmissionTimeout = min(c.SubmissionTimeout, left)
}

// clientTLSConfig returns the TLS configuration for a connection to host:
// verified against the system roots unless the caller says otherwise, and
// always with a ServerName so that verification has a name to check.
func clientTLSConfig(cfg *tls.Config, host string) *tls.Config {
	if cfg == nil {
		return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

// countingConn watches what the client writes, so that Submit can tell a
// failed greeting (nothing written yet) and a server that does not offer
// STARTTLS (never sent) from a failed STARTTLS negotiation: go-smtp does all
// three in one call and reports the second as an untyped error.
type countingConn struct {
	net.Conn
	writes       atomic.Int64
	sentSTARTTLS atomic.Bool
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	if bytes.HasPrefix(b, []byte("STARTTLS")) {
		c.sentSTARTTLS.Store(true)
	}
	return c.Conn.Write(b)
}

// isNetError reports whether err came from the network rather than from the
// SMTP conversation.
func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed)
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
