package ipc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// eventFixture is a backend whose event stream the test drives.
type eventFixture struct {
	evs        chan apitype.Event
	subscribed chan context.Context // gets each subscriber's context; size 1
	released   chan struct{}        // closed when the server calls the stream's cancel

	mu       sync.Mutex // guards the field below
	draining bool
}

func newEventFixture() (*eventFixture, drainingBackend) {
	f := &eventFixture{
		evs:        make(chan apitype.Event),
		subscribed: make(chan context.Context, 1),
		released:   make(chan struct{}),
	}
	var once sync.Once
	fb := &fakeBackend{
		events: func(ctx context.Context) (<-chan apitype.Event, func(), error) {
			f.subscribed <- ctx
			return f.evs, func() { once.Do(func() { close(f.released) }) }, nil
		},
		draining: func(context.Context) bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.draining
		},
	}
	return f, drainingBackend{fb}
}

func (f *eventFixture) setDraining() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.draining = true
}

// followEvents runs Client.Events in a goroutine; events come out of the
// first channel, its result out of the second.
func followEvents(ctx context.Context, c *Client) (<-chan apitype.Event, <-chan error) {
	out := make(chan apitype.Event) // unbuffered: the test takes each event
	done := make(chan error, 1)
	// exits when the stream ends or ctx is done; the test waits on done
	go func() {
		done <- c.Events(ctx, func(ev apitype.Event) error {
			select {
			case out <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return out, done
}

func event(instance string, from, to apitype.State) apitype.Event {
	return apitype.Event{
		Time:     time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		Instance: instance, Program: strings.Split(instance, ":")[0],
		From: from, To: to, Pid: ptr(42),
	}
}

func TestEvents(t *testing.T) {
	tests := []struct {
		name    string
		end     func(f *eventFixture, ts *testServer, cancel context.CancelFunc)
		wantErr error // nil: a clean end
	}{
		{"superd drains", func(f *eventFixture, _ *testServer, _ context.CancelFunc) {
			f.setDraining()
			close(f.evs)
		}, nil},
		{"server shuts down", func(_ *eventFixture, ts *testServer, _ context.CancelFunc) {
			if err := ts.stop(); err != nil {
				t.Errorf("Serve() = %v", err)
			}
		}, nil},
		{"follower fell behind", func(f *eventFixture, _ *testServer, _ context.CancelFunc) {
			close(f.evs) // not draining: the backend cut the follower off
		}, ErrStreamCut},
		{"client cancels", func(_ *eventFixture, _ *testServer, cancel context.CancelFunc) {
			cancel()
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, b := newEventFixture()
			ts := startServer(t, b, 0o600)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got, done := followEvents(ctx, ts.client)
			<-f.subscribed
			want := []apitype.Event{
				event("web:0", apitype.StateRunning, apitype.StateStopping),
				event("web:0", apitype.StateStopping, apitype.StateStopped),
			}
			for _, ev := range want {
				f.evs <- ev
				if g := <-got; !g.Time.Equal(ev.Time) || g.Instance != ev.Instance || g.To != ev.To || g.Pid == nil || *g.Pid != 42 {
					t.Errorf("Events() got %+v; want %+v", g, ev)
				}
			}
			tt.end(f, ts, cancel)
			err := <-done
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Events() = %v; want %v", err, tt.wantErr)
			}
			<-f.released
		})
	}
}

func TestEventsWireFormat(t *testing.T) {
	f, b := newEventFixture()
	ts := startServer(t, b, 0o600)
	conn, err := net.Dial("unix", ts.path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v1/events HTTP/1.1\r\nHost: superd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	// The headers come before any event: a client that has them is
	// subscribed.
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	// Not resp.Body.Close: it would read the endless stream to its end;
	// closing conn ends it.
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/x-ndjson" {
		t.Fatalf("GET /v1/events = %d %s; want 200 application/x-ndjson", resp.StatusCode, ct)
	}
	<-f.subscribed
	ev := event("db", apitype.StateRunning, apitype.StateExited)
	ev.Pid, ev.ExitCode = ptr(7), ptr(3)
	f.evs <- ev
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatalf("read event line: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("event line %q: %v", line, err)
	}
	for _, k := range []string{"time", "instance", "program", "from", "to", "pid", "exit_code", "exit_signal", "message"} {
		if _, ok := m[k]; !ok {
			t.Errorf("event line %q lacks %q", line, k)
		}
	}
	if m["exit_code"] != 3.0 || m["exit_signal"] != nil || m["to"] != "exited" {
		t.Errorf("event line = %q; want exit_code 3, exit_signal null, to exited", line)
	}
}

func TestEventsUnavailable(t *testing.T) {
	fb := &fakeBackend{events: func(context.Context) (<-chan apitype.Event, func(), error) {
		return nil, func() {}, fmt.Errorf("events: %w", apitype.ErrShuttingDown)
	}}
	ts := startServer(t, fb, 0o600)
	err := ts.client.Events(context.Background(), func(apitype.Event) error { return nil })
	if !errors.Is(err, apitype.ErrShuttingDown) {
		t.Errorf("Events() = %v; want ErrShuttingDown", err)
	}
}

// TestStreamsOutliveReadTimeout: a stream lasts longer than the server's
// whole-request read timeout (ReadTimeout); its expiry must not cancel the
// request's context in the middle of the stream.
func TestStreamsOutliveReadTimeout(t *testing.T) {
	const readTimeout = 100 * time.Millisecond
	short := withLimits(func(l *limits) { l.readTimeout = readTimeout })

	t.Run("events", func(t *testing.T) {
		f, b := newEventFixture()
		ts := startServer(t, b, 0o600, short)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got, done := followEvents(ctx, ts.client)
		reqCtx := <-f.subscribed
		assertNotDone(t, reqCtx, 5*readTimeout)
		f.evs <- event("web", apitype.StateStopped, apitype.StateStarting)
		<-got
		cancel()
		<-done
	})
	t.Run("logs", func(t *testing.T) {
		entered := make(chan context.Context, 1)
		more := make(chan []byte)
		fb := &fakeBackend{logs: func(ctx context.Context, _ string, _ int, _ bool) ([]byte, <-chan []byte, func(), error) {
			entered <- ctx
			return []byte("tail\n"), more, func() {}, nil
		}}
		ts := startServer(t, fb, 0o600, short)
		pr, done := followLogs(ts.client)
		readExactly(t, pr, "tail\n")
		assertNotDone(t, <-entered, 5*readTimeout)
		more <- []byte("later\n")
		readExactly(t, pr, "later\n")
		close(more)
		<-done
	})
}

// assertNotDone fails if ctx is done within d.
func assertNotDone(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		t.Fatalf("request context done after less than %v: %v", d, context.Cause(ctx))
	case <-timer.C:
	}
}

// TestStalledFollowerCutOff: a follower that never reads is cut off once a
// write does not get through within the stream write timeout, and the
// backend's stream is released; nothing waits on it for longer.
func TestStalledFollowerCutOff(t *testing.T) {
	short := withLimits(func(l *limits) { l.streamWriteTimeout = 200 * time.Millisecond })
	big := strings.Repeat("x", 64<<10) // a few of these fill the socket buffers

	t.Run("events", func(t *testing.T) {
		f, b := newEventFixture()
		ts := startServer(t, b, 0o600, short)
		conn := stalledRequest(t, ts.path, "/v1/events")
		defer conn.Close()
		<-f.subscribed
		flood(t, f.released, func() bool {
			ev := event("web", apitype.StateRunning, apitype.StateRunning)
			ev.Message = big
			select {
			case f.evs <- ev:
				return true
			case <-f.released:
				return false
			}
		})
	})
	t.Run("logs", func(t *testing.T) {
		more := make(chan []byte)
		released := make(chan struct{})
		var once sync.Once
		fb := &fakeBackend{logs: func(context.Context, string, int, bool) ([]byte, <-chan []byte, func(), error) {
			return nil, more, func() { once.Do(func() { close(released) }) }, nil
		}}
		ts := startServer(t, fb, 0o600, short)
		conn := stalledRequest(t, ts.path, "/v1/programs/web/logs?follow=true")
		defer conn.Close()
		flood(t, released, func() bool {
			select {
			case more <- []byte(big + "\n"):
				return true
			case <-released:
				return false
			}
		})
	})
}

// stalledRequest sends GET target on a new connection and never reads the
// answer.
func stalledRequest(t *testing.T, path, target string) net.Conn {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: superd\r\n\r\n", target); err != nil {
		t.Fatal(err)
	}
	return conn
}

// flood calls send until it reports false (the stream was released), and
// fails the test if that takes more than a generous bound.
func flood(t *testing.T, released <-chan struct{}, send func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	n := 0
	for send() {
		n++
		if time.Now().After(deadline) {
			t.Fatalf("stalled follower still served after %d chunks and 10s", n)
		}
	}
	<-released
}
