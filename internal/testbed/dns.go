package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The testbed's DNS: NSD on LISTPROBE_TESTBED_DNS (127.0.0.153:53),
// authoritative for the testbed's zones (LISTPROBE_TESTBED_DNS_ZONES) with
// the DKIM keys, SPF and DMARC records; nothing else is served. The
// machine's /etc/resolv.conf does not name it: tests ask it through
// Resolver. Records are changed with tbctl (deploy/testbed/tbctl), which
// waits until NSD serves the change; every TTL is 1 s.

// Resolver returns a resolver that asks only the testbed's DNS server.
func (e Env) Resolver(t testing.TB) *net.Resolver {
	t.Helper()
	addr := e.Get(t, "DNS")
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// LookupTXT asks the testbed's DNS for the TXT records of name, in the
// shape go-msgauth's dkim.VerifyOptions.LookupTXT and dmarc.LookupOptions
// want. Each lookup has 5 s.
func (e Env) LookupTXT(t testing.TB) func(name string) ([]string, error) {
	t.Helper()
	r := e.Resolver(t)
	return func(name string) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return r.LookupTXT(ctx, name)
	}
}

// SetDNSRecord makes the testbed's DNS serve value as the only name/typ
// record (TXT, A, MX or CNAME) until the test ends, e.g. a broken DKIM key
// for "list._domainkey.lists.example.test". Other tests see the change
// too: the test holds the DNS lock (LockDNS) until its records are
// restored, so that tests that need the usual records can wait for it.
func (e Env) SetDNSRecord(t testing.TB, name, typ, value string) {
	t.Helper()
	e.changeDNS(t, name, typ, "set", name, typ, value)
}

// DeleteDNSRecord makes the testbed's DNS serve no name/typ record until
// the test ends (a DKIM key removed from DNS), as SetDNSRecord does.
func (e Env) DeleteDNSRecord(t testing.TB, name, typ string) {
	t.Helper()
	e.changeDNS(t, name, typ, "delete", name, typ)
}

// RestoreDNSRecord serves the base name/typ records again now, before the
// test ends.
func (e Env) RestoreDNSRecord(t testing.TB, name, typ string) {
	t.Helper()
	if err := e.tbctl(context.Background(), "dns", "restore", name, typ); err != nil {
		t.Fatal(err)
	}
}

func (e Env) changeDNS(t testing.TB, name, typ string, args ...string) {
	t.Helper()
	NeedRoot(t)
	e.lockDNS(t, syscall.LOCK_EX)
	// Registered after the lock's own cleanup, so run before it.
	t.Cleanup(func() {
		if err := e.tbctl(context.Background(), "dns", "restore", name, typ); err != nil {
			t.Errorf("restoring the testbed's DNS: %v", err)
		}
	})
	if err := e.tbctl(context.Background(), append([]string{"dns"}, args...)...); err != nil {
		t.Fatal(err)
	}
}

// LockDNS waits until no test changes the testbed's DNS records and keeps
// others from changing them until this test ends: a test that needs the
// list's DKIM key to verify calls it first. Tests that only read share the
// lock.
func (e Env) LockDNS(t testing.TB) {
	t.Helper()
	e.lockDNS(t, syscall.LOCK_SH)
}

// dnsLocks are the DNS locks the tests of this process hold, one open file
// each: flock locks belong to the open file, so a test that holds it shared
// keeps a changing test of the same process waiting too, and a test that
// takes it again (two changes, or a read then a change) converts its own.
var dnsLocks = struct {
	sync.Mutex
	byTest map[testing.TB]*dnsLock
}{byTest: map[testing.TB]*dnsLock{}}

type dnsLock struct {
	f   *os.File
	how int
}

func (e Env) lockDNS(t testing.TB, how int) {
	t.Helper()
	dnsLocks.Lock()
	l := dnsLocks.byTest[t]
	dnsLocks.Unlock()
	if l != nil && (l.how == syscall.LOCK_EX || how == syscall.LOCK_SH) {
		return
	}
	if l == nil {
		path := filepath.Join(e.Get(t, "STATE"), "dns", "tests.lock")
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatalf("testbed DNS lock: %v", err)
		}
		l = &dnsLock{f: f}
		dnsLocks.Lock()
		dnsLocks.byTest[t] = l
		dnsLocks.Unlock()
		t.Cleanup(func() {
			dnsLocks.Lock()
			delete(dnsLocks.byTest, t)
			dnsLocks.Unlock()
			f.Close()
		})
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		err := syscall.Flock(int(l.f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			l.how = how
			return
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			t.Fatalf("testbed DNS lock: %v (another test changes the DNS records, or reads them, for too long?)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tbctl runs deploy/testbed/tbctl (LISTPROBE_TESTBED_TBCTL) with args.
func (e Env) tbctl(ctx context.Context, args ...string) error {
	path := e[Prefix+"TBCTL"]
	if path == "" {
		return fmt.Errorf("testbed env has no %sTBCTL (run deploy/testbed/up.sh again)", Prefix)
	}
	return e.runTool(ctx, "tbctl", path, args...)
}

// LoadAuth is Load for tests that need the testbed's DNS, DKIM signing,
// spam filter and second reader (deploy/testbed/dns.sh, dkim.sh, spam.sh):
// it also checks that the DNS server answers for the list domain's DMARC
// record and that the list servers' outgoing port (LISTPROBE_TESTBED_LIST_OUT)
// is open, so that a testbed brought up by an up.sh without them counts as
// no testbed (a skip, or a failure under CI=true).
func LoadAuth(t testing.TB) Env {
	t.Helper()
	e := Load(t)
	missing := func(format string, args ...any) {
		t.Helper()
		Missing(t, "CI=true but the testbed has no DNS, DKIM signing or spam filter (run deploy/testbed/up.sh): ",
			"testbed without DNS, DKIM signing or spam filter (run deploy/testbed/up.sh): ", format, args...)
	}
	for _, name := range []string{"DNS", "TBCTL", "LIST_OUT", "READER2", "REJECT_POSTER", "STRANGER_ADDR", "JUNK_MAILBOX"} {
		if e[Prefix+name] == "" {
			missing("the env file has no %s%s", Prefix, name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.Resolver(t).LookupTXT(ctx, "_dmarc."+e.Get(t, "LIST_DOMAIN")); err != nil {
		missing("the DNS server %s: %v", e[Prefix+"DNS"], err)
	}
	if !answers(e[Prefix+"LIST_OUT"]) {
		missing("the list servers' outgoing port %s does not answer", e[Prefix+"LIST_OUT"])
	}
	return e
}
