package probe

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/mail"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/imapwatch"
	"github.com/listprobe/listprobe/probe/config"
)

// accountSession is the one long-lived IMAP session of an account, shared by
// every probe that reads that mailbox. It belongs to the service's session
// set, not to a configuration: a reload that leaves the account's connection
// settings alone keeps it, so no mail is missed and no probe loses it.
type accountSession struct {
	name    string
	key     string // the connection settings it was started with
	address string // the account's mail address, for messages
	server  string // host:port of its IMAP server, for messages
	box     *imapwatch.Mailbox
	// junk watches the account's Junk folder in a session of its own, for
	// accounts that read lists' copies; nil for the others. junkState is
	// its state (junk_state.go).
	junk      *imapwatch.Mailbox
	junkState folderState
	cancel    context.CancelFunc
	done      chan struct{} // closed when its goroutines have ended

	mu        sync.Mutex
	up        bool
	failed    bool // an attempt to log in has failed since the last success
	err       error
	since     time.Time
	changed   chan struct{} // closed and replaced at every change
	users     int           // probes holding it
	retired   bool          // replaced or removed by a reload: stops when unused
	reporting bool          // owns listprobe_mailbox_up{account=name}
}

func (s *accountSession) setState(up bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if up != s.up {
		s.since = time.Now()
	}
	s.up, s.err = up, err
	s.failed = !up && err != nil
	close(s.changed)
	s.changed = make(chan struct{})
}

// State says whether the session is up, since when, and why not.
func (s *accountSession) State() (up bool, since time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up, s.since, s.err
}

// waitUp waits until the session is up or ctx ends. With failFast it also
// gives up at the first failed login: `once` has no time to wait for a
// refused port or a wrong password to heal.
func (s *accountSession) waitUp(ctx context.Context, failFast bool) error {
	for {
		s.mu.Lock()
		up, failed, changed, err := s.up, s.failed, s.changed, s.err
		s.mu.Unlock()
		if up {
			return nil
		}
		if failFast && failed {
			return fmt.Errorf("%s mailbox %s at %s is unreachable: %w", s.name, s.address, s.server, err)
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("no session yet")
			}
			return fmt.Errorf("%s mailbox %s at %s is unreachable: %w", s.name, s.address, s.server, err)
		case <-changed:
		}
	}
}

// sessionKey identifies an account's connection settings: a session is kept
// across a reload exactly when its key is unchanged. The password is part of
// it, hashed so that the key can be compared without holding the secret.
func sessionKey(a *config.AccountConfig, poll time.Duration, junk string) string {
	i := a.IMAP
	pw := sha256.Sum256([]byte(i.Password()))
	return fmt.Sprintf("%s|%s|%s|%s|%v|%s|%x|%s|%s|%v|%s", a.Address, i.Address, i.TLS, i.CAFile, i.InsecureSkipVerify,
		i.Username, pw[:8], i.Mailbox, poll, !a.Cleanup, junk)
}

// junkFolder is the fallback name of the Junk folder account watches, or
// "" when it watches none: only readers of some list do (a copy filed as
// spam is what they look for), and never their watched mailbox twice.
func junkFolder(cfg *config.Config, name string, a *config.AccountConfig) string {
	if a.IMAP.JunkMailbox == a.IMAP.Mailbox {
		return ""
	}
	for _, l := range cfg.Lists {
		if l.HasReader(name) {
			return a.IMAP.JunkMailbox
		}
	}
	return ""
}

// mailbox returns the watcher of the folder a placement names.
func (s *accountSession) mailbox(p Placement) *imapwatch.Mailbox {
	if p == PlacementJunk {
		return s.junk
	}
	return s.box
}

// expect tells the account's watchers that a copy is due (see
// imapwatch.Mailbox.Expect): in INBOX or in Junk.
func (s *accountSession) expect(until time.Time) (done func()) {
	inboxDone := s.box.Expect(until)
	if s.junk == nil {
		return inboxDone
	}
	junkDone := s.junk.Expect(until)
	return func() { inboxDone(); junkDone() }
}

// sessions is the service's set of mailbox sessions, one per account with an
// IMAP server, reconciled with each configuration.
type sessions struct {
	logger  *slog.Logger
	metrics *Metrics
	// onMessage is called for every new message of every session, from that
	// session's own goroutine.
	onMessage func(s *accountSession, msg imapwatch.Message, p Placement)

	ctx context.Context
	wg  sync.WaitGroup
	// reportSince makes the sessions started with the first configuration
	// report what came since then too (see imapwatch.Options), so that
	// copies of an earlier run's probes that came while listprobe was down
	// are counted late and cleaned up. Zero for later sessions.
	reportSince time.Time
	// commandTimeout bounds one IMAP command round; 0: checks' default.
	commandTimeout time.Duration

	mu    sync.Mutex
	boxes map[string]*accountSession // the current session of each account
}

func newSessions(ctx context.Context, logger *slog.Logger, metrics *Metrics, onMessage func(*accountSession, imapwatch.Message, Placement)) *sessions {
	return &sessions{ctx: ctx, logger: logger, metrics: metrics, onMessage: onMessage, boxes: map[string]*accountSession{}}
}

// reconcile makes the sessions match cfg: unchanged accounts keep their
// session, changed ones get a new one, and the sessions of changed and
// removed accounts stop once no probe holds them.
func (ss *sessions) reconcile(cfg *config.Config) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	poll := time.Duration(cfg.Global.PollInterval)
	want := map[string]bool{}
	for name, a := range cfg.Accounts {
		if a.IMAP == nil {
			continue
		}
		want[name] = true
		junk := junkFolder(cfg, name, a)
		key := sessionKey(a, poll, junk)
		if old := ss.boxes[name]; old != nil {
			if old.key == key {
				continue
			}
			ss.retireLocked(old)
		}
		ss.boxes[name] = ss.start(name, key, a, poll, junk)
	}
	for name, old := range ss.boxes {
		if !want[name] {
			ss.retireLocked(old)
			delete(ss.boxes, name)
		}
	}
}

