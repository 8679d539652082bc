package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc"
	"github.com/superd/superd/ipc/apitype"
)

func ptr[T any](v T) *T { return &v }

// world returns the instances of the fake superd, in name order:
// bad (fatal), db (stopped), web:0 and web:1 (running).
func world() []apitype.Instance {
	started := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	return []apitype.Instance{
		{Name: "bad", Program: "bad", State: apitype.StateFatal, ExitCode: ptr(127),
			Message: "exec /nonexistent: no such file or directory"},
		{Name: "db", Program: "db", State: apitype.StateStopped, ExitSignal: ptr("SIGTERM")},
		{Name: "web:0", Program: "web", Instance: 0, State: apitype.StateRunning, Pid: ptr(101),
			StartedAt: &started, UptimeSeconds: 5.7, Ready: true, Healthy: true},
		{Name: "web:1", Program: "web", Instance: 1, State: apitype.StateRunning, Pid: ptr(102),
			StartedAt: &started, UptimeSeconds: 192, Restarts: 2, Ready: true, Healthy: true},
	}
}

// resolve returns the instances of target in the fake world, or ErrNotFound.
func resolve(target string) ([]apitype.Instance, error) {
	var out []apitype.Instance
	for _, in := range world() {
		if target == "all" || target == in.Name || target == in.Program {
			out = append(out, in)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", target, apitype.ErrNotFound)
	}
	return out, nil
}

// call is one recorded backend call.
type call struct {
	op       string
	target   string
	wait     bool
	deadline time.Duration // left until ctx's deadline; 0 without one
	sig      syscall.Signal
	n        int
	follow   bool
	args     []string // RunJob's arguments
}

// fakeBackend serves the fake world and records every call. Special
// targets: "slow" times out, "locked" is forbidden, "hang" blocks until its
// request is cancelled, signalling entered first.
type fakeBackend struct {
	entered chan struct{} // gets a value when a "hang" call begins; size 1
	logs    func(ctx context.Context, instance string, n int, follow bool) ([]byte, <-chan []byte, func(), error)
	// reloadErr, when set, is what Reload answers; else the fake diff.
	reloadErr error
	// events, when set, serves Events; else ErrUnimplemented.
	events func(ctx context.Context) (<-chan apitype.Event, func(), error)
	// everything, when set, is what Status of all answers instead of
	// world(); targets are not served then.
	everything []apitype.Instance

	mu    sync.Mutex // guards the fields below
	calls []call
	jobs  *jobWorld // the fake's job runs (jobs_test.go); made on first use
}

func (f *fakeBackend) record(ctx context.Context, c call) {
	if d, ok := ctx.Deadline(); ok {
		c.deadline = time.Until(d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// recorded returns the calls so far.
func (f *fakeBackend) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeBackend) Status(ctx context.Context, targets ...string) ([]apitype.Instance, error) {
	f.record(ctx, call{op: "status", target: fmt.Sprint(targets)})
	if f.everything != nil {
		return f.everything, nil
	}
	if len(targets) == 0 {
		return world(), nil
	}
	return resolve(targets[0])
}

func (f *fakeBackend) control(ctx context.Context, op, target string, wait bool) ([]apitype.Instance, error) {
	f.record(ctx, call{op: op, target: target, wait: wait})
	switch target {
	case "slow":
		return nil, fmt.Errorf("%s slow: %w", op, apitype.ErrTimeout)
	case "locked":
		return nil, fmt.Errorf("%s locked: %w", op, apitype.ErrForbidden)
	case "hang":
		f.entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	case "bad":
		if op != "stop" && wait {
			return nil, fmt.Errorf("%s bad: bad went fatal: exec /nonexistent: no such file or directory: %w", op, apitype.ErrFailed)
		}
	}
	insts, err := resolve(target)
	if err != nil {
		return nil, fmt.Errorf("%s %w", op, err)
	}
	for i := range insts {
		if op == "stop" {
			insts[i].State, insts[i].Pid, insts[i].StartedAt, insts[i].UptimeSeconds = apitype.StateStopped, nil, nil, 0
		} else {
			insts[i].State, insts[i].Pid = apitype.StateRunning, ptr(200+i)
		}
	}
	return insts, nil
}

func (f *fakeBackend) Start(ctx context.Context, target string, wait bool) ([]apitype.Instance, error) {
	return f.control(ctx, "start", target, wait)
}

func (f *fakeBackend) Stop(ctx context.Context, target string, wait bool) ([]apitype.Instance, error) {
	return f.control(ctx, "stop", target, wait)
}

func (f *fakeBackend) Restart(ctx context.Context, target string, wait bool) ([]apitype.Instance, error) {
	return f.control(ctx, "restart", target, wait)
}

func (f *fakeBackend) Signal(ctx context.Context, target string, sig syscall.Signal) error {
	f.record(ctx, call{op: "signal", target: target, sig: sig})
	insts, err := resolve(target)
	if err != nil {
		return fmt.Errorf("signal %w", err)
	}
	for _, in := range insts {
		if in.State != apitype.StateRunning {
			return fmt.Errorf("signal %s: %s is %s: %w", target, in.Name, in.State, apitype.ErrConflict)
		}
	}
	return nil
}

func (f *fakeBackend) Logs(ctx context.Context, instance string, n int, follow bool) ([]byte, <-chan []byte, func(), error) {
	f.record(ctx, call{op: "logs", target: instance, n: n, follow: follow})
	if f.logs != nil {
		return f.logs(ctx, instance, n, follow)
	}
	if _, err := resolve(instance); err != nil {
		return nil, nil, nil, fmt.Errorf("logs %w", err)
	}
	return []byte(instance + " line 1\n" + instance + " line 2\n"), nil, nil, nil
}

func (f *fakeBackend) Shutdown(ctx context.Context) error {
	f.record(ctx, call{op: "shutdown"})
	return nil
}

// reloadResult is the diff the fake Reload answers.
func reloadResult() apitype.ReloadResult {
	return apitype.ReloadResult{
		Added: []string{"api", "cache"}, Removed: []string{"old"}, Changed: []string{"web"},
		Unchanged: []string{"db"}, RestartRequired: []string{"socket"},
	}
}

func (f *fakeBackend) Reload(ctx context.Context) (apitype.ReloadResult, error) {
	f.record(ctx, call{op: "reload"})
	if f.reloadErr != nil {
		return apitype.ReloadResult{}, f.reloadErr
	}
	return reloadResult(), nil
}

func (f *fakeBackend) Events(ctx context.Context) (<-chan apitype.Event, func(), error) {
	f.record(ctx, call{op: "events"})
	if f.events == nil {
		return nil, func() {}, apitype.ErrUnimplemented
	}
	return f.events(ctx)
}

// serve starts an ipc.Server for fb on a socket in a short temporary
// directory and returns the socket path; the test's cleanup stops it.
func serve(t testing.TB, fb *fakeBackend) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s.sock")
	l, err := ipc.Listen(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// exits when ctx is cancelled; the cleanup waits on done
	go func() { done <- ipc.NewServer(fb, slog.New(slog.DiscardHandler)).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	})
	return path
}

// runCLI runs superctl with args and returns its exit code and output.
func runCLI(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}
