package imapwatch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-message/mail"
	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/mailtls"
	"github.com/listprobe/listprobe/internal/testcert"
)

// mailboxTestWait bounds how long a test waits for something that should
// happen at once; it only matters when the code under test is broken.
const mailboxTestWait = 20 * time.Second

const (
	mailboxTestUser     = "reader@example.org"
	mailboxTestPassword = "reader-secret"
)

// mailboxTestServer is a real IMAP server (imapserver + imapmemserver) on
// loopback that a test can stop and start again on the same address with
// the same mailboxes.
type mailboxTestServer struct {
	t          testing.TB
	mem        *imapmemserver.Server
	user       *imapmemserver.User
	caps       imap.CapSet
	refuseIdle bool
	tlsConfig  *tls.Config // non-nil: implicit TLS

	idleCalls  atomic.Int64                // IDLE commands the server refused
	refused    chan struct{}               // one value per refused IDLE
	stallFetch mailboxGate                 // FETCH hangs while closed, like a server that stopped answering
	silentIdle bool                        // IDLE never reports anything, like a server that delays it
	marked     map[string]imap.MailboxAttr // folders LIST (SPECIAL-USE) marks (RFC 6154)

	idles     chan struct{}                            // one value per IDLE command started, when silentIdle
	fetchHook atomic.Pointer[func(*imap.FetchOptions)] // called before each FETCH
	fetched   chan struct{}                            // one value per FETCH answered

	recMu            sync.Mutex
	selects          []bool // ReadOnly of every SELECT/EXAMINE, in order
	stores, expunges int

	mu   sync.Mutex
	addr string
	srv  *imapserver.Server
}

type mailboxTestServerOptions struct {
	caps       imap.CapSet // nil: IMAP4rev1 + UIDPLUS
	refuseIdle bool        // the session's Idle fails, so IDLE ends in NO
	silentIdle bool        // the session's Idle reports nothing until it ends
	tlsConfig  *tls.Config
	marked     map[string]imap.MailboxAttr
}

func startMailboxServer(t testing.TB, opts mailboxTestServerOptions) *mailboxTestServer {
	t.Helper()
	user := imapmemserver.NewUser(mailboxTestUser, mailboxTestPassword)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem := imapmemserver.New()
	mem.AddUser(user)
	caps := opts.caps
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}
	}
	s := &mailboxTestServer{t: t, mem: mem, user: user, caps: caps, refuseIdle: opts.refuseIdle, silentIdle: opts.silentIdle, marked: opts.marked,
		tlsConfig: opts.tlsConfig, addr: "127.0.0.1:0", idles: make(chan struct{}, 1000), refused: make(chan struct{}, 1000), fetched: make(chan struct{}, 1000)}
	s.start()
	t.Cleanup(func() {
		s.stallFetch.open()
		s.stop()
	})
	return s
}

// mailboxNoIdleSession is an imapmemserver session whose IDLE fails, like a
// server that does not really support it.
type mailboxNoIdleSession struct {
	imapserver.Session
	calls   *atomic.Int64
	refused chan<- struct{}
}

func (s *mailboxNoIdleSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.calls.Add(1)
	select {
	case s.refused <- struct{}{}:
	default:
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "IDLE is not available here"}
}

// mailboxPolledIdleSession is an imapmemserver session whose IDLE looks for
// updates every few milliseconds, as many real servers do. imapmemserver's
// own IDLE (v2.0.0-beta.8) never sends an update queued between the
// client's last command and the start of IDLE, which would make tests that
// deliver a message at that moment wait for nothing; Dovecot sends them.
type mailboxPolledIdleSession struct {
	imapserver.Session
}

func (s *mailboxPolledIdleSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := s.Session.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
	}
}

// mailboxSilentIdleSession is an imapmemserver session whose IDLE tells
// nothing until the client ends it, an extreme of Dovecot, which tells
// about half a second late.
type mailboxSilentIdleSession struct {
	imapserver.Session
	started chan<- struct{}
}

func (s *mailboxSilentIdleSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	select {
	case s.started <- struct{}{}:
	default:
	}
	<-stop
	return nil
}

