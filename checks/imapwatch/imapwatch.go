// Package imapwatch implements a watcher of one IMAP mailbox (RFC 9051,
// RFC 3501): one long-lived session that dials, logs in, IDLEs (RFC 2177)
// or polls, fetches the chosen header fields of every new message (and its
// body when asked) with BODY.PEEK, and deletes only the UIDs its caller
// names, with UID EXPUNGE (RFC 4315).
//
// It knows nothing about what a message means: the caller says which
// header fields to fetch and which bodies it wants.
//
// imapwatch.go holds the options and the Mailbox's API, session.go the one
// IMAP session (dial, resume, IDLE or poll, delete), fetch.go what a
// session fetches and reports, subscribers.go the fan-out to subscribers.
package imapwatch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/mail"
	"github.com/listprobe/listprobe/checks/mailtls"
)

// Options says which IMAP mailbox to watch and how.
type Options struct {
	Address   string       // host:port
	TLS       mailtls.Mode // default mailtls.Implicit
	TLSConfig *tls.Config  // nil: verify against the system roots with ServerName from Address
	Username  string
	Password  string
	// Mailbox is the folder to watch. Default "INBOX", unless SpecialUse
	// is set.
	Mailbox string
	// SpecialUse, when set (imap.MailboxAttrJunk), makes the session watch
	// the folder the server marks with this attribute (RFC 6154), found
	// with LIST at every login; Mailbox is then the fallback when no
	// folder is marked ("" for none). When neither exists the session ends
	// with an error wrapping ErrNoMailbox, and tries again only after
	// MissingRetry: a server without a Junk folder is not a failure.
	SpecialUse imap.MailboxAttr
	// MissingRetry is how long a session waits to look again for a
	// folder that does not exist. Default 10m.
	MissingRetry time.Duration
	// PollInterval is how often to look for new mail when the server does not
	// offer IDLE or refuses it. Default 10s.
	PollInterval time.Duration
	// IdleRefresh is how long one IDLE command lasts before it is renewed
	// (RFC 2177 asks for less than 29 minutes). Default 9m.
	IdleRefresh time.Duration
	// ReportSince, when not zero, makes the first session also report the
	// messages already there whose INTERNALDATE is at or after it: mail
	// that came while the process was down, so that a restarted prober
	// still sees the copies of the probes it sent before. Zero (the
	// default): only what arrives from the first session on.
	ReportSince time.Time
	// ReadOnly opens the mailbox with EXAMINE instead of SELECT: the
	// session then changes nothing, not even \Recent, which a read-write
	// SELECT takes from the other clients of a shared mailbox (a human
	// moderator's), and Delete refuses. Default false.
	ReadOnly bool
	// HeaderFields are the header fields fetched for every new message
	// (BODY.PEEK[HEADER.FIELDS (...)]): what the caller reads to recognise
	// its messages. Message-ID is always added, as Mailbox itself reads it
	// (to report no message twice after a UIDVALIDITY change). Nil: the
	// whole header (BODY.PEEK[HEADER]). Either way at most HeaderLimit
	// bytes.
	HeaderFields []string
	// WantBody reports whether a message with this header should also have
	// its body fetched (with BODY.PEEK, up to BodyLimit bytes). Nil: never.
	WantBody func(h mail.Header) bool
	// BodyLimit bounds the body bytes fetched per message. Default 256 KiB.
	BodyLimit int64
	// HeaderLimit bounds the bytes of watched header fields fetched per
	// message and section (a partial fetch,
	// BODY.PEEK[HEADER.FIELDS (...)]<0.N>), so a message with a huge header
	// field costs no more than a small one. The fields a message may have
	// many or long ones of (Received, To, Cc, References) are one section,
	// the others (those that identify a message) the other, so that the
	// first never pushes the second out. Longer sections are cut after the
	// last whole field that fits and the Message says HeaderTruncated.
	// Default 64 KiB.
	HeaderLimit int64
	// ExpectInterval is how soon the session asks the server for news after
	// Expect, when a message is due; the interval then grows with the time
	// since Expect (a fortieth of it) up to ExpectMaxInterval. Defaults
	// 25ms and 1s.
	ExpectInterval, ExpectMaxInterval time.Duration
	// CommandTimeout bounds one command round (dial and greeting, LOGIN,
	// SELECT, one FETCH, ending IDLE...): a server that does not finish
	// answering within it has its connection closed, and the session goes
	// down with ErrNoAnswer. Default 1m.
	CommandTimeout time.Duration
	// DialContext opens the TCP connection to Address; TLS, when asked
	// for, runs over it. Nil: a net.Dialer. (Tests count the session's
	// bytes with it; a deployment may pick a source address.)
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// OnState is called with true when a session is logged in with the
	// mailbox selected, and with false and the reason when it ends or when
	// an attempt to start one fails (so every failed attempt is seen, even
	// while already down). When Run ends because its context ended, the last
	// call is OnState(false, nil). Calls come from Run's goroutine, one at a
	// time. Nil: not called.
	OnState func(up bool, err error)
	// Logger receives connection events. Nil: discard.
	Logger *slog.Logger
}

