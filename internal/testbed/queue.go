package testbed

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Holding a copy back, and mail from another host.
//
// Postfix's readers' MX (127.0.0.1:25, and its twin on 2525 that the list
// servers' copies reach one recipient per message) looks every recipient up
// in a hold table: while an address is in it, every copy for it waits in
// Postfix's hold queue. A list subscriber with a +detail address of its own
// (reader+mytest@example.test, delivered to the reader's INBOX) lets a test
// hold its list's copies without holding anyone else's.

// HoldCopies makes Postfix hold every message for address (and only for
// it) from now on, until ReleaseCopies or the end of the test.
func (e Env) HoldCopies(t testing.TB, address string) {
	t.Helper()
	NeedRoot(t)
	if err := e.tbctl(context.Background(), "queue", "hold", address); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.tbctl(context.Background(), "queue", "release", address); err != nil {
			t.Errorf("releasing the copies held for %s: %v", address, err)
		}
	})
}

// ReleaseCopies stops holding address's messages and delivers the held ones
// at once.
func (e Env) ReleaseCopies(t testing.TB, address string) {
	t.Helper()
	if err := e.tbctl(context.Background(), "queue", "release", address); err != nil {
		t.Fatal(err)
	}
}

// HeldCopies returns the Postfix queue ids of the messages held for
// address.
func (e Env) HeldCopies(t testing.TB, address string) []string {
	t.Helper()
	out, err := exec.Command(e.Get(t, "TBCTL"), "queue", "held", address).CombinedOutput()
	if err != nil {
		t.Fatalf("tbctl queue held %s: %v: %s", address, err, out)
	}
	return strings.Fields(string(out))
}

// WaitHeldCopies waits up to timeout until at least n messages for address are
// held, and returns their queue ids.
func (e Env) WaitHeldCopies(t testing.TB, address string, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ids := e.HeldCopies(t, address)
		if len(ids) >= n {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages held for %s after %s, want %d", len(ids), address, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Foreign is mail "from another host": the stranger's host
// (LISTPROBE_TESTBED_STRANGER_ADDR, 127.0.0.2) that connects to the
// readers' MX (127.0.0.1:25) as any host on the Internet would, greets as
// mx.stranger.test, and is in no trusted network: Postfix's Received field
// names it ("from mx.stranger.test (unknown [127.0.0.2])"), rspamd's
// SPF check fails it for any domain but stranger.test, and nothing signs
// its mail.
type Foreign struct {
	// From is the envelope sender; "" is the null sender of a DSN.
	From string
	// To are the envelope recipients.
	To []string
	// Helo is the name it greets with (default: LISTPROBE_TESTBED_STRANGER_HELO).
	Helo string
}

// InjectForeign delivers msg as f says, from the stranger's host.
func (e Env) InjectForeign(t testing.TB, f Foreign, msg []byte) {
	t.Helper()
	if err := e.injectForeign(f, msg); err != nil {
		t.Fatal(err)
	}
}

func (e Env) injectForeign(f Foreign, msg []byte) error {
	local, helo := e[Prefix+"STRANGER_ADDR"], e[Prefix+"STRANGER_HELO"]
	if local == "" || e[Prefix+"MTA"] == "" {
		return fmt.Errorf("testbed env has no %sSTRANGER_ADDR or MTA (run deploy/testbed/up.sh again)", Prefix)
	}
	if f.Helo != "" {
		helo = f.Helo
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", e[Prefix+"MTA"])
	if err != nil {
		return fmt.Errorf("connecting from %s to the testbed's MX %s: %w", local, e[Prefix+"MTA"], err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello(helo); err != nil {
		return fmt.Errorf("HELO %s to %s: %w", helo, e[Prefix+"MTA"], err)
	}
	if err := c.SendMail(f.From, f.To, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("foreign mail from <%s> to %v: %w", f.From, f.To, err)
	}
	return c.Quit()
}

// runTool runs one of the testbed's tools; the error carries its output.
func (e Env) runTool(ctx context.Context, name, path string, args ...string) error {
	cmd := exec.CommandContext(ctx, path, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