// mailboxRecordingSession records what a client asked that could change
// the mailbox: SELECT or EXAMINE, STORE, EXPUNGE; and calls the server's
// fetch hook.
type mailboxRecordingSession struct {
	imapserver.Session
	srv *mailboxTestServer
}

func (s *mailboxRecordingSession) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	s.srv.recMu.Lock()
	s.srv.selects = append(s.srv.selects, options != nil && options.ReadOnly)
	s.srv.recMu.Unlock()
	return s.Session.Select(mailbox, options)
}

func (s *mailboxRecordingSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	s.srv.recMu.Lock()
	s.srv.stores++
	s.srv.recMu.Unlock()
	return s.Session.Store(w, numSet, flags, options)
}

func (s *mailboxRecordingSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	s.srv.recMu.Lock()
	s.srv.expunges++
	s.srv.recMu.Unlock()
	return s.Session.Expunge(w, uids)
}

func (s *mailboxRecordingSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if hook := s.srv.fetchHook.Load(); hook != nil {
		(*hook)(options)
	}
	err := s.Session.Fetch(w, numSet, options)
	select {
	case s.srv.fetched <- struct{}{}:
	default:
	}
	return err
}

// mailboxStallingSession hangs in FETCH while its gate is closed.
type mailboxStallingSession struct {
	imapserver.Session
	stall *mailboxGate
}

func (s *mailboxStallingSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	s.stall.wait()
	return s.Session.Fetch(w, numSet, options)
}

// mailboxGate holds back whoever waits on it while it is closed. The zero
// value is open.
type mailboxGate struct {
	mu     sync.Mutex
	closed chan struct{} // nil while open
}

func (g *mailboxGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed == nil {
		g.closed = make(chan struct{})
	}
}

func (g *mailboxGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != nil {
		close(g.closed)
		g.closed = nil
	}
}

func (g *mailboxGate) wait() {
	g.mu.Lock()
	ch := g.closed
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func (s *mailboxTestServer) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			sess := s.mem.NewSession()
			sess = &mailboxStallingSession{Session: sess, stall: &s.stallFetch}
			sess = &mailboxRecordingSession{Session: sess, srv: s}
			if s.marked != nil {
				sess = &specialUseSession{Session: sess, marked: s.marked}
			}
			switch {
			case s.refuseIdle:
				sess = &mailboxNoIdleSession{Session: sess, calls: &s.idleCalls, refused: s.refused}
			case s.silentIdle:
				sess = &mailboxSilentIdleSession{Session: sess, started: s.idles}
			default:
				sess = &mailboxPolledIdleSession{Session: sess}
			}
			return sess, nil, nil
		},
		Caps:         s.caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("listen on %s: %v", s.addr, err)
	}
	s.addr = ln.Addr().String()
	if s.tlsConfig != nil {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	s.srv = srv
	go srv.Serve(ln)
}

// stop closes the listener and every connection, like a server restart.
func (s *mailboxTestServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

func (s *mailboxTestServer) address() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// deliver puts a message into INBOX through the backend, as an MTA would.
func (s *mailboxTestServer) deliver(t testing.TB, msg string, options *imap.AppendOptions) imap.UID {
	t.Helper()
	if options == nil {
		options = &imap.AppendOptions{} // imapmemserver needs one
	}
	data, err := s.user.Append("INBOX", bytes.NewReader([]byte(msg)), options)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return data.UID
}

// unseen returns the number of messages in INBOX and how many lack \Seen,
// read through the backend.
func (s *mailboxTestServer) unseen(t testing.TB) (total, unseen uint32) {
	t.Helper()
	st, err := s.user.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true})
	if err != nil {
		t.Fatal(err)
	}
	return *st.NumMessages, *st.NumUnseen
}

// mailboxTestMessage is a small message with a unique subject and
// Message-ID.
func mailboxTestMessage(subject, body string) string {
	return "From: list@lists.example.org\r\n" +
		"To: reader@example.org\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n" +
		"X-Unwatched: not fetched\r\n" +
		"\r\n" + body
}

// mailboxTestRun is a Mailbox running against a test server, with the
// OnState calls it made.
type mailboxTestRun struct {
	m      *Mailbox
	states chan mailboxTestState
	msgs   <-chan Message
}

type mailboxTestState struct {
	up  bool
	err error
}