// Message is one new message seen in a watched mailbox.
//
// Header and Body are shared by every subscriber: read them, do not modify
// them.
type Message struct {
	UID         uint32
	UIDValidity uint32
	Header      mail.Header // the fields Options.HeaderFields names, or the whole header
	Body        []byte      // the raw body (after the header), nil unless WantBody said so; at most BodyLimit bytes
	Truncated   bool        // the body was longer than BodyLimit
	// RawHeader is the whole header section as the server sent it, in its
	// order, for the messages whose body is fetched (nil for the others):
	// what the list server's DKIM signature, ARC set and the receiving
	// server's trace fields are checked on. At most HeaderLimit bytes,
	// RawHeaderTruncated when cut.
	RawHeader          []byte
	RawHeaderTruncated bool
	// HeaderTruncated says the watched header fields were longer than
	// HeaderLimit: Header holds the whole fields that fitted.
	HeaderTruncated bool
	// SeenAt is when the session learnt of the message: when the server
	// first counted it (an EXISTS response of at least its number, since
	// the last EXPUNGE) or named its UID, whichever came first (not when
	// its header fields had been fetched, nor when the session, busy with
	// other messages, next asked for new UIDs).
	SeenAt time.Time
	// Arrived is the message's INTERNALDATE (the server's clock) for the
	// messages that had arrived before the session reported them: those
	// reported because of ReportSince or a UIDVALIDITY change. Zero for
	// the others, which arrived when SeenAt says.
	Arrived time.Time
}

// Defaults of Options, and the session's internal bounds.
const (
	defaultPollInterval = 10 * time.Second
	defaultMissingRetry = 10 * time.Minute
	defaultIdleRefresh  = 9 * time.Minute
	defaultBodyLimit    = 256 << 10
	defaultHeaderLimit  = 64 << 10

	defaultExpectInterval    = 25 * time.Millisecond
	defaultExpectMaxInterval = time.Second
	// expectBackoffRatio sets how the interval between questions grows
	// while a message is due: a fortieth of the time since Expect, so the
	// session learns of a message at most 2.5 % of its latency late (and
	// at most ExpectInterval for those under a second: within 50 ms up to
	// 2 s). With the default intervals that costs one NOOP every 25 ms for
	// the first second, then 40·ln(t/1s) more: a copy that comes after
	// 0.5 s costs 20, after 2 s about 70, and one that never comes within
	// 30 s about 180, where a plain 1 s poller would send 30 and be up to
	// a second late.
	expectBackoffRatio = 40

	// mailboxCommandTimeout bounds one command round (dial and greeting,
	// LOGIN, SELECT, one FETCH, ending IDLE...). imapclient has no timeout
	// between responses, so without it a server that stops answering
	// without closing the connection would stall the session for good.
	mailboxCommandTimeout = time.Minute
	// mailboxFetchBatch is how many messages one UID FETCH asks for. With
	// the header and body limits it bounds what one batch holds in memory
	// (16 × (64 KiB + 256 KiB) by default).
	mailboxFetchBatch = 16
	// mailboxRecoveryMargin widens the window of messages reported again
	// after a UIDVALIDITY change, for clock skew between listprobe and the
	// server (INTERNALDATE is the server's clock).
	mailboxRecoveryMargin = 5 * time.Minute
	// mailboxRecentWindow is how long the Message-IDs of reported messages
	// are remembered, so that recovery after a UIDVALIDITY change does not
	// report them twice.
	mailboxRecentWindow = time.Hour
)

