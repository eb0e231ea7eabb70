package probe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/listprobe/listprobe/checks/imapwatch"
)

// This file holds the state of a reader's Junk folder session: shown on
// the page beside the account's INBOX session and exported as
// listprobe_mailbox_junk_up. Its state is not the account's
// (listprobe_mailbox_up stays INBOX's): while it is down, or the server
// has no Junk folder, a copy filed as spam is not seen, and that reader's
// probe is lost rather than junk.

// FolderState is the state of a session watching one folder.
type FolderState struct {
	Up    bool
	Since time.Time // since when it has been up, or not
	// Folder is the folder watched (found by SPECIAL-USE \Junk, else the
	// configured junk_mailbox); "" before a session has found it.
	Folder string
	// Missing: the server has no such folder (it is looked for again
	// every ten minutes).
	Missing bool
	Err     error // why it is not up; nil while connecting
}

// folderState is a FolderState kept current by a watcher's OnState.
type folderState struct {
	mu        sync.Mutex
	up        bool
	since     time.Time
	err       error
	connected bool          // a state has been reported
	reported  chan struct{} // closed at the first report
}

func (f *folderState) set(up bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if up != f.up || !f.connected {
		f.since = time.Now()
	}
	if !f.connected {
		close(f.firstReport())
	}
	f.up, f.err, f.connected = up, err, true
}

// firstReport returns the channel closed at the first report. f.mu held.
func (f *folderState) firstReport() chan struct{} {
	if f.reported == nil {
		f.reported = make(chan struct{})
	}
	return f.reported
}

// waitJunk waits until the account's Junk folder session has logged in
// and found its folder, or failed to, or ctx ends: a session that comes up
// after the copy was filed there would not report it.
func (s *accountSession) waitJunk(ctx context.Context) {
	if s.junk == nil {
		return
	}
	s.junkState.mu.Lock()
	ch := s.junkState.firstReport()
	s.junkState.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// JunkState returns the state of the account's Junk folder session; ok
// false when it watches none (it reads no list's copies, or its Junk
// folder is its watched mailbox).
func (s *accountSession) JunkState() (st FolderState, ok bool) {
	if s.junk == nil {
		return FolderState{}, false
	}
	f := &s.junkState
	f.mu.Lock()
	defer f.mu.Unlock()
	st = FolderState{Up: f.up, Since: f.since, Err: f.err, Folder: s.junk.Name()}
	st.Missing = !f.up && errors.Is(f.err, imapwatch.ErrNoMailbox)
	return st, true
}

// JunkState returns the state of an account's Junk folder session; ok
// false when it has none.
func (s *Service) JunkState(account string) (FolderState, bool) {
	if s.sessions == nil {
		return FolderState{}, false
	}
	b := s.sessions.get(account)
	if b == nil {
		return FolderState{}, false
	}
	return b.JunkState()
}

// junkBlind reports whether a reader whose INBOX session is up could not
// have seen a copy in its Junk folder by a probe's deadline: that session
// is down or still connecting. A server without a Junk folder is not
// blindness (nothing can be filed there).
func junkBlind(s *accountSession) (why string, blind bool) {
	js, ok := s.JunkState()
	if !ok || js.Up || js.Missing {
		return "", false
	}
	why = fmt.Sprintf("the Junk folder of reader mailbox %s was not watched at the deadline (a copy filed as spam could not be seen)", s.address)
	if js.Err != nil {
		why += ": " + readable(js.Err.Error())
	}
	return why, true
}
