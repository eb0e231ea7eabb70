//go:build faults

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/hostileimap"
	"github.com/listprobe/listprobe/internal/testbed"
	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// serveRSSBound is the most resident memory `listprobe serve` may reach
// while its reader's IMAP server attacks it: the README's memory bound per
// mailbox session (64 MiB of heap) and the process's own (under 40 MiB).
const serveRSSBound = 128 << 20

// A reader IMAP server that sends without end (a literal of {999999999},
// FETCH or SEARCH responses, atoms, flag lists, BODYSTRUCTURE nesting)
// cannot exhaust `listprobe serve`: its peak resident memory stays under
// serveRSSBound while the session is attacked again at every reconnection,
// the session stays down (listprobe_mailbox_up 0), and the log says why.
// Before, a {999999999} literal grew the heap by 2.1 GB and endless FETCH
// responses by 4.3 GB in a minute; deep BODYSTRUCTURE nesting overflowed
// the stack and killed the process.
func TestFaultHostileReaderServerCannotExhaustMemory(t *testing.T) {
	bin := buildListprobe(t)
	for _, attack := range hostileimap.Attacks {
		t.Run(string(attack), func(t *testing.T) {
			srv, err := hostileimap.Start(attack)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			p := startHostileServe(t, bin, srv.Addr)
			waitUntil(t, 30*time.Second, "three sessions attacked", func() bool { return srv.Sessions.Load() >= 3 })
			if p.cmd.ProcessState != nil {
				t.Fatalf("listprobe exited: %v", p.cmd.ProcessState)
			}
			peak := peakRSS(t, p.cmd.Process.Pid)
			t.Logf("%s: peak RSS %.1f MiB after %d sessions, %.1f MiB sent by the server", attack, float64(peak)/(1<<20), srv.Sessions.Load(), float64(srv.Sent.Load())/(1<<20))
			if peak > serveRSSBound {
				t.Errorf("peak RSS %d MiB, over the bound of %d MiB", peak>>20, serveRSSBound>>20)
			}
			if v := p.metric(t, `listprobe_mailbox_up{account="reader"}`); v != "0" {
				t.Errorf(`listprobe_mailbox_up{account="reader"} = %q, want 0`, v)
			}
			if log, _ := os.ReadFile(p.log.Name()); !strings.Contains(string(log), "server sent more than one command can need") {
				t.Errorf("the log does not say why the session ended:\n%s", log)
			}
		})
	}
}

// startHostileServe runs `listprobe serve` with one list whose reader reads
// from the server at imapAddr (the poster's SMTP server is never used: no
// probe is posted while the reader is down).
func startHostileServe(t *testing.T, bin, imapAddr string) *serveProcess {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"pw": "secret\n", "signing.key": "hostile-imap-fault-test-key-0123456789\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`global:
  schedule: "@every 1h"
  timeout: 30s
  signing_key_file: signing.key
accounts:
  poster:
    address: poster@example.test
    smtp: { address: "127.0.0.1:1", tls: none, auth: plain, username: poster@example.test, password_file: pw }
  reader:
    address: reader@example.test
    imap: { address: %q, tls: none, username: reader@example.test, password_file: pw }
lists:
  - address: list@lists.example.test
    poster: poster
    reader: reader
`, imapAddr)
	file := filepath.Join(dir, "listprobe.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.CreateTemp(dir, "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "serve", "--config.file="+file, "--web.listen-address="+addr)
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
	waitUntil(t, 30*time.Second, "serve answering", func() bool { return p.metric(t, `listprobe_mailbox_up{account="reader"}`) != "" })
	return p
}

// peakRSS returns a process's peak resident memory (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// Dovecot, seen through a proxy that stops forwarding, stops answering the
// reader's session mid-probe while the list delivers: the probe is error
// ("reader mailbox ... stopped answering"), never lost, and once the
// command's deadline passed the session is down (listprobe_mailbox_up 0)
// and stays down; when Dovecot answers again the next probe is delivered.
func TestFaultReaderStopsAnswering(t *testing.T) {
	tb := testbed.Load(t)
	l := newE2EList(t, tb, nil)
	file := l.config(t, 20*time.Second, false, "")
	proxy, err := hostileimap.StartProxy(tb.Get(t, "IMAP"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(raw), "  reader:\n")
	text := string(raw[:i]) + strings.Replace(string(raw[i:]), fmt.Sprintf("address: %q", tb.Get(t, "IMAP")), fmt.Sprintf("address: %q", proxy.Addr), 1)
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := probe.NewService(file, slog.New(slog.NewTextHandler(io.Discard, nil)), &probe.Options{OnDemandMinInterval: time.Nanosecond, MailboxCommandTimeout: 5 * time.Second})
	svc.Start(context.Background(), cfg)
	defer svc.Stop()
	up := func() float64 { return gaugeValue(t, svc, "listprobe_mailbox_up", "account", "reader") }
	waitUntil(t, 30*time.Second, "the reader's session up", func() bool { return up() == 1 })

	proxy.Freeze()
	wantResult(t, probeNow(t, svc, l.address), probe.Error, "stopped answering")
	if v := up(); v != 0 {
		t.Errorf(`listprobe_mailbox_up{account="reader"} = %v after the command deadline, want 0`, v)
	}
	proxy.Thaw()
	waitUntil(t, 90*time.Second, "the reader's session up again", func() bool { return up() == 1 })
	wantResult(t, probeNow(t, svc, l.address), probe.Delivered, "")
}