// Mailbox keeps one long-lived IMAP session to a mailbox and tells its
// subscribers about every message that arrives while it runs. It uses IDLE
// when the server offers it and polls when it does not. It fetches only new
// UIDs (those above the highest seen at the start of the session, or since
// the last UIDVALIDITY change), never sets \Seen, and reconnects with
// backoff when the session fails.
//
// # What counts as new
//
// The first session reports only messages whose UID is at least the
// UIDNEXT the server announced when the mailbox was selected: what was
// there before listprobe started is not news. Later sessions (after a
// reconnect) resume from the UID after the last one reported, so a probe's
// copy that arrived while the connection was down is still reported.
//
// If UIDVALIDITY changed in between (the mailbox was recreated or its UIDs
// renumbered), UIDs say nothing any more. Starting from the new UIDNEXT
// would silently miss copies that arrived during the outage and report a
// healthy list as "lost"; reporting every message would flood subscribers
// with old mail. So Mailbox reports the messages whose INTERNALDATE is no
// older than the last moment the previous session was known to be working
// (less a margin for clock skew), skipping those whose Message-ID it
// reported within the last hour, and then continues from the new UIDNEXT.
//
// # Sessions
//
// One goroutine (Run's) owns the IMAP client. It IDLEs when the server
// offers IDLE and renews the command every IdleRefresh; an EXISTS response
// ends the IDLE, the new UIDs are fetched, and IDLE resumes. When the server
// refuses IDLE (a NO or BAD to the command, or when it ends), the session
// polls every PollInterval with NOOP and a UID FETCH from the next UID.
// Delete requests go to the same goroutine, which interrupts IDLE to serve
// them, so that no two commands ever race on the connection.
//
// # When a message is due
//
// Servers delay IDLE notifications (Dovecot by about half a second after a
// delivery, to batch changes), which would add that much to every latency
// measured with IDLE. While a caller says with Expect that a message is
// due, the session leaves IDLE and asks the server itself with NOOP, first
// after ExpectInterval and then less and less often (see
// ExpectMaxInterval), fetching the new UIDs as soon as a NOOP answer says
// the mailbox grew. When nothing is expected any more it goes back to IDLE.
// A message that IDLE reports first is reported at once all the same.
//
// # Bounded cost
//
// Every new message costs one partial fetch of its watched header fields
// (two sections of at most HeaderLimit bytes each) and, only when WantBody
// says so, one of its body (at most BodyLimit bytes); fetches go in batches
// of 16 messages whose responses are read one message at a time, whatever
// the messages hold and however large the mailbox is.
//
// # Bounded reading
//
// What a server sends is bounded too, whatever it sends: no more than the
// limits is kept of any response, and one command round (a command and its
// answer, with what the server adds unasked) may read no more than 4 MiB,
// or, when it fetches a batch's header sections or bodies, 1 MiB and the
// batch at the limits (3 MiB and 5 MiB with the defaults). A server that
// sends more (a literal of a gigabyte, an endless stream of FETCH or SEARCH
// responses, a giant atom or flag list) or nests parentheses deeper than
// 256 has its connection closed: the session fails with ErrTooMuchData and
// starts again. A session takes at most 64 MiB of heap with the default
// limits. A round that takes longer than CommandTimeout fails with
// ErrNoAnswer, and the session is up again only once a new one has fetched
// new mail.
type Mailbox struct {
	opts Options
	log  *slog.Logger

	// Bounds of the reconnection backoff and of one command round; tests
	// shorten them.
	backoffMin, backoffMax time.Duration
	cmdTimeout             time.Duration

	running atomic.Bool
	up      atomic.Bool
	polling atomic.Bool  // the current session polls rather than IDLEs
	name    atomic.Value // string: the folder found to watch
	// roundStart is when the command round in flight began (UnixNano),
	// 0 when none is: see Stalled.
	roundStart atomic.Int64

	reqs chan *mailboxDeleteRequest

	expMu      sync.Mutex
	expects    map[*mailboxExpectation]struct{}
	expectWake chan struct{} // capacity 1: the set of expectations changed

	subMu sync.Mutex
	subs  map[*mailboxSubscriber]struct{}
	subWG sync.WaitGroup // the subscribers' goroutines

	// Where to resume, owned by Run's goroutine.
	started     bool
	uidValidity uint32
	next        imap.UID             // the lowest UID not yet reported
	lastGood    time.Time            // when a session last completed a round
	recent      map[string]time.Time // Message-ID of reported messages -> when
}