// runTestMailbox starts a Mailbox for the server's INBOX in clear text, with
// short backoff, subscribed before Run so that nothing is missed.
func runTestMailbox(t *testing.T, addr string, edit func(*Options), tune ...func(*Mailbox)) *mailboxTestRun {
	t.Helper()
	r := &mailboxTestRun{states: make(chan mailboxTestState, 1000)}
	opts := Options{
		HeaderFields: checks.ClassifyHeaderFields,
		Address:      addr,
		TLS:          mailtls.None,
		Username:     mailboxTestUser,
		Password:     mailboxTestPassword,
		OnState: func(up bool, err error) {
			select {
			case r.states <- mailboxTestState{up, err}:
			default:
			}
		},
		IdleRefresh:  time.Hour, // only EXISTS wakes an IDLE up, unless a test says so
		PollInterval: time.Hour,
	}
	if edit != nil {
		edit(&opts)
	}
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r.m = New(opts)
	r.m.backoffMin, r.m.backoffMax = 10*time.Millisecond, 50*time.Millisecond
	for _, f := range tune {
		f(r.m)
	}
	msgs, cancelSub := r.m.Subscribe()
	r.msgs = msgs

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		cancelSub()
	})
	return r
}

// waitState waits for an OnState call with up, and returns its error.
func (r *mailboxTestRun) waitState(t *testing.T, up bool) error {
	t.Helper()
	timeout := time.After(mailboxTestWait)
	for {
		select {
		case st := <-r.states:
			if st.up == up {
				if up != r.m.Up() && up {
					t.Errorf("OnState(true) but Up() = false")
				}
				return st.err
			}
		case <-timeout:
			t.Fatalf("no OnState(%v) within %v", up, mailboxTestWait)
		}
	}
}

func (r *mailboxTestRun) next(t *testing.T) Message {
	t.Helper()
	select {
	case msg, ok := <-r.msgs:
		if !ok {
			t.Fatal("subscription closed")
		}
		return msg
	case <-time.After(mailboxTestWait):
		t.Fatalf("no message within %v", mailboxTestWait)
	}
	panic("unreachable")
}

// expectSubjects reads len(want) messages and checks their subjects, in
// order.
func (r *mailboxTestRun) expectSubjects(t *testing.T, want ...string) []Message {
	t.Helper()
	var got []Message
	for _, subject := range want {
		msg := r.next(t)
		if s := msg.Header.Get("Subject"); s != subject {
			t.Fatalf("got message %q (UID %d), want %q", s, msg.UID, subject)
		}
		got = append(got, msg)
	}
	return got
}

// mailboxTestClient is a second, independent IMAP client: another mail
// reader of the same account.
func mailboxTestClient(t *testing.T, addr string) (*imapclient.Client, *imap.SelectData) {
	t.Helper()
	return mailboxTestClientMode(t, addr, false)
}

// mailboxTestClientMode is mailboxTestClient with the mailbox opened
// read-only (EXAMINE) or not.
func mailboxTestClientMode(t *testing.T, addr string, readOnly bool) (*imapclient.Client, *imap.SelectData) {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(mailboxTestUser, mailboxTestPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: readOnly}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return c, sel
}

// mailboxFlags returns every message's flags by UID, read with a second
// client that opens the mailbox read-only (and FETCH FLAGS sets nothing).
func mailboxFlags(t *testing.T, addr string) map[imap.UID][]imap.Flag {
	t.Helper()
	c, sel := mailboxTestClientMode(t, addr, true)
	flags := make(map[imap.UID][]imap.Flag)
	if sel.NumMessages == 0 {
		return flags
	}
	bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bufs {
		flags[b.UID] = b.Flags
	}
	return flags
}

