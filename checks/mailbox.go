package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
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
	// WantBody reports whether a message with this header should also have
	// its body fetched (with BODY.PEEK, up to BodyLimit bytes). Nil: never.
	WantBody func(h mail.Header) bool
	// BodyLimit bounds the body bytes fetched per message. Default 256 KiB.
	BodyLimit int64
	// HeaderLimit bounds the bytes of watched header fields fetched per
	// message and section (a partial fetch,
	// BODY.PEEK[HEADER.FIELDS (...)]<0.N>), so a message with a huge header
	// field costs no more than a small one. The fields that identify a
	// message are one section, those a message may have many or long ones
	// of (Received, To, Cc, References) the other, so that the second
	// never pushes the first out. Longer sections are cut after the last
	// whole field that fits and the Message says HeaderTruncated. Default
	// 64 KiB.
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
	Header      mail.Header // the header fields listed in WatchedHeaderFields
	Body        []byte      // the raw body (after the header), nil unless WantBody said so; at most BodyLimit bytes
	Truncated   bool        // the body was longer than BodyLimit
	// HeaderTruncated says the watched header fields were longer than
	// HeaderLimit: Header holds the whole fields that fitted.
	HeaderTruncated bool
	// SeenAt is when the session learnt of the message: when the first
	// server response naming its UID arrived (not when its header fields
	// had been fetched).
	SeenAt time.Time
	// Arrived is the message's INTERNALDATE (the server's clock) for the
	// messages that had arrived before the session reported them: those
	// reported because of ReportSince or a UIDVALIDITY change. Zero for
	// the others, which arrived when SeenAt says.
	Arrived time.Time
}

// WatchedHeaderFields are the header fields fetched for every new message:
// enough to recognise probe copies, notices and bounces.
//
// They are the fields Classify and Hops read: one list, so that a field the
// classifier learns to read is never missing from what the mailbox fetches.
var WatchedHeaderFields = ClassifyHeaderFields