// New returns a Mailbox for opts; call Run to start it.
func New(opts Options) *Mailbox {
	if opts.TLS == "" {
		opts.TLS = mailtls.Implicit
	}
	if opts.Mailbox == "" && opts.SpecialUse == "" {
		opts.Mailbox = "INBOX"
	}
	if opts.HeaderFields != nil && !slices.ContainsFunc(opts.HeaderFields, isMessageIDField) {
		opts.HeaderFields = append(slices.Clone(opts.HeaderFields), "Message-ID")
	}
	if opts.MissingRetry <= 0 {
		opts.MissingRetry = defaultMissingRetry
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPollInterval
	}
	if opts.IdleRefresh <= 0 {
		opts.IdleRefresh = defaultIdleRefresh
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = defaultBodyLimit
	}
	if opts.HeaderLimit <= 0 {
		opts.HeaderLimit = defaultHeaderLimit
	}
	if opts.ExpectInterval <= 0 {
		opts.ExpectInterval = defaultExpectInterval
	}
	if opts.ExpectMaxInterval <= 0 {
		opts.ExpectMaxInterval = defaultExpectMaxInterval
	}
	opts.ExpectMaxInterval = max(opts.ExpectMaxInterval, opts.ExpectInterval)
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = mailboxCommandTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mailbox{
		opts:       opts,
		log:        log.With("mailbox", opts.Username+"@"+opts.Address+"/"+opts.Mailbox),
		backoffMin: time.Second,
		backoffMax: time.Minute,
		cmdTimeout: opts.CommandTimeout,
		reqs:       make(chan *mailboxDeleteRequest),
		expects:    make(map[*mailboxExpectation]struct{}),
		expectWake: make(chan struct{}, 1),
		subs:       make(map[*mailboxSubscriber]struct{}),
		recent:     make(map[string]time.Time),
	}
}

// Run keeps the session up until ctx ends. It returns ctx.Err(), or at once
// an error naming the field when the options cannot work (bad address,
// unknown TLS mode). Run must not be called again while it runs.
func (m *Mailbox) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return fmt.Errorf("imap %s: Run called twice", m.opts.Address)
	}
	defer m.running.Store(false)
	if err := m.validate(); err != nil {
		m.setState(false, err)
		return err
	}

	backoff := m.backoffMin
	for {
		wasUp, err := m.runSession(ctx)
		if ctx.Err() != nil {
			m.setState(false, nil)
			return ctx.Err()
		}
		if wasUp {
			backoff = m.backoffMin
		}
		err = fmt.Errorf("imap %s: %w", m.opts.Address, err)
		wait := backoff
		if errors.Is(err, ErrNoMailbox) {
			wait = m.opts.MissingRetry
			m.log.Info("imap folder not found: not watched", "err", err, "retry_in", wait)
		} else {
			m.log.Warn("imap session ended", "err", err, "retry_in", wait)
		}
		m.setState(false, err)

		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, m.backoffMax)
	}
}

// Subscribe returns a channel of the messages that arrive from now on, and a
// function that ends the subscription. A slow subscriber does not block the
// session: each subscriber has its own unbounded queue. The function closes
// the channel and stops the goroutine that feeds it; calling it again does
// nothing.
func (m *Mailbox) Subscribe() (<-chan Message, func()) {
	s := &mailboxSubscriber{
		out:  make(chan Message),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	m.subMu.Lock()
	m.subs[s] = struct{}{}
	m.subMu.Unlock()
	m.subWG.Add(1)
	go func() {
		defer m.subWG.Done()
		s.run()
	}()
	return s.out, func() {
		s.once.Do(func() {
			m.subMu.Lock()
			delete(m.subs, s)
			m.subMu.Unlock()
			close(s.done)
		})
	}
}

// Up reports whether a session is currently logged in and watching.
func (m *Mailbox) Up() bool { return m.up.Load() }

// Stalled returns how long the command in flight has waited for the
// server's answer, 0 when no command is (an IDLE waiting for news is not a
// command in flight). A session that is up but stalled has seen nothing
// since its command began: a probe whose deadline comes then cannot say
// its copy is lost. A command that waits longer than CommandTimeout ends
// the session with ErrNoAnswer.
func (m *Mailbox) Stalled() time.Duration {
	t := m.roundStart.Load()
	if t == 0 {
		return 0
	}
	return max(time.Since(time.Unix(0, t)), time.Nanosecond)
}

// Expect says that a message is due in the mailbox from now on (a probe's
// copy right after the list server accepted the post, a notice): until
// done is called or until passes, the session asks the server for news at
// a short, growing interval instead of waiting for IDLE to tell it (see
// the type's documentation). Call done as soon as the message has come;
// calling it again does nothing. Expectations may overlap: the session
// asks as often as the most recent one wants. Expect may be called before
// Run and while the session is down; it takes effect when it is up.
func (m *Mailbox) Expect(until time.Time) (done func()) {
	e := &mailboxExpectation{start: time.Now(), until: until}
	m.expMu.Lock()
	m.expects[e] = struct{}{}
	m.expMu.Unlock()
	m.wakeExpect()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.expMu.Lock()
			delete(m.expects, e)
			m.expMu.Unlock()
			m.wakeExpect()
		})
	}
}

