package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/listprobe/listprobe/checks/imapwatch"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/internal/sandbox"
)

// refusingBackend is an SMTP server that answers every RCPT TO with one
// reply: a server in another language, or a broken one.
type refusingBackend struct{ reply *smtp.SMTPError }

func (b refusingBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return refusingSession(b), nil }

type refusingSession refusingBackend

func (refusingSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (refusingSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(string, string, string) error { return nil }), nil
}
func (refusingSession) Mail(string, *smtp.MailOptions) error   { return nil }
func (s refusingSession) Rcpt(string, *smtp.RcptOptions) error { return s.reply }
func (refusingSession) Data(r io.Reader) error                 { _, err := io.Copy(io.Discard, r); return err }
func (refusingSession) Reset()                                 {}
func (refusingSession) Logout() error                          { return nil }

func startRefusingSMTP(t *testing.T, reply *smtp.SMTPError) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(refusingBackend{reply})
	srv.Domain = "mx.example.org"
	srv.AllowInsecureAuth = true
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// Text a server sends in its own 8-bit charset (a German "später", a
// French "refusé" in Latin-1, a broken UTF-8 sequence, control characters)
// reaches the reason label readable and valid: client_golang panics on an
// invalid UTF-8 label value, and that used to end serve.
func TestEightBitSMTPReplyIsReadableAndNeverPanics(t *testing.T) {
	for _, tc := range []struct{ reply, want string }{
		{"Bitte sp\xe4ter erneut versuchen", "Bitte später erneut versuchen"},
		{"Destinataire refus\xe9 temporairement", "Destinataire refusé temporairement"},
		{"bad \xc3\x28 sequence\x00 and\x1b[31m escape", "bad Ã( sequence and[31m escape"},
		{"Greylisted \xe2\x80\x94 try later", "Greylisted — try later"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			lists := []sandbox.List{{Address: "healthy@lists.example.org", Policy: sandbox.Deliver}}
			w := startTestWorld(t, sandbox.Options{Lists: lists})
			smtpAddr := startRefusingSMTP(t, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: tc.reply})
			cfg := w.Config(t, 5*time.Second, lists, func(s string) string {
				return strings.Replace(s, fmt.Sprintf("smtp: { address: %q", w.SMTPAddr), fmt.Sprintf("smtp: { address: %q", smtpAddr), 1)
			})
			svc := startRuntime(t, cfg)
			r := probeList(t, svc, "healthy@lists.example.org")
			wantOutcome(t, r, SendFailed, tc.want)
			if !utf8.ValidString(r.Reason) || !utf8.ValidString(r.SubmitReply) {
				t.Errorf("reason %q or reply %q is not valid UTF-8", r.Reason, r.SubmitReply)
			}
			// Gathering is where an invalid label value would panic.
			if _, err := svc.Metrics().Gatherer().Gather(); err != nil {
				t.Fatal(err)
			}
			if r.Posted || r.MessageID != "" {
				t.Errorf("a post refused at RCPT counts as posted (message_id %q)", r.MessageID)
			}
		})
	}
}

