package sandbox

import (
	"net/http"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// waitStats waits until cond holds for the world's counters: the servers
// count a connection in their own goroutines, a little after the client
// sees it open or closed.
func waitStats(t *testing.T, w *World, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		s := w.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats stayed %+v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStatsCountSMTPSessionsAndPeakOpen(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	if s := w.Stats(); s != (Stats{}) {
		t.Fatalf("a new world's stats = %+v, want zero", s)
	}
	a, err := smtp.Dial(w.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := smtp.Dial(w.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	// EHLO makes the client read the greeting: the server has surely
	// accepted both by then.
	for _, c := range []*smtp.Client{a, b} {
		if err := c.Hello("client.example.org"); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, w, "two connections open", func(s Stats) bool { return s.SMTPOpen == 2 })
	if err := a.Quit(); err != nil {
		t.Fatal(err)
	}
	s := waitStats(t, w, "one connection closed", func(s Stats) bool { return s.SMTPOpen == 1 })
	if s.SMTPSessions != 2 || s.SMTPPeakOpen != 2 {
		t.Errorf("after two connections, one closed: sessions %d, peak open %d; want 2 and 2", s.SMTPSessions, s.SMTPPeakOpen)
	}

	mustSubmitAsMember(t, w, DemoHealthy, sandboxPost(DemoMember, DemoHealthy, "counted", "<counted@example.org>"))
	drainSandboxQueue(t, w)
	s = waitStats(t, w, "third connection closed", func(s Stats) bool { return s.SMTPOpen == 1 })
	if s.SMTPSessions != 3 || s.SMTPPeakOpen != 2 {
		t.Errorf("after a third connection, one at a time: sessions %d, peak open %d; want 3 and 2", s.SMTPSessions, s.SMTPPeakOpen)
	}
	if s.ListPosts != 1 || s.Stored != 1 {
		t.Errorf("one post to a list with one subscriber: list posts %d, stored %d; want 1 and 1", s.ListPosts, s.Stored)
	}
}

func TestStatsCountIMAPSessionsButNotMessagesReads(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	c := sandboxIMAPLogin(t, w.IMAPAddr, DemoReader, DemoReaderPassword, nil)
	waitStats(t, w, "one IMAP connection", func(s Stats) bool { return s.IMAPOpen == 1 })
	if _, err := w.Messages(DemoReader); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.IMAPSessions != 1 {
		t.Errorf("Messages was counted: IMAP sessions %d, want 1", s.IMAPSessions)
	}
	if err := w.StopIMAP(); err != nil {
		t.Fatal(err)
	}
	waitStats(t, w, "IMAP stopped", func(s Stats) bool { return s.IMAPOpen == 0 })
	c.Close()
	if err := w.StartIMAP(); err != nil {
		t.Fatal(err)
	}
	sandboxIMAPLogin(t, w.IMAPAddr, DemoReader, DemoReaderPassword, nil)
	s := waitStats(t, w, "a connection after StartIMAP", func(s Stats) bool { return s.IMAPOpen == 1 })
	if s.IMAPSessions != 2 || s.IMAPPeakOpen != 1 {
		t.Errorf("two connections one after the other, across a restart: sessions %d, peak open %d; want 2 and 1", s.IMAPSessions, s.IMAPPeakOpen)
	}
}

func TestStatsCountRESTRequestsRefusedOnesToo(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	for _, auth := range []bool{true, false} {
		req, err := http.NewRequest(http.MethodGet, w.MailmanURL+"/lists", nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.SetBasicAuth(w.MailmanUsername, w.MailmanPassword)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if s := w.Stats(); s.RESTRequests != 2 {
		t.Errorf("REST requests = %d after one good and one refused, want 2", s.RESTRequests)
	}
}
