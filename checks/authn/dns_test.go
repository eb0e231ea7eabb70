package authn

import (
	"bufio"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testDNS is a real DNS server (miekg/dns) on loopback, UDP and TCP,
// serving TXT records from a map the test changes as it goes.
type testDNS struct {
	addr string

	mu       sync.Mutex
	txt      map[string][]string // name (lower case, no final dot) -> records
	servfail map[string]bool
	silent   map[string]bool // never answered: the client times out
	queries  map[string]int
}

func startDNS(t *testing.T) *testDNS {
	t.Helper()
	d := &testDNS{
		txt: map[string][]string{}, servfail: map[string]bool{},
		silent: map[string]bool{}, queries: map[string]int{},
	}
	// UDP and TCP on the same port: a free UDP port may be taken for TCP.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ln == nil; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		d.addr = pc.LocalAddr().String()
		if ln, err = net.Listen("tcp", d.addr); err != nil {
			pc.Close()
			if attempt == 20 {
				t.Fatal(err)
			}
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(d.serve)}
	tcp := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(d.serve)}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return d
}

func (d *testDNS) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	d.mu.Lock()
	d.queries[name]++
	txts, ok := d.txt[name]
	servfail, silent := d.servfail[name], d.silent[name]
	d.mu.Unlock()
	switch {
	case silent:
		return
	case servfail:
		m.Rcode = dns.RcodeServerFailure
	case !ok:
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeTXT:
		for _, txt := range txts {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
				Txt: chunks(txt),
			})
		}
	}
	w.WriteMsg(m)
}

// chunks splits a TXT value into the 255-byte strings of one record.
func chunks(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}

func (d *testDNS) set(name string, txts ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if txts == nil {
		delete(d.txt, name)
		return
	}
	d.txt[name] = txts
}

func (d *testDNS) setServfail(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.servfail[name] = true
}

func (d *testDNS) setSilent(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.silent[name] = true
}

func (d *testDNS) count(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[name]
}

func (d *testDNS) total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.queries {
		n += c
	}
	return n
}

// resolver returns a Resolver asking d, without a cache unless ttl > 0.
func (d *testDNS) resolver(t *testing.T, ttl time.Duration) *Resolver {
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
func (d *testDNS) loadZone(t *testing.T, path string) {
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
func rsaKey(t *testing.T, i int) *rsa.PrivateKey {
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

func edKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyRecord is the DKIM TXT record of key's public half.
func keyRecord(t *testing.T, key crypto.Signer) string {
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
