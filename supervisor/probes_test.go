package supervisor

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// probeFake is a fakeSpawner that also runs checks (a Prober). The answer
// of a check is the func the test set for its target (the tcp or http
// address, or the exec argv joined by spaces); a target without one
// answers "connection refused". It counts calls and how many run at once.
type probeFake struct {
	*fakeSpawner

	pmu      sync.Mutex // guards the fields below
	answers  map[string]func(ctx context.Context) error
	calls    map[string]int
	inflight map[string]int
	peak     map[string]int
}

func newProbeFake() *probeFake {
	return &probeFake{
		fakeSpawner: newFake(),
		answers:     make(map[string]func(context.Context) error),
		calls:       make(map[string]int),
		inflight:    make(map[string]int),
		peak:        make(map[string]int),
	}
}

// checkTarget is the key of c in probeFake.answers.
func checkTarget(c *config.Check) string {
	switch {
	case c.TCP != "":
		return c.TCP
	case c.HTTP != "":
		return c.HTTP
	}
	return strings.Join(c.Exec, " ")
}

func (f *probeFake) Probe(ctx context.Context, c *config.Check, dir string) error {
	key := checkTarget(c)
	f.pmu.Lock()
	f.calls[key]++
	f.inflight[key]++
	f.peak[key] = max(f.peak[key], f.inflight[key])
	answer := f.answers[key]
	f.pmu.Unlock()
	defer func() {
		f.pmu.Lock()
		f.inflight[key]--
		f.pmu.Unlock()
	}()
	if answer == nil {
		return errConnRefused
	}
	return answer(ctx)
}

var errConnRefused = fmt.Errorf("tcp: %w", syscall.ECONNREFUSED)

// answer sets how checks of target answer from now on.
func (f *probeFake) answer(target string, a func(context.Context) error) {
	f.pmu.Lock()
	defer f.pmu.Unlock()
	f.answers[target] = a
}

func (f *probeFake) probeCalls(target string) int {
	f.pmu.Lock()
	defer f.pmu.Unlock()
	return f.calls[target]
}

func (f *probeFake) peakInflight(target string) int {
	f.pmu.Lock()
	defer f.pmu.Unlock()
	return f.peak[target]
}

// Answers.

func pass(context.Context) error { return nil }

func failWith(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

// slowly answers a after d, or the context's error if it ends first.
func slowly(d time.Duration, a func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return a(ctx)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// hang answers only when the context ends.
func hang(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// Program modifiers.

func readyOn(target string, timeout time.Duration) func(*config.Program) {
	return func(p *config.Program) { p.Ready = &config.Check{TCP: target, Timeout: timeout} }
}

func readyLog(re string, timeout time.Duration) func(*config.Program) {
	return func(p *config.Program) { p.Ready = &config.Check{Log: regexp.MustCompile(re), Timeout: timeout} }
}

func healthOn(target string, interval, timeout time.Duration, failures int) func(*config.Program) {
	return func(p *config.Program) {
		p.Health = &config.Check{TCP: target, Interval: interval, Timeout: timeout, Failures: failures}
	}
}

func backoffInitial(d time.Duration) func(*config.Program) {
	return func(p *config.Program) { p.BackoffInitial = d }
}

// runProbing is runSupervisor with a spawner that runs checks.
func runProbing(t *testing.T, cfg *config.Config, f *probeFake) *harness {
	t.Helper()
	h := &harness{t: t, s: New(Options{Config: cfg, Spawner: f}), f: f.fakeSpawner, cfg: cfg, done: make(chan error, 1)}
	// exits when a drain completes; finish (or the test) waits on done.
	go func() { h.done <- h.s.Run(context.Background()) }()
	synctest.Wait()
	return h
}

// wantMessage fails the test unless a's message contains every one of subs.
func wantMessage(t *testing.T, a apitype.Instance, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(a.Message, s) {
			t.Errorf("Status(%s).Message = %q; want it to contain %q", a.Name, a.Message, s)
		}
	}
}

// TestLoopReadyCheckGatesRunning: an instance with a ready check stays
// starting (ready false) while the check fails, is probed every
// readyInterval, and runs once the check passes; a running instance is no
// longer probed.
func TestLoopReadyCheckGatesRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newProbeFake()
		h := runProbing(t, newConfig(t.TempDir(), prog("web", readyOn("web:80", 30*time.Second))), f)
		defer h.finish()

		a := h.wantState("web", apitype.StateStarting)
		if a.Ready || a.Pid == nil {
			t.Errorf("Status(web) = ready %v, pid %v; want false, a pid", a.Ready, ptrStr(a.Pid))
		}
		advance(5 * time.Second)
		a = h.wantState("web", apitype.StateStarting)
		if a.Ready {
			t.Errorf("Status(web).Ready = true while its check fails; want false")
		}
		// One probe at the spawn, then one readyInterval after each failure.
		if got, lo, hi := f.probeCalls("web:80"), int(5*time.Second/readyInterval), int(5*time.Second/readyInterval)+1; got < lo || got > hi {
			t.Errorf("probes of web:80 in 5s = %d; want %d..%d", got, lo, hi)
		}
		h.wantSpawns("web", 1)

		f.answer("web:80", pass)
		advance(readyInterval)
		a = h.wantState("web", apitype.StateRunning)
		if !a.Ready || !a.Healthy || a.Message != "" {
			t.Errorf("Status(web) = ready %v, healthy %v, message %q; want true, true, \"\"", a.Ready, a.Healthy, a.Message)
		}
		calls := f.probeCalls("web:80")
		advance(time.Minute)
		if got := f.probeCalls("web:80"); got != calls {
			t.Errorf("probes of web:80 while running = %d; want none (no health check)", got-calls)
		}
	})
}

