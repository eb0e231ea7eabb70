// Package hostileimap implements an IMAP server on loopback that breaks the
// protocol on purpose, for tests: it logs anyone in, selects an INBOX with
// one message, and then answers one kind of command the way a broken or
// hostile server might (a literal of a gigabyte, FETCH responses without
// end, a SEARCH answer of four billion UIDs, a command it never answers).
//
// A well-behaved server is imapserver/imapmemserver's job; this one is
// scripted because no real server can be made to misbehave like this.
// Proxy, beside it, puts a real server (imapmemserver, Dovecot) behind a
// connection that can stop answering.
package hostileimap

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// Attack says what the server does wrong.
type Attack string

// The attacks. Each applies to the commands it names; the server answers
// every other command correctly.
const (
	// HugeLiteral answers a FETCH of body sections with a literal of
	// {999999999} bytes, and sends them.
	HugeLiteral Attack = "huge-literal"
	// EndlessFetch answers UID FETCH with untagged FETCH responses
	// without end, each for another UID.
	EndlessFetch Attack = "endless-fetch"
	// EndlessSearch answers UID SEARCH with one SEARCH response of UIDs
	// without end.
	EndlessSearch Attack = "endless-search"
	// HugeESearch answers UID SEARCH with an ESEARCH response of 25
	// bytes naming four billion UIDs (ALL 1:4294967295).
	HugeESearch Attack = "huge-esearch"
	// EndlessFlags answers UID FETCH with a FLAGS list without end.
	EndlessFlags Attack = "endless-flags"
	// EndlessAtom answers NOOP and UID FETCH with an untagged response
	// whose atom never ends.
	EndlessAtom Attack = "endless-atom"
	// EndlessQuoted answers UID FETCH with an ENVELOPE whose quoted
	// subject never ends.
	EndlessQuoted Attack = "endless-quoted"
	// EndlessContinuation sends a continuation request ("+ ...") whose
	// text never ends, in answer to UID FETCH.
	EndlessContinuation Attack = "endless-continuation"
	// DeepBodyStructure answers UID FETCH with a BODYSTRUCTURE nested a
	// million levels deep.
	DeepBodyStructure Attack = "deep-bodystructure"
	// HiddenDeepBodyStructure sends the deep BODYSTRUCTURE after a status
	// line that ends like a literal ("* OK {1000000}"), which is text, not
	// a literal: a reader that took it for one would not see the nesting.
	HiddenDeepBodyStructure Attack = "hidden-deep-bodystructure"
	// Silent answers nothing once Stall is called: no FETCH, NOOP, IDLE
	// or DONE gets an answer, and the connection stays open.
	Silent Attack = "silent"
)

// Attacks lists every attack that makes a server send without end or
// beyond any bound (all but HugeESearch, which is short, and Silent).
var Attacks = []Attack{HugeLiteral, EndlessFetch, EndlessSearch, EndlessFlags, EndlessAtom, EndlessQuoted, EndlessContinuation, DeepBodyStructure, HiddenDeepBodyStructure}

// Server is a running hostile server.
type Server struct {
	Addr   string // host:port on 127.0.0.1
	attack Attack
	ln     net.Listener
	wg     sync.WaitGroup

	stalled  atomic.Bool
	Sent     atomic.Int64 // bytes written to clients
	Sessions atomic.Int64 // connections accepted

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Start starts a server with this attack on 127.0.0.1.
func Start(attack Attack) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), attack: attack, ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Stall makes a Silent server stop answering, from now on, on every
// connection.
func (s *Server) Stall() { s.stalled.Store(true) }

// Close stops the server and closes its connections.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.Sessions.Add(1)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// conn is one client's connection.
type conn struct {
	s *Server
	r *bufio.Reader
	w io.Writer
}

func (c *conn) send(format string, args ...any) error {
	n, err := fmt.Fprintf(c.w, format, args...)
	c.s.Sent.Add(int64(n))
	return err
}

// endless writes prefix, then chunk after chunk, until the client stops
// reading.
func (c *conn) endless(prefix string, chunk func(i int) string) {
	if c.send("%s", prefix) != nil {
		return
	}
	for i := 0; ; i++ {
		var b strings.Builder
		for b.Len() < 64<<10 {
			b.WriteString(chunk(i))
			i++
		}
		if c.send("%s", b.String()) != nil {
			return
		}
	}
}

var reSection = regexp.MustCompile(`(?i)BODY\.PEEK(\[[^\]]*\])`)