func TestMailboxReportsNewMessagesViaIDLE(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	srv.deliver(t, mailboxTestMessage("old one", "already there\r\n"), nil)
	srv.deliver(t, mailboxTestMessage("old two", "already there\r\n"), nil)

	r := runTestMailbox(t, srv.address(), nil)
	r.waitState(t, true)
	if r.m.polling.Load() {
		t.Fatal("session polls although the server offers IDLE")
	}

	uid := srv.deliver(t, mailboxTestMessage("new one", "hello\r\n"), nil)
	msg := r.expectSubjects(t, "new one")[0] // the old messages would come first
	if msg.UID != uint32(uid) || msg.UIDValidity == 0 || msg.SeenAt.IsZero() {
		t.Errorf("UID %d, UIDValidity %d, SeenAt %v; want UID %d and both set", msg.UID, msg.UIDValidity, msg.SeenAt, uid)
	}
	if got := msg.Header.Get("Message-Id"); got != "<new.one@example.org>" {
		t.Errorf("Message-ID = %q", got)
	}
	if msg.Header.Has("X-Unwatched") {
		t.Errorf("fetched a header field that is not watched")
	}
	if msg.Body != nil || msg.Truncated {
		t.Errorf("fetched a body nobody wanted")
	}

	srv.deliver(t, mailboxTestMessage("new two", "hello\r\n"), nil)
	r.expectSubjects(t, "new two")
	if total, unseen := srv.unseen(t); total != 4 || unseen != 4 {
		t.Errorf("%d of %d messages unseen: the watcher set \\Seen", unseen, total)
	}
}

func TestMailboxPollsWhenIDLEIsRefused(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{refuseIdle: true})
	r := runTestMailbox(t, srv.address(), func(o *Options) {
		// IMAP servers answer a refused IDLE when it ends: end it soon.
		o.IdleRefresh = 20 * time.Millisecond
		o.PollInterval = 20 * time.Millisecond
	})
	r.waitState(t, true)

	// Once the server has refused IDLE, the session switches to polling
	// before it fetches anything again: a message delivered after the
	// refusal is reported by a polling session.
	select {
	case <-srv.refused:
	case <-time.After(mailboxTestWait):
		t.Fatal("the session never tried IDLE")
	}
	srv.deliver(t, mailboxTestMessage("polled", "hello\r\n"), nil)
	r.expectSubjects(t, "polled")
	if !r.m.polling.Load() {
		t.Fatal("the session did not switch to polling")
	}
	calls := srv.idleCalls.Load()
	srv.deliver(t, mailboxTestMessage("polled again", "hello\r\n"), nil)
	r.expectSubjects(t, "polled again")
	if got := srv.idleCalls.Load(); got != calls {
		t.Errorf("IDLE tried %d more times after the server refused it", got-calls)
	}
	if total, unseen := srv.unseen(t); total != unseen {
		t.Errorf("%d of %d messages unseen: polling set \\Seen", unseen, total)
	}
}

func TestMailboxReconnectsAfterServerRestartAndReportsWhatArrivedMeanwhile(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	srv.deliver(t, mailboxTestMessage("before start", "x\r\n"), nil)
	r := runTestMailbox(t, srv.address(), nil)
	r.waitState(t, true)

	srv.deliver(t, mailboxTestMessage("first", "x\r\n"), nil)
	first := r.expectSubjects(t, "first")[0]

	srv.stop()
	if err := r.waitState(t, false); err == nil || !strings.Contains(err.Error(), srv.address()) {
		t.Errorf("OnState(false, %v): want an error naming %s", err, srv.address())
	}
	if r.m.Up() {
		t.Error("Up() is true while the server is down")
	}
	srv.deliver(t, mailboxTestMessage("during outage", "x\r\n"), nil)

	srv.start()
	r.waitState(t, true)
	// "first" must not come again, "before start" never.
	outage := r.expectSubjects(t, "during outage")[0]
	if outage.UIDValidity != first.UIDValidity || outage.UID <= first.UID {
		t.Errorf("outage message UID %d/%d after first %d/%d", outage.UIDValidity, outage.UID, first.UIDValidity, first.UID)
	}
	srv.deliver(t, mailboxTestMessage("after restart", "x\r\n"), nil)
	r.expectSubjects(t, "after restart")

	for uid, flags := range mailboxFlags(t, srv.address()) {
		if slices.Contains(flags, imap.FlagSeen) {
			t.Errorf("UID %d has \\Seen", uid)
		}
	}
	if total, unseen := srv.unseen(t); total != 4 || unseen != 4 {
		t.Errorf("%d of %d messages unseen", unseen, total)
	}
}

