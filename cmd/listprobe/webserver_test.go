package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The web server cuts off clients that hold a connection without using it:
// 200 idle keep-alive connections, 50 clients that never read a large
// answer and 20 that never finish their request headers are all closed once
// the timeouts pass (shortened here; serve's are defaultWebTimeouts).
func TestWebServerClosesIdleSlowAndNonReadingClients(t *testing.T) {
	var open, accepted atomic.Int64
	big := strings.Repeat("x", 8<<20) // more than any socket buffer holds
	mux := http.NewServeMux()
	mux.HandleFunc("GET /small", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, big) })
	srv := newWebServer(mux, webTimeouts{ReadHeader: 300 * time.Millisecond, Read: 300 * time.Millisecond, Write: 300 * time.Millisecond, Idle: 300 * time.Millisecond})
	srv.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
			accepted.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		return c
	}
	for range 200 { // idle keep-alive: one request answered, then nothing
		c := dial()
		fmt.Fprintf(c, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for range 50 { // never read
		fmt.Fprintf(dial(), "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	for range 20 { // never finish the headers
		fmt.Fprintf(dial(), "GET /small HTTP/1.1\r\nHost: x\r\n")
	}
	waitOpen := func(want int64, within time.Duration) int64 {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) && open.Load() != want {
			time.Sleep(50 * time.Millisecond)
		}
		return open.Load()
	}
	for deadline := time.Now().Add(5 * time.Second); accepted.Load() < 270 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := accepted.Load(); n != 270 {
		t.Fatalf("the server accepted %d connections, want 270", n)
	}
	if n := waitOpen(0, 10*time.Second); n != 0 {
		t.Fatalf("%d of 270 idle, slow or non-reading connections are still open long after every timeout", n)
	}
}

// serve's own timeouts are set, and long enough for a scrape.
func TestDefaultWebTimeoutsAreSet(t *testing.T) {
	srv := newWebServer(http.NotFoundHandler(), defaultWebTimeouts)
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout, "WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
		if d < 5*time.Second || d > 10*time.Minute {
			t.Errorf("%s = %s, want between 5s and 10m", name, d)
		}
	}
}
