//go:build faults

package main

// The fault suite: end-to-end tests that break the real testbed (stop
// Dovecot or Postfix, close Mailman's REST port, kill listprobe) and check
// the outcome each fault produces and that the next probe recovers. They
// stop shared servers, so they are built only with -tags faults and run on
// their own, after the other tests: .ci/run runs
//
//	go test -race -count=1 -p 1 -tags faults -run TestFault ./cmd/listprobe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/testbed"
	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// startE2EService starts a service (no schedule) for the list's config.
func startE2EService(t *testing.T, file string) *probe.Service {
	t.Helper()
	cfg, err := config.LoadFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	svc := probe.NewService(file, logger, &probe.Options{OnDemandMinInterval: time.Nanosecond})
	svc.Start(context.Background(), cfg)
	t.Cleanup(svc.Stop)
	return svc
}

func probeNow(t *testing.T, svc *probe.Service, list string) *probe.Result {
	t.Helper()
	r, _, err := svc.ProbeNow(context.Background(), list)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s (%s; %s)", list, r.Outcome, r.Reason, r.Evidence)
	return r
}

func wantResult(t *testing.T, r *probe.Result, outcome probe.Outcome, reason string) {
	t.Helper()
	if r.Outcome != outcome || !strings.Contains(r.Reason+" "+r.Evidence, reason) {
		t.Fatalf("outcome %s (%q, evidence %q), want %s with %q\n%s", r.Outcome, r.Reason, r.Evidence, outcome, reason, r.Log)
	}
}

// Dovecot stops while the reader's session IDLEs: the session goes down
// (listprobe_mailbox_up 0); a probe started meanwhile waits for the reader
// and is delivered once Dovecot is back; the next probe too.
func TestFaultDovecotStoppedMidIdle(t *testing.T) {
	tb := testbed.Load(t)
	l := newE2EList(t, tb, nil)
	svc := startE2EService(t, l.config(t, 90*time.Second, false, ""))
	up := func() float64 { return gaugeValue(t, svc, "listprobe_mailbox_up", "account", "reader") }
	waitUntil(t, 30*time.Second, "the reader's session up", func() bool { return up() == 1 })

	tb.StopDovecot(t)
	waitUntil(t, 30*time.Second, "the reader's session down", func() bool { return up() == 0 })
	res := make(chan *probe.Result, 1)
	go func() { res <- probeNow(t, svc, l.address) }()
	time.Sleep(2 * time.Second)
	tb.StartDovecot(t)
	wantResult(t, <-res, probe.Delivered, "")
	if v := up(); v != 1 {
		t.Errorf("listprobe_mailbox_up{account=reader} = %v after the restart", v)
	}
	wantResult(t, probeNow(t, svc, l.address), probe.Delivered, "")
}

// Postfix stops: the probe cannot be handed over (send_failed, naming the
// refused connection); once Postfix is back the next probe is delivered.
func TestFaultPostfixStopped(t *testing.T) {
	tb := testbed.Load(t)
	l := newE2EList(t, tb, nil)
	svc := startE2EService(t, l.config(t, 60*time.Second, false, ""))
	tb.StopPostfix(t)
	r := probeNow(t, svc, l.address)
	wantResult(t, r, probe.SendFailed, "connection refused")
	if r.Posted || r.MessageID != "" {
		t.Errorf("a post that never reached SMTP has message_id %q", r.MessageID)
	}
	tb.StartPostfix(t)
	wantResult(t, probeNow(t, svc, l.address), probe.Delivered, "")
}

// tcpProxy forwards connections to target until closed; closing it also
// cuts the connections in flight: a REST port that went away.
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Mailman's REST port closes while the list holds every member post: the
// hold is still found through Mailman's notice to the poster, and the REST
// metrics say the API is down.
func TestFaultMailmanRESTDownDuringHold(t *testing.T) {
	tb := testbed.Load(t)
	l := newE2EList(t, tb, map[string]any{"default_member_action": "hold"})
	l.listDefaultApplies(t)
	rest := strings.TrimPrefix(tb.Get(t, "MAILMAN_URL"), "http://")
	restHost := rest[:strings.Index(rest, "/")]
	proxy := startProxy(t, restHost)
	file := l.config(t, 60*time.Second, true, "")
	raw, _ := os.ReadFile(file)
	viaProxy := strings.Replace(string(raw), "http://"+restHost, "http://"+proxy.ln.Addr().String(), 1)
	os.WriteFile(file, []byte(viaProxy), 0o600)
	svc := startE2EService(t, file)
	mailmanUp := func() float64 { return gaugeValue(t, svc, "listprobe_mailman_up", "list", l.address) }
	waitUntil(t, 30*time.Second, "the REST API read through the proxy", func() bool { return mailmanUp() == 1 })

	proxy.close()
	r := probeNow(t, svc, l.address)
	wantResult(t, r, probe.Held, "hold notice")
	if !strings.Contains(r.Reason, "moderat") {
		t.Errorf("reason %q does not give Mailman's moderation reason", r.Reason)
	}
	waitUntil(t, 30*time.Second, "listprobe_mailman_up 0", func() bool { return mailmanUp() == 0 })
}

