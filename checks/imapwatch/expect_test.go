package imapwatch

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/mail"
)

// A read-only watcher opens the mailbox with EXAMINE and changes nothing:
// not \Seen (even while fetching bodies), and not \Recent, which only a
// read-write SELECT takes from the other clients (RFC 3501 2.3.2;
// imapmemserver keeps no \Recent, so the test checks that the server never
// saw one; the testbed test checks Dovecot's \Recent itself). Delete
// refuses, even through a reconnect.
func TestMailboxReadOnlyChangesNothing(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	srv.deliver(t, mailboxTestMessage("read by the moderator", "x\r\n"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	srv.deliver(t, mailboxTestMessage("not read yet", "x\r\n"), nil)
	srv.deliver(t, mailboxTestMessage("flagged", "x\r\n"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged}})
	before := mailboxFlags(t, srv.address())

	r := runTestMailbox(t, srv.address(), func(o *Options) {
		o.ReadOnly = true
		o.WantBody = func(mail.Header) bool { return true }
	})
	r.waitState(t, true)
	srv.deliver(t, mailboxTestMessage("held post notice", "x\r\n"), nil)
	notice := r.expectSubjects(t, "held post notice")[0]
	if string(notice.Body) != "x\r\n" {
		t.Errorf("body %q", notice.Body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), mailboxTestWait)
	defer cancel()
	err := r.m.Delete(ctx, notice.UIDValidity, notice.UID)
	if err == nil || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), srv.address()) {
		t.Errorf("Delete in a read-only mailbox: %v; want a refusal naming the server and read-only", err)
	}

	// Through a reconnect too.
	srv.stop()
	r.waitState(t, false)
	srv.start()
	r.waitState(t, true)
	srv.deliver(t, mailboxTestMessage("after reconnect", "x\r\n"), nil)
	r.expectSubjects(t, "after reconnect")

	srv.recMu.Lock()
	selects, stores, expunges := slices.Clone(srv.selects), srv.stores, srv.expunges
	srv.recMu.Unlock()
	if len(selects) < 3 || slices.Contains(selects, false) || stores != 0 || expunges != 0 {
		t.Errorf("the server saw %d SELECT/EXAMINE (read-only: %v), %d STORE, %d EXPUNGE; want only EXAMINE", len(selects), selects, stores, expunges)
	}
	after := mailboxFlags(t, srv.address())
	for uid, flags := range before {
		if !slices.Equal(flags, after[uid]) {
			t.Errorf("UID %d: flags %v became %v", uid, flags, after[uid])
		}
	}
	if f := after[imap.UID(notice.UID)]; len(f) != 0 {
		t.Errorf("the new message has flags %v", f)
	}
	if len(after) != len(before)+2 {
		t.Errorf("%d messages, want %d: %v", len(after), len(before)+2, slices.Collect(maps.Keys(after)))
	}
}

// The server's IDLE never says anything here (Dovecot says it half a second
// late): only Expect makes the session ask. While a message is expected,
// delete requests are still served, and once it has come the session goes
// back to IDLE.
func TestMailboxExpectAsksTheServerWhileAMessageIsDue(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{silentIdle: true})
	var traffic lineCounter
	r := runTestMailbox(t, srv.address(), func(o *Options) { o.DialContext = traffic.dial })
	r.waitState(t, true)
	<-srv.idles

	// The copy arrives before anyone expects it (the post was accepted
	// late, or IDLE is slow): the first question finds it.
	srv.deliver(t, mailboxTestMessage("probe copy", "x\r\n"), nil)
	before := traffic.count()
	done := r.m.Expect(time.Now().Add(time.Minute))
	probeCopy := r.expectSubjects(t, "probe copy")[0]
	// DONE, NOOP, UID FETCH n:*, UID FETCH header fields.
	if n := traffic.count() - before; n > 6 {
		t.Errorf("%d commands to find a message that was there", n)
	}

	// Still expecting: a delete request is served between two questions.
	ctx, cancel := context.WithTimeout(context.Background(), mailboxTestWait)
	defer cancel()
	if err := r.m.Delete(ctx, probeCopy.UIDValidity, probeCopy.UID); err != nil {
		t.Fatalf("Delete while expecting: %v", err)
	}
	if _, ok := mailboxFlags(t, srv.address())[imap.UID(probeCopy.UID)]; ok {
		t.Error("the copy is still there")
	}
	srv.deliver(t, mailboxTestMessage("notice", "x\r\n"), nil)
	r.expectSubjects(t, "notice")

	done()
	done() // twice is harmless
	select {
	case <-srv.idles:
	case <-time.After(mailboxTestWait):
		t.Fatal("the session did not go back to IDLE when nothing was expected any more")
	}
}

