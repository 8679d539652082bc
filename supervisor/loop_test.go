package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// TestLoopAutostart: an autostart program is spawned at once and runs once
// it has stayed up start_seconds; one without autostart is left alone.
func TestLoopAutostart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web"), prog("batch", noAutostart)), f)
		defer h.finish()

		if got, want := f.spawned(), []string{"web"}; !slices.Equal(got, want) {
			t.Fatalf("spawned = %v; want %v", got, want)
		}
		a := h.wantState("web", apitype.StateStarting)
		if a.Pid == nil || *a.Pid != f.pid("web") {
			t.Errorf("Status(web).Pid = %v; want %d", ptrStr(a.Pid), f.pid("web"))
		}
		if a.Ready {
			t.Errorf("Status(web).Ready = true while starting; want false")
		}
		h.wantState("batch", apitype.StateStopped)

		advance(time.Second - time.Millisecond)
		h.wantState("web", apitype.StateStarting)
		advance(time.Millisecond)
		a = h.wantState("web", apitype.StateRunning)
		if !a.Ready || !a.Healthy || a.Restarts != 0 || a.Message != "" {
			t.Errorf("Status(web) = ready %v, healthy %v, restarts %d, message %q; want true, true, 0, \"\"", a.Ready, a.Healthy, a.Restarts, a.Message)
		}
		advance(10 * time.Second)
		// Uptime counts from the spawn, as started_at does.
		if a := h.status("web"); a.UptimeSeconds != 11 {
			t.Errorf("Status(web).UptimeSeconds = %v; want 11", a.UptimeSeconds)
		}
		h.wantSpawns("batch", 0)
	})
}

// TestLoopStartSecondsZero: with start_seconds 0 an instance runs as soon
// as it is spawned.
func TestLoopStartSecondsZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", startSeconds(0))), f)
		defer h.finish()
		h.wantState("web", apitype.StateRunning)
	})
}

// TestLoopCrashBackoffFatal: a process that keeps exiting during
// start_seconds is retried after doubling delays, then goes fatal after
// start_retries, with the reason in message.
func TestLoopCrashBackoffFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web")), f)
		defer h.finish()

		delays := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
		for i, d := range delays {
			advance(500 * time.Millisecond)
			f.exit(t, "web", 1, 0)
			a := h.wantState("web", apitype.StateBackoff)
			if !strings.Contains(a.Message, "exited during start_seconds: exit code 1") {
				t.Errorf("Status(web).Message = %q; want it to contain %q", a.Message, "exited during start_seconds: exit code 1")
			}
			if a.ExitCode == nil || *a.ExitCode != 1 || a.Pid != nil {
				t.Errorf("Status(web) exit_code, pid = %v, %v; want 1, nil", ptrStr(a.ExitCode), ptrStr(a.Pid))
			}
			// The delay is varied by up to ±20%.
			advance(d*8/10 - time.Millisecond)
			h.wantSpawns("web", i+1)
			advance(d*4/10 + 2*time.Millisecond)
			h.wantSpawns("web", i+2)
			h.wantState("web", apitype.StateStarting)
		}
		advance(500 * time.Millisecond)
		f.exit(t, "web", 1, 0)
		a := h.wantState("web", apitype.StateFatal)
		for _, want := range []string{"exit code 1", "gave up after 4 attempts"} {
			if !strings.Contains(a.Message, want) {
				t.Errorf("Status(web).Message = %q; want it to contain %q", a.Message, want)
			}
		}
		advance(time.Hour)
		h.wantSpawns("web", 4)
		h.wantState("web", apitype.StateFatal)
	})
}

