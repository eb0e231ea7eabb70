package imapwatch

import (
	"errors"
	"testing"
	"time"
)

// A server that stops answering FETCH: while the command waits, Stalled
// says for how long; at the command's deadline the session goes down with
// ErrNoAnswer, and it does not come up again while the server logs in and
// selects but still answers no FETCH (before, every reconnection made it
// up again for a minute, and a probe whose deadline came then was lost
// instead of error).
func TestMailboxStoppedAnsweringStaysDown(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	r := runTestMailbox(t, srv.address(), nil, func(m *Mailbox) { m.cmdTimeout = 400 * time.Millisecond })
	r.waitState(t, true)
	idle := time.Now().Add(mailboxTestWait)
	for r.m.Stalled() != 0 {
		if time.Now().After(idle) {
			t.Fatalf("Stalled() = %v while the session IDLEs, want 0", r.m.Stalled())
		}
		time.Sleep(5 * time.Millisecond)
	}

	srv.stallFetch.close()
	srv.deliver(t, mailboxTestMessage("while stalled", "x\r\n"), nil)
	deadline := time.Now().Add(mailboxTestWait)
	for r.m.Stalled() < 100*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatal("Stalled() never grew while FETCH had no answer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	err := r.waitState(t, false)
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("OnState(false, %v), want ErrNoAnswer", err)
	}
	// Reconnections log in and select, and stall in FETCH again: down.
	quiet := time.After(1500 * time.Millisecond)
	for waiting := true; waiting; {
		select {
		case st := <-r.states:
			if st.up {
				t.Fatal("the session came up again while the server answers no FETCH")
			}
			if !errors.Is(st.err, ErrNoAnswer) {
				t.Errorf("OnState(false, %v), want ErrNoAnswer", st.err)
			}
		case <-quiet:
			waiting = false
		}
	}
	if r.m.Up() {
		t.Error("Up() is true while the server answers no FETCH")
	}
	srv.stallFetch.open()
	r.waitState(t, true)
	r.expectSubjects(t, "while stalled")
}
