package sandbox

import (
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestCloseLeavesNoGoroutineBehind(t *testing.T) {
	// Let goroutines of earlier tests (clients closed in their cleanups)
	// finish before taking the baseline.
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	opts := DemoOptions()
	opts.Lists[2].Delay = time.Hour // a delayed copy still pending at Close
	w, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	mustSubmitAsMember(t, w, DemoSlow, sandboxPost(DemoMember, DemoSlow, "pending", "<pending@example.org>"))
	mustSubmitAsMember(t, w, DemoModerated, sandboxPost(DemoMember, DemoModerated, "held", "<held@example.org>"))
	mustSubmitAsMember(t, w, DemoHealthy, sandboxPost(DemoMember, DemoHealthy, "copy", "<copy@example.org>"))
	waitInbox(t, w, DemoReader, DemoReaderPassword, 1)
	// A client that stays connected and idling when the world closes.
	c := sandboxIMAPLogin(t, w.IMAPAddr, DemoMember, DemoMemberPassword, nil)
	if _, err := c.Idle(); err != nil {
		t.Fatal(err)
	}
	if err := w.StopIMAP(); err != nil {
		t.Fatal(err)
	}
	if err := w.StartIMAP(); err != nil {
		t.Fatal(err)
	}
	c2 := sandboxIMAPLogin(t, w.IMAPAddr, DemoMember, DemoMemberPassword, nil)
	if _, err := c2.Idle(); err != nil {
		t.Fatal(err)
	}
	// A REST client whose keep-alive connection is still open.
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr}
	if status, _ := restGet(t, hc, w, "/lists/moderated.lists.example.org/held"); status != http.StatusOK {
		t.Fatalf("REST held: %d", status)
	}
	// And an SMTP client in the middle of a session.
	sc, err := smtp.Dial(w.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Hello("client.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Noop(); err == nil {
		t.Error("SMTP session survived Close")
	}
	sc.Close()
	if _, err := hc.Get(w.MailmanURL + "/lists"); err == nil {
		t.Error("REST still answers after Close")
	}
	tr.CloseIdleConnections()
	for _, cl := range []interface{ Close() error }{c, c2} {
		cl.Close()
	}
	<-c.Closed()
	<-c2.Closed()

	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines after Close, %d before Start:\n%s", runtime.NumGoroutine(), baseline, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restGet sends an authenticated GET below the world's MailmanURL with hc
// and reads the whole answer, so that the connection can be reused.
func restGet(t *testing.T, hc *http.Client, w *World, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.MailmanURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(w.MailmanUsername, w.MailmanPassword)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}
