package sandbox

import (
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// JunkFolder is every account's spam folder, marked \Junk (RFC 6154) in
// LIST, as Dovecot's Junk is.
const JunkFolder = "Junk"

// junkVerdict are the header fields the receiving side's filter adds to a
// copy it calls spam (SpamAssassin's pair, as rspamd's proxy writes them
// too).
var junkVerdict = [][2]string{
	{"X-Spam-Status", "Yes, score=7.0 required=5.0 tests=SANDBOX_JUNK autolearn=no"},
	{"X-Spam-Flag", "YES"},
}

// sendJunk delivers a list copy into rcpt's Junk folder, with the filter's
// verdict on top, as Sieve files what the filter called spam.
func (w *World) sendJunk(n listNames, rcpt string, m *rawMessage) {
	junk, err := parseMessage(m.bytes())
	if err != nil {
		w.log.Error("sandbox: list copy unparseable", "list", n.fqdn, "err", err)
		return
	}
	for _, f := range junkVerdict {
		junk.prepend(f[0], f[1], " ")
	}
	w.sendLocalTo(n, rcpt, junk, JunkFolder)
}

// junkSet is who gets the list's copies in Junk: "" for every subscriber
// (Policy Junk), else the JunkFor addresses. Called with w.mu held.
func (st *listState) junkSet() map[string]bool {
	out := map[string]bool{"": st.settings.junk}
	for a := range st.junkFor {
		out[a] = true
	}
	return out
}

// SetJunkFor makes the filters of these subscribers call the list's next
// copies spam (and no one else's, unless the Policy is Junk).
func (w *World) SetJunkFor(list string, subscribers ...string) error {
	addr := strings.ToLower(strings.TrimSpace(list))
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.lists[addr]
	if !ok {
		return fmt.Errorf("sandbox: SetJunkFor: no list %s", list)
	}
	st.junkFor = lowerSet(subscribers)
	return nil
}

// JunkMessages returns the messages in address's Junk folder, as Messages
// does for INBOX.
func (w *World) JunkMessages(address string) ([]StoredMessage, error) {
	return w.messagesIn(address, JunkFolder)
}

func lowerSet(addrs []string) map[string]bool {
	out := map[string]bool{}
	for _, a := range addrs {
		out[strings.ToLower(strings.TrimSpace(a))] = true
	}
	return out
}

// List marks the Junk folder \Junk when asked for special uses, which the
// memory server cannot do by itself.
func (s *countedSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if options == nil || !options.SelectSpecialUse {
		return s.SessionIMAP4rev2.List(w, ref, patterns, options)
	}
	if _, err := s.SessionIMAP4rev2.Status(JunkFolder, &imap.StatusOptions{NumMessages: true}); err != nil {
		return nil // no Junk folder: nothing is marked
	}
	return w.WriteList(&imap.ListData{Mailbox: JunkFolder, Delim: '/', Attrs: []imap.MailboxAttr{imap.MailboxAttrJunk}})
}

// AppendJunk stores raw in address's Junk folder as it is, as Append does
// for INBOX.
func (w *World) AppendJunk(address string, raw []byte) error {
	addr := strings.ToLower(strings.TrimSpace(address))
	if _, ok := w.users[addr]; !ok {
		return fmt.Errorf("sandbox: append to %s: no such account", address)
	}
	return w.storeIn(addr, JunkFolder, raw)
}
