package probe

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/internal/sandbox"
)

// The list delivers, but the reader's filter files the copy into Junk: the
// probe is junk (never delivered), with the filter's verdict as evidence,
// and the copy is cleaned up from Junk like one from INBOX.
func TestCopyFiledAsSpamIsJunkNotDelivered(t *testing.T) {
	lists := []sandbox.List{{Address: "spammy@lists.example.org", Policy: sandbox.Junk}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	r := probeList(t, rt, "spammy@lists.example.org")
	wantOutcome(t, r, Junk, "reader's filter called the copy spam")
	if r.OK || r.Latency != nil {
		t.Errorf("ok=%v latency=%v: junk is a list failure and has no delivery latency", r.OK, r.Latency)
	}
	for _, want := range []string{"Junk folder", "X-Spam-Status: Yes, score=7.0", "X-Spam-Flag: YES"} {
		if !strings.Contains(r.Evidence, want) {
			t.Errorf("evidence %q lacks %q", r.Evidence, want)
		}
	}
	if got := seriesValue(t, rt.metrics, "listprobe_probes_total", "list", "spammy@lists.example.org", "outcome", "junk"); got != 1 {
		t.Errorf("listprobe_probes_total{outcome=junk} = %v", got)
	}
	if got := seriesValue(t, rt.metrics, "listprobe_last_outcome", "list", "spammy@lists.example.org", "outcome", "junk"); got != 1 {
		t.Errorf("listprobe_last_outcome{outcome=junk} = %v", got)
	}
	js, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(js), `"outcome":"junk"`) {
		t.Errorf("JSON %s (%v)", js, err)
	}
	waitFor(t, 10*time.Second, "the junk copy cleaned up", func() bool {
		msgs, err := w.JunkMessages(testReader)
		return err == nil && len(msgs) == 0
	})

	// Undone: the same list delivering to INBOX is delivered again.
	w.SetPolicy("spammy@lists.example.org", sandbox.Deliver)
	wantOutcome(t, probeList(t, rt, "spammy@lists.example.org"), Delivered, "copy seen")
}

// Cleanup in Junk follows INBOX's rules: someone's spam and a forged probe
// copy there stay as they are, unread.
func TestJunkCleanupTouchesOnlyVerifiedProbes(t *testing.T) {
	lists := []sandbox.List{{Address: "spammy@lists.example.org", Policy: sandbox.Junk}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	forger, err := token.NewSigner([]byte("not-the-real-signing-key-000"))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := compose.Message(compose.Probe{From: testMember, List: "spammy@lists.example.org",
		Token: forger.Encode(forger.NewToken("spammy@lists.example.org", time.Now())), Date: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spam := []byte("From: winner@example.net\r\nTo: reader@example.org\r\nSubject: you won\r\nMessage-ID: <won@example.net>\r\nX-Spam-Flag: YES\r\n\r\nClaim it.\r\n")
	up := rt.metrics.mailboxUp.WithLabelValues("reader")
	waitFor(t, 10*time.Second, "reader up", func() bool { return testutil.ToFloat64(up) == 1 })
	waitFor(t, 10*time.Second, "reader's Junk watched", func() bool {
		b := rt.sessions.get("reader")
		return b != nil && b.junk != nil && b.junk.Up()
	})
	for _, m := range [][]byte{spam, forged} {
		if err := w.AppendJunk(testReader, m); err != nil {
			t.Fatal(err)
		}
	}
	forgedSeen := rt.metrics.forged.WithLabelValues("reader")
	waitFor(t, 10*time.Second, "the forged copy in Junk counted", func() bool { return testutil.ToFloat64(forgedSeen) == 1 })
	wantOutcome(t, probeList(t, rt, "spammy@lists.example.org"), Junk, "")
	waitFor(t, 10*time.Second, "Junk cleaned up", func() bool {
		msgs, err := w.JunkMessages(testReader)
		return err == nil && len(msgs) == 2
	})
	msgs, _ := w.JunkMessages(testReader)
	for i, m := range msgs {
		if want := [][]byte{spam, forged}[i]; string(m.Raw) != string(want) {
			t.Errorf("Junk message %d changed or replaced:\n%s", i, m.Raw)
		}
		if slices.Contains(m.Flags, `\Seen`) || slices.Contains(m.Flags, `\Deleted`) {
			t.Errorf("Junk message %d has flags %v", i, m.Flags)
		}
	}
}
