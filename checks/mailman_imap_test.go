package checks

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/listprobe/listprobe/internal/testbed"
)

// IMAP helpers for the tests against the real testbed.

func dialTestbedMailbox(t testing.TB, env map[string]string, account string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(env["LISTPROBE_TESTBED_IMAP"], nil)
	if err != nil {
		t.Fatalf("testbed IMAP: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	pw := testbed.Env(env).Secret(t, "LISTPROBE_TESTBED_"+account+"_PASSWORD_FILE")
	if err := c.Login(env["LISTPROBE_TESTBED_"+account], pw).Wait(); err != nil {
		t.Fatalf("testbed IMAP login as %s: %v", env["LISTPROBE_TESTBED_"+account], err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func searchTestbedMailbox(t testing.TB, c *imapclient.Client, criteria *imap.SearchCriteria) []imap.UID {
	t.Helper()
	// A read-only SELECT again, so that new mail is seen.
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return data.AllUIDs()
}

// fetchFromTestbedMailbox waits for the one message in account's INBOX
// that matches criteria and returns it whole (fetched with BODY.PEEK).
func fetchFromTestbedMailbox(t testing.TB, env map[string]string, account string, criteria *imap.SearchCriteria) []byte {
	t.Helper()
	c := dialTestbedMailbox(t, env, account)
	deadline := time.Now().Add(60 * time.Second)
	var uids []imap.UID
	for {
		uids = searchTestbedMailbox(t, c, criteria)
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