// Defaults of MailboxOptions, and the session's internal bounds.
const (
	defaultPollInterval = 10 * time.Second
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
// responses, a giant atom or flag list) has its connection closed: the
// session fails with ErrTooMuchData and starts again. A session takes at
// most 64 MiB of heap with the default limits. A round that takes longer
// than a minute fails with ErrNoAnswer.
type Mailbox struct {
	opts MailboxOptions
	log  *slog.Logger

	// Bounds of the reconnection backoff and of one command round; tests
	// shorten them.
	backoffMin, backoffMax time.Duration
	cmdTimeout             time.Duration

	running atomic.Bool
	up      atomic.Bool
	polling atomic.Bool // the current session polls rather than IDLEs
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

// NewMailbox returns a Mailbox for opts; call Run to start it.
func NewMailbox(opts MailboxOptions) *Mailbox {
	if opts.TLS == "" {
		opts.TLS = TLSImplicit
	}
	if opts.Mailbox == "" {
		opts.Mailbox = "INBOX"
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
		m.log.Warn("imap session ended", "err", err, "retry_in", backoff)
		m.setState(false, err)

		t := time.NewTimer(backoff)
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
// its copy is lost. A command that waits longer than a minute ends the
// session with ErrNoAnswer.
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
// is open read-only (MailboxOptions.ReadOnly). The deletion runs in the
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
	select {
	case m.reqs <- req:
	case <-ctx.Done():
		return fmt.Errorf("imap %s: delete: %w", m.opts.Address, ctx.Err())
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
	case TLSImplicit, TLSStartTLS, TLSNone:
	default:
		return fmt.Errorf("imap %s: unknown TLS mode %q (want %q, %q or %q)", m.opts.Address, m.opts.TLS, TLSImplicit, TLSStartTLS, TLSNone)
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

// mailboxSession is one connection, owned by Run's goroutine.
type mailboxSession struct {
	c           *imapclient.Client
	signal      chan struct{} // an EXISTS or EXPUNGE arrived: there may be new mail
	lastAsked   time.Time     // when the server was last asked for news
	caps        imap.CapSet
	uidValidity uint32
	timeout     time.Duration
	conn        *budgetConn   // bounds what one command round reads
	roundStart  *atomic.Int64 // the Mailbox's, set while a round is in flight
	fetchedOnce bool          // a fetch of new mail has succeeded: the session is watching
}

// notify records that new mail may have arrived. It runs in the client's
// reading goroutine, which must never block.
//
// An EXPUNGE counts too: a server may announce one message expunged and
// one delivered in the same breath without a changed EXISTS count.
func (s *mailboxSession) notify() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *mailboxSession) drain() {
	select {
	case <-s.signal:
	default:
	}
}

// notified reports whether the server announced a change since the last
// drain, without consuming it.
func (s *mailboxSession) notified() bool {
	return len(s.signal) > 0
}

// noop asks the server for news; EXISTS and EXPUNGE in its answer reach
// notify.
func (s *mailboxSession) noop() error {
	if err := s.do(func() error { return s.c.Noop().Wait() }); err != nil {
		return fmt.Errorf("noop: %w", err)
	}
	s.lastAsked = time.Now()
	return nil
}

// do runs one command round within the round budget of commands that
// fetch no message data (mailboxRoundSlack).
func (s *mailboxSession) do(f func() error) error {
	return s.doWithin(mailboxRoundSlack, f)
}

// doWithin runs one command round: it closes the connection if the round
// takes longer than the session's timeout or reads more than budget bytes.
func (s *mailboxSession) doWithin(budget int64, f func() error) error {
	if s.conn != nil {
		s.conn.reset(budget)
	}
	if s.roundStart != nil {
		s.roundStart.Store(time.Now().UnixNano())
		defer s.roundStart.Store(0)
	}
	var timedOut atomic.Bool
	t := time.AfterFunc(s.timeout, func() {
		timedOut.Store(true)
		s.c.Close()
	})
	err := f()
	t.Stop()
	switch {
	case err != nil && s.conn != nil && s.conn.failure() != nil:
		if why := s.conn.failure(); why != ErrTooMuchData {
			return fmt.Errorf("%w: connection closed", why)
		}
		return fmt.Errorf("%w (over %d bytes in answer to one command): connection closed", ErrTooMuchData, budget)
	case err != nil && timedOut.Load():
		return fmt.Errorf("%w: no answer within %v: %w", ErrNoAnswer, s.timeout, err)
	}
	return err
}

// dial connects and waits for the greeting, bounded by the command timeout.
func (m *Mailbox) dial(ctx context.Context, s *mailboxSession) (*imapclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cmdTimeout)
	defer cancel()
	host, _, _ := net.SplitHostPort(m.opts.Address)
	tlsConfig := clientTLSConfig(m.opts.TLSConfig, host)
	options := &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					s.notify()
				}
			},
			Expunge: func(uint32) { s.notify() },
		},
	}

	dialContext := m.opts.DialContext
	if dialContext == nil {
		dialContext = (&net.Dialer{}).DialContext
	}
	raw, err := dialContext(ctx, "tcp", m.opts.Address)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// Everything the server sends, the greeting and the TLS handshake
	// included, is read within a round's budget.
	s.conn = &budgetConn{Conn: raw, left: mailboxRoundSlack}
	var conn net.Conn = s.conn
	// The handshake and the greeting know no context: close the
	// connection if they outlast it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var c *imapclient.Client
	switch m.opts.TLS {
	case TLSImplicit:
		if tlsConfig.NextProtos == nil {
			tlsConfig.NextProtos = []string{"imap"}
		}
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		c = imapclient.New(tc, options)
	case TLSStartTLS:
		// imapclient sends STARTTLS whatever the server advertises and
		// fails if the server refuses: never a silent downgrade.
		options.TLSConfig = tlsConfig
		c, err = imapclient.NewStartTLS(conn, options)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("starttls: %w", err)
		}
	default:
		c = imapclient.New(conn, options)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: no greeting within %v", ErrNoAnswer, m.cmdTimeout)
		}
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !stop() {
		c.Close()
		return nil, fmt.Errorf("connect: %w", ctx.Err())
	}
	return c, nil
}

// runSession runs one session until it fails or ctx ends. wasUp says
// whether it got as far as watching the mailbox.
func (m *Mailbox) runSession(ctx context.Context) (wasUp bool, err error) {
	s := &mailboxSession{signal: make(chan struct{}, 1), timeout: m.cmdTimeout, roundStart: &m.roundStart}
	s.c, err = m.dial(ctx, s)
	if err != nil {
		return false, err
	}
	defer s.c.Close()
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()

	if err := s.do(func() error { return s.c.Login(m.opts.Username, m.opts.Password).Wait() }); err != nil {
		return false, fmt.Errorf("login as %s: %w", m.opts.Username, err)
	}
	var sel *imap.SelectData
	err = s.do(func() (err error) {
		sel, err = s.c.Select(m.opts.Mailbox, &imap.SelectOptions{ReadOnly: m.opts.ReadOnly}).Wait()
		if err == nil {
			s.caps = s.c.Caps()
		}
		return err
	})
	if err != nil {
		if m.opts.ReadOnly {
			return false, fmt.Errorf("examine %s: %w", m.opts.Mailbox, err)
		}
		return false, fmt.Errorf("select %s: %w", m.opts.Mailbox, err)
	}
	s.uidValidity = sel.UIDValidity
	if err := m.resume(s, sel); err != nil {
		return false, err
	}

	m.polling.Store(!s.caps.Has(imap.CapIdle))
	// Up only once the server answered a fetch of new mail: a server that
	// logs in and selects but never answers FETCH would otherwise be up
	// for a minute after every reconnection, and its lists' probes lost
	// instead of error.
	if err := m.fetchNew(s); err != nil {
		return false, err
	}
	m.setState(true, nil)

	for {
		var req *mailboxDeleteRequest
		var fetch bool
		switch _, expecting := m.expectInterval(time.Now()); {
		case expecting:
			req, fetch, err = m.expectPoll(ctx, s)
		case m.polling.Load():
			req, fetch, err = m.poll(ctx, s)
		default:
			req, fetch, err = m.idle(ctx, s)
		}
		if err == nil && req != nil {
			req.done <- m.deleteNow(s, req)
			req = nil
			fetch = true
		}
		if err == nil && (fetch || s.notified()) {
			err = m.fetchNew(s)
		}
		if err != nil {
			if req != nil {
				req.done <- fmt.Errorf("imap %s: delete: %w", m.opts.Address, err)
			}
			return true, err
		}
	}
}

