// Package submit implements SMTP submission of one message (RFC 6409):
// dial, STARTTLS or implicit TLS, AUTH, MAIL, RCPT and DATA, bound to a
// context, with an error that names the stage that failed and keeps the
// server's reply, so that a rejection can be told from a failure to try
// again.
package submit

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

	"github.com/listprobe/listprobe/checks/idn"
	"github.com/listprobe/listprobe/checks/mailtls"
	"github.com/listprobe/listprobe/checks/servertext"
)

// Options says where and how to submit a message over SMTP.
type Options struct {
	Address   string       // host:port
	TLS       mailtls.Mode // default mailtls.StartTLS
	TLSConfig *tls.Config  // nil: verify against the system roots with ServerName from Address
	// Auth returns a fresh SASL client for one conversation; nil means no
	// authentication.
	Auth func() sasl.Client
	// LocalName is the EHLO name. Default "localhost". With mailtls.StartTLS it
	// names the client in the EHLO over TLS only: go-smtp says "localhost"
	// in the EHLO that precedes STARTTLS.
	LocalName string
}

// Receipt is what the SMTP server said when it accepted a message.
type Receipt struct {
	Reply      string        // the final reply to DATA, e.g. "250 2.0.0 Ok: queued as 4Xz"
	AcceptedAt time.Time     // when that reply arrived
	Duration   time.Duration // the whole conversation, dial to reply
}

// The stages of an SMTP conversation, as Error.Stage names them.
const (
	StageConnect = "connect" // dial, greeting, EHLO, bad options
	StageTLS     = "tls"     // STARTTLS or the TLS handshake, certificate verification
	StageAuth    = "auth"    // SMTP AUTH
	StageMail    = "mail"    // MAIL FROM
	StageRcpt    = "rcpt"    // RCPT TO
	StageData    = "data"    // DATA, the message and the final reply
)

// Error says which step of an SMTP conversation failed, and why.
type Error struct {
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
func (e *Error) Error() string {
	s := "smtp submit to " + e.Address + ": " + e.Stage + ": "
	if e.Code != 0 {
		s += fmt.Sprintf("%d ", e.Code)
		if e.EnhancedCode[0] > 0 {
			s += fmt.Sprintf("%d.%d.%d ", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
		}
		return s + e.Message
	}
	if e.Message == "" && e.Err != nil {
		return s + servertext.Clean(e.Err.Error(), servertext.MaxLen)
	}
	return s + e.Message
}

// Unwrap returns the underlying error, so that errors.Is and errors.As see
// context errors, *smtp.SMTPError and TLS verification errors.
func (e *Error) Unwrap() error { return e.Err }

// errSTARTTLSNotOffered is the reason for refusing to continue in clear text.
var errSTARTTLSNotOffered = errors.New("server does not offer STARTTLS and TLS is required: not sending in clear text")

// errAuthNotOffered is the reason for stopping when credentials are
// configured but the server offers no AUTH (often: not over this transport).
var errAuthNotOffered = errors.New("server offers no AUTH: refusing to submit unauthenticated")

// Send hands msg to the SMTP server for the recipients. The conversation is
// bound to ctx: its deadline bounds every command, and cancelling ctx closes
// the connection. Every failure is a *Error.
func Send(ctx context.Context, opts *Options, from string, to []string, msg []byte) (*Receipt, error) {
	start := time.Now()
	if opts == nil {
		return nil, &Error{Stage: StageConnect, Err: errors.New("no submit options")}
	}
	addr := opts.Address
	fail := func(stage string, err error) *Error {
		return submitError(ctx, addr, stage, err)
	}

	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fail(StageConnect, fmt.Errorf("bad address %q: %w", addr, err))
	}
	mode := opts.TLS
	if mode == "" {
		mode = mailtls.StartTLS
	}
	if mode != mailtls.Implicit && mode != mailtls.StartTLS && mode != mailtls.None {
		return nil, fail(StageConnect, fmt.Errorf("unknown TLS mode %q (want %q, %q or %q)", mode, mailtls.Implicit, mailtls.StartTLS, mailtls.None))
	}
	if len(to) == 0 {
		return nil, fail(StageRcpt, errors.New("no recipients"))
	}
	localName := opts.LocalName
	if localName == "" {
		localName = "localhost"
	}
	tlsConfig := mailtls.ClientConfig(opts.TLSConfig, host)

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

	c, serr := startSMTP(ctx, conn, mode, tlsConfig, fail)
	if serr != nil {
		return nil, serr
	}
	defer c.Close()
	setSMTPTimeouts(ctx, c)
	if serr := greet(c, mode, localName, opts.Auth, fail); serr != nil {
		return nil, serr
	}
	resp, serr := transact(c, from, to, msg, fail)
	if serr != nil {
		return nil, serr
	}
	accepted := time.Now()
	// The message is queued: a failing QUIT changes nothing about that.
	_ = c.Quit()
	return &Receipt{
		Reply:      "250 " + servertext.Clean(resp.StatusText, servertext.MaxLen),
		AcceptedAt: accepted,
		Duration:   accepted.Sub(start),
	}, nil
}

// startSMTP starts the SMTP client over conn as mode says: a TLS handshake
// first, clear text, or the greeting, EHLO and STARTTLS.
func startSMTP(ctx context.Context, conn *countingConn, mode mailtls.Mode, tlsConfig *tls.Config, fail func(string, error) *Error) (*smtp.Client, *Error) {
	switch mode {
	case mailtls.Implicit:
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fail(StageTLS, err)
		}
		return smtp.NewClient(tc), nil
	case mailtls.None:
		return smtp.NewClient(conn), nil
	}
	c, err := smtp.NewClientStartTLS(conn, tlsConfig)
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
	return c, nil
}

