package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/internal/hostileimap"
	"github.com/listprobe/listprobe/internal/sandbox"
)

// startFrozenReader starts a world whose list delivers its copy after a
// second, and a service whose reader reads through a proxy that the test
// freezes once the reader's session is up: from then on the reader's
// server answers nothing (no FETCH, NOOP or DONE, no greeting), while the
// list still delivers.
func startFrozenReader(t *testing.T, timeout, commandTimeout time.Duration) (*Service, *hostileimap.Proxy) {
	t.Helper()
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Delay, Delay: time.Second}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	proxy, err := hostileimap.StartProxy(w.IMAPAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	cfg := w.Config(t, timeout, lists, func(s string) string {
		reader := "imap: { address: \"" + w.IMAPAddr + "\", tls: none, username: " + testReader
		return strings.Replace(s, reader, strings.Replace(reader, w.IMAPAddr, proxy.Addr, 1), 1)
	})
	svc := NewService("", testLogger(t), &Options{MailboxCommandTimeout: commandTimeout})
	svc.Start(context.Background(), cfg)
	t.Cleanup(svc.Stop)
	up := svc.metrics.mailboxUp.WithLabelValues("reader")
	waitFor(t, 10*time.Second, "the reader's session up", func() bool { return testutil.ToFloat64(up) == 1 })
	proxy.Freeze()
	return svc, proxy
}

// The reader's server stops answering and the probe's deadline comes
// before the command's: the session is still up, but its command has had no
// answer, so the probe is error ("reader mailbox stopped answering"), not
// lost. Before, it was lost.
func TestReaderStoppedAnsweringBeforeTheCommandDeadlineIsError(t *testing.T) {
	svc, _ := startFrozenReader(t, 3*time.Second, 0)
	r := probeList(t, svc, "users@lists.example.org")
	wantOutcome(t, r, Error, "reader mailbox reader@example.org at ")
	if !strings.Contains(r.Reason, "stopped answering") || r.Evidence != "reader mailbox" {
		t.Errorf("reason %q, evidence %q: want the reader blamed", r.Reason, r.Evidence)
	}
}

// The reader's server stops answering and the command's deadline passes
// within the probe's timeout: the session goes down (listprobe_mailbox_up 0)
// and stays down while reconnections get no greeting; the probe is error,
// not lost. Once the server answers again, the next probe is delivered.
func TestReaderStoppedAnsweringPastTheCommandDeadlineIsDownAndError(t *testing.T) {
	svc, proxy := startFrozenReader(t, 4*time.Second, time.Second)
	r := probeList(t, svc, "users@lists.example.org")
	wantOutcome(t, r, Error, "reader mailbox reader@example.org stopped answering")
	if up := testutil.ToFloat64(svc.metrics.mailboxUp.WithLabelValues("reader")); up != 0 {
		t.Errorf("listprobe_mailbox_up{account=reader} = %v, want 0", up)
	}
	proxy.Thaw()
	wantOutcome(t, probeList(t, svc, "users@lists.example.org"), Delivered, "")
}