// idle runs one IDLE command until new mail, a delete request, an
// expectation, the refresh time or the end of the connection. A server that
// refuses IDLE switches the session to polling. fetch says that the new
// UIDs should be fetched whatever the server said.
func (m *Mailbox) idle(ctx context.Context, s *mailboxSession) (req *mailboxDeleteRequest, fetch bool, err error) {
	var cmd *imapclient.IdleCommand
	err = s.do(func() (err error) {
		cmd, err = s.c.Idle()
		return err
	})
	if err != nil {
		return nil, true, m.idleFailed(ctx, err)
	}
	m.lastGood = time.Now()

	timer := time.NewTimer(m.opts.IdleRefresh)
wait:
	for {
		select {
		case <-s.signal:
			s.notify() // still to be fetched
		case <-timer.C:
			// A server that drops IDLE notifications would go
			// unnoticed for good: look once per refresh.
			fetch = true
		case req = <-m.reqs:
		case <-m.expectWake:
			if _, expecting := m.expectInterval(time.Now()); !expecting {
				continue // an expectation ended: nothing to ask
			}
		case <-s.c.Closed():
		case <-ctx.Done():
		}
		break wait
	}
	timer.Stop()

	err = s.do(func() error {
		if err := cmd.Close(); err != nil {
			return err
		}
		return cmd.Wait()
	})
	s.lastAsked = time.Now()
	if err != nil {
		err = m.idleFailed(ctx, err)
		if err != nil && req != nil {
			req.done <- fmt.Errorf("imap %s: delete: %w", m.opts.Address, err)
			req = nil
		}
		return req, true, err
	}
	return req, fetch, nil
}

// idleFailed switches to polling when the server answered IDLE with NO or
// BAD, and otherwise reports the connection's failure.
func (m *Mailbox) idleFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var imapErr *imap.Error
	if errors.As(err, &imapErr) {
		m.log.Warn("imap server refused IDLE: polling instead", "err", err, "interval", m.opts.PollInterval)
		m.polling.Store(true)
		return nil
	}
	return fmt.Errorf("idle: %w", err)
}