// Nothing that changes from probe to probe goes into a label: two delivered
// probes leave one listprobe_last_reason_info series with a fixed reason.
func TestReasonLabelStaysBounded(t *testing.T) {
	lists := []sandbox.List{{Address: "healthy@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	svc := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	for range 3 {
		wantOutcome(t, probeList(t, svc, "healthy@lists.example.org"), Delivered, "s after SMTP accepted")
	}
	want := `
# HELP listprobe_last_reason_info Always 1: the outcome and reason of the list's last probe, one series per list.
# TYPE listprobe_last_reason_info gauge
listprobe_last_reason_info{list="healthy@lists.example.org",outcome="delivered",reason="copy seen in the reader's mailbox"} 1
`
	if err := testutil.GatherAndCompare(svc.Metrics().Gatherer(), strings.NewReader(want), "listprobe_last_reason_info"); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct{ reason, want string }{
		{"held, then approved by a moderator after 12s", "held, then approved by a moderator after …"},
		{"250 2.0.0 Ok: queued as 4Xz7YqLm2Pz9", "250 2.0.0 Ok: …"},
		{"no copy and no evidence within 4m0s; note: the list server said at 2026-12-02T01:02:03Z that it sends", "no copy and no evidence within …; note: the list server said at … that it sends"},
		{"550 5.1.1 <lp1.abcdefghijklmnop.1700000000.abc.defghijklmnopqrstuvwxyz23@example.org>: unknown", "550 5.1.1 …: unknown"},
		{"The message comes from a moderated member", "The message comes from a moderated member"},
	} {
		if got := reasonLabel(&Result{Outcome: Held, Reason: tc.reason}); got != tc.want {
			t.Errorf("reasonLabel(%q) = %q, want %q", tc.reason, got, tc.want)
		}
	}
}

// A probe that panics is recorded as error with the panic, and the next
// probe of the list runs as usual.
func TestPanickingProbeDoesNotStopTheNext(t *testing.T) {
	lists := []sandbox.List{{Address: "healthy@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	svc := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	svc.stages = []stage{probeStages[0], {"compose", func(context.Context, *probeRun) bool {
		var m map[string]int
		m["boom"]++ // a nil map write, like any bug in a parser
		return false
	}}}
	r := probeList(t, svc, "healthy@lists.example.org")
	wantOutcome(t, r, Error, "internal error in the compose stage")
	if got := seriesValue(t, svc.Metrics(), "listprobe_probes_total", "list", "healthy@lists.example.org", "outcome", "error"); got != 1 {
		t.Errorf("error probes = %v, want 1", got)
	}
	svc.stages = nil
	wantOutcome(t, probeList(t, svc, "healthy@lists.example.org"), Delivered, "")
}

