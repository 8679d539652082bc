package supervisor

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// Step cases of readiness, health and the watchdog (SPEC §2, §3). They
// are part of stepCases, so TestStep runs them and TestStepCoversEveryArm
// finds them.

// Program modifiers.

// readyTCP gives the program a ready check with timeout.
func readyTCP(timeout time.Duration) func(*config.Program) {
	return func(p *config.Program) { p.Ready = &config.Check{TCP: "127.0.0.1:8080", Timeout: timeout} }
}

// healthTCP gives the program a health check that must fail failures times
// in a row (interval 10s, timeout 2s).
func healthTCP(failures int) func(*config.Program) {
	return func(p *config.Program) {
		p.Health = &config.Check{TCP: "127.0.0.1:8080", Interval: 10 * time.Second, Timeout: 2 * time.Second, Failures: failures}
	}
}

// notifyType makes the program type = "notify" with watchdog (0: off).
func notifyType(watchdog time.Duration) func(*config.Program) {
	return func(p *config.Program) { p.Type = config.TypeNotify; p.Watchdog = watchdog }
}

// Instance setups, relative to t0.

// setAwaitingReady: spawned at t0, start_seconds (1s) not up, not ready;
// the ready timeout falls at t0+by.
func setAwaitingReady(by time.Duration) func(*instance) {
	return func(in *instance) {
		setSpawned(in)
		in.readyBy = t0.Add(by)
		if by < in.prog.StartSeconds {
			in.deadline = in.readyBy
		}
	}
}

// setUpAwaitingReady: spawned at t0, start_seconds up, still not ready;
// the one deadline left is the ready timeout at t0+by.
func setUpAwaitingReady(by time.Duration) func(*instance) {
	return func(in *instance) {
		setAwaitingReady(by)(in)
		in.upOK = true
		in.deadline = in.readyBy
	}
}

// setRunningWatchdog: running, the watchdog due at t0+5s.
func setRunningWatchdog(in *instance) {
	setRunning(in)
	in.watchdogAt = t0.Add(5 * time.Second)
	in.deadline = in.watchdogAt
}

func setHealthFails(n int) func(*instance) {
	return func(in *instance) { in.healthFails = n }
}

// setNotReadyStop: stopping because the start was not ready in time.
func setNotReadyStop(in *instance) {
	setStopping(in)
	in.failReason = "not ready within 30s: tcp 127.0.0.1:8080: connection refused"
	in.message = in.failReason
}

// Checks.

func wantReadyFlags(upOK, readyOK bool) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if in.upOK != upOK || in.readyOK != readyOK {
			t.Errorf("upOK, readyOK = %v, %v; want %v, %v", in.upOK, in.readyOK, upOK, readyOK)
		}
	}
}

func wantReadyBy(d time.Duration) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if want := t0.Add(d); !in.readyBy.Equal(want) {
			t.Errorf("readyBy = %v; want t0+%v", fmtDeadline(in.readyBy), d)
		}
	}
}

func wantHealth(healthy bool, fails int) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if in.healthy != healthy || in.healthFails != fails {
			t.Errorf("healthy, healthFails = %v, %d; want %v, %d", in.healthy, in.healthFails, healthy, fails)
		}
	}
}

// wantFailReason wants in.failReason to contain sub; "-" wants it empty.
func wantFailReason(sub string) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if sub == "-" {
			if in.failReason != "" {
				t.Errorf("failReason = %q; want empty", in.failReason)
			}
			return
		}
		if !strings.Contains(in.failReason, sub) {
			t.Errorf("failReason = %q; want it to contain %q", in.failReason, sub)
		}
	}
}

func wantWatchdogAt(d time.Duration) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if want := t0.Add(d); !in.watchdogAt.Equal(want) {
			t.Errorf("watchdogAt = %v; want t0+%v", fmtDeadline(in.watchdogAt), d)
		}
	}
}

func readyEv(pid int) event { return event{kind: evReady, pid: pid} }

func healthFailEv(reason string) event {
	return event{kind: evHealthFail, pid: testPid, reason: reason}
}

const refused = "tcp 127.0.0.1:8080: connection refused"

func notReadyTimer() event { return event{kind: evTimer, reason: refused} }

var termCont = []effect{eSig(syscall.SIGTERM, testPid, true), eSig(syscall.SIGCONT, testPid, true)}

