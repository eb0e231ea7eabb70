package sandbox

import (
	"bytes"
	"net"
	"strconv"
	"sync"
)

// noIdleConn makes the real imapserver behave like a server without the
// IDLE extension, which the library cannot be configured to be (it always
// announces IDLE once a client is logged in, and acknowledges IDLE before
// the session may refuse it). It edits the byte stream in two places only,
// both outside literals:
//
//   - the capability lists the server sends ("* CAPABILITY ..." and
//     "[CAPABILITY ...]" response codes) lose their IDLE token;
//   - an IDLE command from the client reaches the server as the unknown
//     command XIDLE, which the server itself answers "BAD Unknown command",
//     in order with every other response.
//
// Everything else, literals included, passes byte for byte.
type noIdleConn struct {
	net.Conn

	rmu    sync.Mutex
	rin    lineFilter // client to server
	rready []byte     // filtered bytes not yet returned by Read

	wmu  sync.Mutex
	wout lineFilter // server to client
}

func newNoIdleConn(c net.Conn) *noIdleConn {
	n := &noIdleConn{Conn: c}
	n.rin = lineFilter{editLine: renameIdleCommand, commandStart: true}
	n.wout = lineFilter{editLine: dropIdleCapability}
	return n
}

func (c *noIdleConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	buf := make([]byte, len(p))
	for len(c.rready) == 0 {
		n, err := c.Conn.Read(buf)
		if n > 0 {
			c.rready = c.rin.feed(c.rready, buf[:n])
		}
		if err != nil {
			if len(c.rready) > 0 {
				break
			}
			return 0, err
		}
	}
	n := copy(p, c.rready)
	c.rready = c.rready[n:]
	return n, nil
}

func (c *noIdleConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	out := c.wout.feed(nil, p)
	if len(out) > 0 {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// lineFilter splits an IMAP byte stream into lines and literals. Complete
// lines outside literals go through editLine; a line that ends in a
// literal announcement ({n}, {n+} or ~{n}) is followed by n bytes passed
// through untouched. A partial line is held back until its end arrives:
// IMAP peers always finish the line they started.
type lineFilter struct {
	editLine     func(line []byte, commandStart bool) []byte
	line         []byte // the partial line so far
	literal      int    // bytes of literal still to pass through
	commandStart bool   // the current line starts a command (client side)
}

func (f *lineFilter) feed(out, in []byte) []byte {
	for len(in) > 0 {
		if f.literal > 0 {
			n := min(f.literal, len(in))
			out = append(out, in[:n]...)
			f.literal -= n
			in = in[n:]
			continue
		}
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			f.line = append(f.line, in...)
			break
		}
		f.line = append(f.line, in[:i+1]...)
		in = in[i+1:]
		line := f.line
		f.line = nil
		n, hasLiteral := literalSize(line)
		if f.editLine != nil && f.commandStart {
			line = f.editLine(line, true)
		} else if f.editLine != nil {
			line = f.editLine(line, false)
		}
		out = append(out, line...)
		if hasLiteral {
			f.literal = n
			f.commandStart = false
		} else {
			f.commandStart = true
		}
	}
	return out
}

// literalSize reports the size of the literal a line announces at its end.
func literalSize(line []byte) (int, bool) {
	l := bytes.TrimRight(line, "\r\n")
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(l, '{')
	if open < 0 {
		return 0, false
	}
	num := bytes.TrimSuffix(l[open+1:len(l)-1], []byte("+"))
	n, err := strconv.Atoi(string(num))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// renameIdleCommand turns "tag IDLE" into "tag XIDLE" when it is a whole
// command line.
func renameIdleCommand(line []byte, commandStart bool) []byte {
	if !commandStart {
		return line
	}
	l := bytes.TrimRight(line, "\r\n")
	sp := bytes.IndexByte(l, ' ')
	if sp <= 0 || !bytes.EqualFold(l[sp+1:], []byte("IDLE")) {
		return line
	}
	out := append([]byte(nil), l[:sp+1]...)
	out = append(out, "XIDLE"...)
	return append(out, line[len(l):]...)
}

// dropIdleCapability removes the IDLE token from the capability list of a
// "* CAPABILITY" response or a [CAPABILITY ...] response code.
func dropIdleCapability(line []byte, _ bool) []byte {
	start := -1
	end := -1
	l := bytes.TrimRight(line, "\r\n")
	switch {
	case bytes.HasPrefix(l, []byte("* CAPABILITY ")):
		start, end = len("* CAPABILITY "), len(l)
	default:
		// "<tag or *> <OK|PREAUTH|...> [CAPABILITY ...] text"
		i := bytes.Index(l, []byte(" [CAPABILITY "))
		if i < 0 {
			return line
		}
		if j := bytes.IndexByte(l[i:], ']'); j > 0 {
			start, end = i+len(" [CAPABILITY "), i+j
		}
	}
	if start < 0 || end < start {
		return line
	}
	var kept [][]byte
	for _, c := range bytes.Fields(l[start:end]) {
		if !bytes.EqualFold(c, []byte("IDLE")) {
			kept = append(kept, c)
		}
	}
	out := append([]byte(nil), l[:start]...)
	out = append(out, bytes.Join(kept, []byte(" "))...)
	out = append(out, l[end:]...)
	return append(out, line[len(l):]...)
}