// poll waits PollInterval (or for a delete request or an expectation) and
// asks the server for news with NOOP; the new UIDs are then fetched.
func (m *Mailbox) poll(ctx context.Context, s *mailboxSession) (*mailboxDeleteRequest, bool, error) {
	timer := time.NewTimer(m.opts.PollInterval)
	defer timer.Stop()
wait:
	for {
		select {
		case <-timer.C:
		case <-s.signal:
		case req := <-m.reqs:
			return req, false, nil
		case <-m.expectWake:
			if _, expecting := m.expectInterval(time.Now()); expecting {
				return nil, false, nil
			}
			continue // an expectation ended: keep the pace
		case <-s.c.Closed():
			return nil, false, errors.New("connection closed")
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		break wait
	}
	if err := s.noop(); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// expectPoll waits until the next question to the server is due while a
// message is expected (or for a delete request or a change of
// expectations), and asks with NOOP. A server answers NOOP with EXISTS when
// the mailbox grew, so the new UIDs are fetched only then: one command per
// question while nothing arrives.
func (m *Mailbox) expectPoll(ctx context.Context, s *mailboxSession) (*mailboxDeleteRequest, bool, error) {
	now := time.Now()
	interval, expecting := m.expectInterval(now)
	if !expecting {
		return nil, false, nil
	}
	if wait := s.lastAsked.Add(interval).Sub(now); wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-s.signal:
			return nil, true, nil
		case req := <-m.reqs:
			return req, false, nil
		case <-m.expectWake:
			// A new expectation asks sooner; a finished one may end
			// the polling.
			return nil, false, nil
		case <-s.c.Closed():
			return nil, false, errors.New("connection closed")
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	if err := s.noop(); err != nil {
		return nil, false, err
	}
	return nil, false, nil
}

// deleteNow serves a Delete request in the session.
func (m *Mailbox) deleteNow(s *mailboxSession, req *mailboxDeleteRequest) error {
	if m.opts.ReadOnly {
		return fmt.Errorf("imap %s: delete: mailbox %s of %s is open read-only", m.opts.Address, m.opts.Mailbox, m.opts.Username)
	}
	if !s.caps.Has(imap.CapUIDPlus) {
		// Plain EXPUNGE would also remove what other clients flagged
		// \Deleted: without UID EXPUNGE, delete nothing.
		return fmt.Errorf("imap %s: delete: server offers neither UIDPLUS nor IMAP4rev2: refusing to expunge", m.opts.Address)
	}
	if req.uidValidity != s.uidValidity {
		m.log.Info("imap delete skipped: UIDVALIDITY changed", "asked", req.uidValidity, "now", s.uidValidity)
		return nil
	}
	err := s.do(func() error {
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := s.c.Store(req.uids, store, nil).Close(); err != nil {
			return fmt.Errorf("uid store %v: %w", req.uids, err)
		}
		if err := s.c.UIDExpunge(req.uids).Close(); err != nil {
			return fmt.Errorf("uid expunge %v: %w", req.uids, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("imap %s: delete: %w", m.opts.Address, err)
	}
	m.log.Debug("imap deleted", "uids", req.uids.String())
	return nil
}

// resume decides where this session starts reporting: see the type's
// documentation.
func (m *Mailbox) resume(s *mailboxSession, sel *imap.SelectData) error {
	uidNext := sel.UIDNext
	if uidNext == 0 {
		// UIDNEXT is required of IMAP4rev1 servers but not always sent.
		var err error
		if uidNext, err = m.highestUID(s, sel.NumMessages); err != nil {
			return err
		}
		uidNext++
	}
	switch {
	case !m.started:
		// Started only once what came since ReportSince is reported: a
		// first session that fails halfway tries again.
		m.uidValidity = sel.UIDValidity
		if !m.opts.ReportSince.IsZero() {
			found, err := m.uidsArrivedSince(s, m.opts.ReportSince, uidNext)
			if err != nil {
				return fmt.Errorf("messages since %s: %w", m.opts.ReportSince.UTC().Format(time.RFC3339), err)
			}
			if err := m.deliver(s, found, false, nil); err != nil {
				return fmt.Errorf("messages since %s: %w", m.opts.ReportSince.UTC().Format(time.RFC3339), err)
			}
		}
		m.started, m.next = true, uidNext
	case sel.UIDValidity == m.uidValidity:
		// Resume from m.next: what arrived while disconnected is above it.
	default:
		m.log.Warn("imap UIDVALIDITY changed: reporting messages that arrived since the last session",
			"old", m.uidValidity, "new", sel.UIDValidity, "since", m.lastGood)
		found, err := m.uidsArrivedSince(s, m.lastGood.Add(-mailboxRecoveryMargin), uidNext)
		if err != nil {
			return fmt.Errorf("after UIDVALIDITY change: %w", err)
		}
		if err := m.deliver(s, found, true, nil); err != nil {
			return fmt.Errorf("after UIDVALIDITY change: %w", err)
		}
		m.uidValidity, m.next = sel.UIDValidity, uidNext
	}
	if m.next == 0 {
		m.next = 1
	}
	return nil
}

// pruneRecent forgets the Message-IDs reported before the recent window.
func (m *Mailbox) pruneRecent() {
	cutoff := time.Now().Add(-mailboxRecentWindow)
	for id, t := range m.recent {
		if t.Before(cutoff) {
			delete(m.recent, id)
		}
	}
}

// publish queues msg for every subscriber.
func (m *Mailbox) publish(msg Message) {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	for s := range m.subs {
		s.push(msg)
	}
}

// mailboxSubscriber is one subscription: an unbounded queue and the
// goroutine that feeds its channel from it.
type mailboxSubscriber struct {
	out  chan Message
	wake chan struct{} // capacity 1: the queue is not empty
	done chan struct{} // closed by the cancel function
	once sync.Once

	mu    sync.Mutex
	queue []Message
}

func (s *mailboxSubscriber) push(msg Message) {
	s.mu.Lock()
	s.queue = append(s.queue, msg)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *mailboxSubscriber) run() {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.queue = nil // let a burst's backing array go
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		msg := s.queue[0]
		s.queue[0] = Message{}
		s.queue = s.queue[1:]
		s.mu.Unlock()

		select {
		case s.out <- msg:
		case <-s.done:
			return
		}
	}
}