// greet says EHLO (after STARTTLS, the first exchange over TLS: a failed
// handshake or certificate verification shows up here) and authenticates
// when auth is set.
func greet(c *smtp.Client, mode mailtls.Mode, localName string, auth func() sasl.Client, fail func(string, error) *Error) *Error {
	if err := c.Hello(localName); err != nil {
		stage := StageConnect
		if mode == mailtls.StartTLS {
			stage = StageTLS
		}
		return fail(stage, err)
	}
	if mode == mailtls.StartTLS {
		if _, ok := c.TLSConnectionState(); !ok {
			return fail(StageTLS, errSTARTTLSNotOffered)
		}
	}
	if auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fail(StageAuth, errAuthNotOffered)
		}
		if err := c.Auth(auth()); err != nil {
			return fail(StageAuth, err)
		}
	}
	return nil
}

// transact sends MAIL, RCPT for each recipient and DATA, and returns the
// server's final reply. International addresses go with SMTPUTF8 when the
// server offers it, else with their domains in IDNA form; a local part that
// is not ASCII cannot go to a server without SMTPUTF8, and nothing is sent.
func transact(c *smtp.Client, from string, to []string, msg []byte, fail func(string, error) *Error) (*smtp.DataResponse, *Error) {
	utf8Offered, _ := c.Extension("SMTPUTF8")
	from, to, useUTF8, err := idn.Envelope(utf8Offered, from, to)
	if err != nil {
		stage := StageRcpt
		if ae, ok := errors.AsType[*idn.AddressError](err); ok && ae.From {
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
	return resp, nil
}

// submitError builds the *Error for a failure at stage, taking code,
// enhanced code and text from a typed SMTP reply.
func submitError(ctx context.Context, addr, stage string, err error) *Error {
	e := &Error{Address: addr, Stage: stage, Err: err}
	var smtpErr *smtp.SMTPError
	if errors.As(err, &smtpErr) {
		e.Code = smtpErr.Code
		if smtpErr.EnhancedCode != smtp.NoEnhancedCode {
			e.EnhancedCode = [3]int(smtpErr.EnhancedCode)
		}
		e.Message = servertext.Clean(smtpErr.Message, servertext.MaxLen)
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
	e.Message = servertext.Clean(e.Err.Error(), servertext.MaxLen)
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

// maxReplyBytes bounds what one submission reads from the server: its
// replies are a few lines each (an EHLO's list of extensions a few hundred
// bytes), but net/textproto reads a line of any length into memory. A
// server that sends more (a reply line without end) has its connection
// closed.
const maxReplyBytes = 1 << 20

// errTooMuchReply is the read error of a server that sent more than
// maxReplyBytes.
var errTooMuchReply = fmt.Errorf("smtp server sent more than %d bytes of replies: connection closed", maxReplyBytes)

// countingConn watches what the client writes, so that Send can tell a
// failed greeting (nothing written yet) and a server that does not offer
// STARTTLS (never sent) from a failed STARTTLS negotiation: go-smtp does all
// three in one call and reports the second as an untyped error. It also
// bounds what is read (maxReplyBytes).
type countingConn struct {
	net.Conn
	writes       atomic.Int64
	sentSTARTTLS atomic.Bool
	read         atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	left := maxReplyBytes - c.read.Load()
	if left < 0 {
		return 0, errTooMuchReply
	}
	if int64(len(p)) > left+1 {
		p = p[:left+1]
	}
	n, err := c.Conn.Read(p)
	if c.read.Add(int64(n)) > maxReplyBytes {
		c.Conn.Close()
		return 0, errTooMuchReply
	}
	return n, err
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
