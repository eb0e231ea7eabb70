package authn

import (
	"bufio"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/dnstest"
)

// testDNS is the real DNS server of internal/dnstest.
type testDNS struct {
	*dnstest.Server
	addr string
}

func startDNS(t testing.TB) *testDNS {
	t.Helper()
	s := dnstest.Start(t)
	return &testDNS{Server: s, addr: s.Addr}
}

func (d *testDNS) set(name string, txts ...string) { d.Set(name, txts...) }
func (d *testDNS) setServfail(name string)         { d.SetServfail(name) }
func (d *testDNS) setSilent(name string)           { d.SetSilent(name) }
func (d *testDNS) count(name string) int           { return d.Count(name) }
func (d *testDNS) total() int                      { return d.Total() }

// resolver returns a Resolver asking d, without a cache unless ttl > 0.
func (d *testDNS) resolver(t testing.TB, ttl time.Duration) *Resolver {
	t.Helper()
	if ttl == 0 {
		ttl = -1
	}
	r, err := NewResolver(ResolverOptions{Server: d.addr, Timeout: 500 * time.Millisecond, CacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loadZone serves the records of testdata/zone.txt ("name value" lines).
func (d *testDNS) loadZone(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok {
			d.set(name, value)
		}
	}
}

var (
	rsaOnce sync.Once
	rsaKeys []*rsa.PrivateKey
)

// rsaKey returns the i-th of a few 2048-bit keys made once per test run.
func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys = append(rsaKeys, k)
		}
	})
	return rsaKeys[i]
}

func edKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyRecord is the DKIM TXT record of key's public half.
func keyRecord(t testing.TB, key crypto.Signer) string {
	t.Helper()
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	t.Fatalf("key type %T", key)
	return ""
}
