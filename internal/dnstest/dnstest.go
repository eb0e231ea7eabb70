// Package dnstest implements a real DNS server on loopback for tests:
// github.com/miekg/dns answering over UDP and TCP on one port from TXT
// records the test sets and changes as it goes, with names that fail
// (SERVFAIL) or never answer, and a count of the queries per name.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running DNS server. Its methods are safe for concurrent use.
type Server struct {
	// Addr is "127.0.0.1:port", the same port for UDP and TCP.
	Addr string

	mu       sync.Mutex
	txt      map[string][]string // name (lower case, no final dot) -> records
	servfail map[string]bool
	silent   map[string]bool
	queries  map[string]int
}

// Start starts a server for the test's lifetime.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
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
		s.Addr = pc.LocalAddr().String()
		if ln, err = net.Listen("tcp", s.Addr); err != nil {
			pc.Close()
			if attempt == 20 {
				t.Fatal(err)
			}
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)}
	tcp := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(s.serve)}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return s
}

func (s *Server) serve(w dns.ResponseWriter, r *dns.Msg) {
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
	s.mu.Lock()
	s.queries[name]++
	txts, ok := s.txt[name]
	servfail, silent := s.servfail[name], s.silent[name]
	s.mu.Unlock()
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

// Set serves txts as the TXT records of name; no txts: name does not exist
// (NXDOMAIN).
func (s *Server) Set(name string, txts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if txts == nil {
		delete(s.txt, name)
		return
	}
	s.txt[name] = txts
}

// SetServfail makes the server answer SERVFAIL for name.
func (s *Server) SetServfail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail[strings.ToLower(name)] = true
}

// SetSilent makes the server never answer for name.
func (s *Server) SetSilent(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent[strings.ToLower(name)] = true
}

// Count is the number of queries for name so far.
func (s *Server) Count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[strings.ToLower(name)]
}

// Total is the number of queries so far.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.queries {
		n += c
	}
	return n
}
