package sandbox

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// maxMessageBytes is the SIZE the submission server announces.
const maxMessageBytes = 10 << 20

var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errAuthFailed   = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Error: authentication failed"}
)

func (w *World) startSMTP() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("sandbox: smtp listen on 127.0.0.1: %w", err)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &submitSession{w: w, conn: c}, nil
	}))
	s.Domain = w.hostname
	s.AllowInsecureAuth = true // loopback only, no TLS
	s.MaxMessageBytes = maxMessageBytes
	s.MaxRecipients = 50
	s.ReadTimeout = 5 * time.Minute
	s.WriteTimeout = time.Minute
	s.ErrorLog = slog.NewLogLogger(w.log.Handler(), slog.LevelWarn)
	w.smtp = s
	w.smtpLn = newTrackingListener(ln)
	w.smtpLn.count = &w.smtpConns
	w.SMTPAddr = ln.Addr().String()
	w.smtpDone = make(chan struct{})
	go func() {
		defer close(w.smtpDone)
		_ = s.Serve(w.smtpLn) // returns when the listener closes
	}()
	return nil
}

// stopSMTP closes the listener, then every connection, then waits for the
// server's connection goroutines (Shutdown) and its Serve loop.
func (w *World) stopSMTP() error {
	w.smtpLn.Close()
	w.smtpLn.closeConns()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := w.smtp.Shutdown(ctx)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	<-w.smtpDone
	if err != nil {
		return fmt.Errorf("sandbox: smtp shutdown: %w", err)
	}
	return nil
}

// submitSession is one SMTP submission session.
type submitSession struct {
	w    *World
	conn *smtp.Conn
	user string // authenticated address, "" before AUTH
	from string
	rcpt []string
}

var _ smtp.AuthSession = (*submitSession)(nil)

func (s *submitSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *submitSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		addr := strings.ToLower(username)
		acct, ok := s.w.accounts[addr]
		if !ok || subtle.ConstantTimeCompare([]byte(password), []byte(acct.Password)) != 1 {
			return errAuthFailed
		}
		if identity != "" && !strings.EqualFold(identity, username) {
			return errAuthFailed
		}
		s.user = addr
		return nil
	}), nil
}

func (s *submitSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return errAuthRequired
	}
	s.from = from
	s.rcpt = nil
	return nil
}

func (s *submitSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.user == "" {
		return errAuthRequired
	}
	addr := strings.ToLower(to)
	_, isAccount := s.w.accounts[addr]
	s.w.mu.Lock() // lists come and go through the REST API
	_, isList := s.w.lists[addr]
	_, isAlias := s.w.aliases[addr]
	s.w.mu.Unlock()
	if !isAccount && !isList && !isAlias {
		// Postfix's wording for an unknown virtual mailbox.
		return &smtp.SMTPError{
			Code:         550,
			EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message:      fmt.Sprintf("<%s>: Recipient address rejected: User unknown in virtual mailbox table", to),
		}
	}
	s.rcpt = append(s.rcpt, addr)
	return nil
}

func (s *submitSession) Data(r io.Reader) error {
	if s.user == "" {
		return errAuthRequired
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	qid := s.w.queueID()
	now := time.Now()
	helo := s.conn.Hostname()
	remote := "127.0.0.1"
	if a, ok := s.conn.Conn().RemoteAddr().(*net.TCPAddr); ok {
		remote = a.IP.String()
	}
	for _, rcpt := range s.rcpt {
		received := fmt.Sprintf("from %s (localhost [%s]) by %s (listprobe sandbox) with ESMTPSA id %s for <%s>; %s",
			helo, remote, s.w.hostname, qid, rcpt, rfc2822Date(now))
		if _, ok := s.w.accounts[rcpt]; ok {
			if err := s.w.deliver(rcpt, s.from, raw, received); err != nil {
				s.w.log.Error("sandbox: local delivery failed", "rcpt", rcpt, "err", err)
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error: queue file write error"}
			}
			continue
		}
		s.w.mu.Lock()
		st, ok := s.w.lists[rcpt]
		s.w.mu.Unlock()
		if ok {
			post := append([]byte(nil), raw...)
			from := s.from
			s.w.enqueue(func() { s.w.post(st, from, post, received) })
		}
		// Mail to a list's service addresses is accepted and discarded.
	}
	return nil
}

func (s *submitSession) Reset() { s.from, s.rcpt = "", nil }

func (s *submitSession) Logout() error { return nil }

// deliver stores raw in address's INBOX as the final MTA would: with a
// Return-Path of the envelope sender and a Received field on top.
func (w *World) deliver(address, envelopeFrom string, raw []byte, received string) error {
	return w.deliverTo(address, "INBOX", envelopeFrom, raw, received)
}

// deliverTo is deliver into folder.
func (w *World) deliverTo(address, folder, envelopeFrom string, raw []byte, received string) error {
	m, err := parseMessage(raw)
	if err != nil {
		// Not parseable as a header: store the bytes as they came.
		return w.storeIn(address, folder, raw)
	}
	m.prepend("Received", received, "\t")
	m.prepend("Return-Path", "<"+envelopeFrom+">", " ")
	return w.storeIn(address, folder, m.bytes())
}

// store appends raw to address's INBOX.
func (w *World) store(address string, raw []byte) error {
	return w.storeIn(address, "INBOX", raw)
}

// storeIn appends raw to address's folder.
func (w *World) storeIn(address, folder string, raw []byte) error {
	u, ok := w.users[address]
	if !ok {
		return fmt.Errorf("sandbox: no mailbox for %s", address)
	}
	if _, err := u.Append(folder, bytes.NewReader(raw), &imap.AppendOptions{Time: time.Now()}); err != nil {
		return fmt.Errorf("sandbox: store into %s of %s: %w", folder, address, err)
	}
	w.stored.Add(1)
	return nil
}