func TestMailboxGivesUpOnAServerThatStopsAnswering(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	r := runTestMailbox(t, srv.address(), nil, func(m *Mailbox) { m.cmdTimeout = 200 * time.Millisecond })
	r.waitState(t, true)

	srv.stallFetch.close()
	srv.deliver(t, mailboxTestMessage("while stalled", "x\r\n"), nil)
	err := r.waitState(t, false)
	if err == nil || !strings.Contains(err.Error(), "no answer within") || !strings.Contains(err.Error(), srv.address()) {
		t.Fatalf("OnState(false, %v): want a timeout naming the server", err)
	}
	srv.stallFetch.open()
	r.waitState(t, true)
	r.expectSubjects(t, "while stalled")
}

func TestMailboxDeleteRemovesExactlyTheNamedUIDs(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	untouched := srv.deliver(t, mailboxTestMessage("someone else's", "x\r\n"), nil)
	r := runTestMailbox(t, srv.address(), nil)
	r.waitState(t, true)

	srv.deliver(t, mailboxTestMessage("probe copy", "x\r\n"), nil)
	srv.deliver(t, mailboxTestMessage("keep me", "x\r\n"), nil)
	srv.deliver(t, mailboxTestMessage("flagged elsewhere", "x\r\n"), nil)
	got := r.expectSubjects(t, "probe copy", "keep me", "flagged elsewhere")
	probe, keep, flagged := got[0], got[1], got[2]

	// Another mail reader marks a message \Deleted without expunging it.
	other, _ := mailboxTestClient(t, srv.address())
	if err := other.Store(imap.UIDSetNum(imap.UID(flagged.UID)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), mailboxTestWait)
	defer cancel()
	if err := r.m.Delete(ctx, probe.UIDValidity+1, keep.UID); err != nil {
		t.Fatalf("Delete with a stale UIDVALIDITY: %v", err)
	}
	if err := r.m.Delete(ctx, probe.UIDValidity, probe.UID); err != nil {
		t.Fatalf("Delete: %v", err)
	}

	flags := mailboxFlags(t, srv.address())
	if _, ok := flags[imap.UID(probe.UID)]; ok {
		t.Errorf("the probe copy (UID %d) is still there", probe.UID)
	}
	if _, ok := flags[imap.UID(keep.UID)]; !ok {
		t.Errorf("Delete with a stale UIDVALIDITY removed UID %d", keep.UID)
	}
	if f, ok := flags[imap.UID(flagged.UID)]; !ok || !slices.Contains(f, imap.FlagDeleted) {
		t.Errorf("the message another client flagged \\Deleted was expunged or unflagged (present %v, flags %v)", ok, f)
	}
	if _, ok := flags[untouched]; !ok {
		t.Errorf("a message that was there before start was removed")
	}
	if len(flags) != 3 {
		t.Errorf("%d messages left, want 3: %v", len(flags), flags)
	}

	// The session still watches after serving the request.
	srv.deliver(t, mailboxTestMessage("after delete", "x\r\n"), nil)
	r.expectSubjects(t, "after delete")
}

func TestMailboxDeleteRefusedWithoutUIDPLUS(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{caps: imap.CapSet{imap.CapIMAP4rev1: {}}})
	r := runTestMailbox(t, srv.address(), nil)
	r.waitState(t, true)
	srv.deliver(t, mailboxTestMessage("probe copy", "x\r\n"), nil)
	probe := r.expectSubjects(t, "probe copy")[0]

	ctx, cancel := context.WithTimeout(context.Background(), mailboxTestWait)
	defer cancel()
	err := r.m.Delete(ctx, probe.UIDValidity, probe.UID)
	if err == nil || !strings.Contains(err.Error(), "UIDPLUS") || !strings.Contains(err.Error(), srv.address()) {
		t.Fatalf("Delete without UIDPLUS: %v; want a refusal naming UIDPLUS and the server", err)
	}
	flags := mailboxFlags(t, srv.address())
	if f, ok := flags[imap.UID(probe.UID)]; !ok || slices.Contains(f, imap.FlagDeleted) {
		t.Errorf("refused Delete still touched the message (present %v, flags %v)", ok, f)
	}
}