// TestLoopSpawnErrorFatal: a spawn that fails (a bad command) goes through
// backoff to fatal too, with the errno in message.
func TestLoopSpawnErrorFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setErr("web", syscall.ENOENT)
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web")), f)
		defer h.finish()

		a := h.wantState("web", apitype.StateBackoff)
		if !strings.Contains(a.Message, "no such file or directory") {
			t.Errorf("Status(web).Message = %q; want it to contain %q", a.Message, "no such file or directory")
		}
		advance(time.Minute)
		a = h.wantState("web", apitype.StateFatal)
		h.wantSpawns("web", 4)
		for _, want := range []string{"no such file or directory", "gave up after 4 attempts"} {
			if !strings.Contains(a.Message, want) {
				t.Errorf("Status(web).Message = %q; want it to contain %q", a.Message, want)
			}
		}

		// An explicit start gives it all its retries again.
		f.setErr("web", nil)
		if _, err := h.s.Start(context.Background(), "web", false); err != nil {
			t.Fatalf("Start(web) = %v; want nil", err)
		}
		h.wantSpawns("web", 5)
		advance(time.Second)
		h.wantState("web", apitype.StateRunning)
	})
}

// TestLoopSpawnBatches: a start of many instances reaches the spawner in
// batches of max_parallel_starts; one that fails in the middle of a batch
// goes to backoff with its error, and the rest of its batch runs.
func TestLoopSpawnBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		var progs []*config.Program
		for i := range 40 {
			progs = append(progs, prog(fmt.Sprintf("p%02d", i), startSeconds(0)))
		}
		f.setErr("p17", syscall.ENOENT)
		cfg := newConfig(t.TempDir(), progs...)
		cfg.Superd.MaxParallelStarts = 16
		h := runSupervisor(t, cfg, f)
		defer h.finish()

		if got, want := f.batchSizes(), []int{16, 16, 8}; !slices.Equal(got, want) {
			t.Errorf("Spawn batch sizes = %v; want %v", got, want)
		}
		for _, p := range progs {
			if p.Name == "p17" {
				continue
			}
			h.wantState(p.Name, apitype.StateRunning)
			h.wantSpawns(p.Name, 1)
		}
		a := h.wantState("p17", apitype.StateBackoff)
		if !strings.Contains(a.Message, "no such file or directory") {
			t.Errorf("Status(p17).Message = %q; want it to contain %q", a.Message, "no such file or directory")
		}
		f.setErr("p17", nil)
		advance(2 * time.Second)
		h.wantState("p17", apitype.StateRunning)
	})
}

// TestLoopStartRetriesNever: start_retries -1 keeps retrying, at most
// backoff_max (+20%) apart.
func TestLoopStartRetriesNever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setErr("web", syscall.EACCES)
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", startRetries(-1))), f)
		defer h.finish()
		advance(time.Hour)
		h.wantState("web", apitype.StateBackoff)
		// 1+2+4+8+16+32 s, then every 60 s (±20%): well over 50 attempts.
		if n := f.spawnCount("web"); n < 50 {
			t.Errorf("spawns of web in an hour = %d; want at least 50", n)
		}
	})
}

// TestLoopOnFatalShutdown: on_fatal = "shutdown" drains everything and Run
// returns ErrFatalShutdown.
func TestLoopOnFatalShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setErr("web", syscall.ENOENT)
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", onFatalShutdown, startRetries(0)), prog("db")), f)
		defer h.finish()

		if err := h.wait(); !errors.Is(err, ErrFatalShutdown) {
			t.Fatalf("Run() = %v; want %v", err, ErrFatalShutdown)
		}
		if got := f.sigsTo("db"); len(got) == 0 || got[0].sig != syscall.SIGTERM {
			t.Errorf("signals to db = %v; want SIGTERM first", got)
		}
	})
}

// TestLoopOnFatalNone: without on_fatal, a fatal program leaves superd
// running.
func TestLoopOnFatalNone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setErr("web", syscall.ENOENT)
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", startRetries(0))), f)
		defer h.finish()
		h.wantState("web", apitype.StateFatal)
		if ok, err := h.returned(); ok {
			t.Fatalf("Run() = %v after web went fatal; want it running", err)
		}
	})
}

