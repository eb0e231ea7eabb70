package imapwatch

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
)

// lineCounter is a Options.DialContext that counts the bytes a
// session reads and writes, and the lines it writes: one per IMAP command,
// and one per DONE that ends an IDLE (the client sends no literals). Over
// TLS it would count the TLS records instead: use it in clear text on
// loopback.
type lineCounter struct {
	read, written, lines atomic.Int64
}

func (lc *lineCounter) dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, lc: lc}, nil
}

func (lc *lineCounter) count() int64 { return lc.lines.Load() }

type countedConn struct {
	net.Conn
	lc *lineCounter
}

func (c *countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.lc.read.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.lc.written.Add(int64(n))
	c.lc.lines.Add(int64(bytes.Count(b[:n], []byte("\n"))))
	return n, err
}
