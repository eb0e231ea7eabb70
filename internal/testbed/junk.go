package testbed

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// The readers' Junk folder: Dovecot creates "Junk" (LISTPROBE_TESTBED_JUNK_MAILBOX)
// for every account with SPECIAL-USE \Junk, and Sieve files there what the
// recipient domain's rule calls spam (deploy/testbed/spam.sh): example.test
// only X-Spam-Flag: YES, other-reader.test (READER2) also a score of 4 or
// more.

// JunkMailbox returns the name of account's mailbox with SPECIAL-USE
// \Junk, as a client finds it (LIST ... RETURN (SPECIAL-USE)).
func (e Env) JunkMailbox(t testing.TB, account string) string {
	t.Helper()
	c := e.Mailbox(t, account)
	boxes, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
	if err != nil {
		t.Fatalf("LIST of %s: %v", e.Get(t, account), err)
	}
	for _, b := range boxes {
		for _, a := range b.Attrs {
			if a == imap.MailboxAttrJunk {
				return b.Mailbox
			}
		}
	}
	t.Fatalf("%s has no mailbox with SPECIAL-USE \\Junk", e.Get(t, account))
	return ""
}

// SearchIn selects mailbox read-only (so that new mail is seen and nothing
// is marked) and returns the UIDs of the messages that match criteria.
func SearchIn(t testing.TB, c *imapclient.Client, mailbox string, criteria *imap.SearchCriteria) []imap.UID {
	t.Helper()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("SELECT %s: %v", mailbox, err)
	}
	data, err := c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return data.AllUIDs()
}

// WaitMessageIn waits up to timeout for exactly one message matching
// criteria in account's mailbox ("INBOX", "Junk") and returns it whole.
// Nothing is marked or moved.
func (e Env) WaitMessageIn(t testing.TB, account, mailbox string, criteria *imap.SearchCriteria, timeout time.Duration) []byte {
	t.Helper()
	c := e.Mailbox(t, account)
	deadline := time.Now().Add(timeout)
	var uids []imap.UID
	for {
		uids = SearchIn(t, c, mailbox, criteria)
		if len(uids) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(uids) != 1 {
		t.Fatalf("%d messages in %s's %s match %+v within %s, want 1", len(uids), account, mailbox, criteria, timeout)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids[0]), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetching UID %d of %s: %v (%d messages)", uids[0], mailbox, err, len(msgs))
	}
	return msgs[0].FindBodySection(section)
}

// CountIn returns how many messages of account's mailbox match criteria now.
func (e Env) CountIn(t testing.TB, account, mailbox string, criteria *imap.SearchCriteria) int {
	t.Helper()
	return len(SearchIn(t, e.Mailbox(t, account), mailbox, criteria))
}
