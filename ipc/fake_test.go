package ipc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// call is one recorded call of fakeBackend.
type call struct {
	op       string
	targets  []string
	wait     bool
	deadline time.Duration // time left until ctx's deadline when called; 0 without one
	sig      syscall.Signal
	n        int
	follow   bool
	args     []string // RunJob's arguments
}

// fakeBackend is a Backend whose behaviour comes from func fields; a nil
// field answers apitype.ErrUnimplemented. Every call is recorded.
type fakeBackend struct {
	status   func(ctx context.Context, targets []string) ([]apitype.Instance, error)
	control  func(ctx context.Context, op, target string, wait bool) ([]apitype.Instance, error)
	signal   func(ctx context.Context, target string, sig syscall.Signal) error
	logs     func(ctx context.Context, instance string, n int, follow bool) ([]byte, <-chan []byte, func(), error)
	shutdown func(ctx context.Context) error
	reload   func(ctx context.Context) (apitype.ReloadResult, error)
	events   func(ctx context.Context) (<-chan apitype.Event, func(), error)
	draining func(ctx context.Context) bool // nil: the backend cannot tell (no Draining method)
	runJob   func(ctx context.Context, name string, args []string) (apitype.JobRun, error)
	stopRun  func(ctx context.Context, id string) (apitype.JobRun, error)
	jobs     func(ctx context.Context) ([]apitype.JobRun, error)

	mu    sync.Mutex // guards the field below
	calls []call
}

func (f *fakeBackend) record(ctx context.Context, c call) {
	if d, ok := ctx.Deadline(); ok {
		c.deadline = time.Until(d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// recorded returns the calls made so far.
func (f *fakeBackend) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeBackend) Status(ctx context.Context, targets ...string) ([]apitype.Instance, error) {
	f.record(ctx, call{op: "status", targets: targets})
	if f.status == nil {
		return nil, apitype.ErrUnimplemented
	}
	return f.status(ctx, targets)
}

func (f *fakeBackend) controlOp(ctx context.Context, op, target string, wait bool) ([]apitype.Instance, error) {
	f.record(ctx, call{op: op, targets: []string{target}, wait: wait})
	if f.control == nil {
		return nil, apitype.ErrUnimplemented
	}
	return f.control(ctx, op, target, wait)
}

func (f *fakeBackend) Start(ctx context.Context, target string, wait bool) ([]apitype.Instance, error) {
	return f.controlOp(ctx, "start", target, wait)
}

func (f *fakeBackend) Stop(ctx context.Context, target string, wait bool) ([]apitype.Instance, error) {
	return f.controlOp(ctx, "stop", target, wait)
}

func (f *fakeBackend) Restart(ctx context.Context, target string, wait bool) ([]apitype.Instance, error) {
	return f.controlOp(ctx, "restart", target, wait)
}

func (f *fakeBackend) Signal(ctx context.Context, target string, sig syscall.Signal) error {
	f.record(ctx, call{op: "signal", targets: []string{target}, sig: sig})
	if f.signal == nil {
		return apitype.ErrUnimplemented
	}
	return f.signal(ctx, target, sig)
}

func (f *fakeBackend) Logs(ctx context.Context, instance string, n int, follow bool) ([]byte, <-chan []byte, func(), error) {
	f.record(ctx, call{op: "logs", targets: []string{instance}, n: n, follow: follow})
	if f.logs == nil {
		return nil, nil, nil, apitype.ErrUnimplemented
	}
	return f.logs(ctx, instance, n, follow)
}

func (f *fakeBackend) Shutdown(ctx context.Context) error {
	f.record(ctx, call{op: "shutdown"})
	if f.shutdown == nil {
		return apitype.ErrUnimplemented
	}
	return f.shutdown(ctx)
}

func (f *fakeBackend) Reload(ctx context.Context) (apitype.ReloadResult, error) {
	f.record(ctx, call{op: "reload"})
	if f.reload == nil {
		return apitype.ReloadResult{}, apitype.ErrUnimplemented
	}
	return f.reload(ctx)
}

func (f *fakeBackend) Events(ctx context.Context) (<-chan apitype.Event, func(), error) {
	f.record(ctx, call{op: "events"})
	if f.events == nil {
		return nil, func() {}, apitype.ErrUnimplemented
	}
	return f.events(ctx)
}

func (f *fakeBackend) RunJob(ctx context.Context, name string, args []string) (apitype.JobRun, error) {
	f.record(ctx, call{op: "run", targets: []string{name}, args: args})
	if f.runJob == nil {
		return apitype.JobRun{}, apitype.ErrUnimplemented
	}
	return f.runJob(ctx, name, args)
}

func (f *fakeBackend) StopRun(ctx context.Context, id string) (apitype.JobRun, error) {
	f.record(ctx, call{op: "stoprun", targets: []string{id}})
	if f.stopRun == nil {
		return apitype.JobRun{}, apitype.ErrUnimplemented
	}
	return f.stopRun(ctx, id)
}

func (f *fakeBackend) Jobs(ctx context.Context) ([]apitype.JobRun, error) {
	f.record(ctx, call{op: "jobs"})
	if f.jobs == nil {
		return nil, apitype.ErrUnimplemented
	}
	return f.jobs(ctx)
}

// drainingBackend is a fakeBackend that can tell whether it drains.
type drainingBackend struct{ *fakeBackend }

func (d drainingBackend) Draining(ctx context.Context) bool { return d.draining(ctx) }

// shortTempDir returns a new directory under /tmp, short enough for socket
// paths (107 bytes at most), removed when the test ends.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// testServer is a Server on a real socket in a temporary directory.
type testServer struct {
	client *Client
	path   string
	stop   func() error // stops the server and returns Serve's error; idempotent
	srv    *Server
}

// startServer serves b on a new socket of mode; the test's cleanup stops it.
func startServer(t testing.TB, b Backend, mode os.FileMode, opts ...Option) *testServer {
	t.Helper()
	path := filepath.Join(shortTempDir(t), "s.sock")
	l, err := Listen(path, mode)
	if err != nil {
		t.Fatalf("Listen(%q) = %v", path, err)
	}
	srv := NewServer(b, slog.New(slog.DiscardHandler), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// exits when ctx is cancelled; stop waits on done
	go func() { done <- srv.Serve(ctx, l) }()
	var (
		once     sync.Once
		serveErr error
	)
	stop := func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve() = %v; want nil", err)
		}
	})
	return &testServer{client: NewClient(path), path: path, stop: stop, srv: srv}
}

// withLimits is a test Option that changes the server's limits, to make
// timeouts short.
func withLimits(f func(*limits)) Option {
	return func(s *Server) { f(&s.lim) }
}

// rawDo sends one request to the socket at path, without the Client, and
// returns the response with its body read.
func rawDo(t *testing.T, path, method, target, body string) (*http.Response, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://superd"+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return resp, string(data)
}

// sentinels lists every sentinel error of apitype.
func sentinels() []error {
	return []error{
		apitype.ErrBadRequest,
		apitype.ErrForbidden,
		apitype.ErrNotFound,
		apitype.ErrConflict,
		apitype.ErrTooLarge,
		apitype.ErrQueueFull,
		apitype.ErrShuttingDown,
		apitype.ErrFailed,
		apitype.ErrTimeout,
		apitype.ErrUnimplemented,
	}
}

// sentinelOf returns the sentinel err wraps, or nil.
func sentinelOf(err error) error {
	for _, s := range sentinels() {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}
