package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/checks/imapwatch"
	"github.com/listprobe/listprobe/internal/sandbox"
)

// A reader's Junk folder session has a state of its own, on the page's
// service view and in listprobe_mailbox_junk_up: up with the folder it
// found; an account that reads no list's copies watches none and has no
// series.
func TestJunkSessionStateIsReported(t *testing.T) {
	lists := []sandbox.List{{Address: "spammy@lists.example.org", Policy: sandbox.Junk}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	up := rt.metrics.junkUp.WithLabelValues("reader")
	waitFor(t, 10*time.Second, "listprobe_mailbox_junk_up{account=reader} 1", func() bool { return testutil.ToFloat64(up) == 1 })
	js, ok := rt.JunkState("reader")
	if !ok || !js.Up || js.Folder != sandbox.JunkFolder || js.Missing || js.Since.IsZero() {
		t.Errorf("reader's Junk state %+v (ok %v), want up in %s", js, ok, sandbox.JunkFolder)
	}
	if _, ok := rt.JunkState("member"); ok {
		t.Error("the poster, which reads no list, has a Junk session")
	}
	if n := testutil.CollectAndCount(rt.metrics.junkUp); n != 1 {
		t.Errorf("%d listprobe_mailbox_junk_up series, want the reader's only", n)
	}
}

// A server without the Junk folder (no SPECIAL-USE \Junk, no folder of the
// configured name) is no failure of the session: the state says the folder
// is missing, listprobe_mailbox_junk_up is 0, and a copy filed as spam for
// that reader is not seen: its result is lost, not error.
func TestMissingJunkFolderIsReportedNotBlind(t *testing.T) {
	const list = "two@lists.example.org"
	lists := []sandbox.List{{Address: list, Subscribers: []string{testReader, "reader2@example.org"}}}
	w := startTestWorld(t, sandbox.Options{Lists: lists, Accounts: []sandbox.Account{{Address: "reader2@example.org", Password: "reader2-pw", NoJunkFolder: true}}})
	if err := os.WriteFile(filepath.Join(w.Dir, "reader2"), []byte("reader2-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := w.Config(t, 3*time.Second, lists, func(text string) string {
		text = strings.Replace(text, "accounts:\n", fmt.Sprintf("accounts:\n  reader2:\n    address: reader2@example.org\n    cleanup: true\n    imap: { address: %q, tls: none, username: reader2@example.org, password_file: reader2 }\n", w.IMAPAddr), 1)
		return strings.ReplaceAll(text, "    reader: reader\n", "    readers: [reader, reader2]\n")
	})
	rt := startRuntime(t, cfg)
	waitFor(t, 10*time.Second, "reader2's Junk folder found missing", func() bool {
		js, ok := rt.JunkState("reader2")
		return ok && js.Missing && !js.Up
	})
	if v := testutil.ToFloat64(rt.metrics.junkUp.WithLabelValues("reader2")); v != 0 {
		t.Errorf("listprobe_mailbox_junk_up{account=reader2} = %v, want 0", v)
	}
	waitFor(t, 10*time.Second, "reader's Junk folder watched", func() bool { return testutil.ToFloat64(rt.metrics.junkUp.WithLabelValues("reader")) == 1 })
	wantOutcome(t, probeList(t, rt, list), Delivered, "delivered to reader2")
	if err := w.SetJunkFor(list, "reader2@example.org"); err != nil {
		t.Fatal(err)
	}
	r := probeList(t, rt, list)
	wantOutcome(t, r, Lost, "no copy for reader2")
	for _, rr := range r.Readers {
		if want := map[string]Outcome{"reader": Delivered, "reader2": Lost}[rr.Reader]; rr.Outcome != want {
			t.Errorf("%s: %s, want %s", rr.Reader, rr.Outcome, want)
		}
	}
}

// At the deadline, a reader whose INBOX is watched but whose Junk folder
// session is down (or never came up) could not have seen a copy filed as
// spam: that is listprobe's blindness, not the list's fault.
func TestJunkSessionDownMakesTheReaderBlind(t *testing.T) {
	s := &accountSession{address: testReader, up: true, box: imapwatch.New(imapwatch.Options{Address: "127.0.0.1:1"}),
		junk: imapwatch.New(imapwatch.Options{Address: "127.0.0.1:1", Mailbox: "Junk"})}
	for _, tc := range []struct {
		name  string
		set   func()
		blind string
	}{
		{"never reported", func() {}, "was not watched at the deadline"},
		{"down", func() { s.junkState.set(false, errors.New("imap 127.0.0.1:1: connection refused")) }, "not watched at the deadline (a copy filed as spam could not be seen): imap 127.0.0.1:1: connection refused"},
		{"missing", func() { s.junkState.set(false, fmt.Errorf("no folder: %w", imapwatch.ErrNoMailbox)) }, ""},
		{"up", func() { s.junkState.set(true, nil) }, ""},
	} {
		tc.set()
		why, blind := readerBlind(s, 20*time.Second)
		if blind != (tc.blind != "") || !strings.Contains(why, tc.blind) {
			t.Errorf("%s: blind %v (%q), want %q", tc.name, blind, why, tc.blind)
		}
	}
	s.junk = nil
	if why, blind := readerBlind(s, 20*time.Second); blind {
		t.Errorf("an account without a Junk session is blind: %s", why)
	}
}
