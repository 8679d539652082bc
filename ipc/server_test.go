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
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

func ptr[T any](v T) *T { return &v }

// instancesOf returns one running instance per name, as a backend would.
func instancesOf(names ...string) []apitype.Instance {
	var out []apitype.Instance
	for i, n := range names {
		out = append(out, apitype.Instance{
			Name: n, Program: strings.Split(n, ":")[0], State: apitype.StateRunning,
			Pid: ptr(100 + i), UptimeSeconds: 1, Ready: true, Healthy: true,
		})
	}
	return out
}

func names(insts []apitype.Instance) []string {
	var out []string
	for _, in := range insts {
		out = append(out, in.Name)
	}
	return out
}

func TestStatus(t *testing.T) {
	fb := &fakeBackend{status: func(_ context.Context, targets []string) ([]apitype.Instance, error) {
		switch {
		case len(targets) == 0:
			return instancesOf("db", "web:0", "web:1"), nil
		case targets[0] == "web":
			return instancesOf("web:0", "web:1"), nil
		case targets[0] == "web:1":
			return instancesOf("web:1"), nil
		case targets[0] == "empty":
			return nil, nil
		}
		return nil, fmt.Errorf("status %s: %w", targets[0], apitype.ErrNotFound)
	}}
	ts := startServer(t, fb, 0o600)
	tests := []struct {
		name    string
		targets []string
		want    []string
		wantErr error
	}{
		{"all", nil, []string{"db", "web:0", "web:1"}, nil},
		{"program", []string{"web"}, []string{"web:0", "web:1"}, nil},
		{"overlapping targets once each", []string{"web:1", "web"}, []string{"web:1", "web:0"}, nil},
		{"none", []string{"empty"}, nil, nil},
		{"unknown", []string{"web", "nosuch"}, nil, apitype.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ts.client.Status(context.Background(), tt.targets...)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Status(%q) error = %v; want %v", tt.targets, err, tt.wantErr)
			}
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("Status(%q) = %q; want %q", tt.targets, names(got), tt.want)
			}
		})
	}
	// The array is [] rather than null when empty.
	_, body := rawDo(t, ts.path, "GET", "/v1/programs/empty", "")
	if strings.TrimSpace(body) != "[]" {
		t.Errorf("GET /v1/programs/empty = %q; want []", body)
	}
	// The list is encoding/json's, sent with its length.
	resp, body := rawDo(t, ts.path, "GET", "/v1/programs", "")
	want, err := json.Marshal(instancesOf("db", "web:0", "web:1"))
	if err != nil {
		t.Fatal(err)
	}
	if body != string(want)+"\n" || resp.ContentLength != int64(len(body)) {
		t.Errorf("GET /v1/programs = %q (Content-Length %d); want %q", body, resp.ContentLength, want)
	}
}

func TestStatusUnencodable(t *testing.T) {
	// A time beyond year 9999 has no JSON: a server error, not a 200 with
	// half a body.
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	fb := &fakeBackend{status: func(context.Context, []string) ([]apitype.Instance, error) {
		return []apitype.Instance{{Name: "web", StartedAt: &far}}, nil
	}}
	ts := startServer(t, fb, 0o600)
	resp, body := rawDo(t, ts.path, "GET", "/v1/programs", "")
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "year outside of range") {
		t.Errorf("GET /v1/programs = %d %q; want 500 naming the year", resp.StatusCode, body)
	}
}

func TestControl(t *testing.T) {
	fb := &fakeBackend{control: func(_ context.Context, op, target string, _ bool) ([]apitype.Instance, error) {
		return instancesOf(target), nil
	}}
	ts := startServer(t, fb, 0o600)
	c := ts.client
	ops := map[string]func(context.Context, string, bool, time.Duration) ([]apitype.Instance, error){
		"start": c.Start, "stop": c.Stop, "restart": c.Restart,
	}
	tests := []struct {
		name    string
		wait    bool
		timeout time.Duration
		want    time.Duration // deadline the backend sees; 0: none
	}{
		{"no wait", false, 30 * time.Second, 0},
		{"wait with timeout", true, 30 * time.Second, 30 * time.Second},
		{"wait with default timeout", true, 0, DefaultWaitTimeout},
	}
	for op, call := range ops {
		for _, tt := range tests {
			t.Run(op+"/"+tt.name, func(t *testing.T) {
				before := len(fb.recorded())
				got, err := call(context.Background(), "web:1", tt.wait, tt.timeout)
				if err != nil {
					t.Fatalf("%s(web:1) = %v", op, err)
				}
				if !slices.Equal(names(got), []string{"web:1"}) {
					t.Errorf("%s(web:1) = %q; want [web:1]", op, names(got))
				}
				calls := fb.recorded()[before:]
				if len(calls) != 1 {
					t.Fatalf("backend calls = %+v; want one", calls)
				}
				cl := calls[0]
				if cl.op != op || cl.targets[0] != "web:1" || cl.wait != tt.wait {
					t.Errorf("backend call = %+v; want %s web:1 wait=%v", cl, op, tt.wait)
				}
				switch {
				case tt.want == 0 && cl.deadline != 0:
					t.Errorf("backend deadline = %v; want none", cl.deadline)
				case tt.want != 0 && (cl.deadline > tt.want || cl.deadline < tt.want-5*time.Second):
					t.Errorf("backend deadline = %v; want about %v", cl.deadline, tt.want)
				}
			})
		}
	}
}

