package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// TestStopWait: Stop with wait returns only once the instance is stopped,
// its whole process group gone.
func TestStopWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web"), prog("db")), f)
		defer h.finish()
		advance(time.Second)

		pid := f.pid("web")
		f.setExtra(pid, true)
		type result struct {
			st  []apitype.Instance
			err error
		}
		res := make(chan result, 1)
		// exits when Stop returns; the test waits on res.
		go func() {
			st, err := h.s.Stop(context.Background(), "web", true)
			res <- result{st, err}
		}()
		advance(2 * time.Second)
		select {
		case r := <-res:
			t.Fatalf("Stop(web, wait) = %v, %v while its group lives; want it to wait", r.st, r.err)
		default:
		}
		f.setExtra(pid, false)
		start := time.Now()
		r := <-res
		if r.err != nil || len(r.st) != 1 || r.st[0].State != apitype.StateStopped {
			t.Fatalf("Stop(web, wait) = %v, %v; want web stopped", r.st, r.err)
		}
		if d := time.Since(start); d > 2*groupPoll {
			t.Errorf("Stop(web, wait) returned %v after the group emptied; want within %v", d, 2*groupPoll)
		}

		// A process that ignores its stop_signal: the wait ends with the SIGKILL.
		f.setStubborn("db")
		start = time.Now()
		st, err := h.s.Stop(context.Background(), "db", true)
		if err != nil || len(st) != 1 || st[0].State != apitype.StateStopped {
			t.Fatalf("Stop(db, wait) = %v, %v; want db stopped", st, err)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("Stop(db, wait) took %v; want stop_timeout 10s", d)
		}

		// Stopping a stopped instance succeeds and changes nothing.
		signals := len(f.sigs())
		st, err = h.s.Stop(context.Background(), "db", true)
		if err != nil || len(st) != 1 || st[0].State != apitype.StateStopped {
			t.Errorf("Stop(db, wait) of a stopped instance = %v, %v; want db stopped, nil", st, err)
		}
		if len(f.sigs()) != signals {
			t.Errorf("Stop of a stopped instance sent %v; want nothing", f.sigs()[signals:])
		}
	})
}

// TestStartWait: Start with wait returns once the instance runs, an error
// wrapping ErrFailed when it goes fatal, ErrTimeout when ctx runs out.
func TestStartWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setErr("bad", syscall.ENOENT)
		h := runSupervisor(t, newConfig(t.TempDir(),
			prog("web", noAutostart),
			prog("bad", noAutostart, startRetries(1)),
			prog("slow", noAutostart, startSeconds(time.Minute)),
		), f)
		defer h.finish()
		ctx := context.Background()

		start := time.Now()
		st, err := h.s.Start(ctx, "web", true)
		if err != nil || len(st) != 1 || st[0].State != apitype.StateRunning {
			t.Fatalf("Start(web, wait) = %v, %v; want web running", st, err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Start(web, wait) took %v; want start_seconds 1s", d)
		}

		// Starting a running instance succeeds and changes nothing.
		st, err = h.s.Start(ctx, "web", true)
		if err != nil || len(st) != 1 || st[0].State != apitype.StateRunning {
			t.Errorf("Start(web, wait) of a running instance = %v, %v; want running, nil", st, err)
		}
		h.wantSpawns("web", 1)

		st, err = h.s.Start(ctx, "bad", true)
		if !errors.Is(err, apitype.ErrFailed) {
			t.Fatalf("Start(bad, wait) = %v, %v; want an error wrapping %v", st, err, apitype.ErrFailed)
		}
		if !strings.Contains(err.Error(), "no such file or directory") {
			t.Errorf("Start(bad, wait) error = %q; want the reason in it", err)
		}
		if len(st) != 1 || st[0].State != apitype.StateFatal {
			t.Errorf("Start(bad, wait) = %v; want bad fatal", st)
		}
		h.wantSpawns("bad", 2)

		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		start = time.Now()
		_, err = h.s.Start(tctx, "slow", true)
		if !errors.Is(err, apitype.ErrTimeout) {
			t.Errorf("Start(slow, wait) = %v; want an error wrapping %v", err, apitype.ErrTimeout)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Start(slow, wait) returned after %v; want the ctx timeout 5s", d)
		}
		h.wantState("slow", apitype.StateStarting)
	})
}