func (s *Server) serve(nc net.Conn) {
	c := &conn{s: s, r: bufio.NewReader(nc), w: nc}
	if c.send("* OK [CAPABILITY IMAP4rev1 UIDPLUS IDLE] hostile server ready\r\n") != nil {
		return
	}
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		verb, args, _ := strings.Cut(rest, " ")
		verb = strings.ToUpper(verb)
		if verb == "UID" {
			sub, more, _ := strings.Cut(args, " ")
			verb, args = "UID "+strings.ToUpper(sub), more
		}
		if s.stalled.Load() && s.attack == Silent {
			io.Copy(io.Discard, c.r) // read on, never answer
			return
		}
		if !c.answer(tag, verb, args) {
			return
		}
	}
}

// answer answers one command; false ends the connection.
func (c *conn) answer(tag, verb, args string) bool {
	switch verb {
	case "CAPABILITY":
		return c.send("* CAPABILITY IMAP4rev1 UIDPLUS IDLE\r\n%s OK done\r\n", tag) == nil
	case "LOGIN", "LOGOUT", "STORE", "UID STORE", "UID EXPUNGE":
		return c.send("%s OK done\r\n", tag) == nil
	case "SELECT", "EXAMINE":
		// The message is new (UID 1, UIDNEXT 1, as if it had just come),
		// except for HugeESearch, whose message had come before: it is
		// found by SEARCH.
		next := 1
		if c.s.attack == HugeESearch {
			next = 2
		}
		return c.send("* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT %d] ok\r\n%s OK [READ-WRITE] done\r\n", next, tag) == nil
	case "IDLE":
		if c.send("+ idling\r\n") != nil {
			return false
		}
		if _, err := c.r.ReadString('\n'); err != nil || c.s.stalled.Load() && c.s.attack == Silent {
			return false
		}
		return c.send("%s OK done\r\n", tag) == nil
	case "NOOP":
		if c.s.attack == EndlessAtom {
			c.endless("* OK [", func(int) string { return "ATOM" })
			return false
		}
		return c.send("%s OK done\r\n", tag) == nil
	case "UID SEARCH":
		return c.search(tag)
	case "FETCH", "UID FETCH":
		return c.fetch(tag, args)
	}
	return c.send("%s BAD unknown command\r\n", tag) == nil
}

func (c *conn) search(tag string) bool {
	switch c.s.attack {
	case EndlessSearch:
		c.endless("* SEARCH", func(i int) string { return fmt.Sprintf(" %d", 2*i+1) })
		return false
	case HugeESearch:
		return c.send("* ESEARCH (TAG \"%s\") UID ALL 1:4294967295\r\n%s OK done\r\n", tag, tag) == nil
	}
	return c.send("* SEARCH 1\r\n%s OK done\r\n", tag) == nil
}

func (c *conn) fetch(tag, args string) bool {
	switch c.s.attack {
	case HugeLiteral:
		if m := reSection.FindStringSubmatch(args); m != nil {
			c.endless(fmt.Sprintf("* 1 FETCH (UID 1 BODY%s<0> {999999999}\r\n", m[1]), func(int) string { return "Received: x\r\n" })
			return false
		}
	case EndlessFetch:
		c.endless("", func(i int) string { return fmt.Sprintf("* %d FETCH (UID %d)\r\n", i+1, 2*i+1) })
		return false
	case EndlessFlags:
		c.endless("* 1 FETCH (UID 1 FLAGS (", func(i int) string { return fmt.Sprintf("\\Seen $Flag%d ", i) })
		return false
	case EndlessAtom:
		c.endless("* 1 FETCH (UID 1 X-", func(int) string { return "ATOM" })
		return false
	case EndlessQuoted:
		c.endless(`* 1 FETCH (UID 1 ENVELOPE ("Sun, 6 Dec 2026 10:00:00 +0000" "`, func(int) string { return "subject " })
		return false
	case EndlessContinuation:
		c.endless("+ ", func(int) string { return "more " })
		return false
	case DeepBodyStructure:
		c.endless("* 1 FETCH (UID 1 BODYSTRUCTURE ", func(int) string { return "(" })
		return false
	case HiddenDeepBodyStructure:
		c.endless("* OK [ALERT] {1000000}\r\n* 1 FETCH (UID 1 BODYSTRUCTURE ", func(int) string { return "(" })
		return false
	}
	if strings.Contains(strings.ToUpper(args), "INTERNALDATE") {
		return c.send("* 1 FETCH (UID 1 INTERNALDATE \"06-Dec-2026 10:00:00 +0000\")\r\n%s OK done\r\n", tag) == nil
	}
	if m := reSection.FindStringSubmatch(args); m != nil {
		hdr := "From: someone@example.org\r\nSubject: hello\r\n\r\n"
		return c.send("* 1 FETCH (UID 1 BODY%s<0> {%d}\r\n%s)\r\n%s OK done\r\n", m[1], len(hdr), hdr, tag) == nil
	}
	return c.send("* 1 FETCH (UID 1)\r\n%s OK done\r\n", tag) == nil
}