func TestControlTimeout(t *testing.T) {
	fb := &fakeBackend{control: func(ctx context.Context, _, _ string, _ bool) ([]apitype.Instance, error) {
		<-ctx.Done()
		return nil, ctx.Err() // a backend that forgot to wrap ErrTimeout
	}}
	ts := startServer(t, fb, 0o600)
	_, err := ts.client.Start(context.Background(), "web", true, time.Millisecond)
	if !errors.Is(err, apitype.ErrTimeout) || !strings.Contains(err.Error(), "start web: not settled within 1ms") {
		t.Errorf("Start(web, wait, 1ms) = %v; want ErrTimeout naming the target", err)
	}
}

func TestBadQuery(t *testing.T) {
	fb := &fakeBackend{control: func(context.Context, string, string, bool) ([]apitype.Instance, error) { return nil, nil }}
	ts := startServer(t, fb, 0o600)
	for _, q := range []string{"wait=maybe", "wait=true&timeout=soon", "wait=true&timeout=-1s", "wait=true&timeout=0s"} {
		resp, body := rawDo(t, ts.path, "POST", "/v1/programs/web/start?"+q, "")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("POST start?%s = %d %s; want 400 with a JSON error", q, resp.StatusCode, body)
		}
	}
	if n := len(fb.recorded()); n != 0 {
		t.Errorf("backend called %d times for bad queries; want 0", n)
	}
}