// TestStartWaitDependency: Start with wait of a dependent whose dependency
// goes fatal fails with ErrFailed.
func TestStartWaitDependency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setErr("db", syscall.EACCES)
		h := runSupervisor(t, newConfig(t.TempDir(), prog("api", noAutostart, dependsOn("db")), prog("db", noAutostart, startRetries(0))), f)
		defer h.finish()
		_, err := h.s.Start(context.Background(), "api", true)
		if !errors.Is(err, apitype.ErrFailed) || !strings.Contains(err.Error(), "dependency db is fatal") {
			t.Errorf("Start(api, wait) = %v; want ErrFailed: dependency db is fatal", err)
		}
	})
}

// TestRestartWait: an operator's restart stops and starts again, and is not
// counted in restarts.
func TestRestartWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web")), f)
		defer h.finish()
		advance(time.Second)
		old := f.pid("web")

		st, err := h.s.Restart(context.Background(), "web", true)
		if err != nil || len(st) != 1 || st[0].State != apitype.StateRunning {
			t.Fatalf("Restart(web, wait) = %v, %v; want web running", st, err)
		}
		if st[0].Pid == nil || *st[0].Pid == old {
			t.Errorf("Restart(web, wait).Pid = %v; want a new pid (old %d)", ptrStr(st[0].Pid), old)
		}
		if st[0].Restarts != 0 {
			t.Errorf("Restart(web, wait).Restarts = %d; want 0 (an operator's restart is not counted)", st[0].Restarts)
		}
		if got := f.sigsTo("web"); len(got) == 0 || got[0] != (sigCall{"web", old, syscall.SIGTERM, true}) {
			t.Errorf("signals = %v; want SIGTERM to %d first", got, old)
		}
		h.wantSpawns("web", 2)

		// Restart of a stopped instance starts it.
		if _, err := h.s.Stop(context.Background(), "web", true); err != nil {
			t.Fatalf("Stop(web, wait) = %v; want nil", err)
		}
		if st, err := h.s.Restart(context.Background(), "web", true); err != nil || st[0].State != apitype.StateRunning {
			t.Errorf("Restart(web, wait) of a stopped instance = %v, %v; want running", st, err)
		}
	})
}

// TestStartDuringStop: a start while stopping starts again once stopped.
func TestStartDuringStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setStubborn("web")
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web")), f)
		defer h.finish()
		advance(time.Second)
		if _, err := h.s.Stop(context.Background(), "web", false); err != nil {
			t.Fatalf("Stop(web) = %v; want nil", err)
		}
		st, err := h.s.Start(context.Background(), "web", true)
		if err != nil || st[0].State != apitype.StateRunning {
			t.Fatalf("Start(web, wait) while stopping = %v, %v; want running", st, err)
		}
		h.wantSpawns("web", 2)
	})
}

func readStopped(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "stopped.json"))
	if err != nil {
		t.Fatalf("read stopped.json: %v", err)
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		t.Fatalf("stopped.json = %q: %v", b, err)
	}
	return names
}

// TestOperatorStopPersists: an operator's stop is kept in
// state_dir/stopped.json, and a new supervisor does not autostart the
// instance until an operator starts it.
func TestOperatorStopPersists(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		cfg := newConfig(dir, prog("web", instances(2)), prog("db"))
		f := newFake()
		h := runSupervisor(t, cfg, f)
		advance(time.Second)
		if _, err := h.s.Stop(context.Background(), "web:1", true); err != nil {
			t.Fatalf("Stop(web:1, wait) = %v; want nil", err)
		}
		if got, want := readStopped(t, dir), []string{"web:1"}; !slices.Equal(got, want) {
			t.Errorf("stopped.json = %v; want %v", got, want)
		}
		if err := h.s.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown() = %v; want nil", err)
		}
		if err := h.wait(); err != nil {
			t.Fatalf("Run() = %v; want nil", err)
		}
		// A drain is no operator's stop.
		if got, want := readStopped(t, dir), []string{"web:1"}; !slices.Equal(got, want) {
			t.Errorf("stopped.json after the drain = %v; want %v", got, want)
		}

		f2 := newFake()
		h2 := runSupervisor(t, cfg, f2)
		defer h2.finish()
		if got, want := f2.spawned(), []string{"db", "web:0"}; !slices.Equal(got, want) {
			t.Errorf("spawned after a restart of superd = %v; want %v", got, want)
		}
		a := h2.wantState("web:1", apitype.StateStopped)
		if !strings.Contains(a.Message, "operator") {
			t.Errorf("Status(web:1).Message = %q; want it to say an operator stopped it", a.Message)
		}
		if _, err := h2.s.Start(context.Background(), "web:1", true); err != nil {
			t.Fatalf("Start(web:1, wait) = %v; want nil", err)
		}
		h2.wantSpawns("web:1", 1)
		if got := readStopped(t, dir); len(got) != 0 {
			t.Errorf("stopped.json after Start = %v; want empty", got)
		}
	})
}

