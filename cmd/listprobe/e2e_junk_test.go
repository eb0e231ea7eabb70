package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/listprobe/listprobe/internal/testbed"
)

// A list setting that trips the readers' spam filter (a subject prefix with
// the testbed's trip phrase for every reader domain) files the list's copy
// into the reader's Junk: the probe is junk, once exits 1, the evidence
// carries rspamd's verdict, and the copy is cleaned up from Junk. Undoing
// the setting gives delivered.
func TestE2ESettingThatTripsTheSpamFilterIsJunk(t *testing.T) {
	tb := testbed.LoadAuth(t)
	l := newE2EList(t, tb, map[string]any{"subject_prefix": "[" + tb.Get(t, "SPAM_TRIP_ALL") + "] "})
	file := l.config(t, 90*time.Second, false, "")
	code, r := l.once(t, file)
	wantE2E(t, r, "junk", "filter called the copy spam")
	if code != exitFailing || r.OK || r.Latency != nil {
		t.Errorf("exit %d, ok %v, latency %v: junk is a list failure without a delivery latency", code, r.OK, r.Latency)
	}
	for _, want := range []string{"Junk folder", "X-Spam-Flag: YES", "X-Spam-Status: Yes", "X-Spamd-Result:", "LISTPROBE_JUNK_ALL"} {
		if !strings.Contains(r.Evidence, want) {
			t.Errorf("evidence %q lacks %q", r.Evidence, want)
		}
	}
	junk := tb.JunkMailbox(t, "READER")
	byID := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-Id", Value: r.MessageID}}}
	if n := tb.CountIn(t, "READER", junk, byID); n != 0 {
		t.Errorf("%d copies of the probe left in the reader's %s after cleanup", n, junk)
	}

	if err := l.admin.SetListConfig(context.Background(), l.address, map[string]any{"subject_prefix": ""}); err != nil {
		t.Fatal(err)
	}
	code, r = l.once(t, file)
	wantE2E(t, r, "delivered", "")
	if code != exitOK {
		t.Errorf("exit %d after undoing the setting", code)
	}
}

// Two readers in two domains with different filter rules: the strict
// domain's trip phrase in the list's subject prefix puts the same probe in
// reader@example.test's INBOX and reader@other-reader.test's Junk. Each
// reader's result is in the JSON, the list is junk (the worst), and the
// reason says who saw what.
func TestE2ESameProbeDeliveredForOneReaderAndJunkForTheOther(t *testing.T) {
	tb := testbed.LoadAuth(t)
	l := newE2EList(t, tb, map[string]any{"subject_prefix": "[" + tb.Get(t, "SPAM_TRIP_STRICT") + "] "})
	if err := l.admin.Subscribe(context.Background(), l.address, tb.Get(t, "READER2"), "member"); err != nil {
		t.Fatal(err)
	}
	file := l.config(t, 90*time.Second, false, "")
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	reader2 := fmt.Sprintf("  reader2:\n    address: %s\n    cleanup: true\n    imap: { address: %q, tls: starttls, ca_file: %s, username: %s, password_file: %s }\n",
		tb.Get(t, "READER2"), tb.Get(t, "IMAP"), tb.Get(t, "CA_FILE"), tb.Get(t, "READER2"), tb.Get(t, "READER2_PASSWORD_FILE"))
	cfg := strings.Replace(string(text), "  moderator:\n", reader2+"  moderator:\n", 1)
	cfg = strings.Replace(cfg, "    reader: reader\n", "    readers: [reader, reader2]\n", 1)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, r := l.once(t, file)
	wantE2E(t, r, "junk", "in reader2's Junk")
	if code != exitFailing || !strings.Contains(r.Reason, "delivered to reader in ") {
		t.Errorf("exit %d, reason %q", code, r.Reason)
	}
	if len(r.Readers) != 2 {
		t.Fatalf("readers %+v, want two", r.Readers)
	}
	a, b := r.Readers[0], r.Readers[1]
	if a.Reader != "reader" || a.Outcome != "delivered" || a.Placement != "inbox" || a.Latency == nil {
		t.Errorf("reader: %+v, want delivered in inbox", a)
	}
	if b.Reader != "reader2" || b.Outcome != "junk" || b.Placement != "junk" || b.Latency == nil {
		t.Errorf("reader2: %+v, want junk in junk", b)
	}
	if !strings.Contains(r.Evidence, "LISTPROBE_JUNK_STRICT") {
		t.Errorf("evidence %q lacks the filter's symbol", r.Evidence)
	}

	// The trip undone: the next probe is delivered for both readers.
	if err := l.admin.SetListConfig(context.Background(), l.address, map[string]any{"subject_prefix": ""}); err != nil {
		t.Fatal(err)
	}
	code, r = l.once(t, file)
	wantE2E(t, r, "delivered", "delivered to reader2 in ")
	if code != exitOK || len(r.Readers) != 2 {
		t.Fatalf("exit %d, readers %+v after undoing the setting", code, r.Readers)
	}
	for _, rr := range r.Readers {
		if rr.Outcome != "delivered" || rr.Placement != "inbox" || rr.Latency == nil {
			t.Errorf("%s after undoing the setting: %+v, want delivered in inbox", rr.Reader, rr)
		}
	}
}
