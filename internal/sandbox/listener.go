package sandbox

import (
	"net"
	"sync"
)

// trackingListener remembers the connections it accepted so that they can
// all be closed at once: the servers' own Close misses connections whose
// goroutine has not registered yet.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
	// onAccept, if set, is called for each accepted connection before it
	// is handed to the server.
	onAccept func()
	// wrap, if set, wraps each accepted connection before it is handed to
	// the server.
	wrap func(net.Conn) net.Conn
	// count, if set, counts the connections (for World.Stats).
	count *connCounter
}

func newTrackingListener(ln net.Listener) *trackingListener {
	return &trackingListener{Listener: ln, conns: map[*trackedConn]struct{}{}}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[tc] = struct{}{}
	if l.count != nil {
		l.count.accepted()
	}
	if l.onAccept != nil {
		l.onAccept()
	}
	l.mu.Unlock()
	if l.wrap != nil {
		return l.wrap(tc), nil
	}
	return tc, nil
}

func (l *trackingListener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return l.Listener.Close()
}

func (l *trackingListener) closeConns() {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		if c.l.count != nil {
			c.l.count.closed()
		}
	})
	return err
}
