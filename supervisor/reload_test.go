package supervisor

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// runReloadable runs a Supervisor whose Reload loads *next.
func runReloadable(t *testing.T, cfg *config.Config, f *fakeSpawner, next **config.Config, loadErr *error) *harness {
	t.Helper()
	load := func() (*config.Config, error) {
		if *loadErr != nil {
			return nil, *loadErr
		}
		return *next, nil
	}
	h := &harness{t: t, s: New(Options{Config: cfg, Spawner: f, Load: load}), f: f, cfg: cfg, done: make(chan error, 1)}
	// exits when a drain completes; finish waits on done.
	go func() { h.done <- h.s.Run(context.Background()) }()
	synctest.Wait()
	return h
}

func names(st []apitype.Instance) []string {
	var out []string
	for _, a := range st {
		out = append(out, a.Name)
	}
	return out
}

func TestReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := newFake()
		var next *config.Config
		var loadErr error
		h := runReloadable(t, newConfig(dir, prog("keep"), prog("gone"), prog("edit"), prog("many", instances(2))), f, &next, &loadErr)
		defer h.finish()
		advance(time.Second)
		keep := h.wantState("keep", apitype.StateRunning)
		edit := h.wantState("edit", apitype.StateRunning)
		many0 := h.wantState("many:0", apitype.StateRunning)

		next = newConfig(dir, prog("keep"), prog("edit", startSeconds(2*time.Second)), prog("many", instances(4)), prog("new"))
		res, err := h.s.Reload(context.Background())
		if err != nil {
			t.Fatalf("Reload() = %v", err)
		}
		want := apitype.ReloadResult{Added: []string{"new"}, Removed: []string{"gone"}, Changed: []string{"edit", "many"}, Unchanged: []string{"keep"}, RestartRequired: []string{}}
		if !slices.Equal(res.Added, want.Added) || !slices.Equal(res.Removed, want.Removed) || !slices.Equal(res.Changed, want.Changed) || !slices.Equal(res.Unchanged, want.Unchanged) {
			t.Fatalf("Reload() = %+v; want %+v", res, want)
		}
		advance(3 * time.Second)

		if a := h.wantState("keep", apitype.StateRunning); *a.Pid != *keep.Pid || !a.StartedAt.Equal(*keep.StartedAt) {
			t.Errorf("unchanged keep: pid %d started %v; want untouched %d %v", *a.Pid, a.StartedAt, *keep.Pid, keep.StartedAt)
		}
		if a := h.wantState("edit", apitype.StateRunning); *a.Pid == *edit.Pid {
			t.Errorf("changed edit kept pid %d; want a restart", *a.Pid)
		}
		if a := h.wantState("many:0", apitype.StateRunning); *a.Pid != *many0.Pid {
			t.Errorf("many:0 pid %d after scaling 2→4; want untouched %d", *a.Pid, *many0.Pid)
		}
		h.wantState("many:3", apitype.StateRunning)
		h.wantState("new", apitype.StateRunning)
		st, _ := h.s.Status(context.Background())
		if got, want := names(st), []string{"edit", "keep", "many:0", "many:1", "many:2", "many:3", "new"}; !slices.Equal(got, want) {
			t.Errorf("Status() names = %v; want %v (removed gone)", got, want)
		}
		if _, err := h.s.Status(context.Background(), "gone"); !errors.Is(err, apitype.ErrNotFound) {
			t.Errorf("Status(gone) = %v; want ErrNotFound", err)
		}
	})
}

// TestReloadChangedWaitsForOld: the replacement of a changed program starts
// only after the old process is down.
func TestReloadChangedWaitsForOld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := newFake()
		var next *config.Config
		var loadErr error
		h := runReloadable(t, newConfig(dir, prog("web", stopSignal(15, 5*time.Second))), f, &next, &loadErr)
		defer h.finish()
		advance(time.Second)
		f.setStubborn("web")
		next = newConfig(dir, prog("web", stopSignal(15, 5*time.Second), restartDelay(time.Second)))
		if _, err := h.s.Reload(context.Background()); err != nil {
			t.Fatalf("Reload() = %v", err)
		}
		advance(4 * time.Second)
		h.wantSpawns("web", 1)
		advance(2 * time.Second) // stop_timeout: SIGKILL, the old one dies
		h.wantSpawns("web", 2)
	})
}

func TestReloadInvalidChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := newFake()
		var next *config.Config
		loadErr := errors.New("superd.toml:3:1: unknown key")
		h := runReloadable(t, newConfig(dir, prog("web")), f, &next, &loadErr)
		defer h.finish()
		advance(time.Second)
		before := f.callCount()
		_, err := h.s.Reload(context.Background())
		if !errors.Is(err, apitype.ErrBadRequest) {
			t.Fatalf("Reload() = %v; want ErrBadRequest", err)
		}
		advance(time.Second)
		if f.callCount() != before {
			t.Errorf("spawner calls after an invalid reload: %d; want %d", f.callCount(), before)
		}
	})
}

func TestReloadRestartRequired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := newFake()
		var next *config.Config
		var loadErr error
		h := runReloadable(t, newConfig(dir, prog("web")), f, &next, &loadErr)
		defer h.finish()
		next = newConfig(dir, prog("web"))
		next.Superd.Socket = "/elsewhere.sock"
		res, err := h.s.Reload(context.Background())
		if err != nil || !slices.Equal(res.RestartRequired, []string{"socket"}) {
			t.Errorf("Reload() = %+v, %v; want restart_required [socket]", res, err)
		}
	})
}

func TestEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web")), f)
		defer h.finish()
		ch, cancel, err := h.s.Events(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer cancel()
		advance(time.Second)
		pid := f.pid("web")
		f.exit(t, "web", 3, 0)
		advance(10 * time.Millisecond)
		var got []string
		var exitEv apitype.Event
	drain:
		for {
			select {
			case ev := <-ch:
				got = append(got, string(ev.From)+">"+string(ev.To))
				if ev.ExitCode != nil {
					exitEv = ev
				}
			default:
				break drain
			}
		}
		want := []string{"starting>running", "running>starting", "starting>running"}
		if len(got) < 2 || !slices.Equal(got[:2], want[:2]) {
			t.Errorf("events = %v; want them to begin %v", got, want[:2])
		}
		if exitEv.ExitCode == nil || *exitEv.ExitCode != 3 || exitEv.Pid == nil || *exitEv.Pid != pid {
			t.Errorf("exit event = %+v; want exit_code 3 of pid %d", exitEv, pid)
		}
	})
}

// TestEventsSlowFollowerCutOff: a follower that never reads is cut off
// (its channel closed) instead of blocking the loop.
func TestEventsSlowFollowerCutOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", startSeconds(0))), f)
		defer h.finish()
		ch, cancel, err := h.s.Events(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer cancel()
		for range eventBuffer {
			f.exit(t, "web", 1, 0)
			synctest.Wait()
		}
		n := 0
		for range ch {
			n++
		}
		if n != eventBuffer {
			t.Errorf("follower got %d events before the cut-off; want %d", n, eventBuffer)
		}
		h.wantState("web", apitype.StateRunning)
	})
}

// TestReloadRemovedEndsLogFollowers: `logs -f` of an instance a reload
// removed ends once the instance is gone.
func TestReloadRemovedEndsLogFollowers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := newFake()
		var next *config.Config
		var loadErr error
		h := runReloadable(t, newConfig(dir, prog("gone"), prog("keep")), f, &next, &loadErr)
		defer h.finish()
		advance(time.Second)
		_, ch, cancel, err := h.s.Logs(context.Background(), "gone", 10, true)
		if err != nil {
			t.Fatal(err)
		}
		defer cancel()
		next = newConfig(dir, prog("keep"))
		if _, err := h.s.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for range ch {
		}
		// Reaching here means the channel was closed.
	})
}