// TestLoopReadyBeforeStartSeconds: a check that passes at once still
// waits out start_seconds.
func TestLoopReadyBeforeStartSeconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newProbeFake()
		f.answer("web:80", pass)
		h := runProbing(t, newConfig(t.TempDir(), prog("web", readyOn("web:80", 30*time.Second), startSeconds(2*time.Second))), f)
		defer h.finish()

		advance(2*time.Second - time.Millisecond)
		if a := h.wantState("web", apitype.StateStarting); a.Ready {
			t.Errorf("Status(web).Ready = true before start_seconds; want false")
		}
		advance(time.Millisecond)
		h.wantState("web", apitype.StateRunning)
		if got := f.probeCalls("web:80"); got != 1 {
			t.Errorf("probes of web:80 = %d; want 1", got)
		}
	})
}

// TestLoopNeverReadyGoesFatal: a check that never passes (refused, or a
// probe that hangs until its bound) makes each start fail at the ready
// timeout with stop_signal, then backoff, then fatal after start_retries,
// with the reason in message; nothing hangs, and a fatal instance is not
// probed.
func TestLoopNeverReadyGoesFatal(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(context.Context) error
		timeout time.Duration // of the ready check; 0: 2s
		reason  string
	}{
		{name: "refused", answer: failWith(errConnRefused), reason: "connection refused"},
		// Each attempt is cut at readyAttempt (2s), so the timeout must be
		// longer for one attempt to have failed when it is up.
		{name: "hanging probe", answer: hang, timeout: 5 * time.Second, reason: "context deadline exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				timeout := cmp.Or(tc.timeout, 2*time.Second)
				within := "not ready within " + timeout.String()
				f := newProbeFake()
				f.answer("web:80", tc.answer)
				h := runProbing(t, newConfig(t.TempDir(),
					prog("web", readyOn("web:80", timeout), startRetries(1), backoffInitial(time.Second))), f)
				defer h.finish()

				advance(timeout - time.Millisecond)
				h.wantState("web", apitype.StateStarting)
				advance(time.Millisecond)
				a := h.wantState("web", apitype.StateBackoff)
				wantMessage(t, a, within, tc.reason, "retry 1")
				if got := f.sigsTo("web"); len(got) == 0 || got[0].sig != syscall.SIGTERM {
					t.Errorf("signals to web = %v; want SIGTERM first", got)
				}

				advance(time.Minute)
				a = h.wantState("web", apitype.StateFatal)
				wantMessage(t, a, within, tc.reason, "gave up after 2 attempts")
				h.wantSpawns("web", 2)
				calls := f.probeCalls("web:80")
				advance(time.Hour)
				h.wantSpawns("web", 2)
				if got := f.probeCalls("web:80"); got != calls {
					t.Errorf("probes of a fatal instance = %d; want 0", got-calls)
				}
			})
		})
	}
}