func TestMailboxDeleteWhileDownFails(t *testing.T) {
	m := New(Options{Address: "127.0.0.1:1"})
	ctx, cancel := context.WithTimeout(context.Background(), mailboxTestWait)
	defer cancel()
	if err := m.Delete(ctx, 1, 1); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Delete with no session: %v, want an error naming the server", err)
	}
	if err := m.Delete(ctx, 1); err != nil {
		t.Errorf("Delete of nothing: %v", err)
	}
}

func TestMailboxFetchesBodyOnlyWhenWantedAndTruncates(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	r := runTestMailbox(t, srv.address(), func(o *Options) {
		o.WantBody = func(h mail.Header) bool { return strings.HasPrefix(h.Get("Subject"), "notice") }
		o.BodyLimit = 10
	})
	r.waitState(t, true)

	srv.deliver(t, mailboxTestMessage("notice long", "0123456789abcdefghij\r\n"), nil)
	srv.deliver(t, mailboxTestMessage("notice exact", "0123456789"), nil)
	srv.deliver(t, mailboxTestMessage("notice short", "01234"), nil)
	srv.deliver(t, mailboxTestMessage("plain copy", "0123456789abcdefghij\r\n"), nil)
	got := r.expectSubjects(t, "notice long", "notice exact", "notice short", "plain copy")

	for i, want := range []struct {
		body      string
		truncated bool
	}{{"0123456789", true}, {"0123456789", false}, {"01234", false}} {
		if string(got[i].Body) != want.body || got[i].Truncated != want.truncated {
			t.Errorf("%s: body %q truncated %v; want %q truncated %v", got[i].Header.Get("Subject"), got[i].Body, got[i].Truncated, want.body, want.truncated)
		}
	}
	if got[3].Body != nil || got[3].RawHeader != nil {
		t.Errorf("fetched the body or the whole header of a message WantBody declined")
	}
	// With the body comes the whole header, byte for byte as stored: what
	// DKIM and the receiving server's trace fields are checked on.
	want := mailboxTestMessage("notice long", "")
	if h := string(got[0].RawHeader); h != want[:strings.Index(want, "\r\n\r\n")+4] || got[0].RawHeaderTruncated {
		t.Errorf("whole header %q (truncated %v), want %q", h, got[0].RawHeaderTruncated, want)
	}
	if total, unseen := srv.unseen(t); total != unseen {
		t.Errorf("%d of %d messages unseen: fetching bodies set \\Seen", unseen, total)
	}
}

// The caller names the header fields; Message-ID comes along whatever it
// names, and nil fetches the whole header.
func TestMailboxFetchesTheHeaderFieldsItIsGiven(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string
		want   map[string]bool // field -> present
	}{
		{"subject only", []string{"Subject"}, map[string]bool{"Subject": true, "Message-Id": true, "From": false, "X-Unwatched": false}},
		{"whole header", nil, map[string]bool{"Subject": true, "Message-Id": true, "From": true, "X-Unwatched": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startMailboxServer(t, mailboxTestServerOptions{})
			r := runTestMailbox(t, srv.address(), func(o *Options) { o.HeaderFields = tc.fields })
			r.waitState(t, true)
			srv.deliver(t, mailboxTestMessage("fields", "x\r\n"), nil)
			msg := r.expectSubjects(t, "fields")[0]
			for f, present := range tc.want {
				if msg.Header.Has(f) != present {
					t.Errorf("header has %s: %v, want %v (header %v)", f, msg.Header.Has(f), present, msg.Header.Header)
				}
			}
		})
	}
}

func TestMailboxBadPasswordReportsTheServer(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	r := runTestMailbox(t, srv.address(), func(o *Options) { o.Password = "wrong-password-xyzzy" })
	err := r.waitState(t, false)
	if err == nil || !strings.Contains(err.Error(), srv.address()) || !strings.Contains(err.Error(), mailboxTestUser) {
		t.Fatalf("OnState(false, %v): want an error naming the server and the user", err)
	}
	if strings.Contains(err.Error(), "wrong-password-xyzzy") {
		t.Errorf("error %q contains the password", err)
	}
	var imapErr *imap.Error
	if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeAuthenticationFailed {
		t.Errorf("error %v does not carry the server's AUTHENTICATIONFAILED", err)
	}
	if r.m.Up() {
		t.Error("Up() after a failed login")
	}
	// It keeps trying (and failing) rather than giving up or panicking.
	if err := r.waitState(t, false); err == nil {
		t.Error("second attempt: OnState(false, nil)")
	}
}