func TestSignal(t *testing.T) {
	fb := &fakeBackend{signal: func(_ context.Context, target string, _ syscall.Signal) error {
		if target == "stopped" {
			return fmt.Errorf("signal stopped: not running: %w", apitype.ErrConflict)
		}
		return nil
	}}
	ts := startServer(t, fb, 0o600)
	tests := []struct {
		sig     string
		target  string
		want    syscall.Signal
		wantErr error
	}{
		{"HUP", "web", syscall.SIGHUP, nil},
		{"SIGHUP", "web", syscall.SIGHUP, nil},
		{"sighup", "web", syscall.SIGHUP, nil},
		{"Hup", "web", syscall.SIGHUP, nil},
		{"1", "web", syscall.SIGHUP, nil},
		{"TERM", "web:0", syscall.SIGTERM, nil},
		{"usr2", "web", syscall.SIGUSR2, nil},
		{"64", "web", syscall.Signal(64), nil},
		{"TERM", "stopped", syscall.SIGTERM, apitype.ErrConflict},
		{"BOGUS", "web", 0, apitype.ErrBadRequest},
		{"0", "web", 0, apitype.ErrBadRequest},
		{"65", "web", 0, apitype.ErrBadRequest},
		{"", "web", 0, apitype.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.sig+"/"+tt.target, func(t *testing.T) {
			before := len(fb.recorded())
			err := ts.client.Signal(context.Background(), tt.target, tt.sig)
			if sentinelOf(err) != tt.wantErr || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Signal(%q, %q) = %v; want %v", tt.target, tt.sig, err, tt.wantErr)
			}
			calls := fb.recorded()[before:]
			if tt.want == 0 {
				if len(calls) != 0 {
					t.Errorf("backend calls = %+v; want none", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0].sig != tt.want || calls[0].targets[0] != tt.target {
				t.Errorf("backend calls = %+v; want Signal(%s, %v)", calls, tt.target, tt.want)
			}
		})
	}
	// Malformed JSON is a 400 too.
	resp, body := rawDo(t, ts.path, "POST", "/v1/programs/web/signal", `{"signal":`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST signal with broken JSON = %d %s; want 400", resp.StatusCode, body)
	}
}

func TestBodyTooLarge(t *testing.T) {
	fb := &fakeBackend{signal: func(context.Context, string, syscall.Signal) error { return nil }}
	ts := startServer(t, fb, 0o600)
	conn, err := net.Dial("unix", ts.path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"signal":"` + strings.Repeat("x", 2<<20) + `"}`
	written := make(chan error, 1)
	// exits when the request is written or the connection is closed below;
	// the test waits on written
	go func() {
		_, err := fmt.Fprintf(conn, "POST /v1/programs/web/signal HTTP/1.1\r\nHost: superd\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		written <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn.Close()
	<-written
	var e apitype.Error
	if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(data, &e) != nil || e.Error == "" {
		t.Errorf("POST 2 MiB body = %d %s; want 413 with a JSON error", resp.StatusCode, data)
	}
	if n := len(fb.recorded()); n != 0 {
		t.Errorf("backend called %d times; want 0", n)
	}
}

func TestUnknownRoutes(t *testing.T) {
	ts := startServer(t, &fakeBackend{}, 0o600)
	tests := []struct {
		method, target string
		want           int
		allow          string
	}{
		{"GET", "/v2/programs", http.StatusNotFound, ""},
		{"GET", "/", http.StatusNotFound, ""},
		{"GET", "/v1/programs/web/bogus", http.StatusNotFound, ""},
		{"GET", "/v1/programs/web/start", http.StatusMethodNotAllowed, "POST"},
		{"POST", "/v1/health", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"DELETE", "/v1/programs", http.StatusMethodNotAllowed, "GET, HEAD"},
	}
	for _, tt := range tests {
		resp, body := rawDo(t, ts.path, tt.method, tt.target, "")
		var e apitype.Error
		if resp.StatusCode != tt.want || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("%s %s = %d %q; want %d with a JSON error", tt.method, tt.target, resp.StatusCode, body, tt.want)
		}
		if got := resp.Header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow = %q; want %q", tt.method, tt.target, got, tt.allow)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type = %q; want application/json", tt.method, tt.target, ct)
		}
	}
}

func TestErrorsRoundTrip(t *testing.T) {
	var mu sync.Mutex // guards the field below
	var next error
	fb := &fakeBackend{status: func(context.Context, []string) ([]apitype.Instance, error) {
		mu.Lock()
		defer mu.Unlock()
		return nil, next
	}}
	ts := startServer(t, fb, 0o600)
	for _, s := range sentinels() {
		t.Run(s.Error(), func(t *testing.T) {
			mu.Lock()
			next = fmt.Errorf("status web: %w", s)
			mu.Unlock()
			_, err := ts.client.Status(context.Background(), "web")
			if got := sentinelOf(err); got != s {
				t.Errorf("Status() error = %v (sentinel %v); want sentinel %v", err, got, s)
			}
			if want := "status web: " + s.Error(); err == nil || err.Error() != want {
				t.Errorf("Status() error = %q; want %q", err, want)
			}
			re, ok := errors.AsType[*ResponseError](err)
			if !ok || re.StatusCode != apitype.HTTPStatus(s) {
				t.Errorf("Status() error = %#v; want a *ResponseError with code %d", err, apitype.HTTPStatus(s))
			}
		})
	}
	t.Run("plain error", func(t *testing.T) {
		mu.Lock()
		next = errors.New("disk on fire")
		mu.Unlock()
		_, err := ts.client.Status(context.Background(), "web")
		re, ok := errors.AsType[*ResponseError](err)
		if !ok || re.StatusCode != http.StatusInternalServerError || err.Error() != "disk on fire" || sentinelOf(err) != nil {
			t.Errorf("Status() error = %#v; want a 500 *ResponseError without sentinel", err)
		}
	})
}

func TestLogs(t *testing.T) {
	fb := &fakeBackend{logs: func(_ context.Context, instance string, n int, _ bool) ([]byte, <-chan []byte, func(), error) {
		if instance == "nosuch" {
			return nil, nil, nil, fmt.Errorf("logs nosuch: %w", apitype.ErrNotFound)
		}
		return []byte(fmt.Sprintf("%s last %d\n", instance, n)), nil, nil, nil
	}}
	ts := startServer(t, fb, 0o600)
	var sb strings.Builder
	if err := ts.client.Logs(context.Background(), "web:0", 5, false, &sb); err != nil || sb.String() != "web:0 last 5\n" {
		t.Errorf("Logs(web:0, 5) = %q, %v; want %q", sb.String(), err, "web:0 last 5\n")
	}
	resp, body := rawDo(t, ts.path, "GET", "/v1/programs/web/logs", "")
	if body != "web last 100\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET logs without lines = %q (%s); want the default of 100 lines as text/plain", body, resp.Header.Get("Content-Type"))
	}
	if resp, body := rawDo(t, ts.path, "GET", "/v1/programs/web/logs?lines=many", ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET logs?lines=many = %d %s; want 400", resp.StatusCode, body)
	}
	if err := ts.client.Logs(context.Background(), "nosuch", 5, false, io.Discard); !errors.Is(err, apitype.ErrNotFound) {
		t.Errorf("Logs(nosuch) = %v; want ErrNotFound", err)
	}
}

// readExactly reads len(want) bytes from r and compares them with want.
func readExactly(t *testing.T, r io.Reader, want string) {
	t.Helper()
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != want {
		t.Fatalf("read %q, %v; want %q", buf, err, want)
	}
}

// followFixture is a backend whose log stream the test drives.
type followFixture struct {
	more     chan []byte
	released chan struct{} // closed when the server calls the stream's cancel
}

func newFollowFixture() (*followFixture, *fakeBackend) {
	f := &followFixture{more: make(chan []byte), released: make(chan struct{})}
	var once sync.Once
	fb := &fakeBackend{logs: func(context.Context, string, int, bool) ([]byte, <-chan []byte, func(), error) {
		return []byte("tail\n"), f.more, func() { once.Do(func() { close(f.released) }) }, nil
	}}
	return f, fb
}

// followLogs runs Client.Logs with follow into a pipe; the returned channel
// gets its result after the pipe's writer is closed.
func followLogs(c *Client) (*io.PipeReader, <-chan error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	// exits when the server ends the stream; the test waits on done
	go func() {
		err := c.Logs(context.Background(), "web", 10, true, pw)
		pw.Close()
		done <- err
	}()
	return pr, done
}

func TestLogsFollow(t *testing.T) {
	f, fb := newFollowFixture()
	ts := startServer(t, fb, 0o600)
	pr, done := followLogs(ts.client)
	readExactly(t, pr, "tail\n")
	for _, chunk := range []string{"one\n", "two\nthree\n"} {
		f.more <- []byte(chunk)
		readExactly(t, pr, chunk)
	}
	close(f.more)
	if rest, err := io.ReadAll(pr); err != nil || len(rest) != 0 {
		t.Errorf("after the stream closed, read %q, %v; want nothing", rest, err)
	}
	if err := <-done; err != nil {
		t.Errorf("Logs(follow) = %v; want nil when the backend closes the stream", err)
	}
	<-f.released
	if c := fb.recorded()[0]; c.n != 10 || !c.follow {
		t.Errorf("backend call = %+v; want n=10 follow", c)
	}
}

func TestServeEndsStreams(t *testing.T) {
	f, fb := newFollowFixture()
	ts := startServer(t, fb, 0o600)
	pr, done := followLogs(ts.client)
	readExactly(t, pr, "tail\n")
	if err := ts.stop(); err != nil {
		t.Errorf("Serve() = %v; want nil", err)
	}
	if _, err := io.ReadAll(pr); err != nil {
		t.Errorf("read after stop: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Logs(follow) = %v; want nil when superd ends the stream", err)
	}
	<-f.released
	if _, err := os.Lstat(ts.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Serve returned: %v; want it removed", err)
	}
	if _, err := ts.client.Health(context.Background()); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Health() after stop = %v; want ErrUnreachable", err)
	}
}

func TestHealthAndShutdown(t *testing.T) {
	shut := make(chan struct{}, 1)
	fb := &fakeBackend{shutdown: func(context.Context) error {
		shut <- struct{}{}
		return nil
	}}
	ts := startServer(t, fb, 0o600)
	h, err := ts.client.Health(context.Background())
	if err != nil || h.Status != "ok" || h.Pid != os.Getpid() {
		t.Errorf("Health() = %+v, %v; want ok with pid %d", h, err, os.Getpid())
	}
	if err := ts.client.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	select {
	case <-shut:
	default:
		t.Error("Shutdown() did not reach the backend")
	}
}

func TestClientUnreachable(t *testing.T) {
	path := shortTempDir(t) + "/missing.sock"
	_, err := NewClient(path).Health(context.Background())
	want := "superd not reachable at " + path + ": connect: no such file or directory"
	if !errors.Is(err, ErrUnreachable) || err.Error() != want {
		t.Errorf("Health() = %v; want %q wrapping ErrUnreachable", err, want)
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("Health() = %v; want it to wrap ENOENT too", err)
	}
}

func TestClientCancelled(t *testing.T) {
	entered := make(chan struct{}, 1)
	fb := &fakeBackend{control: func(ctx context.Context, _, _ string, _ bool) ([]apitype.Instance, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	ts := startServer(t, fb, 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// exits when ctx is cancelled below; the test waits on done
	go func() {
		_, err := ts.client.Start(ctx, "web", true, time.Hour)
		done <- err
	}()
	<-entered // the request reached the backend
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Start() after cancel = %v; want context.Canceled", err)
	}
}
