package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/emersion/go-sasl"
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
	// LocalName is the EHLO name. Default "localhost".
	LocalName string
}

// Submission is what the SMTP server said when it accepted a message.
type Submission struct {
	Reply      string        // the final reply to DATA, e.g. "250 2.0.0 Ok: queued as 4Xz"
	AcceptedAt time.Time     // when that reply arrived
	Duration   time.Duration // the whole conversation, dial to reply
}

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

func (e *SubmitError) Error() string { return "smtp submit: not implemented" }

func (e *SubmitError) Unwrap() error { return e.Err }

// Submit hands msg to the SMTP server for the recipients. The conversation is
// bound to ctx: its deadline bounds every command, and cancelling ctx closes
// the connection. Every failure is a *SubmitError.
func Submit(ctx context.Context, opts *SubmitOptions, from string, to []string, msg []byte) (*Submission, error) {
	return nil, errors.New("not implemented")
}
