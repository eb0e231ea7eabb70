package imapwatch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/listprobe/listprobe/checks/mailtls"
)

// imapConn is one connection, owned by Run's goroutine.
type imapConn struct {
	c           *imapclient.Client
	signal      chan struct{} // an EXISTS or EXPUNGE arrived: there may be new mail
	lastAsked   time.Time     // when the server was last asked for news
	caps        imap.CapSet
	uidValidity uint32
	timeout     time.Duration
	conn        *budgetConn   // bounds what one command round reads
	roundStart  *atomic.Int64 // the Mailbox's, set while a round is in flight

	countMu sync.Mutex
	counts  []counted // the EXISTS responses since the last EXPUNGE, oldest first
}

// counted is an EXISTS response: from at on, the mailbox held n messages.
type counted struct {
	n  uint32
	at time.Time
}

// maxCounts bounds the EXISTS responses remembered between two fetches of
// new UIDs; beyond it the newest are dropped, which only makes SeenAt later.
const maxCounts = 64

// counted records an EXISTS response. It runs in the client's reading
// goroutine.
func (s *imapConn) counted(n uint32) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	if len(s.counts) < maxCounts {
		s.counts = append(s.counts, counted{n: n, at: time.Now()})
	}
}

// forgetCounts forgets the EXISTS responses before an EXPUNGE: the message
// numbers they counted are no longer those of the same messages.
func (s *imapConn) forgetCounts() {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.counts = s.counts[:0]
}

// firstCounted returns when the server first said that the mailbox held
// the message now numbered seq (the first EXISTS of at least seq since the
// last EXPUNGE), or at when that was later or it did not say. A message
// that came while the session was busy fetching others is then seen when
// the server told of it, not when the session got round to it; never
// before it was there.
func (s *imapConn) firstCounted(seq uint32, at time.Time) time.Time {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	for _, c := range s.counts {
		if c.n >= seq && seq != 0 {
			return minTime(c.at, at)
		}
	}
	return at
}

// dropCountsBefore forgets the EXISTS responses that came before t: once a
// fetch of the new UIDs that began at t is answered, they counted messages
// it reported.
func (s *imapConn) dropCountsBefore(t time.Time) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	i := 0
	for i < len(s.counts) && s.counts[i].at.Before(t) {
		i++
	}
	s.counts = append(s.counts[:0], s.counts[i:]...)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// notify records that new mail may have arrived. It runs in the client's
// reading goroutine, which must never block.
//
// An EXPUNGE counts too: a server may announce one message expunged and
// one delivered in the same breath without a changed EXISTS count.
func (s *imapConn) notify() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *imapConn) drain() {
	select {
	case <-s.signal:
	default:
	}
}

// notified reports whether the server announced a change since the last
// drain, without consuming it.
func (s *imapConn) notified() bool {
	return len(s.signal) > 0
}

// noop asks the server for news; EXISTS and EXPUNGE in its answer reach
// notify.
func (s *imapConn) noop() error {
	if err := s.do(func() error { return s.c.Noop().Wait() }); err != nil {
		return fmt.Errorf("noop: %w", err)
	}
	s.lastAsked = time.Now()
	return nil
}

// do runs one command round within the round budget of commands that
// fetch no message data (mailboxRoundSlack).
func (s *imapConn) do(f func() error) error {
	return s.doWithin(mailboxRoundSlack, f)
}

// doWithin runs one command round: it closes the connection if the round
// takes longer than the session's timeout or reads more than budget bytes.
func (s *imapConn) doWithin(budget int64, f func() error) error {
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
func (m *Mailbox) dial(ctx context.Context, s *imapConn) (*imapclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cmdTimeout)
	defer cancel()
	host, _, _ := net.SplitHostPort(m.opts.Address)
	tlsConfig := mailtls.ClientConfig(m.opts.TLSConfig, host)
	options := &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					s.counted(*data.NumMessages)
					s.notify()
				}
			},
			Expunge: func(uint32) {
				s.forgetCounts()
				s.notify()
			},
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
	case mailtls.Implicit:
		if tlsConfig.NextProtos == nil {
			tlsConfig.NextProtos = []string{"imap"}
		}
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, m.dialFailed(ctx, "tls", err)
		}
		c = imapclient.New(tc, options)
	case mailtls.StartTLS:
		// imapclient sends STARTTLS whatever the server advertises and
		// fails if the server refuses: never a silent downgrade.
		options.TLSConfig = tlsConfig
		c, err = imapclient.NewStartTLS(conn, options)
		if err != nil {
			conn.Close()
			return nil, m.dialFailed(ctx, "starttls", err)
		}
	default:
		c = imapclient.New(conn, options)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, m.dialFailed(ctx, "greeting", err)
	}
	if !stop() {
		c.Close()
		return nil, fmt.Errorf("connect: %w", ctx.Err())
	}
	return c, nil
}

// dialFailed names what failed while connecting: ErrNoAnswer when the
// server did not finish the greeting or the TLS handshake within the
// command timeout.
func (m *Mailbox) dialFailed(ctx context.Context, what string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w: no answer within %v", what, ErrNoAnswer, m.cmdTimeout)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// runSession runs one session until it fails or ctx ends. wasUp says
// whether it got as far as watching the mailbox.
func (m *Mailbox) runSession(ctx context.Context) (wasUp bool, err error) {
	s := &imapConn{signal: make(chan struct{}, 1), timeout: m.cmdTimeout, roundStart: &m.roundStart}
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
	name, err := m.watchedMailbox(s)
	if err != nil {
		return false, err
	}
	var sel *imap.SelectData
	err = s.do(func() (err error) {
		sel, err = s.c.Select(name, &imap.SelectOptions{ReadOnly: m.opts.ReadOnly}).Wait()
		if err == nil {
			s.caps = s.c.Caps()
		}
		return err
	})
	if err != nil {
		if m.opts.ReadOnly {
			return false, fmt.Errorf("examine %s: %w", name, err)
		}
		return false, fmt.Errorf("select %s: %w", name, err)
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
func (m *Mailbox) idle(ctx context.Context, s *imapConn) (req *mailboxDeleteRequest, fetch bool, err error) {
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
func (m *Mailbox) poll(ctx context.Context, s *imapConn) (*mailboxDeleteRequest, bool, error) {
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
func (m *Mailbox) expectPoll(ctx context.Context, s *imapConn) (*mailboxDeleteRequest, bool, error) {
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
func (m *Mailbox) deleteNow(s *imapConn, req *mailboxDeleteRequest) error {
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
	// The EXPUNGE responses go to the command, not to the handler that
	// forgets the message numbers they shift.
	defer s.forgetCounts()
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
func (m *Mailbox) resume(s *imapConn, sel *imap.SelectData) error {
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