var readyStepCases = []stepCase{
	// Starting -> Starting, or Starting -> Running (spawned, with a check)
	{name: "starting/spawned with a ready check waits for start_seconds and the check", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setState(apitype.StateStarting), ev: event{kind: evSpawned, pid: testPid},
		state: apitype.StateStarting, deadline: time.Second, check: checks(wantReadyFlags(false, false), wantReadyBy(30*time.Second))},
	{name: "starting/spawned with a ready check and start_seconds 0 waits for the check", prog: []func(*config.Program){readyTCP(30 * time.Second), startSeconds(0)},
		in: setState(apitype.StateStarting), ev: event{kind: evSpawned, pid: testPid},
		state: apitype.StateStarting, deadline: 30 * time.Second, check: wantReadyFlags(true, false)},
	{name: "starting/spawned with a ready timeout shorter than start_seconds", prog: []func(*config.Program){readyTCP(500 * time.Millisecond)},
		in: setState(apitype.StateStarting), ev: event{kind: evSpawned, pid: testPid},
		state: apitype.StateStarting, deadline: 500 * time.Millisecond},
	{name: "starting/spawned of a notify program waits 90s for READY=1", prog: []func(*config.Program){notifyType(0), startSeconds(0)},
		in: setState(apitype.StateStarting), ev: event{kind: evSpawned, pid: testPid},
		state: apitype.StateStarting, deadline: 90 * time.Second, check: wantReadyFlags(true, false)},
	{name: "starting/spawned resets healthy and the failed checks", prog: []func(*config.Program){healthTCP(3)},
		in:    setAll(setState(apitype.StateStarting), setHealthFails(3), func(in *instance) { in.healthy = false }),
		ev:    event{kind: evSpawned, pid: testPid},
		state: apitype.StateStarting, deadline: time.Second, check: wantHealth(true, 0)},

	// Starting -> Running (ready)
	{name: "starting/ready after start_seconds runs", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setAll(setUpAwaitingReady(30*time.Second), setFailures(2), setMessage("not ready within 30s; retry 2 in 2s")),
		ev: readyEv(testPid), at: 2 * time.Second,
		state: apitype.StateRunning, failures: 0, msg: "-", check: checks(wantReadyFlags(true, true), wantPid(testPid, testPid))},
	{name: "starting/ready with start_seconds 0 runs at once", prog: []func(*config.Program){readyTCP(30 * time.Second), startSeconds(0)},
		in: setUpAwaitingReady(30 * time.Second), ev: readyEv(testPid), at: 100 * time.Millisecond,
		state: apitype.StateRunning},
	{name: "starting/ready of a notify program with a watchdog arms it", prog: []func(*config.Program){notifyType(5 * time.Second)},
		in: setUpAwaitingReady(90 * time.Second), ev: readyEv(testPid), at: 2 * time.Second,
		state: apitype.StateRunning, deadline: 7 * time.Second, check: wantWatchdogAt(7 * time.Second)},

	// Starting -> Starting (ready, start_seconds not up yet)
	{name: "starting/ready before start_seconds waits for them", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setAwaitingReady(30 * time.Second), ev: readyEv(testPid), at: 300 * time.Millisecond,
		state: apitype.StateStarting, deadline: time.Second, check: wantReadyFlags(false, true)},
	{name: "starting/ready of another pid is ignored", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setAwaitingReady(30 * time.Second), ev: readyEv(testPid + 1), at: 300 * time.Millisecond,
		state: apitype.StateStarting, deadline: time.Second, check: wantReadyFlags(false, false)},
	{name: "starting/ready of a pending restart is ignored", prog: []func(*config.Program){readyTCP(30 * time.Second), restartDelay(2 * time.Second)},
		in: setPendingRestart, ev: readyEv(0), state: apitype.StateStarting, deadline: 2 * time.Second, check: wantReadyFlags(false, false)},
	{name: "starting/timer at start_seconds waits for the ready check", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setAwaitingReady(30 * time.Second), ev: notReadyTimer(), at: time.Second,
		state: apitype.StateStarting, deadline: 30 * time.Second, msg: "-", check: wantReadyFlags(true, false)},
	{name: "starting/timer runs once ready and start_seconds are up", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setAll(setAwaitingReady(30*time.Second), func(in *instance) { in.readyOK = true }), ev: event{kind: evTimer}, at: time.Second,
		state: apitype.StateRunning},
	// A notify program's STATUS= (sent with its READY=1, before
	// start_seconds were up) stays its message once it runs.
	{name: "starting/timer runs a notify program with its STATUS= as message", prog: []func(*config.Program){notifyType(0)},
		in: setAll(setAwaitingReady(90*time.Second), func(in *instance) { in.readyOK, in.notifyStatus, in.message = true, "serving", "serving" }),
		ev: event{kind: evTimer}, at: time.Second,
		state: apitype.StateRunning, msg: "serving"},

	// Starting -> Stopping (not ready in time), then Backoff or Fatal
	{name: "starting/timer not ready in time stops it", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setUpAwaitingReady(30 * time.Second), ev: notReadyTimer(), at: 30 * time.Second,
		state: apitype.StateStopping, eff: termCont, deadline: 40 * time.Second,
		msg:   "not ready within 30s: " + refused,
		check: checks(wantFailReason("not ready within 30s: "+refused), wantStopFlags(false, false, false), wantStopStep("SIGTERM sent"))},
	{name: "starting/timer not ready before start_seconds are up stops it", prog: []func(*config.Program){readyTCP(500 * time.Millisecond)},
		in: setAwaitingReady(500 * time.Millisecond), ev: event{kind: evTimer}, at: 500 * time.Millisecond,
		state: apitype.StateStopping, eff: termCont, deadline: 10500 * time.Millisecond,
		msg: "not ready within 500ms", check: wantFailReason("not ready within 500ms")},
	{name: "starting/timer not ready sends the stop_signal to the leader with kill_group false",
		prog: []func(*config.Program){readyTCP(30 * time.Second), noKillGroup, stopSignal(syscall.SIGINT, 3*time.Second)},
		in:   setUpAwaitingReady(30 * time.Second), ev: notReadyTimer(), at: 30 * time.Second,
		state: apitype.StateStopping, eff: []effect{eSig(syscall.SIGINT, testPid, false), eSig(syscall.SIGCONT, testPid, false)},
		deadline: 33 * time.Second},
	{name: "starting/timer not ready of a notify program after 90s", prog: []func(*config.Program){notifyType(0)},
		in: setUpAwaitingReady(90 * time.Second), ev: event{kind: evTimer}, at: 90 * time.Second,
		state: apitype.StateStopping, eff: termCont, deadline: 100 * time.Second, msg: "not ready within 1m30s"},

	// Stopping -> Backoff|Fatal (a start that failed its readiness)
	{name: "stopping/exit after not ready backs off", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setNotReadyStop, ev: killedEv(syscall.SIGTERM), at: time.Second,
		state: apitype.StateBackoff, deadline: 2 * time.Second, failures: 1,
		msg:   "not ready within 30s: " + refused + "; retry 1 in 1s",
		check: checks(wantFailReason("-"), wantPid(0, 0), wantExitSig("SIGTERM"))},
	{name: "stopping/exit after not ready doubles the backoff", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setAll(setNotReadyStop, setFailures(2)), ev: killedEv(syscall.SIGTERM), at: time.Second,
		state: apitype.StateBackoff, deadline: 5 * time.Second, failures: 3, msg: "retry 3 in 4s"},
	{name: "stopping/exit after not ready with start_retries exhausted goes fatal", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setAll(setNotReadyStop, setFailures(3)), ev: killedEv(syscall.SIGTERM), at: time.Second,
		state: apitype.StateFatal, eff: []effect{eFatal()}, failures: 4,
		msg: "not ready within 30s: " + refused + " (gave up after 4 attempts)", check: wantFailReason("-")},
	{name: "stopping/exit after not ready with start_retries 0 goes fatal at once", prog: []func(*config.Program){readyTCP(30 * time.Second), startRetries(0)},
		in: setNotReadyStop, ev: killedEv(syscall.SIGTERM),
		state: apitype.StateFatal, eff: []effect{eFatal()}, failures: 1, msg: "gave up after 1 attempt"},
	{name: "stopping/exit after not ready while draining stops", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setNotReadyStop, ev: whileDraining(killedEv(syscall.SIGTERM)),
		state: apitype.StateStopped, msg: "-", check: wantFailReason("-")},
	{name: "stopping/exit after not ready with the group alive waits for it", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setNotReadyStop, ev: withGroupAlive(killedEv(syscall.SIGTERM)), at: time.Second,
		state: apitype.StateStopping, deadline: time.Second + groupPoll, check: wantFailReason("not ready within 30s")},
	{name: "stopping/timer after not ready with the group empty backs off", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setAll(setNotReadyStop, func(in *instance) { in.pid, in.leaderGone = 0, true; in.deadline = t0.Add(time.Second) }),
		ev: event{kind: evTimer}, at: time.Second,
		state: apitype.StateBackoff, deadline: 2 * time.Second, failures: 1, msg: "not ready within 30s"},

	// Stopping -> Stopping (an explicit stop cancels a pending restart or backoff)
	{name: "stopping/stop cancels the restart of an unhealthy instance", prog: []func(*config.Program){healthTCP(1)},
		in: setAll(setStopping, setThenStart, func(in *instance) { in.healthy = false }), ev: event{kind: evStop}, at: time.Second,
		state: apitype.StateStopping, deadline: 10 * time.Second, check: wantStopFlags(false, false, false)},
	{name: "stopping/stop cancels the retry of a start that was not ready", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setNotReadyStop, ev: event{kind: evStop}, at: time.Second,
		state: apitype.StateStopping, deadline: 10 * time.Second, check: checks(wantFailReason("-"), wantStopFlags(false, false, false))},
	{name: "stopping/restart after not ready restarts without a retry", prog: []func(*config.Program){readyTCP(30 * time.Second)},
		in: setNotReadyStop, ev: event{kind: evRestart}, at: time.Second,
		state: apitype.StateStopping, deadline: 10 * time.Second, check: wantStopFlags(false, false, true)},

	// Running -> Running (health checks that do not reach failures)
	{name: "running/health-ok resets the failed checks", prog: []func(*config.Program){healthTCP(3)},
		in: setAll(setRunning, setHealthFails(2)), ev: event{kind: evHealthOK, pid: testPid},
		state: apitype.StateRunning, check: wantHealth(true, 0)},
	{name: "running/health-ok makes it healthy again", prog: []func(*config.Program){healthTCP(3)},
		in: setAll(setRunning, func(in *instance) { in.healthy = false }), ev: event{kind: evHealthOK, pid: testPid},
		state: apitype.StateRunning, check: wantHealth(true, 0)},

	// Running -> Stopping (unhealthy), then Starting
	{name: "running/health-fail below failures only counts", prog: []func(*config.Program){healthTCP(3)},
		in: setAll(setRunning, setHealthFails(1)), ev: healthFailEv(refused),
		state: apitype.StateRunning, msg: "-", check: wantHealth(true, 2)},
	{name: "running/health-fail at failures restarts it", prog: []func(*config.Program){healthTCP(3)},
		in: setAll(setRunning, setHealthFails(2)), ev: healthFailEv(refused), at: time.Second,
		state: apitype.StateStopping, eff: termCont, deadline: 11 * time.Second, restarts: 1,
		msg:   "unhealthy after 3 failed checks: " + refused,
		check: checks(wantHealth(false, 3), wantStopFlags(false, false, true))},
	{name: "running/health-fail with failures 1 restarts at once", prog: []func(*config.Program){healthTCP(1)},
		in: setRunning, ev: healthFailEv(refused),
		state: apitype.StateStopping, eff: termCont, deadline: 10 * time.Second, restarts: 1,
		msg: "unhealthy after 1 failed check: ", check: wantHealth(false, 1)},
	{name: "running/health-fail while draining does not restart", prog: []func(*config.Program){healthTCP(3)},
		in: setAll(setRunning, setHealthFails(2)), ev: whileDraining(healthFailEv(refused)),
		state: apitype.StateRunning, restarts: 0, check: wantHealth(true, 3)},
	{name: "running/health-fail without a health check does nothing", in: setRunning, ev: healthFailEv(refused),
		state: apitype.StateRunning, check: wantHealth(true, 0)},
	{name: "starting/health-fail does nothing", prog: []func(*config.Program){healthTCP(1)},
		in: setSpawned, ev: healthFailEv(refused), state: apitype.StateStarting, deadline: time.Second, check: wantHealth(true, 0)},

	// ... -> Starting (restart) after an unhealthy stop
	{name: "stopping/exit then start after unhealthy spawns", prog: []func(*config.Program){healthTCP(3)},
		in: setAll(setStopping, setThenStart, setHealthFails(3), func(in *instance) { in.healthy, in.restarts = false, 1 }),
		ev: killedEv(syscall.SIGTERM), at: time.Second,
		state: apitype.StateStarting, eff: []effect{eSpawn()}, restarts: 1, check: wantHealth(false, 3)},

	// Starting|Running, watchdog -> same state, watchdog deadline moved
	{name: "running/watchdog ping moves the deadline", prog: []func(*config.Program){notifyType(5 * time.Second)},
		in: setRunningWatchdog, ev: event{kind: evWatchdog, pid: testPid}, at: 3 * time.Second,
		state: apitype.StateRunning, deadline: 8 * time.Second, check: wantWatchdogAt(8 * time.Second)},
	{name: "running/watchdog ping of another pid is ignored", prog: []func(*config.Program){notifyType(5 * time.Second)},
		in: setRunningWatchdog, ev: event{kind: evWatchdog, pid: testPid + 1}, at: 3 * time.Second,
		state: apitype.StateRunning, deadline: 5 * time.Second},
	{name: "running/watchdog ping without a watchdog does nothing", prog: []func(*config.Program){notifyType(0)},
		in: setRunning, ev: event{kind: evWatchdog, pid: testPid}, state: apitype.StateRunning},
	{name: "starting/watchdog ping moves only the watchdog time", prog: []func(*config.Program){notifyType(5 * time.Second)},
		in: setAwaitingReady(90 * time.Second), ev: event{kind: evWatchdog, pid: testPid}, at: 500 * time.Millisecond,
		state: apitype.StateStarting, deadline: time.Second, check: wantWatchdogAt(5500 * time.Millisecond)},

	// Running -> Stopping (watchdog timeout), then Starting
	{name: "running/timer watchdog expired restarts it", prog: []func(*config.Program){notifyType(5 * time.Second)},
		in: setRunningWatchdog, ev: event{kind: evTimer}, at: 5 * time.Second,
		state: apitype.StateStopping, eff: termCont, deadline: 15 * time.Second, restarts: 1,
		msg: "watchdog: no WATCHDOG=1 for 5s", check: wantStopFlags(false, false, true)},
	{name: "running/timer before the moved watchdog time waits", prog: []func(*config.Program){notifyType(5 * time.Second)},
		in: setAll(setRunningWatchdog, func(in *instance) { in.watchdogAt = t0.Add(8 * time.Second) }), ev: event{kind: evTimer}, at: 5 * time.Second,
		state: apitype.StateRunning, deadline: 8 * time.Second},
	{name: "running/timer watchdog while draining does not restart", prog: []func(*config.Program){notifyType(5 * time.Second)},
		in: setRunningWatchdog, ev: whileDraining(event{kind: evTimer}), at: 5 * time.Second,
		state: apitype.StateRunning, restarts: 0},
	// Running -> Exited leaves no watchdog deadline behind: an exited
	// instance ignores timers, so a deadline left over would fire again and
	// again and the loop would spin.
	{name: "running/exit 0 of a watchdog program exits with no deadline left", prog: []func(*config.Program){notifyType(5 * time.Second)},
		in: setRunningWatchdog, ev: exitEv(0), at: time.Second,
		state: apitype.StateExited, deadline: noDeadline, msg: "exit code 0"},
	{name: "running/exit of a watchdog program while draining exits with no deadline left", prog: []func(*config.Program){notifyType(5 * time.Second)},
		in: setRunningWatchdog, ev: whileDraining(exitEv(1)), at: time.Second,
		state: apitype.StateExited, deadline: noDeadline},
	{name: "running/exit 1 of a watchdog program restarts with no watchdog deadline", prog: []func(*config.Program){notifyType(5 * time.Second)},
		in: setRunningWatchdog, ev: exitEv(1), at: time.Second,
		state: apitype.StateStarting, eff: []effect{eSpawn()}, restarts: 1, deadline: noDeadline},
	{name: "running/timer without a watchdog does nothing", in: setRunning, ev: event{kind: evTimer}, at: time.Hour,
		state: apitype.StateRunning},
}

