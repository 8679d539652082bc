package ipc

import (
	"errors"
	"net"
	"path/filepath"
	"testing"
)

func TestLimitListener(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "s.sock")
	inner, err := Listen(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(inner, 1)
	defer l.Close()

	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	first, err := l.Accept()
	if err != nil {
		t.Fatalf("first Accept() = %v", err)
	}
	if _, err := peerCred(first); err != nil {
		t.Errorf("peerCred through limitConn = %v; want credentials", err)
	}

	accepted := make(chan net.Conn, 1)
	// exits once Accept returns, after first is closed; the test waits on accepted
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Errorf("second Accept() = %v", err)
		}
		accepted <- c
	}()
	first.Close()
	first.Close() // a second Close must not free a second slot
	second := <-accepted
	if second == nil {
		return
	}

	waiting := make(chan error, 1)
	// exits when l is closed; the test waits on waiting
	go func() {
		_, err := l.Accept()
		waiting <- err
	}()
	l.Close()
	if err := <-waiting; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept() while full, after Close = %v; want net.ErrClosed", err)
	}
	second.Close()
}
