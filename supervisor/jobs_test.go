package supervisor

import (
	"context"
	"errors"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

func jobCfg(name string, mods ...func(*config.Job)) *config.Job {
	j := &config.Job{
		Name: name, Command: []string{"/bin/true"}, Directory: "/", Umask: -1,
		InheritEnvironment: true, Stdout: config.OutputFile, Stderr: config.OutputStdout,
		LogMaxSize: 1 << 20, LogMaxFiles: 2, StopSignal: syscall.SIGTERM, StopTimeout: 10 * time.Second,
		KillGroup: true, MaxConcurrent: 1, QueueMax: 2, Args: "none", KeepRuns: 20,
	}
	for _, m := range mods {
		m(j)
	}
	return j
}

func withJobs(cfg *config.Config, jobs ...*config.Job) *config.Config {
	cfg.Jobs = jobs
	return cfg
}

func runStates(t *testing.T, h *harness) map[string]apitype.RunState {
	t.Helper()
	runs, err := h.s.Jobs(context.Background())
	if err != nil {
		t.Fatalf("Jobs() = %v", err)
	}
	m := make(map[string]apitype.RunState)
	for _, r := range runs {
		m[r.ID] = r.State
	}
	return m
}

func TestJobRunQueueAndRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, withJobs(newConfig(t.TempDir()), jobCfg("backup")), f)
		defer h.finish()
		ctx := context.Background()
		var ids []string
		for range 3 {
			r, err := h.s.RunJob(ctx, "backup", nil)
			if err != nil {
				t.Fatalf("RunJob() = %v", err)
			}
			ids = append(ids, r.ID)
		}
		if want := []string{"backup-1", "backup-2", "backup-3"}; !slices.Equal(ids, want) {
			t.Errorf("run ids = %v; want %v", ids, want)
		}
		// max_concurrent 1, queue_max 2: the fourth is refused.
		if _, err := h.s.RunJob(ctx, "backup", nil); !errors.Is(err, apitype.ErrQueueFull) {
			t.Errorf("RunJob(4th) = %v; want ErrQueueFull", err)
		}
		st := runStates(t, h)
		if st["backup-1"] != apitype.RunRunning || st["backup-2"] != apitype.RunQueued || st["backup-3"] != apitype.RunQueued {
			t.Fatalf("run states = %v; want 1 running, 2 and 3 queued", st)
		}
		f.exit(t, "backup-1", 0, 0)
		st = runStates(t, h)
		if st["backup-1"] != apitype.RunSucceeded || st["backup-2"] != apitype.RunRunning {
			t.Fatalf("after backup-1 exits 0: %v; want it succeeded and backup-2 running", st)
		}
		f.exit(t, "backup-2", 3, 0)
		if st := runStates(t, h); st["backup-2"] != apitype.RunFailed {
			t.Errorf("backup-2 after exit 3 = %v; want failed", st["backup-2"])
		}
		runs, _ := h.s.Jobs(ctx)
		if runs[0].ID != "backup-3" {
			t.Errorf("Jobs()[0] = %s; want the newest, backup-3", runs[0].ID)
		}
	})
}

func TestJobArgsPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, withJobs(newConfig(t.TempDir()), jobCfg("none"), jobCfg("app", func(j *config.Job) { j.Args = "append" })), f)
		defer h.finish()
		ctx := context.Background()
		tests := []struct {
			name string
			job  string
			args []string
			want error
		}{
			{"none refuses args", "none", []string{"x"}, apitype.ErrBadRequest},
			{"append takes args", "app", []string{"; rm -rf /", "b"}, nil},
			{"NUL refused", "app", []string{"a\x00b"}, apitype.ErrBadRequest},
			{"too large refused", "app", []string{string(make([]byte, maxArgBytes+1))}, apitype.ErrBadRequest},
			{"unknown job", "nope", nil, apitype.ErrNotFound},
		}
		for _, tt := range tests {
			r, err := h.s.RunJob(ctx, tt.job, tt.args)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("%s: RunJob(%s, %q) = %v; want %v", tt.name, tt.job, tt.args, err, tt.want)
			}
			if tt.want == nil && !slices.Equal(r.Args, tt.args) {
				t.Errorf("%s: run args = %q; want %q (literal, one element each)", tt.name, r.Args, tt.args)
			}
		}
	})
}

func TestJobTimeoutAndStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, withJobs(newConfig(t.TempDir()),
			jobCfg("slow", func(j *config.Job) { j.Timeout = time.Minute; j.StopTimeout = 5 * time.Second; j.MaxConcurrent = 2 })), f)
		defer h.finish()
		ctx := context.Background()
		a, _ := h.s.RunJob(ctx, "slow", nil)
		b, _ := h.s.RunJob(ctx, "slow", nil)
		f.setStubborn(a.ID) // ignores TERM: the timeout ends in SIGKILL
		advance(time.Minute)
		if st := runStates(t, h); st[a.ID] != apitype.RunRunning || st[b.ID] != apitype.RunTimedOut {
			t.Fatalf("after the timeout: %v; want %s still stopping (running), %s timed_out", st, a.ID, b.ID)
		}
		advance(5 * time.Second)
		if st := runStates(t, h); st[a.ID] != apitype.RunTimedOut {
			t.Fatalf("after stop_timeout: %s = %v; want timed_out (SIGKILLed)", a.ID, st[a.ID])
		}
		c, _ := h.s.RunJob(ctx, "slow", nil)
		if _, err := h.s.StopRun(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st := runStates(t, h); st[c.ID] != apitype.RunStopped {
			t.Errorf("stopped run = %v; want stopped", st[c.ID])
		}
		if _, err := h.s.StopRun(ctx, "slow-99"); !errors.Is(err, apitype.ErrNotFound) {
			t.Errorf("StopRun(unknown) = %v; want ErrNotFound", err)
		}
	})
}

func TestJobKeepRunsAndIDsPersist(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := newFake()
		cfg := withJobs(newConfig(dir), jobCfg("j", func(j *config.Job) { j.KeepRuns = 2 }))
		h := runSupervisor(t, cfg, f)
		ctx := context.Background()
		for range 4 {
			r, _ := h.s.RunJob(ctx, "j", nil)
			f.exit(t, r.ID, 0, 0)
		}
		runs, _ := h.s.Jobs(ctx)
		if len(runs) != 2 || runs[0].ID != "j-4" || runs[1].ID != "j-3" {
			t.Errorf("Jobs() after 4 runs with keep_runs 2 = %v; want j-4, j-3", runs)
		}
		h.finish()

		h2 := runSupervisor(t, cfg, newFake())
		defer h2.finish()
		r, _ := h2.s.RunJob(ctx, "j", nil)
		if r.ID != "j-5" {
			t.Errorf("first run after a restart = %s; want j-5", r.ID)
		}
	})
}

func TestJobDrainStopsRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, withJobs(newConfig(t.TempDir()), jobCfg("j", func(j *config.Job) { j.QueueMax = 5 })), f)
		ctx := context.Background()
		a, _ := h.s.RunJob(ctx, "j", nil)
		h.s.RunJob(ctx, "j", nil)
		if err := h.s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := h.wait(); err != nil {
			t.Fatalf("Run() = %v", err)
		}
		if sigs := f.sigsTo(a.ID); len(sigs) == 0 || sigs[0].sig != syscall.SIGTERM {
			t.Errorf("signals to %s in the drain = %v; want SIGTERM", a.ID, sigs)
		}
	})
}