// TestLoopOneProbeInFlight: a probe that takes longer than the interval
// never has a second one beside it, for ready and for health checks.
func TestLoopOneProbeInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newProbeFake()
		// Ready: each attempt takes 1s (5 readyIntervals) and fails, then
		// passes after 10s.
		f.answer("web:ready", slowly(time.Second, failWith(errConnRefused)))
		// Health: each check takes 3s, the interval is 1s.
		f.answer("web:health", slowly(3*time.Second, pass))
		h := runProbing(t, newConfig(t.TempDir(), prog("web", startSeconds(0),
			readyOn("web:ready", time.Minute), healthOn("web:health", time.Second, 10*time.Second, 3))), f)
		defer h.finish()

		advance(10 * time.Second)
		f.answer("web:ready", slowly(time.Second, pass))
		advance(2 * time.Second)
		h.wantState("web", apitype.StateRunning)
		advance(time.Minute)
		h.wantState("web", apitype.StateRunning)
		for _, target := range []string{"web:ready", "web:health"} {
			if got := f.peakInflight(target); got != 1 {
				t.Errorf("most probes of %s in flight at once = %d; want 1", target, got)
			}
		}
		// 60s of 3s checks 1s apart.
		if got := f.probeCalls("web:health"); got < 14 || got > 16 {
			t.Errorf("health checks in 60s = %d; want about 15", got)
		}
		h.wantSpawns("web", 1)
	})
}

// TestLoopHealthFailuresRestart: failures consecutive failed health checks
// make the instance unhealthy (healthy false while it stops) and restart
// it, counted in restarts; the new process starts healthy. Fewer failures
// in a row, or a pass between them, change nothing.
func TestLoopHealthFailuresRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newProbeFake()
		f.answer("web:80", pass)
		f.setStubborn("web") // ignores SIGTERM: it stays stopping for stop_timeout
		h := runProbing(t, newConfig(t.TempDir(), prog("web", startSeconds(0), healthOn("web:80", 10*time.Second, 2*time.Second, 3))), f)
		defer h.finish()

		h.wantState("web", apitype.StateRunning)
		advance(35 * time.Second) // checks at 10s, 20s, 30s pass
		if got := f.probeCalls("web:80"); got != 3 {
			t.Errorf("health checks in 35s = %d; want 3", got)
		}

		// Two failures, a pass, two failures: never three in a row.
		for _, a := range []func(context.Context) error{failWith(errConnRefused), failWith(errConnRefused), pass, failWith(errConnRefused), failWith(errConnRefused)} {
			f.answer("web:80", a)
			advance(10 * time.Second)
			if st := h.wantState("web", apitype.StateRunning); !st.Healthy || st.Restarts != 0 {
				t.Fatalf("Status(web) = healthy %v, restarts %d; want true, 0", st.Healthy, st.Restarts)
			}
		}
		f.answer("web:80", pass)
		advance(10 * time.Second)

		f.answer("web:80", failWith(errConnRefused))
		advance(20 * time.Second)
		if st := h.wantState("web", apitype.StateRunning); !st.Healthy {
			t.Errorf("Status(web).Healthy = false after 2 of 3 failures; want true")
		}
		advance(10 * time.Second)
		st := h.wantState("web", apitype.StateStopping)
		if st.Healthy || st.Restarts != 1 {
			t.Errorf("Status(web) = healthy %v, restarts %d; want false, 1", st.Healthy, st.Restarts)
		}
		wantMessage(t, st, "unhealthy after 3 failed checks", "connection refused")
		if got := f.sigsTo("web"); len(got) == 0 || got[0].sig != syscall.SIGTERM {
			t.Errorf("signals to web = %v; want SIGTERM first", got)
		}

		f.answer("web:80", pass)
		advance(10 * time.Second) // stop_timeout: SIGKILL, then the restart
		st = h.wantState("web", apitype.StateRunning)
		h.wantSpawns("web", 2)
		if !st.Healthy || st.Restarts != 1 {
			t.Errorf("Status(web) after the restart = healthy %v, restarts %d; want true, 1", st.Healthy, st.Restarts)
		}
		advance(time.Minute)
		h.wantSpawns("web", 2)
	})
}