// TestLoopDependsOn: a dependent is spawned only once its dependency runs.
func TestLoopDependsOn(t *testing.T) {
	for _, dbAutostart := range []bool{true, false} {
		name := "db autostart"
		if !dbAutostart {
			name = "db started by api"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake()
				db := prog("db", startSeconds(2*time.Second))
				if !dbAutostart {
					noAutostart(db)
				}
				h := runSupervisor(t, newConfig(t.TempDir(), prog("api", dependsOn("db")), db), f)
				defer h.finish()

				if got, want := f.spawned(), []string{"db"}; !slices.Equal(got, want) {
					t.Fatalf("spawned = %v; want %v", got, want)
				}
				a := h.wantState("api", apitype.StateStarting)
				if a.Pid != nil || !strings.Contains(a.Message, "waiting for dependencies") {
					t.Errorf("Status(api) pid, message = %v, %q; want nil, waiting for dependencies", ptrStr(a.Pid), a.Message)
				}
				advance(2*time.Second - time.Millisecond)
				h.wantSpawns("api", 0)
				advance(time.Millisecond)
				h.wantState("db", apitype.StateRunning)
				if got, want := f.spawned(), []string{"db", "api"}; !slices.Equal(got, want) {
					t.Fatalf("spawned = %v; want %v", got, want)
				}
				advance(time.Second)
				h.wantState("api", apitype.StateRunning)
			})
		})
	}
}

// TestLoopDependencyFatal: a dependency that goes fatal makes its waiting
// dependent fatal, and the dependent is never spawned.
func TestLoopDependencyFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setErr("db", syscall.ENOENT)
		h := runSupervisor(t, newConfig(t.TempDir(), prog("api", dependsOn("db")), prog("db", startRetries(1))), f)
		defer h.finish()

		h.wantState("api", apitype.StateStarting)
		advance(2 * time.Second)
		h.wantState("db", apitype.StateFatal)
		a := h.wantState("api", apitype.StateFatal)
		if !strings.Contains(a.Message, "dependency db is fatal") {
			t.Errorf("Status(api).Message = %q; want it to contain %q", a.Message, "dependency db is fatal")
		}
		h.wantSpawns("api", 0)
	})
}

// TestLoopRestartPolicy: a running instance that exits is restarted by
// policy, counted in restarts, after restart_delay.
func TestLoopRestartPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		cfg := newConfig(t.TempDir(),
			prog("web"), // on-failure
			prog("cron", restartPolicy(config.RestartAlways), restartDelay(5*time.Second)), // always, delayed
			prog("once", restartPolicy(config.RestartNever)),
		)
		h := runSupervisor(t, cfg, f)
		defer h.finish()
		advance(time.Second)

		f.exit(t, "web", 0, 0)
		if a := h.wantState("web", apitype.StateExited); a.Restarts != 0 || a.Message != "exit code 0" {
			t.Errorf("Status(web) restarts, message = %d, %q; want 0, %q", a.Restarts, a.Message, "exit code 0")
		}
		f.exit(t, "once", 0, syscall.SIGSEGV)
		if a := h.wantState("once", apitype.StateExited); a.ExitSignal == nil || *a.ExitSignal != "SIGSEGV" || a.ExitCode != nil {
			t.Errorf("Status(once) exit_code, exit_signal = %v, %v; want nil, SIGSEGV", ptrStr(a.ExitCode), ptrStr(a.ExitSignal))
		}

		f.exit(t, "cron", 0, 0)
		a := h.wantState("cron", apitype.StateStarting)
		if a.Restarts != 1 || a.Pid != nil {
			t.Errorf("Status(cron) restarts, pid = %d, %v; want 1, nil", a.Restarts, ptrStr(a.Pid))
		}
		advance(5*time.Second - time.Millisecond)
		h.wantSpawns("cron", 1)
		advance(time.Millisecond)
		h.wantSpawns("cron", 2)
		advance(time.Second)
		h.wantState("cron", apitype.StateRunning)

		if _, err := h.s.Start(context.Background(), "web", false); err != nil {
			t.Fatalf("Start(web) = %v; want nil", err)
		}
		advance(time.Second)
		f.exit(t, "web", 2, 0)
		if a := h.wantState("web", apitype.StateStarting); a.Restarts != 1 {
			t.Errorf("Status(web).Restarts = %d; want 1", a.Restarts)
		}
		h.wantSpawns("web", 3)
	})
}