// mailboxExpectation is one Expect call.
type mailboxExpectation struct {
	start, until time.Time
}

func (m *Mailbox) wakeExpect() {
	select {
	case m.expectWake <- struct{}{}:
	default:
	}
}

// expectInterval returns how long after the last question to the server
// the next one is due, and false when no message is expected. Expired
// expectations are forgotten.
func (m *Mailbox) expectInterval(now time.Time) (time.Duration, bool) {
	m.expMu.Lock()
	defer m.expMu.Unlock()
	interval, expecting := m.opts.ExpectMaxInterval, false
	for e := range m.expects {
		if !now.Before(e.until) {
			delete(m.expects, e)
			continue
		}
		expecting = true
		iv := max(now.Sub(e.start)/expectBackoffRatio, m.opts.ExpectInterval)
		interval = min(interval, iv)
	}
	return interval, expecting
}

// Delete removes the messages with these UIDs (of this UIDVALIDITY) with
// UID STORE +FLAGS (\Deleted) and UID EXPUNGE, which touches no other
// message. It refuses (and deletes nothing) when the server lacks UIDPLUS,
// and does nothing when the mailbox's UIDVALIDITY has changed since.
//
// It fails when no session is up (at once when Run is not running, after
// waiting for the session being set up for at most CommandTimeout when it
// is: the messages a session reports before it is up, those that came
// while listprobe was down, are deleted too), and always when the mailbox
// is open read-only (Options.ReadOnly). The deletion runs in the
// watching session, between two IDLE commands; if ctx ends after the
// session took the request, the deletion may still happen.
func (m *Mailbox) Delete(ctx context.Context, uidValidity uint32, uids ...uint32) error {
	if len(uids) == 0 {
		return nil
	}
	if m.opts.ReadOnly {
		return fmt.Errorf("imap %s: delete: mailbox %s of %s is open read-only", m.opts.Address, m.opts.Mailbox, m.opts.Username)
	}
	var set imap.UIDSet
	for _, uid := range uids {
		if uid == 0 {
			return fmt.Errorf("imap %s: delete: UID 0 is not a message", m.opts.Address)
		}
		set.AddNum(imap.UID(uid))
	}
	if !m.waitUp(ctx) {
		return fmt.Errorf("imap %s: delete: mailbox session is down", m.opts.Address)
	}
	req := &mailboxDeleteRequest{uidValidity: uidValidity, uids: set, done: make(chan error, 1)}
	if err := m.hand(ctx, req); err != nil {
		return fmt.Errorf("imap %s: delete: %w", m.opts.Address, err)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("imap %s: delete: %w", m.opts.Address, ctx.Err())
	}
}

// mailboxDeleteRequest asks the session goroutine to delete messages.
type mailboxDeleteRequest struct {
	uidValidity uint32
	uids        imap.UIDSet
	done        chan error // buffered: the session never waits for Delete
}

func (m *Mailbox) validate() error {
	if _, _, err := net.SplitHostPort(m.opts.Address); err != nil {
		return fmt.Errorf("imap mailbox: bad address %q: %w", m.opts.Address, err)
	}
	switch m.opts.TLS {
	case mailtls.Implicit, mailtls.StartTLS, mailtls.None:
	default:
		return fmt.Errorf("imap %s: unknown TLS mode %q (want %q, %q or %q)", m.opts.Address, m.opts.TLS, mailtls.Implicit, mailtls.StartTLS, mailtls.None)
	}
	return nil
}

func (m *Mailbox) setState(up bool, err error) {
	was := m.up.Swap(up)
	if up && !was {
		m.log.Info("imap session up", "polling", m.polling.Load())
	}
	if m.opts.OnState != nil {
		m.opts.OnState(up, err)
	}
}
