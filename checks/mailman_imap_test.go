package checks

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/listprobe/listprobe/internal/testbed"
)

// IMAP helpers for the tests against the real testbed.

// fetchFromTestbedMailbox waits for the one message in account's INBOX
// that matches criteria and returns it whole (fetched with BODY.PEEK).
func fetchFromTestbedMailbox(t testing.TB, env map[string]string, account string, criteria *imap.SearchCriteria) []byte {
	t.Helper()
	c := testbed.Env(env).Mailbox(t, account)
	deadline := time.Now().Add(60 * time.Second)
	var uids []imap.UID
	for {
		uids = testbed.Search(t, c, criteria)
		if len(uids) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(uids) != 1 {
		t.Fatalf("%d messages in %s's INBOX match %+v, want 1", len(uids), account, criteria)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids[0]), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetching UID %d: %v (%d messages)", uids[0], err, len(msgs))
	}
	return msgs[0].FindBodySection(section)
}