// TestNotFound: every operation on an unknown target fails with
// ErrNotFound.
func TestNotFound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", instances(2)), prog("db")), f)
		defer h.finish()
		ctx := context.Background()
		for _, target := range []string{"nope", "web:2", "db:0", "web:", "web-0"} {
			calls := map[string]func() error{
				"Status":  func() error { _, err := h.s.Status(ctx, target); return err },
				"Start":   func() error { _, err := h.s.Start(ctx, target, false); return err },
				"Stop":    func() error { _, err := h.s.Stop(ctx, target, true); return err },
				"Restart": func() error { _, err := h.s.Restart(ctx, target, true); return err },
				"Signal":  func() error { return h.s.Signal(ctx, target, syscall.SIGHUP) },
				"Logs":    func() error { _, _, cancel, err := h.s.Logs(ctx, target, 10, false); cancel(); return err },
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, apitype.ErrNotFound) {
					t.Errorf("%s(%q) = %v; want an error wrapping %v", name, target, err, apitype.ErrNotFound)
				}
			}
		}
		if got := len(f.sigs()); got != 0 {
			t.Errorf("signals = %v; want none", f.sigs())
		}
	})
}

// TestSignal: a signal goes to the leader of a running instance; to a
// stopped one it is a conflict, and then no instance gets it.
func TestSignal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web"), prog("batch", noAutostart)), f)
		defer h.finish()
		ctx := context.Background()
		advance(time.Second)

		if err := h.s.Signal(ctx, "web", syscall.SIGHUP); err != nil {
			t.Fatalf("Signal(web, SIGHUP) = %v; want nil", err)
		}
		if got, want := f.sigsTo("web"), []sigCall{{"web", f.pid("web"), syscall.SIGHUP, false}}; !slices.Equal(got, want) {
			t.Errorf("signals = %v; want %v", got, want)
		}
		if err := h.s.Signal(ctx, "batch", syscall.SIGHUP); !errors.Is(err, apitype.ErrConflict) {
			t.Errorf("Signal(batch, SIGHUP) = %v; want an error wrapping %v", err, apitype.ErrConflict)
		}
		if err := h.s.Signal(ctx, "all", syscall.SIGUSR1); !errors.Is(err, apitype.ErrConflict) {
			t.Errorf("Signal(all, SIGUSR1) = %v; want an error wrapping %v", err, apitype.ErrConflict)
		}
		if got := f.sigs(); len(got) != 1 {
			t.Errorf("signals = %v; want only the first SIGHUP", got)
		}
		h.wantState("web", apitype.StateRunning)
	})
}