// TestLoopStopEscalation: stop sends stop_signal then SIGCONT to the group,
// and SIGKILL to the group after stop_timeout if it has not exited.
func TestLoopStopEscalation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setStubborn("web")
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web")), f)
		defer h.finish()
		advance(time.Second)
		pid := f.pid("web")

		if _, err := h.s.Stop(context.Background(), "web", false); err != nil {
			t.Fatalf("Stop(web) = %v; want nil", err)
		}
		synctest.Wait()
		want := []sigCall{{"web", pid, syscall.SIGTERM, true}, {"web", pid, syscall.SIGCONT, true}}
		if got := f.sigsTo("web"); !slices.Equal(got, want) {
			t.Fatalf("signals = %v; want %v", got, want)
		}
		a := h.wantState("web", apitype.StateStopping)
		if a.Pid == nil || *a.Pid != pid {
			t.Errorf("Status(web).Pid = %v while stopping; want %d", ptrStr(a.Pid), pid)
		}
		advance(10*time.Second - time.Millisecond)
		if got := f.sigsTo("web"); !slices.Equal(got, want) {
			t.Fatalf("signals before stop_timeout = %v; want %v", got, want)
		}
		advance(time.Millisecond)
		want = append(want, sigCall{"web", pid, syscall.SIGKILL, true})
		if got := f.sigsTo("web"); !slices.Equal(got, want) {
			t.Fatalf("signals after stop_timeout = %v; want %v", got, want)
		}
		a = h.wantState("web", apitype.StateStopped)
		if a.ExitSignal == nil || *a.ExitSignal != "SIGKILL" {
			t.Errorf("Status(web).ExitSignal = %v; want SIGKILL", ptrStr(a.ExitSignal))
		}
		advance(time.Hour)
		h.wantSpawns("web", 1)
	})
}

// TestLoopStopKillGroupFalse: with kill_group = false stop_signal goes to
// the leader alone, SIGKILL still to the group.
func TestLoopStopKillGroupFalse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setStubborn("web")
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", noKillGroup)), f)
		defer h.finish()
		pid := f.pid("web")
		if _, err := h.s.Stop(context.Background(), "web", false); err != nil {
			t.Fatalf("Stop(web) = %v; want nil", err)
		}
		advance(10 * time.Second)
		want := []sigCall{{"web", pid, syscall.SIGTERM, false}, {"web", pid, syscall.SIGCONT, false}, {"web", pid, syscall.SIGKILL, true}}
		if got := f.sigsTo("web"); !slices.Equal(got, want) {
			t.Fatalf("signals = %v; want %v", got, want)
		}
		h.wantState("web", apitype.StateStopped)
	})
}

// TestLoopStopWaitsForGroup: when the leader exits first, the stop is
// complete only once the rest of its process group is gone.
func TestLoopStopWaitsForGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web"), prog("worker")), f)
		defer h.finish()
		advance(time.Second)

		// web's children leave by themselves after 3s.
		web := f.pid("web")
		f.setExtra(web, true)
		if _, err := h.s.Stop(context.Background(), "web", false); err != nil {
			t.Fatalf("Stop(web) = %v; want nil", err)
		}
		synctest.Wait()
		if f.pid("web") != 0 {
			t.Fatalf("web's leader did not exit on SIGTERM")
		}
		advance(3 * time.Second)
		a := h.wantState("web", apitype.StateStopping)
		if a.Pid != nil {
			t.Errorf("Status(web).Pid = %v after the leader exited; want nil", ptrStr(a.Pid))
		}
		f.setExtra(web, false)
		advance(time.Second)
		h.wantState("web", apitype.StateStopped)
		if got := f.sigsTo("web"); len(got) != 2 {
			t.Errorf("signals to web = %v; want SIGTERM, SIGCONT only", got)
		}

		// worker's children ignore SIGTERM: they get SIGKILL after stop_timeout.
		worker := f.pid("worker")
		f.setExtra(worker, true)
		if _, err := h.s.Stop(context.Background(), "worker", false); err != nil {
			t.Fatalf("Stop(worker) = %v; want nil", err)
		}
		advance(10*time.Second - time.Millisecond)
		h.wantState("worker", apitype.StateStopping)
		advance(time.Millisecond)
		want := []sigCall{{"worker", worker, syscall.SIGTERM, true}, {"worker", worker, syscall.SIGCONT, true}, {"worker", worker, syscall.SIGKILL, true}}
		if got := f.sigsTo("worker"); !slices.Equal(got, want) {
			t.Errorf("signals to worker = %v; want %v", got, want)
		}
		advance(time.Second)
		h.wantState("worker", apitype.StateStopped)
	})
}

