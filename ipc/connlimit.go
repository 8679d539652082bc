package ipc

import (
	"net"
	"sync"
)

// limitListener bounds the number of connections open at once: Accept waits
// for a slot before it accepts, so excess clients queue in the kernel's
// listen backlog instead of costing superd a goroutine and a buffer each.
type limitListener struct {
	net.Listener
	// sem holds one token per open connection; its capacity is the limit,
	// and a full channel blocks Accept, which is the point.
	sem       chan struct{}
	done      chan struct{} // closed by Close, to release a waiting Accept
	closeOnce sync.Once
}

// newLimitListener returns l limited to n simultaneous connections.
func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{
		Listener: l,
		sem:      make(chan struct{}, n),
		done:     make(chan struct{}),
	}
}

// Accept waits for a free slot, then accepts. It returns net.ErrClosed once
// the listener is closed, also while waiting for a slot.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// Close closes the underlying listener and releases a waiting Accept.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back to the limitListener on its first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// netConn returns the wrapped connection, for reading peer credentials.
func (c *limitConn) netConn() net.Conn { return c.Conn }