// TestLoopHealthChecksOnlyWhileRunning: no health check runs before the
// instance runs, nor after it stopped.
func TestLoopHealthChecksOnlyWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newProbeFake()
		f.answer("web:80", pass)
		h := runProbing(t, newConfig(t.TempDir(), prog("web", startSeconds(5*time.Second), healthOn("web:80", time.Second, time.Second, 1))), f)
		defer h.finish()

		advance(5*time.Second - time.Millisecond)
		if got := f.probeCalls("web:80"); got != 0 {
			t.Errorf("health checks while starting = %d; want 0", got)
		}
		advance(time.Millisecond + 3*time.Second)
		if got := f.probeCalls("web:80"); got != 3 {
			t.Errorf("health checks in 3s of running = %d; want 3", got)
		}
		if _, err := h.s.Stop(context.Background(), "web", false); err != nil {
			t.Fatalf("Stop(web) = %v", err)
		}
		synctest.Wait()
		h.wantState("web", apitype.StateStopped)
		calls := f.probeCalls("web:80")
		advance(time.Minute)
		if got := f.probeCalls("web:80"); got != calls {
			t.Errorf("health checks while stopped = %d; want 0", got-calls)
		}
	})
}

// TestLoopDependsOnWaitsForReady: a dependent is not spawned while its
// dependency runs its process but is not ready yet; it starts once the
// dependency is ready, and goes fatal with it when it never is.
func TestLoopDependsOnWaitsForReady(t *testing.T) {
	t.Run("ready late", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newProbeFake()
			h := runProbing(t, newConfig(t.TempDir(),
				prog("db", readyOn("db:5432", time.Minute)), prog("api", dependsOn("db"))), f)
			defer h.finish()

			advance(10 * time.Second)
			h.wantState("db", apitype.StateStarting)
			a := h.wantState("api", apitype.StateStarting)
			wantMessage(t, a, "waiting for dependencies")
			h.wantSpawns("api", 0)

			f.answer("db:5432", pass)
			advance(readyInterval)
			h.wantState("db", apitype.StateRunning)
			h.wantSpawns("api", 1)
			if got := f.spawned(); len(got) != 2 || got[0] != "db" || got[1] != "api" {
				t.Errorf("spawned = %v; want [db api]", got)
			}
		})
	})
	t.Run("never ready", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newProbeFake()
			h := runProbing(t, newConfig(t.TempDir(),
				prog("db", readyOn("db:5432", time.Second), startRetries(0)), prog("api", dependsOn("db"))), f)
			defer h.finish()

			advance(time.Minute)
			h.wantState("db", apitype.StateFatal)
			a := h.wantState("api", apitype.StateFatal)
			wantMessage(t, a, "dependency db is fatal")
			h.wantSpawns("api", 0)
		})
	})
}

// TestLoopReadyLogLine: ready = { log = REGEX } makes an instance ready
// when a line of its output matches; output that never matches times out.
func TestLoopReadyLogLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newProbeFake()
		// The fake writes "NAME started as PID" at each spawn.
		h := runProbing(t, newConfig(t.TempDir(),
			prog("web", startSeconds(0), readyLog(`^web started as \d+$`, 5*time.Second)),
			prog("api", startSeconds(0), startRetries(0), readyLog(`listening`, 5*time.Second))), f)
		defer h.finish()

		h.wantState("web", apitype.StateRunning)
		h.wantState("api", apitype.StateStarting)
		advance(5 * time.Second)
		a := h.wantState("api", apitype.StateFatal)
		wantMessage(t, a, "not ready within 5s")
	})
}

