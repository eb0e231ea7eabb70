package probe

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/internal/sandbox"
)

// humanMessages are what people (and digests) make of a probe: each names
// the probe's verified token, none is the list's copy. While the probe is
// pending they must not count as its delivery; afterwards not as a late
// one; and never may they be deleted or marked.
func humanMessages(list, tok, messageID string) map[string]string {
	subject := "listprobe delivery test " + tok
	probe := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n%s: %s\r\n\r\nThis is a listprobe test.\r\n", testMember, list, subject, messageID, token.Header, tok)
	fwd := func(prefix string) string {
		return fmt.Sprintf("From: colleague@example.org\r\nTo: reader@example.org\r\nSubject: %s\r\nMessage-ID: <fwd-%d@example.org>\r\n\r\nSee below.\r\n", strings.ReplaceAll(prefix, "%s", subject), len(prefix))
	}
	return map[string]string{
		"RV: (Spanish forward)": fwd("RV: %s"),
		"I: (Italian forward)":  fwd("I: %s"),
		"ENC: (Portuguese)":     fwd("ENC: %s"),
		"VB: (Swedish)":         fwd("VB: %s"),
		"Doorst: (Dutch)":       fwd("Doorst: %s"),
		"WG: (German)":          fwd("WG: %s"),
		"[Fwd: …]":              fwd("[Fwd: %s]"),
		"… (fwd)":               fwd("%s (fwd)"),
		"Re: reply":             fwd("Re: %s"),
		"Antw: reply":           fwd("Antw: %s"),
		// The probe itself, bounced on (resent) by a person: Message-ID and
		// token header intact, but From is not the poster nor the list.
		"resent by a person": fmt.Sprintf("From: colleague@example.org\r\nTo: reader@example.org\r\nSubject: %s\r\nMessage-ID: %s\r\n%s: %s\r\n\r\nThis is a listprobe test.\r\n", subject, messageID, token.Header, tok),
		// Another list's notice that quotes this probe's subject (a person
		// cross-posted it): it is about that list's post, not this probe.
		"another list's hold notice": fmt.Sprintf("From: other-bounces@lists.example.org\r\nTo: member@example.org\r\nSubject: Your message to other@lists.example.org awaits moderator approval\r\nAuto-Submitted: auto-generated\r\nX-Mailman-Version: 3.3.8\r\nMessage-ID: <other-notice@lists.example.org>\r\n\r\nYour mail to 'other@lists.example.org' with the subject\r\n\r\n    %s\r\n\r\nIs being held until the list moderator can review it for approval.\r\n\r\nThe message is being held because:\r\n\r\n    The message comes from a moderated member\r\n", subject),
		"quoted in a reply body":     fmt.Sprintf("From: colleague@example.org\r\nTo: reader@example.org\r\nSubject: what is this?\r\nMessage-ID: <q@example.org>\r\n\r\n> %s\r\n> This is a listprobe test.\r\n", subject),
		"attached by a person":       fmt.Sprintf("From: colleague@example.org\r\nTo: reader@example.org\r\nSubject: strange mail\r\nMessage-ID: <att@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nLook.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n%s\r\n--b--\r\n", probe),
		"MIME digest of the list":    fmt.Sprintf("From: %[1]s\r\nTo: reader@example.org\r\nSubject: Test Digest, Vol 1, Issue 2\r\nList-Id: <%[2]s>\r\nMessage-ID: <digest@lists.example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=d\r\n\r\n--d\r\nContent-Type: text/plain\r\n\r\nToday's Topics:\r\n\r\n   1. %[3]s\r\n   2. Re: why my post was rejected\r\n--d\r\nContent-Type: multipart/digest; boundary=e\r\n\r\n--e\r\n\r\n%[4]s\r\n--e--\r\n--d--\r\n", list, strings.Replace(list, "@", ".", 1), subject, probe),
		"plain-text digest":          fmt.Sprintf("From: %[1]s\r\nTo: reader@example.org\r\nSubject: Test Digest, Vol 1, Issue 3\r\nList-Id: <%[2]s>\r\nMessage-ID: <digest2@lists.example.org>\r\n\r\nToday's Topics:\r\n\r\n   1. %[3]s\r\n\r\n----------------------------------------------------------------------\r\n\r\nMessage: 1\r\nFrom: %[4]s\r\nSubject: %[3]s\r\n\r\nThis is a listprobe test.\r\n", list, strings.Replace(list, "@", ".", 1), subject, testMember),
	}
}

func TestHumanMessagesNamingAProbeAreNeverItsCopy(t *testing.T) {
	lists := []sandbox.List{{Address: "blackhole@lists.example.org", Policy: sandbox.Drop}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	svc := startRuntime(t, w.Config(t, 3*time.Second, lists, nil))
	up := svc.metrics.mailboxUp.WithLabelValues("reader")
	waitFor(t, 10*time.Second, "reader mailbox up", func() bool { return testutil.ToFloat64(up) == 1 })

	res := make(chan *Result, 1)
	go func() { res <- probeList(t, svc, "blackhole@lists.example.org") }()
	waitFor(t, 5*time.Second, "the probe pending", func() bool { return len(svc.reg.pendingFor("blackhole@lists.example.org")) == 1 })
	p := svc.reg.pendingFor("blackhole@lists.example.org")[0]
	planted := humanMessages("blackhole@lists.example.org", p.cfg.Signer().Encode(p.token), p.messageID)
	var raws []string
	for _, raw := range planted {
		raws = append(raws, raw)
		if err := w.Append(testReader, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	r := <-res
	wantOutcome(t, r, Lost, "")
	// After the outcome, the same messages again: not late copies either.
	for _, raw := range planted {
		if err := w.Append(testReader, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	// A probe that is delivered afterwards proves the session went
	// through all of them.
	time.Sleep(500 * time.Millisecond)
	if n := seriesValue(t, svc.metrics, "listprobe_late_deliveries_total", "list", "blackhole@lists.example.org"); n != 0 {
		t.Errorf("%v late deliveries counted from human messages", n)
	}
	msgs, err := w.Messages(testReader)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2*len(planted) {
		t.Errorf("reader has %d messages, want the %d planted ones", len(msgs), 2*len(planted))
	}
	for _, m := range msgs {
		if !slices.Contains(raws, string(m.Raw)) {
			t.Errorf("unexpected message:\n%s", m.Raw)
		}
		if slices.Contains(m.Flags, `\Seen`) || slices.Contains(m.Flags, `\Deleted`) {
			t.Errorf("message flagged %v:\n%.200s", m.Flags, m.Raw)
		}
	}
}
