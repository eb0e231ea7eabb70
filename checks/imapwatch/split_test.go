package imapwatch

import (
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-message/mail"
)

// splittingSession answers a FETCH of body sections in several FETCH
// responses per message, as servers may (RFC 3501 does not ask for one
// response per message): the first time a message's header, and its body,
// are fetched, its UID and flags alone first, as a server does when another client of the mailbox
// changed them (a reader that read the message, a cleanup that flagged
// it); then each section in a response of its own, the last asked for
// first.
type splittingSession struct {
	imapserver.Session
	flagged map[string]bool // uid and section kind -> a flags change was told
}

func (s *splittingSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if len(options.BodySection) == 0 {
		return s.Session.Fetch(w, numSet, options)
	}
	var news imap.UIDSet
	for _, r := range numSet.(imap.UIDSet) {
		for uid := r.Start; uid <= r.Stop && uid != 0; uid++ {
			key := fmt.Sprint(uid, options.BodySection[0].Specifier)
			if !s.flagged[key] {
				news.AddNum(uid)
				s.flagged[key] = true
			}
		}
	}
	if len(news) > 0 {
		if err := s.Session.Fetch(w, news, &imap.FetchOptions{UID: true, Flags: true}); err != nil {
			return err
		}
	}
	for i := len(options.BodySection) - 1; i >= 0; i-- {
		one := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{options.BodySection[i]}}
		if err := s.Session.Fetch(w, numSet, one); err != nil {
			return err
		}
	}
	return nil
}

// startSplittingServer starts a real IMAP server (imapserver and
// imapmemserver) on loopback whose sessions split their FETCH responses,
// and returns its address and the user to deliver to.
func startSplittingServer(t *testing.T) (string, *imapmemserver.User) {
	t.Helper()
	user := imapmemserver.NewUser(mailboxTestUser, mailboxTestPassword)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem := imapmemserver.New()
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &splittingSession{Session: &mailboxPolledIdleSession{Session: mem.NewSession()}, flagged: map[string]bool{}}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), user
}

// A message whose header sections come in several FETCH responses (after a
// flags-only one) is reported with all of them. Before, the first response
// for a UID was the whole answer (imapclient gives a command no other): the
// list's copy was reported with an empty header (no Message-ID, no token:
// not recognised, the probe lost) and a notice without its body.
func TestMailboxMergesAMessagesFetchResponses(t *testing.T) {
	addr, user := startSplittingServer(t)
	r := runTestMailbox(t, addr, func(o *Options) {
		o.WantBody = func(h mail.Header) bool { return strings.HasPrefix(h.Get("Subject"), "notice") }
	})
	r.waitState(t, true)
	for _, subject := range []string{"list copy", "notice held"} {
		msg := "Received: from lists.example.org by mx.example.org; Sun, 6 Dec 2026 18:00:00 +0000\r\n" +
			mailboxTestMessage(subject, "the body of "+subject+"\r\n")
		if _, err := user.Append("INBOX", strings.NewReader(msg), &imap.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, subject := range []string{"list copy", "notice held"} {
		msg := r.next(t)
		if got := msg.Header.Get("Subject"); got != subject {
			t.Fatalf("message UID %d: Subject %q, want %q (header %v)", msg.UID, got, subject, msg.Header.Header)
		}
		if id := msg.Header.Get("Message-Id"); id != "<"+strings.ReplaceAll(subject, " ", ".")+"@example.org>" {
			t.Errorf("%s: Message-ID %q", subject, id)
		}
		if !msg.Header.Has("Received") {
			t.Errorf("%s: the bulky section (Received) is missing: %v", subject, msg.Header.Header)
		}
		wantBody := ""
		if strings.HasPrefix(subject, "notice") {
			wantBody = "the body of " + subject + "\r\n"
		}
		if string(msg.Body) != wantBody {
			t.Errorf("%s: body %q, want %q", subject, msg.Body, wantBody)
		}
	}
}