// TestLoopStaleProbeDoesNotDelayReady: a health check still in flight for
// a process that has exited must not hold back the readiness checks of the
// process that replaces it: the new process is ready at once, well within
// its ready timeout.
func TestLoopStaleProbeDoesNotDelayReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newProbeFake()
		f.answer("web:ready", pass)
		f.answer("web:health", hang) // bounded by its 60s timeout
		h := runProbing(t, newConfig(t.TempDir(), prog("web", startSeconds(0),
			readyOn("web:ready", 10*time.Second), healthOn("web:health", time.Second, time.Minute, 3))), f)
		defer h.finish()

		h.wantState("web", apitype.StateRunning)
		advance(2 * time.Second) // a health check is in flight since 1s
		f.exit(t, "web", 1, 0)   // on-failure: restarted at once
		h.wantSpawns("web", 2)
		advance(readyInterval)
		a := h.wantState("web", apitype.StateRunning)
		if a.Restarts != 1 {
			t.Errorf("Status(web).Restarts = %d; want 1", a.Restarts)
		}
	})
}

// TestLoopChecksDoNotPileUpAcrossRestarts: a process that keeps exiting
// while its health check hangs does not leave a hanging check behind at
// every restart: the checks of a process that is gone end with it, so
// they never pile up.
func TestLoopChecksDoNotPileUpAcrossRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newProbeFake()
		f.answer("web:health", hang) // bounded by its 60s timeout
		h := runProbing(t, newConfig(t.TempDir(), prog("web", startSeconds(0), restartPolicy(config.RestartAlways),
			healthOn("web:health", time.Second, time.Minute, 3))), f)
		defer h.finish()

		for range 20 {
			advance(1500 * time.Millisecond) // a health check is in flight since 1s
			f.exit(t, "web", 1, 0)           // restarted at once
		}
		h.wantSpawns("web", 21)
		if got := f.peakInflight("web:health"); got > 2 {
			t.Errorf("most health checks of web in flight at once = %d over 20 restarts; want at most 2 (checks of exited processes ended)", got)
		}
	})
}

// TestLoopStopDuringCheckRestart: an operator's stop while a failed check
// is restarting the instance (unhealthy) or stopping a start that was not
// ready in time wins: the instance ends stopped, not started again.
func TestLoopStopDuringCheckRestart(t *testing.T) {
	tests := []struct {
		name     string
		prog     *config.Program
		answer   func(context.Context) error
		stopping time.Duration // when the check has made it stopping
	}{
		{name: "unhealthy", prog: prog("web", startSeconds(0), healthOn("web:80", time.Second, time.Second, 1)),
			answer: failWith(errConnRefused), stopping: time.Second},
		{name: "not ready", prog: prog("web", readyOn("web:80", time.Second)),
			answer: failWith(errConnRefused), stopping: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newProbeFake()
				f.answer("web:80", tc.answer)
				f.setStubborn("web") // ignores SIGTERM: it stays stopping for stop_timeout
				h := runProbing(t, newConfig(t.TempDir(), tc.prog), f)
				defer h.finish()

				advance(tc.stopping)
				h.wantState("web", apitype.StateStopping)

				if _, err := h.s.Stop(context.Background(), "web", false); err != nil {
					t.Fatalf("Stop(web) = %v", err)
				}
				advance(10 * time.Second) // stop_timeout: SIGKILL
				a := h.wantState("web", apitype.StateStopped)
				if a.Pid != nil {
					t.Errorf("Status(web).Pid = %v; want null", ptrStr(a.Pid))
				}
				advance(time.Minute)
				h.wantState("web", apitype.StateStopped)
				h.wantSpawns("web", 1)
			})
		})
	}
}