// What Expect costs: the questions of one probe whose copy comes a few
// hundred milliseconds after the post, and of one whose copy never comes
// within its deadline; after the deadline the session IDLEs again.
func TestMailboxExpectCostsTensOfCommandsPerProbe(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{silentIdle: true})
	var traffic lineCounter
	r := runTestMailbox(t, srv.address(), func(o *Options) { o.DialContext = traffic.dial })
	r.waitState(t, true)
	<-srv.idles

	// A delivery 400 ms after the post, about what the testbed's Mailman
	// takes (the delay is the scenario, not a wait for the code).
	before := traffic.count()
	start := time.Now()
	done := r.m.Expect(start.Add(time.Minute))
	delivered := make(chan time.Time, 1)
	time.AfterFunc(400*time.Millisecond, func() {
		// Not srv.deliver: t.Fatal belongs to the test's goroutine.
		at := time.Now()
		_, err := srv.user.Append("INBOX", strings.NewReader(mailboxTestMessage("slow copy", "x\r\n")), &imap.AppendOptions{})
		if err != nil {
			t.Errorf("append: %v", err)
		}
		delivered <- at
	})
	msg := r.expectSubjects(t, "slow copy")[0]
	done()
	at := <-delivered
	delivering := traffic.count() - before
	t.Logf("copy after 400 ms: %d commands, reported %v after the delivery", delivering, msg.SeenAt.Sub(at).Round(time.Millisecond))
	if delivering < 2 || delivering > 40 {
		t.Errorf("%d commands for a copy that came after 400 ms; want a few and at most 40", delivering)
	}
	if msg.SeenAt.Before(at) {
		t.Errorf("SeenAt %v is before the delivery at %v", msg.SeenAt, at)
	}
	<-srv.idles

	// A copy that never comes, due for two seconds.
	before = traffic.count()
	r.m.Expect(time.Now().Add(2 * time.Second)) // never done: it expires
	select {
	case <-srv.idles:
	case <-time.After(mailboxTestWait):
		t.Fatal("the session did not go back to IDLE after the deadline")
	}
	lost := traffic.count() - before
	t.Logf("copy that never came, due for 2 s: %d commands", lost)
	// 40 in the first second, 40·ln 2 in the next, a DONE and an IDLE.
	if lost < 10 || lost > 120 {
		t.Errorf("%d commands over 2 s; want tens", lost)
	}
}

// SeenAt is when the session learnt of the message, not when its header
// fields had been fetched: here the header fetch is held until the test
// has noted the time.
func TestMailboxSeenAtIsWhenTheUIDCame(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	entered, release := make(chan struct{}), make(chan struct{})
	hook := func(o *imap.FetchOptions) {
		if len(o.BodySection) > 0 {
			entered <- struct{}{}
			<-release
		}
	}
	r := runTestMailbox(t, srv.address(), nil)
	r.waitState(t, true)
	srv.fetchHook.Store(&hook)

	srv.deliver(t, mailboxTestMessage("timed", "x\r\n"), nil)
	<-entered
	fetching := time.Now()
	close(release)
	msg := r.expectSubjects(t, "timed")[0]
	if !msg.SeenAt.Before(fetching) {
		t.Errorf("SeenAt %v is not before the header fetch was answered (%v)", msg.SeenAt, fetching)
	}
}

// A server without IDLE is polled every PollInterval; a message that is due
// is asked for at once all the same.
func TestMailboxExpectWithoutIDLE(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{refuseIdle: true})
	r := runTestMailbox(t, srv.address(), func(o *Options) {
		o.IdleRefresh = 20 * time.Millisecond // the server refuses IDLE when it ends
		// PollInterval stays an hour: only Expect can find the message.
	})
	r.waitState(t, true)
	<-srv.refused
	// The session fetches once after the refusal, then polls.
	for range len(srv.fetched) {
		<-srv.fetched // the fetch at the start of the session
	}
	<-srv.fetched
	if !r.m.polling.Load() {
		t.Fatal("the session does not poll")
	}

	srv.deliver(t, mailboxTestMessage("due", "x\r\n"), nil)
	done := r.m.Expect(time.Now().Add(time.Minute))
	defer done()
	r.expectSubjects(t, "due")
}