// A reload while an on-demand probe is in flight: the probe keeps its
// sessions and is delivered.
func TestFaultReloadDuringOnDemandProbe(t *testing.T) {
	tb := testbed.Load(t)
	l := newE2EList(t, tb, nil)
	file := l.config(t, 60*time.Second, false, "")
	svc := probe.NewService(file, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, 30*time.Second, "ready with the reader's session up", func() bool {
		return svc.Ready() && gaugeValue(t, svc, "listprobe_mailbox_up", "account", "reader") == 1
	})
	res := make(chan *probe.Result, 1)
	go func() { res <- probeNow(t, svc, l.address) }()
	time.Sleep(200 * time.Millisecond)
	raw, _ := os.ReadFile(file)
	os.WriteFile(file, []byte(strings.Replace(string(raw), "timeout: 1m0s", "timeout: 61s", 1)), 0o600)
	if err := svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantResult(t, <-res, probe.Delivered, "")
}

// buildListprobe builds the binary once per test run.
func buildListprobe(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "listprobe")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveProcess runs `listprobe serve` as a process of its own.
type serveProcess struct {
	cmd  *exec.Cmd
	base string
	log  *os.File
}

func startServeProcess(t *testing.T, bin, file string) *serveProcess {
	t.Helper()
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.CreateTemp(t.TempDir(), "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "serve", "--config.file="+file, "--web.listen-address="+addr, "--web.enable-probe", "--log.level=debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, base: "http://" + addr, log: logf}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("serve log:\n%s", b)
		}
	})
	waitUntil(t, 30*time.Second, "serve ready with the reader's session up", func() bool {
		return p.metric(t, `listprobe_mailbox_up{account="reader"}`) == "1"
	})
	return p
}

// metric returns the value of one series of the process's /metrics, "" if
// absent.
func (p *serveProcess) metric(t *testing.T, series string) string {
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}

// listprobe killed with SIGKILL in the middle of a probe (its post held by
// the list, no notice sent), then restarted: the restarted listprobe knows
// the copy a moderator releases as its own earlier run's probe and cleans it
// up, so nothing is left behind. The copy is late only if it came after the
// probe's deadline: released while listprobe was down, in time, it is not
// counted late (as a delivered probe's copy never is after a restart);
// released after the restart and after the deadline, it is.
func TestFaultKilledMidProbeAndRestarted(t *testing.T) {
	bin := buildListprobe(t)
	for _, tc := range []struct {
		name      string
		whileDown bool
	}{{"copy after the restart and the deadline", false}, {"copy while listprobe is down, in time", true}} {
		t.Run(tc.name, func(t *testing.T) { killedMidProbe(t, bin, tc.whileDown) })
	}
}

func killedMidProbe(t *testing.T, bin string, releaseWhileDown bool) {
	tb := testbed.Load(t)
	l := newE2EList(t, tb, map[string]any{"default_member_action": "hold", "respond_to_post_requests": false})
	l.listDefaultApplies(t)
	const timeout = 45 * time.Second
	file := l.config(t, timeout, false, "")
	ctx := context.Background()
	reader := tb.Mailbox(t, "READER")

	a := startServeProcess(t, bin, file)
	deadline := time.Now().Add(timeout)
	go http.Get(a.base + "/probe?list=" + l.address)
	var requestID int
	var messageID string
	waitUntil(t, 30*time.Second, "the probe held by Mailman", func() bool {
		held, err := l.mm.Held(ctx, l.address)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range held {
			if strings.HasPrefix(strings.Trim(h.MessageID, "<>"), "lp1.") {
				requestID, messageID = h.RequestID, h.MessageID
				return true
			}
		}
		return false
	})
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	release := func() {
		if err := l.admin.Moderate(ctx, l.address, requestID, "accept"); err != nil {
			t.Fatal(err)
		}
	}
	if releaseWhileDown {
		release()
		waitUntil(t, 30*time.Second, "the released copy in the reader's mailbox", func() bool { return len(imapSearch(t, reader, messageID)) == 1 })
	}

	b := startServeProcess(t, bin, file)
	series := fmt.Sprintf("listprobe_late_deliveries_total{list=%q}", l.address)
	if !releaseWhileDown {
		if v := b.metric(t, series); v != "0" {
			t.Fatalf("%s = %q before the copy came", series, v)
		}
		time.Sleep(time.Until(deadline.Add(3 * time.Second)))
		release()
		waitUntil(t, 60*time.Second, "the released copy counted late by the restarted listprobe", func() bool { return b.metric(t, series) == "1" })
	}
	waitUntil(t, 30*time.Second, "the copy cleaned up", func() bool { return len(imapSearch(t, reader, messageID)) == 0 })
	if v := b.metric(t, series); releaseWhileDown && v != "0" {
		t.Errorf("%s = %q: a copy that came in time is not late", series, v)
	}
}
