package probe

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe/config"
)

// readersWorld is a sandbox whose lists are read by the reader and by n
// more readers (reader2@example.org...), each with an account readerN in
// the config, and whose lists name them all in readers:.
func readersWorld(t *testing.T, n int, lists []sandbox.List, timeout time.Duration) (*testWorld, *config.Config, []string) {
	t.Helper()
	names, addrs := []string{"reader"}, []string{testReader}
	var accounts []sandbox.Account
	for i := 2; i < n+2; i++ {
		names = append(names, fmt.Sprintf("reader%d", i))
		addrs = append(addrs, fmt.Sprintf("reader%d@example.org", i))
		accounts = append(accounts, sandbox.Account{Address: addrs[i-1], Password: names[i-1] + "-pw"})
	}
	for i := range lists {
		lists[i].Subscribers = addrs
	}
	w := startTestWorld(t, sandbox.Options{Lists: lists, Accounts: accounts})
	var extra strings.Builder
	for i, name := range names[1:] {
		if err := os.WriteFile(filepath.Join(w.Dir, name), []byte(name+"-pw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&extra, "  %s:\n    address: %s\n    cleanup: true\n    imap: { address: %q, tls: none, username: %s, password_file: %s }\n", name, addrs[i+1], w.IMAPAddr, addrs[i+1], name)
	}
	cfg := w.Config(t, timeout, lists, func(text string) string {
		text = strings.Replace(text, "accounts:\n", "accounts:\n"+extra.String(), 1)
		return strings.ReplaceAll(text, "    reader: reader\n", "    readers: ["+strings.Join(names, ", ")+"]\n")
	})
	return w, cfg, names
}

// The same probe reaches one reader's INBOX and another's Junk: each
// reader's result is recorded, the list's outcome is the worst (junk), and
// the text, the JSON and the metrics say which reader saw what.
func TestSameProbeDeliveredForOneReaderAndJunkForAnother(t *testing.T) {
	const list = "two@lists.example.org"
	lists := []sandbox.List{{Address: list, JunkFor: []string{"reader2@example.org"}}}
	w, cfg, _ := readersWorld(t, 1, lists, 20*time.Second)
	rt := startRuntime(t, cfg)
	r := probeList(t, rt, list)
	wantOutcome(t, r, Junk, "in reader2's Junk")
	if !strings.Contains(r.Reason, "delivered to reader in ") {
		t.Errorf("reason %q does not say the reader got it", r.Reason)
	}
	if len(r.Readers) != 2 {
		t.Fatalf("readers %+v, want two", r.Readers)
	}
	got := map[string]ReaderResult{}
	for _, rr := range r.Readers {
		got[rr.Reader] = rr
	}
	if a := got["reader"]; a.Outcome != Delivered || a.Placement != PlacementInbox || a.Latency == nil {
		t.Errorf("reader: %+v, want delivered in inbox with a latency", a)
	}
	if b := got["reader2"]; b.Outcome != Junk || b.Placement != PlacementJunk || b.Latency == nil {
		t.Errorf("reader2: %+v, want junk in junk with a latency", b)
	}
	js, _ := json.Marshal(r)
	for _, want := range []string{`"readers":[{"reader":"reader","outcome":"delivered","latency_seconds":`, `"placement":"inbox"`, `{"reader":"reader2","outcome":"junk"`, `"placement":"junk"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s:\n%s", want, js)
		}
	}
	for reader, outcome := range map[string]string{"reader": "delivered", "reader2": "junk"} {
		if v := seriesValue(t, rt.metrics, "listprobe_reader_last_outcome_info", "list", list, "reader", reader, "outcome", outcome); v != 1 {
			t.Errorf("listprobe_reader_last_outcome_info{reader=%q,outcome=%q} = %v", reader, outcome, v)
		}
	}

	// reader2's filter relents: both delivered, the list's latency is the
	// slowest reader's, and reader2's junk series is gone.
	if err := w.SetJunkFor(list); err != nil {
		t.Fatal(err)
	}
	r = probeList(t, rt, list)
	wantOutcome(t, r, Delivered, "delivered to reader in")
	slowest := max(*r.Readers[0].Latency, *r.Readers[1].Latency)
	if r.Latency == nil || *r.Latency != slowest {
		t.Errorf("list latency %v, want the slowest reader's %v", r.Latency, slowest)
	}
	if n := seriesCount(t, rt.metrics, "listprobe_reader_last_outcome_info"); n != 2 {
		t.Errorf("%d listprobe_reader_last_outcome_info series, want one per reader", n)
	}
	if v := seriesValue(t, rt.metrics, "listprobe_reader_last_outcome_info", "list", list, "reader", "reader2", "outcome", "delivered"); v != 1 {
		t.Errorf("reader2's outcome series = %v, want delivered", v)
	}
}

// A reader whose copy never comes makes the list lost even though another
// reader got it, and lost outranks junk.
func TestWorstReaderDecidesTheListOutcome(t *testing.T) {
	for _, tc := range []struct {
		outcomes []Outcome
		want     Outcome
	}{
		{[]Outcome{Delivered, Delivered}, Delivered},
		{[]Outcome{Delivered, Junk}, Junk},
		{[]Outcome{Junk, Lost, Delivered}, Lost},
		{[]Outcome{Delivered, Error}, Error},
		{[]Outcome{Error, Junk}, Junk},
		{[]Outcome{Lost, Error}, Lost},
	} {
		r := &probeRun{res: &Result{}}
		for i, o := range tc.outcomes {
			r.readers = append(r.readers, &readerRun{account: fmt.Sprintf("r%d", i), outcome: o, seen: o == Delivered || o == Junk, latency: float64(i)})
		}
		r.decideByReaders()
		if r.res.Outcome != tc.want {
			t.Errorf("readers %v: list outcome %s, want %s", tc.outcomes, r.res.Outcome, tc.want)
		}
		if (r.res.Latency != nil) != (tc.want == Delivered) {
			t.Errorf("readers %v: latency %v", tc.outcomes, r.res.Latency)
		}
	}
}

// Sessions belong to accounts, not lists: 1,000 lists read by the same 3
// readers use one INBOX session and one Junk session per reader, and
// probing them opens no more.
func TestThousandListsWithThreeReadersShareTheReadersSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 lists")
	}
	var lists []sandbox.List
	for i := range 1000 {
		lists = append(lists, sandbox.List{Address: fmt.Sprintf("list%04d@lists.example.org", i)})
	}
	w, cfg, names := readersWorld(t, 2, lists, 20*time.Second)
	rt := startRuntime(t, cfg)
	// member, moderator: INBOX; reader, reader2, reader3: INBOX and Junk.
	const want = 2 + 3*2
	waitFor(t, 20*time.Second, "every session up", func() bool { return w.Stats().IMAPOpen == want })
	var wg sync.WaitGroup
	results := make([]*Result, 50)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = probeList(t, rt, lists[i*20].Address)
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.Outcome != Delivered || len(r.Readers) != len(names) {
			t.Fatalf("%s: %s (%s), %d readers", r.List, r.Outcome, r.Reason, len(r.Readers))
		}
	}
	if st := w.Stats(); st.IMAPSessions != want || st.IMAPPeakOpen != want {
		t.Errorf("%d IMAP sessions opened (at most %d at once), want %d: one per account and watched folder", st.IMAPSessions, st.IMAPPeakOpen, want)
	}
}
