package main

import (
	"context"
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
