package imapwatch

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/listprobe/listprobe/internal/hostileimap"
)

// mailboxHeapBound is the most a session may grow the heap by, whatever
// its server sends: the README's Safety section states it. A round reads at
// most 10.1 MiB with the default limits (see Mailbox); what the session
// keeps of it is at most that, and imapclient's buffering of a string at
// most twice that.
const mailboxHeapBound = 64 << 20

// heapPeak samples the heap until stop is called and returns the highest
// HeapAlloc above the heap at the start, after a collection.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
				peak.Store(ms.HeapAlloc - base)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// A reader IMAP server that sends without end (a literal of {999999999},
// FETCH or SEARCH responses that never stop, an atom, quoted string, flag
// list, continuation or BODYSTRUCTURE that never ends) cannot make the
// session allocate without bound: the connection is closed once a round
// read its budget, the session fails with ErrTooMuchData, and the heap
// stays under mailboxHeapBound. Before, a literal of {999999999} grew the
// heap by 2.1 GB and endless FETCH responses by 4.3 GB in 60 s.
func TestMailboxHostileServerCannotExhaustMemory(t *testing.T) {
	for _, attack := range hostileimap.Attacks {
		t.Run(string(attack), func(t *testing.T) {
			srv, err := hostileimap.Start(attack)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			stop := heapPeak()
			r := runTestMailbox(t, srv.Addr, func(o *Options) {
				if attack == hostileimap.EndlessSearch {
					o.ReportSince = time.Now().Add(-time.Hour) // so that SEARCH is asked
				}
			})
			var err2 error
			for err2 == nil {
				err2 = r.waitState(t, false)
			}
			peak := stop()
			t.Logf("%s: heap peak +%.1f MiB, server sent %.1f MiB; session error: %v", attack, float64(peak)/(1<<20), float64(srv.Sent.Load())/(1<<20), err2)
			if peak > mailboxHeapBound {
				t.Errorf("heap grew by %d MiB, over the bound of %d MiB", peak>>20, mailboxHeapBound>>20)
			}
			if !errors.Is(err2, ErrTooMuchData) {
				t.Errorf("session error %v, want ErrTooMuchData", err2)
			}
		})
	}
}

// An ESEARCH answer of 25 bytes can name four billion UIDs (ALL
// 1:4294967295): the session never expands it, it asks for the
// INTERNALDATE of the UIDs below UIDNEXT only, and goes on.
func TestMailboxHugeESearchAnswerIsNeverExpanded(t *testing.T) {
	srv, err := hostileimap.Start(hostileimap.HugeESearch)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	stop := heapPeak()
	r := runTestMailbox(t, srv.Addr, func(o *Options) {
		o.ReportSince = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	})
	if err := r.waitState(t, true); err != nil {
		t.Fatal(err)
	}
	msg := r.next(t)
	peak := stop()
	t.Logf("heap peak +%.1f MiB", float64(peak)/(1<<20))
	if msg.UID != 1 || msg.Arrived.IsZero() {
		t.Errorf("reported UID %d arrived %v, want UID 1 with its INTERNALDATE", msg.UID, msg.Arrived)
	}
	if peak > mailboxHeapBound {
		t.Errorf("heap grew by %d MiB, over the bound of %d MiB", peak>>20, mailboxHeapBound>>20)
	}
}

// What the bounds follow of a response's syntax never mistakes a message's
// contents for it: a header and a body full of unbalanced parentheses,
// braces and quotes (in literals, as servers send them) are reported whole.
func TestMailboxParenthesesInMessagesAreNoNesting(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	r := runTestMailbox(t, srv.address(), func(o *Options) {
		o.WantBody = func(mail.Header) bool { return true }
	})
	r.waitState(t, true)
	parens := strings.Repeat("(", 5000) + ` " {12}` + "\r\n" + strings.Repeat("(", 5000)
	srv.deliver(t, "From: lisp@example.org\r\nSubject: "+strings.Repeat("(", 3000)+"\r\nMessage-ID: <lisp@example.org>\r\n\r\n"+parens+"\r\n", nil)
	srv.deliver(t, mailboxTestMessage("after", "x\r\n"), nil)
	msg := r.next(t)
	if msg.Header.Get("Message-Id") != "<lisp@example.org>" || !strings.Contains(string(msg.Body), parens) {
		t.Errorf("the message full of parentheses: header %v, body of %d bytes", msg.Header, len(msg.Body))
	}
	r.expectSubjects(t, "after")
	select {
	case st := <-r.states:
		t.Errorf("the session changed state: %+v", st)
	default:
	}
}