// TestLoopExitKillsLeftovers: when a running leader exits and leaves
// members in its group, they get SIGKILL (kill_group = true).
func TestLoopExitKillsLeftovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", restartPolicy(config.RestartNever))), f)
		defer h.finish()
		advance(time.Second)
		pid := f.pid("web")
		f.setExtra(pid, true)
		f.exit(t, "web", 0, 0)
		want := []sigCall{{"web", pid, syscall.SIGKILL, true}}
		if got := f.sigsTo("web"); !slices.Equal(got, want) {
			t.Errorf("signals = %v; want %v", got, want)
		}
		h.wantState("web", apitype.StateExited)
	})
}

// TestLoopStopDuringBackoff: a stop during backoff or a pending restart
// cancels it at once.
func TestLoopStopDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web"), prog("cron", restartPolicy(config.RestartAlways), restartDelay(time.Minute))), f)
		defer h.finish()

		f.exit(t, "web", 1, 0)
		h.wantState("web", apitype.StateBackoff)
		advance(time.Second)
		f.exit(t, "cron", 0, 0)
		h.wantState("cron", apitype.StateStarting)

		for _, name := range []string{"web", "cron"} {
			if _, err := h.s.Stop(context.Background(), name, false); err != nil {
				t.Fatalf("Stop(%s) = %v; want nil", name, err)
			}
			h.wantState(name, apitype.StateStopped)
		}
		advance(time.Hour)
		h.wantSpawns("web", 1)
		h.wantSpawns("cron", 1)
	})
}

// TestLoopIdle: with every instance running, the loop has no timer: an
// hour passes without a single call to the spawner.
func TestLoopIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web", instances(2)), prog("db"), prog("api", dependsOn("db"))), f)
		defer h.finish()
		advance(5 * time.Second)
		for _, name := range []string{"web:0", "web:1", "db", "api"} {
			h.wantState(name, apitype.StateRunning)
		}
		before := f.callCount()
		advance(time.Hour)
		if got := f.callCount(); got != before {
			t.Errorf("spawner calls during an idle hour = %d; want 0", got-before)
		}
	})
}

// TestLoopRunningClearsMessage: once an instance runs again after a failed
// start or an automatic restart, its message no longer tells of the retry.
func TestLoopRunningClearsMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := runSupervisor(t, newConfig(t.TempDir(), prog("web"), prog("db", restartPolicy(config.RestartAlways))), f)
		defer h.finish()

		f.exit(t, "web", 1, 0)
		h.wantState("web", apitype.StateBackoff)
		advance(1300 * time.Millisecond) // the retry
		advance(time.Second)             // start_seconds
		if a := h.wantState("web", apitype.StateRunning); a.Message != "" {
			t.Errorf("Status(web).Message = %q while running after a retry; want empty", a.Message)
		}

		f.exit(t, "db", 0, 0)
		advance(time.Second)
		if a := h.wantState("db", apitype.StateRunning); a.Message != "" {
			t.Errorf("Status(db).Message = %q while running after a restart; want empty", a.Message)
		}
	})
}
