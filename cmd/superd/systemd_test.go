package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// fakeLoop is a notifySource whose Status can be wedged.
type fakeLoop struct {
	settled chan struct{}
	events  chan apitype.Event
	wedged  chan struct{} // while open and non-nil, Status blocks until ctx ends
}

func (f *fakeLoop) Settled() <-chan struct{} { return f.settled }

func (f *fakeLoop) Events(context.Context) (<-chan apitype.Event, func(), error) {
	return f.events, func() {}, nil
}

func (f *fakeLoop) Status(ctx context.Context, _ ...string) ([]apitype.Instance, error) {
	if f.wedged != nil {
		select {
		case <-f.wedged:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []apitype.Instance{{Name: "a", State: apitype.StateRunning}}, nil
}

func TestStatusLine(t *testing.T) {
	tests := []struct {
		name   string
		states []apitype.State
		want   string
	}{
		{"none", nil, "STATUS=0 running, 0 backoff, 0 fatal, 0 other"},
		{"mixed", []apitype.State{"running", "running", "backoff", "fatal", "stopped"}, "STATUS=2 running, 1 backoff, 1 fatal, 1 other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st []apitype.Instance
			for _, s := range tt.states {
				st = append(st, apitype.Instance{State: s})
			}
			if got := statusLine(st); got != tt.want {
				t.Errorf("statusLine(%v) = %q; want %q", tt.states, got, tt.want)
			}
		})
	}
}

// TestWatchdogNeedsLoop: the watchdog pings stop while the supervisor loop
// does not answer, and resume once it does.
func TestWatchdogNeedsLoop(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "n.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "20000") // pings every 10ms

	f := &fakeLoop{settled: make(chan struct{}), events: make(chan apitype.Event), wedged: make(chan struct{})}
	close(f.settled)
	n := newNotifier(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// exits when cancel is called; the test waits on done
	go func() {
		defer close(done)
		n.run(ctx, f)
	}()
	defer func() {
		cancel()
		<-done
	}()

	// Wedged: READY=1 still goes out (without STATUS), no WATCHDOG=1 for a
	// good many intervals.
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	k, err := conn.Read(buf)
	if err != nil || !strings.Contains(string(buf[:k]), "READY=1") {
		t.Fatalf("first datagram = %q, %v; want READY=1", buf[:k], err)
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if k, err := conn.Read(buf); err == nil {
		t.Fatalf("got %q while the loop was wedged; want no watchdog ping", buf[:k])
	}
	close(f.wedged) // the loop answers again
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no WATCHDOG=1 after the loop recovered: %v", err)
		}
		if string(buf[:k]) == "WATCHDOG=1" {
			break
		}
	}
}