// retireLocked stops s reporting and lets it end once unused.
func (ss *sessions) retireLocked(s *accountSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired, s.reporting = true, false
	if s.users == 0 {
		s.cancel()
	}
}

func (ss *sessions) start(name, key string, a *config.AccountConfig, poll time.Duration, junk string) *accountSession {
	ctx, cancel := context.WithCancel(ss.ctx)
	s := &accountSession{name: name, key: key, address: a.Address, server: a.IMAP.Address, cancel: cancel,
		done: make(chan struct{}), changed: make(chan struct{}), reporting: true, since: time.Now()}
	opts := ss.watchOptions(name, a, poll)
	opts.OnState = func(up bool, err error) {
		s.setState(up, err)
		s.mu.Lock()
		reporting := s.reporting
		s.mu.Unlock()
		if !reporting {
			return
		}
		ss.metrics.MailboxUp(name, up)
	}
	s.box = imapwatch.New(opts)
	var wg sync.WaitGroup
	ss.watch(ctx, &wg, s, s.box, PlacementInbox)
	if junk != "" {
		// A session of its own: IDLE watches one folder, and switching the
		// INBOX session between folders would delay the copies it waits
		// for. Its state is not the account's: a server without a Junk
		// folder is fine.
		jopts := ss.watchOptions(name, a, poll)
		jopts.Mailbox, jopts.SpecialUse = junk, imap.MailboxAttrJunk
		jopts.HeaderFields = append(slices.Clone(checks.ClassifyHeaderFields), checks.FilterHeaderFields...)
		jopts.Logger = ss.logger.With("account", name, "folder", "junk")
		jopts.OnState = func(up bool, err error) {
			s.junkState.set(up, err)
			s.mu.Lock()
			reporting := s.reporting
			s.mu.Unlock()
			if reporting {
				ss.metrics.JunkUp(name, up)
			}
		}
		s.junk = imapwatch.New(jopts)
		ss.watch(ctx, &wg, s, s.junk, PlacementJunk)
	}
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		wg.Wait()
		close(s.done)
	}()
	return s
}

// watchOptions are the watcher options of an account's folders.
func (ss *sessions) watchOptions(name string, a *config.AccountConfig, poll time.Duration) imapwatch.Options {
	return imapwatch.Options{
		Address:      a.IMAP.Address,
		TLS:          a.IMAP.TLS,
		TLSConfig:    a.IMAP.TLSConfig(),
		Username:     a.IMAP.Username,
		Password:     a.IMAP.Password(),
		Mailbox:      a.IMAP.Mailbox,
		PollInterval: poll,
		// Without cleanup listprobe has nothing to change there: EXAMINE
		// leaves \Recent and everything else of a human's mailbox (a
		// moderator's) alone.
		ReadOnly:       !a.Cleanup,
		ReportSince:    ss.reportSince,
		CommandTimeout: ss.commandTimeout,
		HeaderFields:   checks.ClassifyHeaderFields,
		WantBody:       wantBody,
		// The watcher logs its session going up and down; OnState only
		// records the state, so each change is logged once.
		Logger: ss.logger.With("account", name),
	}
}

// watch runs box and hands its messages to onMessage until ctx ends.
func (ss *sessions) watch(ctx context.Context, wg *sync.WaitGroup, s *accountSession, box *imapwatch.Mailbox, p Placement) {
	msgs, unsubscribe := box.Subscribe()
	wg.Add(2)
	go func() {
		defer wg.Done()
		box.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		defer unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-msgs:
				if !ok {
					return
				}
				ss.dispatch(s, msg, p)
			}
		}
	}()
}

// dispatch hands one message to onMessage. A panic there (a parser bug a
// hostile message found) loses that message, not the session or the
// process.
func (ss *sessions) dispatch(s *accountSession, msg imapwatch.Message, p Placement) {
	defer func() {
		if p := recover(); p != nil {
			ss.logger.Error("handling a message panicked; the message is ignored", "account", s.name, "uid", msg.UID, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	ss.onMessage(s, msg, p)
}

// acquire returns the current session of account and holds it until
// release; nil if the account has no IMAP server.
func (ss *sessions) acquire(account string) *accountSession {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.boxes[account]
	if s == nil {
		return nil
	}
	s.mu.Lock()
	s.users++
	s.mu.Unlock()
	return s
}

// release lets go of a session acquire returned.
func (ss *sessions) release(s *accountSession) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users--
	if s.users == 0 && s.retired {
		s.cancel()
	}
}

// get returns the current session of account without holding it.
func (ss *sessions) get(account string) *accountSession {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.boxes[account]
}

// stop ends every session and waits for them.
func (ss *sessions) stop() {
	ss.mu.Lock()
	for _, s := range ss.boxes {
		s.mu.Lock()
		s.retired = true
		s.mu.Unlock()
		s.cancel()
	}
	ss.boxes = map[string]*accountSession{}
	ss.mu.Unlock()
	ss.wg.Wait()
}

// wantBody says which messages are fetched whole: possible notices (to
// classify them and check who sent them) and the list's copies (whose
// DKIM signatures cover the body: the copy's authentication verdict).
func wantBody(h mail.Header) bool {
	return checks.LooksLikeNotice(h) || checks.Classify(h, nil).Kind == checks.KindProbeCopy
}