// TestInstances: instances = 3 makes web:0, web:1, web:2, each its own
// process; a single-instance program's name is the program's.
func TestInstances(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", instances(3)), prog("db")), f)
		defer h.finish()
		advance(time.Second)

		st, err := h.s.Status(context.Background())
		if err != nil {
			t.Fatalf("Status() = %v; want nil", err)
		}
		var names []string
		for i, a := range st {
			names = append(names, a.Name)
			if a.State != apitype.StateRunning {
				t.Errorf("Status()[%d] = %s %s; want running", i, a.Name, a.State)
			}
		}
		if want := []string{"db", "web:0", "web:1", "web:2"}; !slices.Equal(names, want) {
			t.Errorf("Status() names = %v; want %v", names, want)
		}
		for i, a := range st[1:] {
			if a.Program != "web" || a.Instance != i {
				t.Errorf("Status(%s) program, instance = %q, %d; want web, %d", a.Name, a.Program, a.Instance, i)
			}
		}
		got := f.spawned()
		slices.Sort(got)
		if want := []string{"db", "web:0", "web:1", "web:2"}; !slices.Equal(got, want) {
			t.Errorf("spawned = %v; want %v", got, want)
		}

		st, err = h.s.Status(context.Background(), "web:1", "db", "web:1")
		if err != nil || len(st) != 2 || st[0].Name != "db" || st[1].Name != "web:1" {
			t.Errorf("Status(web:1, db, web:1) = %v, %v; want db, web:1", st, err)
		}
		if _, err := h.s.Stop(context.Background(), "web", true); err != nil {
			t.Fatalf("Stop(web, wait) = %v; want nil", err)
		}
		for _, n := range []string{"web:0", "web:1", "web:2"} {
			h.wantState(n, apitype.StateStopped)
		}
		h.wantState("db", apitype.StateRunning)
	})
}

// TestLogs: the output of an instance is served from its ring; a program
// of several instances must be named NAME:N.
func TestLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", instances(2)), prog("db")), f)
		defer h.finish()
		ctx := context.Background()

		b, _, cancel, err := h.s.Logs(ctx, "db", 10, false)
		cancel()
		if want := "db started as"; err != nil || !strings.HasPrefix(string(b), want) {
			t.Errorf("Logs(db) = %q, %v; want %q...", b, err, want)
		}
		if _, _, cancel, err := h.s.Logs(ctx, "web", 10, false); !errors.Is(err, apitype.ErrBadRequest) {
			t.Errorf("Logs(web) = %v; want an error wrapping %v", err, apitype.ErrBadRequest)
		} else {
			cancel()
		}
		tail, ch, cancel, err := h.s.Logs(ctx, "web:1", 0, true)
		if err != nil || !strings.HasPrefix(string(tail), "web:1 started as") {
			t.Fatalf("Logs(web:1, follow) = %q, %v; want the first line", tail, err)
		}
		if _, err := h.s.Restart(ctx, "web:1", false); err != nil {
			t.Fatalf("Restart(web:1) = %v; want nil", err)
		}
		synctest.Wait()
		select {
		case b := <-ch:
			if !strings.HasPrefix(string(b), "web:1 started as") {
				t.Errorf("Logs(web:1, follow) sent %q; want the new start line", b)
			}
		default:
			t.Errorf("Logs(web:1, follow) sent nothing after a restart")
		}
		cancel()
	})
}

// TestOperatorStopOfADependency: after superd restarts, a dependency an
// operator had stopped is either left stopped (and its dependent does not
// run), or started for its dependent, and then no longer reported as
// stopped by an operator nor written back to stopped.json.
func TestOperatorStopOfADependency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		cfg := newConfig(dir, prog("api", dependsOn("db")), prog("db"), prog("web"))
		f := newFake()
		h := runSupervisor(t, cfg, f)
		advance(5 * time.Second)
		if _, err := h.s.Stop(context.Background(), "db", true); err != nil {
			t.Fatalf("Stop(db, wait) = %v; want nil", err)
		}
		if err := h.s.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown() = %v; want nil", err)
		}
		h.wait()

		f2 := newFake()
		h2 := runSupervisor(t, cfg, f2)
		defer h2.finish()
		advance(5 * time.Second)
		db, api := h2.status("db"), h2.status("api")
		if !db.State.Live() {
			if api.State == apitype.StateRunning {
				t.Errorf("Status(api) = running while its dependency db is %s", db.State)
			}
			return
		}
		if strings.Contains(db.Message, "operator") {
			t.Errorf("Status(db) = %s with message %q; want no operator's stop reported for a live instance", db.State, db.Message)
		}
		if _, err := h2.s.Stop(context.Background(), "web", true); err != nil {
			t.Fatalf("Stop(web, wait) = %v; want nil", err)
		}
		if got, want := readStopped(t, dir), []string{"web"}; !slices.Equal(got, want) {
			t.Errorf("stopped.json with db %s = %v; want %v", db.State, got, want)
		}
	})
}
