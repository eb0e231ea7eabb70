package testbed

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/mailmanrest"
)

// The faults the end-to-end fault suite injects: stopping and starting the
// testbed's own Dovecot and Postfix, the way up.sh starts them. Each start
// waits until the service answers again, and a test that stops one must
// start it again (t.Cleanup does, should the test fail first).

// StopDovecot stops the testbed's Dovecot and, at the end of the test,
// starts it again if the test did not.
func (e Env) StopDovecot(t testing.TB) {
	t.Helper()
	conf := filepath.Join(e.Get(t, "STATE"), "dovecot", "dovecot.conf")
	e.run(t, "doveadm", "-c", conf, "stop")
	waitClosed(t, e.Get(t, "IMAP"))
	t.Cleanup(func() {
		if !answers(e.Get(t, "IMAP")) {
			e.StartDovecot(t)
		}
	})
}

// StartDovecot starts the testbed's Dovecot and waits for its IMAP port.
func (e Env) StartDovecot(t testing.TB) {
	t.Helper()
	conf := filepath.Join(e.Get(t, "STATE"), "dovecot", "dovecot.conf")
	e.run(t, "dovecot", "-c", conf)
	waitOpen(t, e.Get(t, "IMAP"))
}

// StopPostfix stops the testbed's Postfix and, at the end of the test,
// starts it again if the test did not.
func (e Env) StopPostfix(t testing.TB) {
	t.Helper()
	e.run(t, "postfix", "stop")
	waitClosed(t, e.Get(t, "SMTP"))
	t.Cleanup(func() {
		if !answers(e.Get(t, "SMTP")) {
			e.StartPostfix(t)
		}
	})
}

// StartPostfix starts the testbed's Postfix and waits for its submission
// port.
func (e Env) StartPostfix(t testing.TB) {
	t.Helper()
	e.run(t, "postfix", "start")
	waitOpen(t, e.Get(t, "SMTP"))
	waitOpen(t, e.Get(t, "MTA"))
}

// run runs a daemon's control command. Its output goes to a file, not a
// pipe: a daemon that forks keeps the pipe open, and waiting for its end
// would wait for the daemon.
func (e Env) run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("%s %v: %v\n%s", name, args, err, b)
	}
}

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func waitOpen(t testing.TB, addr string) {
	t.Helper()
	wait(t, addr, true)
}

func waitClosed(t testing.TB, addr string) {
	t.Helper()
	wait(t, addr, false)
}

func wait(t testing.TB, addr string, open bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for answers(addr) != open {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("%s still %s after 60s", addr, map[bool]string{true: "closed", false: "open"}[open]))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Moderate takes a moderator's action (accept, discard, reject, defer) on a
// held post of list, as a moderator would in Postorius.
func (c *MailmanAdmin) Moderate(ctx context.Context, list string, requestID int, action string) error {
	return c.ModerateWithComment(ctx, list, requestID, action, "")
}

// ModerateWithComment is Moderate with the moderator's comment, which a
// rejection notice quotes to the poster.
func (c *MailmanAdmin) ModerateWithComment(ctx context.Context, list string, requestID int, action, comment string) error {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return err
	}
	form := url.Values{"action": {action}}
	if comment != "" {
		form.Set("comment", comment)
	}
	return c.do(ctx, http.MethodPost, form, nil, "lists", id, "held", strconv.Itoa(requestID))
}