func TestMailboxUIDVALIDITYChangeReportsWhatArrivedSince(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	r := runTestMailbox(t, srv.address(), nil)
	r.waitState(t, true)
	srv.deliver(t, mailboxTestMessage("before change", "x\r\n"), nil)
	before := r.expectSubjects(t, "before change")[0]

	// While the watcher is disconnected, the mailbox is deleted and created
	// again: every UID is renumbered under a new UIDVALIDITY.
	srv.stop()
	r.waitState(t, false)
	if err := srv.user.Delete("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := srv.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	srv.deliver(t, mailboxTestMessage("restored from last year", "x\r\n"), &imap.AppendOptions{Time: time.Now().Add(-365 * 24 * time.Hour)})
	srv.deliver(t, mailboxTestMessage("before change", "x\r\n"), nil) // already reported
	srv.deliver(t, mailboxTestMessage("during outage", "x\r\n"), nil)
	srv.start()
	r.waitState(t, true)

	during := r.expectSubjects(t, "during outage")[0]
	if during.UIDValidity == before.UIDValidity {
		t.Fatalf("UIDVALIDITY did not change (%d): the test does not test anything", during.UIDValidity)
	}
	srv.deliver(t, mailboxTestMessage("after change", "x\r\n"), nil)
	after := r.expectSubjects(t, "after change")[0]
	if after.UIDValidity != during.UIDValidity || after.UID <= during.UID {
		t.Errorf("after: %d/%d, during: %d/%d", after.UIDValidity, after.UID, during.UIDValidity, during.UID)
	}

	// A delete for the old UIDVALIDITY does nothing.
	ctx, cancel := context.WithTimeout(context.Background(), mailboxTestWait)
	defer cancel()
	if err := r.m.Delete(ctx, before.UIDValidity, during.UID); err != nil {
		t.Fatal(err)
	}
	if _, ok := mailboxFlags(t, srv.address())[imap.UID(during.UID)]; !ok {
		t.Error("Delete with the old UIDVALIDITY removed a message")
	}
}

func TestMailboxSlowSubscriberDoesNotBlockAndCancelEndsIt(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	r := runTestMailbox(t, srv.address(), nil)
	slow, cancelSlow := r.m.Subscribe() // never read until the end
	r.waitState(t, true)

	const n = 20
	for i := range n {
		srv.deliver(t, mailboxTestMessage(fmt.Sprintf("message %d", i), "x\r\n"), nil)
	}
	for i := range n {
		r.expectSubjects(t, fmt.Sprintf("message %d", i))
	}

	cancelSlow()
	cancelSlow() // twice is harmless
	for range slow {
		// The channel is closed once its goroutine ends; whatever was
		// queued may or may not come first.
	}

	_, cancelIdle := r.m.Subscribe()
	cancelIdle()

	// Only r's own subscription is left: its goroutine plus nothing else.
	r.m.subMu.Lock()
	left := len(r.m.subs)
	r.m.subMu.Unlock()
	if left != 1 {
		t.Errorf("%d subscriptions left, want 1", left)
	}
}

func TestMailboxSubscriberGoroutinesEndOnCancel(t *testing.T) {
	m := New(Options{Address: "127.0.0.1:1"})
	var cancels []func()
	for range 10 {
		_, cancel := m.Subscribe()
		cancels = append(cancels, cancel)
	}
	m.publish(Message{UID: 1}) // queued, never read
	for _, cancel := range cancels {
		cancel()
	}
	done := make(chan struct{})
	go func() { m.subWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(mailboxTestWait):
		t.Fatal("subscriber goroutines still running after cancel")
	}
}

func TestMailboxImplicitTLSVerifiesTheCertificate(t *testing.T) {
	cert := testcert.New(t)
	srv := startMailboxServer(t, mailboxTestServerOptions{tlsConfig: cert.Server})

	t.Run("trusted CA", func(t *testing.T) {
		r := runTestMailbox(t, srv.address(), func(o *Options) {
			o.TLS = mailtls.Implicit
			o.TLSConfig = &tls.Config{RootCAs: cert.Roots}
		})
		r.waitState(t, true)
		srv.deliver(t, mailboxTestMessage("over tls", "x\r\n"), nil)
		r.expectSubjects(t, "over tls")
	})
	t.Run("system roots do not know the self-signed certificate", func(t *testing.T) {
		r := runTestMailbox(t, srv.address(), func(o *Options) { o.TLS = "" }) // default: implicit TLS
		err := r.waitState(t, false)
		var verr *tls.CertificateVerificationError
		var uerr x509.UnknownAuthorityError
		if !errors.As(err, &verr) && !errors.As(err, &uerr) {
			t.Errorf("OnState(false, %v): want a certificate verification error", err)
		}
	})
}

func TestMailboxSTARTTLSNeverFallsBackToClearText(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{}) // no STARTTLS
	r := runTestMailbox(t, srv.address(), func(o *Options) { o.TLS = mailtls.StartTLS })
	err := r.waitState(t, false)
	if err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Fatalf("OnState(false, %v): want a STARTTLS failure", err)
	}
	if r.m.Up() {
		t.Error("logged in without TLS")
	}
}

func TestMailboxRunRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Address: "imap.example.org"}, `bad address "imap.example.org"`},
		{Options{Address: "127.0.0.1:993", TLS: "ssl"}, `unknown TLS mode "ssl"`},
	} {
		var stateErr error
		tc.opts.OnState = func(up bool, err error) { stateErr = err }
		err := New(tc.opts).Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run: %v, want an error containing %q", err, tc.want)
		}
		if stateErr == nil {
			t.Errorf("OnState was not told about %q", tc.want)
		}
	}
}

// BenchmarkMailboxDelivery measures the delivery of new messages through a
// real loopback IMAP session (IDLE, EXISTS, UID FETCH of the header fields)
// to several subscribers.
func BenchmarkMailboxDelivery(b *testing.B) {
	for _, bc := range []struct{ messages, subscribers int }{{1, 1}, {100, 1}, {100, 10}} {
		b.Run(fmt.Sprintf("messages=%d/subscribers=%d", bc.messages, bc.subscribers), func(b *testing.B) {
			srv := startMailboxServer(b, mailboxTestServerOptions{})
			up := make(chan struct{}, 1)
			m := New(Options{
				HeaderFields: checks.ClassifyHeaderFields,
				Address:      srv.address(), TLS: mailtls.None,
				Username: mailboxTestUser, Password: mailboxTestPassword,
				IdleRefresh: time.Hour,
				OnState: func(isUp bool, err error) {
					if isUp {
						up <- struct{}{}
					}
				},
			})
			var subs []<-chan Message
			for range bc.subscribers {
				ch, cancel := m.Subscribe()
				defer cancel()
				subs = append(subs, ch)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { m.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			<-up

			msg := mailboxTestMessage("benchmark", strings.Repeat("x", 1000)+"\r\n")
			b.ResetTimer()
			for range b.N {
				for range bc.messages {
					srv.deliver(b, msg, nil)
				}
				var wg sync.WaitGroup
				for _, ch := range subs {
					wg.Go(func() {
						for range bc.messages {
							<-ch
						}
					})
				}
				wg.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.messages), "ns/message")
		})
	}
}

// With ReportSince, the first session also reports what came since then
// (mail that arrived while a restarted prober was down), and nothing older.
func TestMailboxReportSinceReportsWhatCameWhileDown(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	now := time.Now()
	srv.deliver(t, mailboxTestMessage("last week", "old\r\n"), &imap.AppendOptions{Time: now.Add(-7 * 24 * time.Hour)})
	srv.deliver(t, mailboxTestMessage("an hour ago", "old\r\n"), &imap.AppendOptions{Time: now.Add(-time.Hour)})
	srv.deliver(t, mailboxTestMessage("while down", "a copy\r\n"), &imap.AppendOptions{Time: now.Add(-2 * time.Minute)})

	r := runTestMailbox(t, srv.address(), func(o *Options) { o.ReportSince = now.Add(-5 * time.Minute) })
	r.waitState(t, true)
	r.expectSubjects(t, "while down") // the older ones would come first
	srv.deliver(t, mailboxTestMessage("new", "hello\r\n"), nil)
	r.expectSubjects(t, "new")
}
