// Package testbed gives tests the variables of the real Postfix + Dovecot +
// Mailman 3 stack that deploy/testbed/up.sh starts on loopback.
//
// Tests that need the stack call Load. Without the stack they skip, except
// under CI=true, where a missing stack is a failure: CI starts the testbed,
// so a test that did not run there would be a test that passed by not
// running.
package testbed

import (
	"bufio"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// DefaultEnvFile is where up.sh writes the variables.
const DefaultEnvFile = "/run/listprobe-testbed/env"

// Prefix starts every variable's name.
const Prefix = "LISTPROBE_TESTBED_"

// Env holds the testbed's variables by their full names
// (LISTPROBE_TESTBED_SMTP...).
type Env map[string]string

// Missing ends a test that needs a part of the testbed it lacks: a skip on
// a machine without it, a failure under CI=true, where the stack must be up.
// The message is ciPrefix or skipPrefix followed by format.
func Missing(t testing.TB, ciPrefix, skipPrefix, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(ciPrefix+format, args...)
	}
	t.Skipf(skipPrefix+format, args...)
}

// Load returns the testbed's variables: from the environment when
// LISTPROBE_TESTBED=1 is set there, otherwise from the file up.sh wrote
// ($LISTPROBE_TESTBED_ENV or DefaultEnvFile). It checks that SMTP, IMAP and
// the Mailman REST API answer, so that an env file left behind by a stopped
// testbed counts as no testbed.
func Load(t testing.TB) Env {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		Missing(t, "CI=true but the real-stack testbed is not usable (run deploy/testbed/up.sh): ",
			"real-stack testbed not usable (start it with deploy/testbed/up.sh): ", format, args...)
	}
	env := Env{}
	if os.Getenv("LISTPROBE_TESTBED") == "1" && os.Getenv(Prefix+"SMTP") != "" {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "LISTPROBE_TESTBED") {
				env[k] = v
			}
		}
	} else {
		path := os.Getenv("LISTPROBE_TESTBED_ENV")
		if path == "" {
			path = DefaultEnvFile
		}
		f, err := os.Open(path)
		if err != nil {
			missing("%v", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(k, "#") {
				env[k] = strings.Trim(v, `"'`)
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		if env["LISTPROBE_TESTBED"] != "1" {
			t.Fatalf("%s does not say LISTPROBE_TESTBED=1", path)
		}
	}
	addrs := []string{env[Prefix+"SMTP"], env[Prefix+"IMAP"]}
	if u, err := url.Parse(env[Prefix+"MAILMAN_URL"]); err == nil && u.Host != "" {
		addrs = append(addrs, u.Host)
	}
	for _, addr := range addrs {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			missing("%s does not answer: %v", addr, err)
		}
		conn.Close()
	}
	return env
}

// Get returns a variable by its name with or without the prefix
// ("SMTP" or "LISTPROBE_TESTBED_SMTP"); a missing one fails the test.
func (e Env) Get(t testing.TB, name string) string {
	t.Helper()
	if !strings.HasPrefix(name, Prefix) {
		name = Prefix + name
	}
	v := e[name]
	if v == "" {
		t.Fatalf("testbed env has no %s", name)
	}
	return v
}

// Secret reads the password file a variable names, e.g. "MEMBER_PASSWORD_FILE".
func (e Env) Secret(t testing.TB, name string) string {
	t.Helper()
	path := e.Get(t, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testbed secret %s: %v", name, err)
	}
	return strings.TrimSpace(string(b))
}

// Mailbox logs in to the INBOX of account ("MEMBER", "READER"...) on the
// testbed's IMAP server and selects it read-only, so that nothing a test
// looks at is marked. The connection is closed when the test ends.
func (e Env) Mailbox(t testing.TB, account string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(e.Get(t, "IMAP"), nil)
	if err != nil {
		t.Fatalf("testbed IMAP: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(e.Get(t, account), e.Secret(t, account+"_PASSWORD_FILE")).Wait(); err != nil {
		t.Fatalf("testbed IMAP login as %s: %v", e.Get(t, account), err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// Search selects the INBOX again (read-only, so that new mail is seen) and
// returns the UIDs of the messages that match criteria.
func Search(t testing.TB, c *imapclient.Client, criteria *imap.SearchCriteria) []imap.UID {
	t.Helper()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return data.AllUIDs()
}
