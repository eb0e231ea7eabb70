package authn

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestResolverAnswersFromTheConfiguredServer(t *testing.T) {
	d := startDNS(t)
	long := strings.Repeat("k", 600) // three strings of one record, joined
	d.set("sel._domainkey.lists.example.test", "v=DKIM1; p="+long)
	r := d.resolver(t, 0)
	txts, err := r.LookupTXT(context.Background(), "sel._domainkey.lists.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(txts) != 1 || txts[0] != "v=DKIM1; p="+long {
		t.Fatalf("got %q", txts)
	}
}

func TestResolverCachesAnswersAndMissesForTheTTL(t *testing.T) {
	d := startDNS(t)
	d.set("a.example.test", "one")
	r := d.resolver(t, time.Minute)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	ctx := context.Background()
	for range 3 {
		if txts, err := r.LookupTXT(ctx, "A.example.test."); err != nil || txts[0] != "one" {
			t.Fatalf("got %q, %v", txts, err)
		}
		if _, err := r.LookupTXT(ctx, "missing.example.test"); !isNotFound(err) {
			t.Fatalf("missing name: %v", err)
		}
	}
	if d.count("a.example.test") != 1 || d.count("missing.example.test") != 1 {
		t.Fatalf("queries: %d and %d, want 1 each (cached)", d.count("a.example.test"), d.count("missing.example.test"))
	}
	// After the TTL the server is asked again, and a change is seen.
	d.set("a.example.test", "two")
	now = now.Add(time.Minute)
	if txts, _ := r.LookupTXT(ctx, "a.example.test"); len(txts) != 1 || txts[0] != "two" {
		t.Fatalf("after the TTL: %q", txts)
	}
	if d.count("a.example.test") != 2 {
		t.Fatalf("queries after the TTL: %d", d.count("a.example.test"))
	}
}

func TestResolverCacheIsCapped(t *testing.T) {
	d := startDNS(t)
	for _, n := range []string{"a", "b", "c"} {
		d.set(n+".example.test", n)
	}
	r, err := NewResolver(ResolverOptions{Server: d.addr, CacheSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []string{"a", "b", "a", "c"} { // a is used again, so b goes
		if _, err := r.LookupTXT(ctx, n+".example.test"); err != nil {
			t.Fatal(err)
		}
	}
	if r.cacheLen() != 2 {
		t.Fatalf("cache holds %d names, want 2", r.cacheLen())
	}
	r.LookupTXT(ctx, "a.example.test")
	r.LookupTXT(ctx, "b.example.test")
	if d.count("a.example.test") != 1 || d.count("b.example.test") != 2 {
		t.Fatalf("a asked %d times (want 1), b %d (want 2: evicted)", d.count("a.example.test"), d.count("b.example.test"))
	}
}

func TestResolverFailuresAreTemporaryAndNotCached(t *testing.T) {
	d := startDNS(t)
	d.setServfail("broken.example.test")
	d.setSilent("silent.example.test")
	r, err := NewResolver(ResolverOptions{Server: d.addr, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		_, err := r.LookupTXT(ctx, "broken.example.test")
		if !isTemporary(err) {
			t.Fatalf("SERVFAIL: %v is not temporary", err)
		}
	}
	if d.count("broken.example.test") < 2 {
		t.Fatalf("a SERVFAIL was cached")
	}
	start := time.Now()
	_, err = r.LookupTXT(ctx, "silent.example.test")
	if !isTemporary(err) {
		t.Fatalf("timeout: %v is not temporary", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("a silent server held the lookup %v, the timeout is 200ms", el)
	}
}

func TestResolverRefusesABadServerAddress(t *testing.T) {
	for _, s := range []string{"dns.example.test", "127.0.0.1:", ":53"} {
		if _, err := NewResolver(ResolverOptions{Server: s}); err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("server %q: error %v should name it", s, err)
		}
	}
	r, err := NewResolver(ResolverOptions{Server: "127.0.0.1"})
	if err != nil {
		t.Fatalf("a bare address takes port 53: %v", err)
	}
	_ = r
}

func TestResolverUnreachableServerIsTemporary(t *testing.T) {
	// A port with nothing behind it: the lookup fails, temporarily.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	r, err := NewResolver(ResolverOptions{Server: addr, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.LookupTXT(context.Background(), "x.example.test")
	if err == nil || !isTemporary(err) {
		t.Fatalf("unreachable server: %v, want a temporary error", err)
	}
}

func TestLookupsAskEachNameOnceAndStopAtTheCap(t *testing.T) {
	d := startDNS(t)
	d.set("a.example.test", "x")
	l := newLookups(context.Background(), d.resolver(t, 0), 2)
	for range 3 {
		if _, err := l.txt("a.example.test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.txt("b.example.test"); !isNotFound(err) {
		t.Fatalf("b: %v", err)
	}
	_, err := l.txt("c.example.test")
	if !errors.Is(err, ErrLookupCap) {
		t.Fatalf("third name: %v, want the cap", err)
	}
	if d.count("a.example.test") != 1 || d.count("c.example.test") != 0 {
		t.Fatalf("queries: a %d, c %d", d.count("a.example.test"), d.count("c.example.test"))
	}
	if _, err := l.txt("bad name!.example.test"); !isNotFound(err) {
		t.Fatalf("an invalid name is not looked up: %v", err)
	}
}

func TestLookupsWithoutResolverFailTemporarily(t *testing.T) {
	l := newLookups(context.Background(), nil, 4)
	_, err := l.txt("a.example.test")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.Temporary() {
		t.Fatalf("no resolver: %v", err)
	}
}

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}
