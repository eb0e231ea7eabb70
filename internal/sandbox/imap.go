package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
)

// imapService is one imapserver.Server on one listener, over the world's
// shared imapmemserver backend. An imapserver.Server cannot be restarted,
// so StartIMAP makes a new one on the old address.
type imapService struct {
	addr   string
	srv    *imapserver.Server
	ln     *trackingListener
	served chan struct{}
	// active counts connections from Accept until their session is
	// closed, which is the last thing the server's connection goroutine
	// does that takes any time; stop waits for it to reach zero.
	mu     sync.Mutex
	cond   *sync.Cond
	active int
}

// slogPrintf adapts slog to imapserver.Logger.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...interface{}) {
	p.l.Warn(fmt.Sprintf(format, args...))
}

// startIMAP serves IMAP on addr; count, if not nil, counts its connections.
func (w *World) startIMAP(addr string, noIdle bool, count *connCounter) (*imapService, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: imap listen on %s: %w", addr, err)
	}
	svc := &imapService{addr: ln.Addr().String(), served: make(chan struct{})}
	svc.cond = sync.NewCond(&svc.mu)
	svc.ln = newTrackingListener(ln)
	svc.ln.count = count
	svc.ln.onAccept = func() {
		svc.mu.Lock()
		svc.active++
		svc.mu.Unlock()
	}
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, imap.CapSpecialUse: {}}
	if noIdle {
		// IMAP4rev2 implies IDLE: announce IMAP4rev1 and the extensions
		// of IMAP4rev2 the memory server implements, and hide IDLE.
		caps = imap.CapSet{imap.CapIMAP4rev1: {}}
		for _, c := range []imap.Cap{imap.CapNamespace, imap.CapUIDPlus, imap.CapESearch, imap.CapSearchRes,
			imap.CapListExtended, imap.CapListStatus, imap.CapMove, imap.CapStatusSize, imap.CapSpecialUse} {
			caps[c] = struct{}{}
		}
		svc.ln.wrap = func(c net.Conn) net.Conn { return newNoIdleConn(c) }
	}
	svc.srv = imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			sess := w.mem.NewSession().(imapserver.SessionIMAP4rev2)
			return &countedSession{SessionIMAP4rev2: sess, svc: svc, noIdle: noIdle}, nil, nil
		},
		Caps:         caps,
		Logger:       slogPrintf{w.log},
		InsecureAuth: true, // loopback only, no TLS
	})
	go func() {
		defer close(svc.served)
		_ = svc.srv.Serve(svc.ln)
	}()
	return svc, nil
}

// stop closes the listener and every connection and waits until the
// server's goroutines are done.
func (svc *imapService) stop() {
	svc.ln.Close()
	svc.ln.closeConns()
	_ = svc.srv.Close() // the listener is already closed; its error says so
	<-svc.served
	svc.mu.Lock()
	for svc.active > 0 {
		svc.cond.Wait()
	}
	svc.mu.Unlock()
}

// countedSession wraps a memory server session: it tells the service when
// the connection ends, and refuses IDLE when noIdle is set.
type countedSession struct {
	imapserver.SessionIMAP4rev2
	svc    *imapService
	noIdle bool
	once   sync.Once
}

func (s *countedSession) Close() error {
	err := s.SessionIMAP4rev2.Close()
	s.once.Do(func() {
		s.svc.mu.Lock()
		s.svc.active--
		s.svc.cond.Broadcast()
		s.svc.mu.Unlock()
	})
	return err
}

// errIdleDisabled is the refusal of IDLE when Options.NoIdle is set.
var errIdleDisabled = &imap.Error{
	Type: imap.StatusResponseTypeNo,
	Code: imap.ResponseCodeCannot,
	Text: "IDLE is disabled on this server, poll instead",
}

// idleRecheck is how often Idle leaves and re-enters the memory server's
// IDLE to poll: imapmemserver loses an update queued between the
// continuation request and the start of its IDLE loop (it only wakes on
// updates queued after), and a real server does not.
const idleRecheck = time.Second

func (s *countedSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.noIdle {
		return errIdleDisabled
	}
	for {
		if err := s.SessionIMAP4rev2.Poll(w, true); err != nil {
			return err
		}
		inner := make(chan struct{})
		done := make(chan struct{})
		t := time.NewTimer(idleRecheck)
		go func() {
			select {
			case <-stop:
			case <-t.C:
			case <-done:
			}
			close(inner)
		}()
		err := s.SessionIMAP4rev2.Idle(w, inner)
		if err != nil {
			close(done)
			t.Stop()
			return err
		}
		<-inner // Idle may return at once when no mailbox is selected
		close(done)
		t.Stop()
		select {
		case <-stop:
			return nil
		default:
		}
	}
}

// readMailbox reads every message of acct's INBOX over IMAP without
// changing any flag: EXAMINE (read-only) and BODY.PEEK[].
func readMailbox(ctx context.Context, addr string, acct Account, folder string) ([]StoredMessage, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, fmt.Errorf("sandbox: read %s of %s: %w", folder, acct.Address, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(acct.Address, acct.Password).Wait(); err != nil {
		return nil, fmt.Errorf("sandbox: read %s of %s: login: %w", folder, acct.Address, err)
	}
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("sandbox: read %s of %s: examine: %w", folder, acct.Address, err)
	}
	var out []StoredMessage
	if sel.NumMessages > 0 {
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID:         true,
			Flags:       true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		if err != nil {
			return nil, fmt.Errorf("sandbox: read %s of %s: fetch: %w", folder, acct.Address, err)
		}
		for _, m := range msgs {
			sm := StoredMessage{UID: uint32(m.UID)}
			for _, f := range m.Flags {
				sm.Flags = append(sm.Flags, string(f))
			}
			for _, b := range m.BodySection {
				sm.Raw = b.Bytes
			}
			out = append(out, sm)
		}
	}
	_ = c.Logout().Wait()
	return out, nil
}

// internalReadTimeout bounds Messages so that a wedged server cannot hang
// a test forever.
const internalReadTimeout = 30 * time.Second

// StopIMAP closes the IMAP listener and every open IMAP connection, so a
// client sees its connection drop, even in the middle of IDLE. Mail that
// arrives while IMAP is stopped is kept.
func (w *World) StopIMAP() error {
	w.imapMu.Lock()
	defer w.imapMu.Unlock()
	if w.public == nil {
		return errors.New("sandbox: IMAP is already stopped")
	}
	w.public.stop()
	w.public = nil
	return nil
}

// StartIMAP listens again on the same address as before StopIMAP, with the
// same mailboxes.
func (w *World) StartIMAP() error {
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return errors.New("sandbox: world is closed")
	}
	w.imapMu.Lock()
	defer w.imapMu.Unlock()
	if w.public != nil {
		return errors.New("sandbox: IMAP is already running")
	}
	svc, err := w.startIMAP(w.IMAPAddr, w.noIdle, &w.imapConns)
	if err != nil {
		return err
	}
	w.public = svc
	return nil
}