// stepAt is one event of a sequence, at t0+at.
type stepAt struct {
	ev event
	at time.Duration
}

// TestStepSequences drives one instance through several events and checks
// where it ends: an operator's stop always ends in stopped, whatever
// restart or retry a check had planned, and a start that failed its
// readiness leaves nothing behind once it has been restarted.
func TestStepSequences(t *testing.T) {
	exit := killedEv(syscall.SIGTERM)
	tests := []struct {
		name  string
		prog  []func(*config.Program)
		in    func(*instance)
		steps []stepAt
		state apitype.State
		msg   string // substring of the wanted message; "-": empty
		check func(*testing.T, *instance)
	}{
		{name: "not ready, then exit, retry and ready runs", prog: []func(*config.Program){readyTCP(30 * time.Second)},
			in: setUpAwaitingReady(30 * time.Second),
			steps: []stepAt{{notReadyTimer(), 30 * time.Second}, {exit, 31 * time.Second}, {event{kind: evTimer}, 32 * time.Second},
				{event{kind: evSpawned, pid: testPid}, 32 * time.Second}, {readyEv(testPid), 33 * time.Second}, {event{kind: evTimer}, 33 * time.Second}},
			state: apitype.StateRunning, msg: "-"},
		{name: "unhealthy, then exit and spawn is healthy again", prog: []func(*config.Program){healthTCP(1), startSeconds(0)},
			in:    setRunning,
			steps: []stepAt{{healthFailEv(refused), 0}, {exit, time.Second}, {event{kind: evSpawned, pid: testPid}, time.Second}},
			state: apitype.StateRunning, check: checks(wantHealth(true, 0), func(t *testing.T, in *instance) {
				t.Helper()
				if in.restarts != 1 {
					t.Errorf("restarts = %d; want 1", in.restarts)
				}
			})},
		{name: "not ready, then stop, then exit is stopped", prog: []func(*config.Program){readyTCP(30 * time.Second)},
			in:    setUpAwaitingReady(30 * time.Second),
			steps: []stepAt{{notReadyTimer(), 30 * time.Second}, {event{kind: evStop}, 30 * time.Second}, {exit, 31 * time.Second}},
			state: apitype.StateStopped},
		{name: "unhealthy, then stop, then exit is stopped", prog: []func(*config.Program){healthTCP(1)},
			in:    setRunning,
			steps: []stepAt{{healthFailEv(refused), 0}, {event{kind: evStop}, 0}, {exit, time.Second}},
			state: apitype.StateStopped},
		{name: "watchdog expired, then stop, then exit is stopped", prog: []func(*config.Program){notifyType(5 * time.Second)},
			in:    setRunningWatchdog,
			steps: []stepAt{{event{kind: evTimer}, 5 * time.Second}, {event{kind: evStop}, 5 * time.Second}, {exit, 6 * time.Second}},
			state: apitype.StateStopped},
		{name: "not ready, then restart, run, stop and exit is stopped", prog: []func(*config.Program){readyTCP(30 * time.Second), startSeconds(0)},
			in: setUpAwaitingReady(30 * time.Second),
			steps: []stepAt{{notReadyTimer(), 30 * time.Second}, {event{kind: evRestart}, 30 * time.Second}, {exit, 31 * time.Second},
				{event{kind: evSpawned, pid: testPid}, 31 * time.Second}, {readyEv(testPid), 32 * time.Second},
				{event{kind: evStop}, 40 * time.Second}, {exit, 41 * time.Second}},
			state: apitype.StateStopped, msg: "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := newInstance(prog("web", tc.prog...), 0, nil)
			tc.in(in)
			var trail []string
			for _, s := range tc.steps {
				from := in.state
				eff := step(in, s.ev, t0.Add(s.at))
				trail = append(trail, fmt.Sprintf("%s --%s--> %s %s", from, s.ev.kind, in.state, effStrings(eff)))
			}
			if in.state != tc.state {
				t.Errorf("after %s: state = %v (message %q); want %v", strings.Join(trail, ", "), in.state, in.message, tc.state)
			}
			switch tc.msg {
			case "":
			case "-":
				if in.message != "" {
					t.Errorf("after %s: message = %q; want empty", strings.Join(trail, ", "), in.message)
				}
			default:
				if !strings.Contains(in.message, tc.msg) {
					t.Errorf("after %s: message = %q; want it to contain %q", strings.Join(trail, ", "), in.message, tc.msg)
				}
			}
			if tc.check != nil {
				tc.check(t, in)
			}
		})
	}
}
