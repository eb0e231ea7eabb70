package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// shutdownBound is the correctness bound on serve's shutdown asserted
// here: serve's own budget is 5 s; the rest is slack for a loaded CI
// machine. It is not a speed figure.
const shutdownBound = 8 * time.Second

// serveForShutdown runs serve with --web.enable-probe on a free port and
// returns its base URL, a function that cancels it (as SIGTERM does) and
// reports how long run took to return after that, and its exit code.
func serveForShutdown(t *testing.T, file string) (base string, stop func() (time.Duration, int)) {
	t.Helper()
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config.file=" + file, "--web.listen-address=" + addr, "--web.enable-probe", "--log.level=error"}, io.Discard, io.Discard)
	}()
	var once sync.Once
	var took time.Duration
	var code int
	stop = func() (time.Duration, int) {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case code = <-done:
				took = time.Since(start)
			case <-time.After(2 * time.Minute):
				took, code = 2*time.Minute, -1
			}
		})
		return took, code
	}
	t.Cleanup(func() { stop() })
	base = "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("serve never became ready")
		}
	}
	return base, stop
}

// probeInBackground asks serve for a probe of list and does not wait.
func probeInBackground(base, list string) {
	go func() {
		resp, err := http.Get(base + "/probe?list=" + url.QueryEscape(list))
		if err == nil {
			resp.Body.Close()
		}
	}()
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatalf("never reached the point under test: %s", what)
	}
}

func rewriteConfig(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), old, new)
	if s == string(b) {
		t.Fatalf("%q is not in the config", old)
	}
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantQuickShutdown(t *testing.T, stop func() (time.Duration, int)) {
	t.Helper()
	took, code := stop()
	t.Logf("serve returned %s after the stop, exit %d", took, code)
	if took > shutdownBound {
		t.Errorf("serve took %s to stop, want under %s whatever the servers do", took, shutdownBound)
	}
	if code != exitOK {
		t.Errorf("serve exit %d, want 0", code)
	}
}

// SIGTERM while the cleanup after a held probe waits on a Mailman REST call
// that never answers: serve stops within the bound, not after the REST
// client's 30 s.
func TestShutdownWithAHangingRESTCall(t *testing.T) {
	w := startSandboxWorld(t)
	l := newE2EList(t, w, map[string]any{"default_member_action": "hold", "respond_to_post_requests": false})
	l.listDefaultApplies(t)
	target, _ := url.Parse(w.Get(t, "MAILMAN_URL"))
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	hung := make(chan struct{})
	var hangOnce sync.Once
	release := make(chan struct{})
	defer close(release)
	// Reading one held request by its id is the cleanup's (the discard
	// checks the request first): it hangs.
	oneRequest := regexp.MustCompile(`/held/[0-9]+$`)
	srv := newHangingServer(t, func(rw http.ResponseWriter, r *http.Request) {
		if oneRequest.MatchString(r.URL.Path) {
			hangOnce.Do(func() { close(hung) })
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		proxy.ServeHTTP(rw, r)
	})
	file := l.config(t, 30*time.Second, true, "")
	rewriteConfig(t, file, w.Get(t, "MAILMAN_URL"), srv+"/3.1")
	base, stop := serveForShutdown(t, file)
	probeInBackground(base, l.address)
	waitClosed(t, hung, "the cleanup's REST call")
	wantQuickShutdown(t, stop)
}

func newHangingServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// freezingProxy forwards TCP connections to target until a client sends
// trigger; from then on it forwards nothing in either direction and keeps
// every connection open: a server that stops answering mid-session.
type freezingProxy struct {
	addr   string
	frozen chan struct{}
	once   sync.Once
	conns  sync.WaitGroup
	closed atomic.Bool
}

func newFreezingProxy(t *testing.T, target, trigger string) *freezingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{addr: ln.Addr().String(), frozen: make(chan struct{})}
	var open []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, up)
			mu.Unlock()
			go p.pipe(up, c, "")
			go p.pipe(c, up, trigger)
		}
	}()
	return p
}

// pipe copies from src to dst until the proxy freezes; data from src that
// contains trigger freezes it.
func (p *freezingProxy) pipe(dst, src net.Conn, trigger string) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if trigger != "" && strings.Contains(string(buf[:n]), trigger) {
				p.once.Do(func() { close(p.frozen) })
			}
			select {
			case <-p.frozen:
				continue // swallow: the server says nothing more
			default:
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// SIGTERM while the reader's IMAP server stopped answering in the middle of
// deleting the delivered copy: serve stops within the bound.
func TestShutdownWithAHangingIMAPServer(t *testing.T) {
	w := startSandboxWorld(t)
	l := newE2EList(t, w, nil)
	p := newFreezingProxy(t, w.Get(t, "IMAP"), "UID STORE")
	file := l.config(t, 30*time.Second, false, "")
	rewriteConfig(t, file, w.Get(t, "IMAP"), p.addr)
	base, stop := serveForShutdown(t, file)
	probeInBackground(base, l.address)
	waitClosed(t, p.frozen, "the cleanup's UID STORE")
	wantQuickShutdown(t, stop)

	// The copy left behind is cleaned up by the next start, as after a
	// SIGKILL.
	reader := w.Get(t, "READER")
	if msgs, err := w.w.Messages(reader); err != nil || len(msgs) != 1 {
		t.Fatalf("the reader has %d messages (%v) after the stop, want the one copy left", len(msgs), err)
	}
	rewriteConfig(t, file, p.addr, w.Get(t, "IMAP"))
	serveForShutdown(t, file)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		msgs, err := w.w.Messages(reader)
		if err == nil && len(msgs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the next start left the copy in the reader's mailbox (%d messages, %v)", len(msgs), err)
		}
	}
}

// SIGTERM while the SMTP server accepted the connection and never greets:
// serve stops within the bound.
func TestShutdownWithAHangingSMTPServer(t *testing.T) {
	w := startSandboxWorld(t)
	l := newE2EList(t, w, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	go func() {
		var once sync.Once
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			once.Do(func() { close(accepted) })
		}
	}()
	file := l.config(t, 60*time.Second, false, "")
	rewriteConfig(t, file, w.Get(t, "SMTP"), ln.Addr().String())
	base, stop := serveForShutdown(t, file)
	probeInBackground(base, l.address)
	waitClosed(t, accepted, "the SMTP connection")
	wantQuickShutdown(t, stop)
}
