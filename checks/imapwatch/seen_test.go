package imapwatch

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/mail"
)

// A message that arrives while the session is busy fetching another (here
// a notice whose body takes the server 300 ms) is seen when the server told
// of it (its EXISTS, at the end of the command in flight), not when the
// session got round to asking for new UIDs again: on a busy reader mailbox
// (every list's mail, other clients' notices) that wait went into every
// latency measured. Before, the copy was seen 300 ms late.
func TestMailboxSeesAMessageWhenTheServerToldOfIt(t *testing.T) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	r := runTestMailbox(t, srv.address(), func(o *Options) {
		o.WantBody = func(h mail.Header) bool { return strings.HasPrefix(h.Get("Subject"), "notice") }
	})
	r.waitState(t, true)

	const slowBody = 300 * time.Millisecond
	var (
		once      sync.Once
		mu        sync.Mutex
		delivered time.Time
	)
	hook := func(o *imap.FetchOptions) {
		if len(o.BodySection) == 0 {
			return
		}
		switch o.BodySection[0].Specifier {
		case imap.PartSpecifierHeader:
			// The copy comes while the notice's header is fetched.
			once.Do(func() {
				srv.deliver(t, mailboxTestMessage("list copy", "x\r\n"), nil)
				mu.Lock()
				delivered = time.Now()
				mu.Unlock()
			})
		case imap.PartSpecifierText:
			time.Sleep(slowBody)
		}
	}
	srv.fetchHook.Store(&hook)
	srv.deliver(t, mailboxTestMessage("notice first", "y\r\n"), nil)

	r.expectSubjects(t, "notice first")
	copy := r.expectSubjects(t, "list copy")[0]
	mu.Lock()
	late := copy.SeenAt.Sub(delivered)
	mu.Unlock()
	t.Logf("copy seen %s after its delivery", late)
	if late < 0 || late >= slowBody {
		t.Errorf("the copy was seen %s after it was delivered, want under %s (the notice's body fetch) and not before", late, slowBody)
	}
}
