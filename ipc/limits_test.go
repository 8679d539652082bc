package ipc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// closedWithin reports whether the server closes conn within d: a read
// gets EOF (or a reset) rather than data or the timeout.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	_, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

func TestSlowClientsAreClosed(t *testing.T) {
	short := withLimits(func(l *limits) {
		l.readHeaderTimeout = 200 * time.Millisecond
		l.readTimeout = 400 * time.Millisecond
		l.idleTimeout = 300 * time.Millisecond
	})
	ts := startServer(t, &fakeBackend{}, 0o600, short)
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		conn, err := net.Dial("unix", ts.path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	const bound = 5 * time.Second // generous: the limits above are far shorter

	t.Run("silent connection", func(t *testing.T) {
		if !closedWithin(t, dial(t), bound) {
			t.Errorf("a connection that sends nothing is still open after %v", bound)
		}
	})
	t.Run("headers never finished", func(t *testing.T) {
		conn := dial(t)
		if _, err := io.WriteString(conn, "GET /v1/health HTTP/1.1\r\nHost: sup"); err != nil {
			t.Fatal(err)
		}
		if !closedWithin(t, conn, bound) {
			t.Errorf("a half-sent request is still open after %v", bound)
		}
	})
	t.Run("body never finished", func(t *testing.T) {
		conn := dial(t)
		if _, err := io.WriteString(conn, "POST /v1/programs/web/signal HTTP/1.1\r\nHost: superd\r\n"+
			"Content-Length: 1000\r\n\r\n{\"sig"); err != nil {
			t.Fatal(err)
		}
		if !closedWithin(t, conn, bound) {
			t.Errorf("a request whose body never ends is still open after %v", bound)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		conn := dial(t)
		if _, err := io.WriteString(conn, "GET /v1/health HTTP/1.1\r\nHost: superd\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("GET /v1/health = %d close=%v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		if !closedWithin(t, conn, bound) {
			t.Errorf("an idle keep-alive connection is still open after %v", bound)
		}
	})
	// Meanwhile, and after, others are served.
	if _, err := ts.client.Health(context.Background()); err != nil {
		t.Errorf("Health() = %v", err)
	}
}

func TestConnectionBound(t *testing.T) {
	short := withLimits(func(l *limits) { l.maxConns = 3 })
	ts := startServer(t, &fakeBackend{}, 0o600, short)
	var held []net.Conn
	for range 3 {
		conn, err := net.Dial("unix", ts.path)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	// A fourth client waits in the listen backlog: it is not answered ...
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := ts.client.Health(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Health() with every slot held = %v; want it to wait (deadline exceeded)", err)
	}
	// ... until a slot frees up.
	held[0].Close()
	if _, err := ts.client.Health(context.Background()); err != nil {
		t.Errorf("Health() after a slot freed = %v", err)
	}
	for _, c := range held[1:] {
		c.Close()
	}
}