// 20 concurrent on-demand requests for one list share one probe: the list's
// subscribers get one post. A request within the interval gets that result
// with its age, and no post.
func TestOnDemandProbesAreSingleFlightAndRateLimited(t *testing.T) {
	lists := []sandbox.List{{Address: "slow@lists.example.org", Policy: sandbox.Delay, Delay: 300 * time.Millisecond}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	w.Config(t, 10*time.Second, lists, nil)
	svc := NewService(w.File, testLogger(t), nil)
	runService(t, svc)

	var wg sync.WaitGroup
	results := make([]*Result, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := svc.ProbeNow(context.Background(), "slow@lists.example.org")
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r == nil || r != results[0] {
			t.Fatal("concurrent requests did not share one probe")
		}
	}
	wantOutcome(t, results[0], Delivered, "")
	r, age, err := svc.ProbeNow(context.Background(), "slow@lists.example.org")
	if err != nil || r != results[0] || age <= 0 {
		t.Errorf("a request within the interval got %p (age %s, %v), want the last result %p with its age", r, age, err, results[0])
	}
	if n := seriesValue(t, svc.Metrics(), "listprobe_probes_total", "list", "slow@lists.example.org", "outcome", "delivered"); n != 1 {
		t.Errorf("%v probes were run, want 1", n)
	}
	msgs, err := w.Messages(testReader)
	if err != nil {
		t.Fatal(err)
	}
	// The reader has cleanup: the one copy is deleted once recorded.
	if len(msgs) > 1 {
		t.Errorf("the reader got %d copies", len(msgs))
	}
}

// A /probe request whose client goes away (a scrape timeout) does not turn
// into an error outcome: the probe finishes and records what happened.
func TestOnDemandProbeOutlivesItsRequest(t *testing.T) {
	lists := []sandbox.List{{Address: "slow@lists.example.org", Policy: sandbox.Delay, Delay: time.Second}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	w.Config(t, 10*time.Second, lists, nil)
	svc := NewService(w.File, testLogger(t), nil)
	runService(t, svc)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, _, err := svc.ProbeNow(ctx, "slow@lists.example.org"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ProbeNow with a short request: %v, want the request's deadline", err)
	}
	waitFor(t, 10*time.Second, "the probe delivered after its request left", func() bool {
		return seriesValue(t, svc.Metrics(), "listprobe_probes_total", "list", "slow@lists.example.org", "outcome", "delivered") == 1
	})
	if n := seriesValue(t, svc.Metrics(), "listprobe_probes_total", "list", "slow@lists.example.org", "outcome", "error"); n != 0 {
		t.Errorf("%v error outcomes", n)
	}
}

// The cap on probes in flight bounds posting, not waiting: a list whose
// server drops every post holds no slot while its probe waits for the
// timeout, so other lists are still probed.
func TestWaitingProbesDoNotHoldInFlightSlots(t *testing.T) {
	lists := []sandbox.List{
		{Address: "blackhole@lists.example.org", Policy: sandbox.Drop},
		{Address: "healthy@lists.example.org", Policy: sandbox.Deliver},
	}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 20*time.Second, lists, nil)
	svc := NewService("", testLogger(t), &Options{MaxInFlight: 1})
	svc.Start(context.Background(), cfg)
	t.Cleanup(svc.Stop)
	lost := make(chan *Result, 1)
	go func() { lost <- probeList(t, svc, "blackhole@lists.example.org") }()
	waitFor(t, 10*time.Second, "the blackhole probe waiting for its outcome", func() bool {
		ps := svc.reg.pendingFor("blackhole@lists.example.org")
		return len(ps) == 1 && len(svc.slots) == 0
	})
	done := make(chan *Result, 1)
	go func() { done <- probeList(t, svc, "healthy@lists.example.org") }()
	select {
	case r := <-done:
		wantOutcome(t, r, Delivered, "")
	case <-time.After(15 * time.Second):
		t.Fatal("the healthy list waited for the blackhole probe's slot")
	}
	select {
	case r := <-lost:
		t.Fatalf("the blackhole probe ended early: %s", r.Outcome)
	default:
	}
}

// A panic while handling one message (a parser bug that a hostile message
// found) loses that message only: the session, and the process, go on.
func TestPanicOnAMessageKeepsTheSession(t *testing.T) {
	lists := []sandbox.List{{Address: "healthy@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	cfg := w.Config(t, 20*time.Second, lists, nil)
	seen := make(chan string, 10)
	ss := newSessions(context.Background(), testLogger(t), NewMetrics(), func(_ *accountSession, msg imapwatch.Message, _ Placement) {
		subject := msg.Header.Get("Subject")
		if subject == "boom" {
			var m map[string]int
			m["boom"]++
		}
		seen <- subject
	})
	ss.reconcile(cfg)
	t.Cleanup(ss.stop)
	reader := ss.get("reader")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reader.waitUp(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"boom", "after"} {
		if err := w.Append(testReader, []byte("From: a@example.org\r\nSubject: "+subject+"\r\nMessage-ID: <"+subject+"@example.org>\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case s := <-seen:
		if s != "after" {
			t.Fatalf("got %q", s)
		}
	case <-ctx.Done():
		t.Fatal("the message after the panicking one was never handled")
	}
	if up, _, _ := reader.State(); !up {
		t.Error("the session went down")
	}
}

// A DSN in Latin-1 (an undeclared 8-bit Diagnostic-Code, as German MTAs
// send) rejects the probe with a readable reason, and the reason label is
// valid UTF-8: before, it reached client_golang raw and ended serve.
func TestLatin1BounceIsReadable(t *testing.T) {
	lists := []sandbox.List{{Address: "blackhole@lists.example.org", Policy: sandbox.Drop}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	svc := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	up := svc.metrics.mailboxUp.WithLabelValues("member")
	waitFor(t, 10*time.Second, "member mailbox up", func() bool { return testutil.ToFloat64(up) == 1 })
	res := make(chan *Result, 1)
	go func() { res <- probeList(t, svc, "blackhole@lists.example.org") }()
	waitFor(t, 5*time.Second, "the probe pending", func() bool { return len(svc.reg.pendingFor("blackhole@lists.example.org")) == 1 })
	p := svc.reg.pendingFor("blackhole@lists.example.org")[0]
	tok := p.cfg.Signer().Encode(p.token)
	dsn := "From: MAILER-DAEMON@mx.example.org\r\nTo: member@example.org\r\nSubject: Unzustellbar\r\n" +
		"Message-ID: <dsn-1@mx.example.org>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nIhre Nachricht konnte nicht zugestellt werden.\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n" +
		"Final-Recipient: rfc822; blackhole@lists.example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n" +
		"Diagnostic-Code: smtp; 550 5.1.1 Empf\xe4nger unbekannt\r\n" +
		"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: member@example.org\r\nTo: blackhole@lists.example.org\r\n" +
		"Subject: listprobe delivery test " + tok + "\r\nMessage-ID: " + p.messageID + "\r\n" + token.Header + ": " + tok + "\r\n" +
		"--b--\r\n"
	if err := w.Append(testMember, []byte(dsn)); err != nil {
		t.Fatal(err)
	}
	r := <-res
	wantOutcome(t, r, Rejected, "Empfänger unbekannt")
	if _, err := svc.Metrics().Gatherer().Gather(); err != nil {
		t.Fatal(err)
	}
}
