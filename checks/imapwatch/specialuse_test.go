package imapwatch

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// specialUseSession marks folders with a special use in LIST (SPECIAL-USE),
// which imapmemserver cannot do by itself, as Dovecot does for its Junk.
type specialUseSession struct {
	imapserver.Session
	marked map[string]imap.MailboxAttr
}

func (s *specialUseSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if options == nil || !options.SelectSpecialUse {
		return s.Session.List(w, ref, patterns, options)
	}
	for name, attr := range s.marked {
		if err := w.WriteList(&imap.ListData{Mailbox: name, Delim: '/', Attrs: []imap.MailboxAttr{attr}}); err != nil {
			return err
		}
	}
	return nil
}

func appendToFolder(t *testing.T, s *mailboxTestServer, folder, msg string) {
	t.Helper()
	if _, err := s.user.Append(folder, bytes.NewReader([]byte(msg)), &imap.AppendOptions{}); err != nil {
		t.Fatalf("append to %s: %v", folder, err)
	}
}

func TestMailboxWatchesTheFolderMarkedJunkRatherThanTheFallbackName(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapListExtended: {}, imap.CapSpecialUse: {}},
		marked: map[string]imap.MailboxAttr{"Spam": imap.MailboxAttrJunk}})
	for _, f := range []string{"Spam", "Junk"} {
		if err := srv.user.Create(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	r := runTestMailbox(t, srv.address(), func(o *Options) { o.SpecialUse, o.Mailbox = imap.MailboxAttrJunk, "Junk" })
	if err := r.waitState(t, true); err != nil {
		t.Fatal(err)
	}
	if got := r.m.Name(); got != "Spam" {
		t.Fatalf("watches %q, want the folder marked \\Junk, Spam", got)
	}
	appendToFolder(t, srv, "Junk", mailboxTestMessage("in the unmarked Junk", "x"))
	srv.deliver(t, mailboxTestMessage("in INBOX", "x"), nil)
	appendToFolder(t, srv, "Spam", mailboxTestMessage("in Spam", "x"))
	r.expectSubjects(t, "in Spam")
}

func TestMailboxFallsBackToTheConfiguredJunkName(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	if err := srv.user.Create("Junk", nil); err != nil {
		t.Fatal(err)
	}
	r := runTestMailbox(t, srv.address(), func(o *Options) { o.SpecialUse, o.Mailbox = imap.MailboxAttrJunk, "Junk" })
	if err := r.waitState(t, true); err != nil {
		t.Fatal(err)
	}
	if got := r.m.Name(); got != "Junk" {
		t.Fatalf("watches %q, want Junk", got)
	}
	appendToFolder(t, srv, "Junk", mailboxTestMessage("filed as spam", "x"))
	r.expectSubjects(t, "filed as spam")
}

func TestMailboxWithoutJunkFolderSaysSoAndWaitsBeforeLookingAgain(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	r := runTestMailbox(t, srv.address(), func(o *Options) {
		o.SpecialUse, o.Mailbox, o.MissingRetry = imap.MailboxAttrJunk, "Junk", time.Hour
	})
	err := r.waitState(t, false)
	if !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("state error %v, want ErrNoMailbox", err)
	}
	select {
	case st := <-r.states:
		t.Fatalf("looked again at once (state %v %v): a missing folder waits MissingRetry", st.up, st.err)
	case <-time.After(300 * time.Millisecond): // longer than the test's backoff of 10-50 ms
	}
	if r.m.Name() != "" {
		t.Errorf("Name() = %q with no folder found", r.m.Name())
	}
}
