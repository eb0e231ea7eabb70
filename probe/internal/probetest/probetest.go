// Package probetest implements the mail world the tests of package probe
// and its web UI run against: an in-process sandbox (SMTP, IMAP, lists
// and a Mailman REST API on loopback) with a member, a reader and a
// moderator account, and a listprobe configuration for it.
package probetest

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/dnstest"
	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe/config"
)

// The world's accounts and signing key.
const (
	Member    = "member@example.org"
	Reader    = "reader@example.org"
	Moderator = "moderator@example.org"
	Key       = "runtime-test-signing-key-0123456789"
)

// Load lets the tests' configs have schedules of a second.
var Load = &config.Options{MinInterval: time.Second}

// World is a sandbox mail world with a listprobe config for it.
type World struct {
	*sandbox.World
	// Dir holds the config and its secret files; File is the config, once
	// Config wrote it.
	Dir  string
	File string
	// DNS is the DNS server the config's global.dns names: empty, so
	// that no test asks the machine's resolver; a test may publish keys.
	DNS *dnstest.Server
}

// Start starts a sandbox with the member, reader and moderator accounts
// and the given lists, each subscribed by the reader; it ends with the
// test.
func Start(t testing.TB, opts sandbox.Options) *World {
	t.Helper()
	opts.Accounts = append([]sandbox.Account{
		{Address: Member, Password: "member-pw"},
		{Address: Reader, Password: "reader-pw"},
		{Address: Moderator, Password: "moderator-pw"},
	}, opts.Accounts...) // and the test's own
	for i := range opts.Lists {
		if opts.Lists[i].Subscribers == nil {
			opts.Lists[i].Subscribers = []string{Reader}
		}
	}
	w, err := sandbox.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	dir := t.TempDir()
	for name, pw := range map[string]string{"member": "member-pw", "reader": "reader-pw", "moderator": "moderator-pw", "signing.key": Key} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &World{World: w, Dir: dir, DNS: dnstest.Start(t)}
}

// Config writes a config for the world's lists with the given timeout,
// changed by tweak (nil: as it is), and loads it: the member posts, the
// reader reads (both with cleanup), the moderator only reads.
func (w *World) Config(t testing.TB, timeout time.Duration, lists []sandbox.List, tweak func(string) string) *config.Config {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  schedule: \"@every 1h\"\n  timeout: %s\n  signing_key_file: signing.key\n  poll_interval: 200ms\n  dns: { server: %q }\n", timeout, w.DNS.Addr)
	// The sandbox's list server delivers over loopback to its own MTA,
	// which records the connection in the Received field on top (issue
	// 15's path (c)); a message appended to a mailbox has no such field.
	fmt.Fprintf(&b, "list_servers:\n  sandbox: { hosts: [127.0.0.1], receiver_hosts: [%s] }\naccounts:\n", w.Hostname())
	fmt.Fprintf(&b, "  member:\n    address: %s\n    cleanup: true\n    smtp: { address: %q, tls: none, auth: plain, username: %s, password_file: member }\n    imap: { address: %q, tls: none, username: %s, password_file: member }\n", Member, w.SMTPAddr, Member, w.IMAPAddr, Member)
	fmt.Fprintf(&b, "  reader:\n    address: %s\n    cleanup: true\n    imap: { address: %q, tls: none, username: %s, password_file: reader }\n", Reader, w.IMAPAddr, Reader)
	fmt.Fprintf(&b, "  moderator:\n    address: %s\n    imap: { address: %q, tls: none, username: %s, password_file: moderator }\n", Moderator, w.IMAPAddr, Moderator)
	b.WriteString("lists:\n")
	for _, l := range lists {
		fmt.Fprintf(&b, "  - address: %s\n    poster: member\n    reader: reader\n    list_server: sandbox\n", l.Address)
	}
	text := b.String()
	if tweak != nil {
		text = tweak(text)
	}
	w.File = filepath.Join(w.Dir, "listprobe.yml")
	if err := os.WriteFile(w.File, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(w.File, Load)
	if err != nil {
		t.Fatalf("config:\n%s\n%v", text, err)
	}
	return cfg
}

// MailmanConfig is a tweak for Config that adds the world's Mailman REST
// API and configures every list with it.
func (w *World) MailmanConfig(t testing.TB) func(string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(w.Dir, "mailman"), []byte(w.MailmanPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(text string) string {
		text = strings.ReplaceAll(text, "    reader: reader\n", "    reader: reader\n    mailman: main\n")
		return strings.Replace(text, "lists:\n", fmt.Sprintf("mailman:\n  main: { url: %q, username: %s, password_file: mailman, refresh: 200ms }\nlists:\n", w.MailmanURL, w.MailmanUsername), 1)
	}
}

// Logger logs to stderr at debug level with -v, and nowhere otherwise.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// WaitFor waits until cond holds, and fails the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
