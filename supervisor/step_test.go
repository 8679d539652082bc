package supervisor

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// t0 is the time every step test starts at.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

const testPid = 42

func eSpawn() effect     { return effect{kind: efSpawn} }
func eFatal() effect     { return effect{kind: efFatal} }
func eStartDeps() effect { return effect{kind: efStartDeps} }
func eSig(sig syscall.Signal, pid int, group bool) effect {
	return effect{kind: efSignal, sig: sig, pid: pid, group: group}
}

// effString describes e for test messages.
func effString(e effect) string {
	switch e.kind {
	case efSpawn:
		return "spawn"
	case efFatal:
		return "fatal"
	case efStartDeps:
		return "start-deps"
	case efSignal:
		to := "pid"
		if e.group {
			to = "group"
		}
		return fmt.Sprintf("signal(%s %s %d)", signalName(e.sig), to, e.pid)
	}
	return fmt.Sprintf("effect(%d)", int(e.kind))
}

// effStrings describes es for test messages.
func effStrings(es []effect) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, effString(e))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Instance setups, relative to t0.

func setState(st apitype.State) func(*instance) {
	return func(in *instance) { in.state = st }
}

// spawnedStarting: starting, the process spawned at t0, start_seconds (1s)
// not up yet.
func setSpawned(in *instance) {
	in.state = apitype.StateStarting
	in.pid, in.pgid = testPid, testPid
	in.started = t0
	in.deadline = t0.Add(in.prog.StartSeconds)
}

// pendingRestart: starting, waiting out a restart_delay of 2s from t0.
func setPendingRestart(in *instance) {
	in.state = apitype.StateStarting
	in.pending = true
	in.deadline = t0.Add(2 * time.Second)
	in.message = "restarting after exit code 1"
}

// waitingDeps: starting, waiting for dependencies.
func setWaitingDeps(in *instance) {
	in.state = apitype.StateStarting
	in.pending, in.waitDeps = true, true
	in.message = "waiting for dependencies"
}

func setRunning(in *instance) {
	in.state = apitype.StateRunning
	in.pid, in.pgid = testPid, testPid
	in.started = t0.Add(-time.Minute)
}

// backingOff: backoff after n failures, the retry due 1s after t0.
func setBackoff(n int) func(*instance) {
	return func(in *instance) {
		in.state = apitype.StateBackoff
		in.failures = n
		in.deadline = t0.Add(time.Second)
		in.message = "exited during start_seconds: exit code 1; retry 1 in 1s"
	}
}

// stopping: stop_signal sent at t0, SIGKILL due at t0+stop_timeout.
func setStopping(in *instance) {
	in.state = apitype.StateStopping
	in.pid, in.pgid = testPid, testPid
	in.killAt = t0.Add(in.prog.StopTimeout)
	in.deadline = in.killAt
	in.stopStep = "SIGTERM sent, SIGKILL after 10s"
}

// leaderGone: stopping, the leader exited at t0+1s, the group lives on.
func setLeaderGone(in *instance) {
	setStopping(in)
	in.pid = 0
	in.leaderGone = true
	in.deadline = t0.Add(time.Second + groupPoll)
}

func setKilled(in *instance) {
	setStopping(in)
	in.killed = true
	in.deadline = time.Time{}
}

func setAll(setups ...func(*instance)) func(*instance) {
	return func(in *instance) {
		for _, s := range setups {
			s(in)
		}
	}
}

func setFailures(n int) func(*instance) { return func(in *instance) { in.failures = n } }

func setThenStart(in *instance) { in.thenStart = true }

func setMessage(m string) func(*instance) { return func(in *instance) { in.message = m } }

// noDeadline in stepCase.deadline wants no deadline; skipDeadline skips the
// check (beyond the general one that a deadline never lies in the past).
const (
	noDeadline   time.Duration = 0
	skipDeadline time.Duration = -1
)

type stepCase struct {
	name     string
	prog     []func(*config.Program)
	in       func(*instance)
	ev       event
	at       time.Duration // the event happens at t0+at
	state    apitype.State
	eff      []effect
	deadline time.Duration // want deadline t0+deadline; noDeadline; skipDeadline
	msg      string        // substring of the wanted message; "-": empty; "": unchecked
	failures int
	restarts int
	check    func(t *testing.T, in *instance)
}

func exitEv(code int) event { return event{kind: evExit, pid: testPid, code: code} }

func killedEv(sig syscall.Signal) event {
	return event{kind: evExit, pid: testPid, code: -1, sig: sig}
}

func whileDraining(ev event) event { ev.draining = true; return ev }

func withGroupAlive(ev event) event { ev.groupAlive = true; return ev }

func withJitter(j float64, ev event) event { ev.jitter = j; return ev }

func wantPid(pid, pgid int) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if in.pid != pid || in.pgid != pgid {
			t.Errorf("pid, pgid = %d, %d; want %d, %d", in.pid, in.pgid, pid, pgid)
		}
	}
}

func wantFlags(pending, waitDeps bool) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if in.pending != pending || in.waitDeps != waitDeps {
			t.Errorf("pending, waitDeps = %v, %v; want %v, %v", in.pending, in.waitDeps, pending, waitDeps)
		}
	}
}

func wantStopFlags(leaderGone, killed, thenStart bool) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if in.leaderGone != leaderGone || in.killed != killed || in.thenStart != thenStart {
			t.Errorf("leaderGone, killed, thenStart = %v, %v, %v; want %v, %v, %v",
				in.leaderGone, in.killed, in.thenStart, leaderGone, killed, thenStart)
		}
	}
}

func wantStopStep(sub string) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if !strings.Contains(in.stopStep, sub) {
			t.Errorf("stopStep = %q; want it to contain %q", in.stopStep, sub)
		}
	}
}

func wantExitCode(code int) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if in.exitCode == nil || *in.exitCode != code || in.exitSig != nil {
			t.Errorf("exitCode, exitSig = %v, %v; want %d, nil", ptrStr(in.exitCode), ptrStr(in.exitSig), code)
		}
	}
}

func wantExitSig(sig string) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		if in.exitSig == nil || *in.exitSig != sig || in.exitCode != nil {
			t.Errorf("exitCode, exitSig = %v, %v; want nil, %s", ptrStr(in.exitCode), ptrStr(in.exitSig), sig)
		}
	}
}

func ptrStr[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func checks(fs ...func(*testing.T, *instance)) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		t.Helper()
		for _, f := range fs {
			f(t, in)
		}
	}
}

var enoent = event{kind: evSpawnErr, err: syscall.ENOENT}

// stepCases is every case of TestStep: the core state machine here, readiness,
// health and the watchdog in step_ready_test.go.
var stepCases = slices.Concat(coreStepCases, readyStepCases, forkingStepCases, handoffStepCases)

var coreStepCases = []stepCase{
	// Stopped|Exited|Fatal -> Starting
	{name: "stopped/start spawns", ev: event{kind: evStart},
		state: apitype.StateStarting, eff: []effect{eSpawn()}, msg: "-", check: wantFlags(false, false)},
	{name: "stopped/restart spawns", ev: event{kind: evRestart},
		state: apitype.StateStarting, eff: []effect{eSpawn()}, msg: "-"},
	{name: "exited/start spawns", in: setAll(setState(apitype.StateExited), setMessage("exit code 1")), ev: event{kind: evStart},
		state: apitype.StateStarting, eff: []effect{eSpawn()}, msg: "-"},
	{name: "fatal/start resets failures", in: setAll(setState(apitype.StateFatal), setFailures(4), setMessage("exit code 1 (gave up after 4 attempts)")),
		ev:    event{kind: evStart},
		state: apitype.StateStarting, eff: []effect{eSpawn()}, msg: "-", failures: 0},
	{name: "fatal/restart resets failures", in: setAll(setState(apitype.StateFatal), setFailures(4)), ev: event{kind: evRestart},
		state: apitype.StateStarting, eff: []effect{eSpawn()}, failures: 0},
	{name: "stopped/start with depends_on waits for them", prog: []func(*config.Program){dependsOn("db")}, ev: event{kind: evStart},
		state: apitype.StateStarting, eff: []effect{eStartDeps()}, msg: "waiting for dependencies", check: wantFlags(true, true)},
	{name: "stopped/start while draining does nothing", ev: whileDraining(event{kind: evStart}),
		state: apitype.StateStopped},
	{name: "fatal/start while draining does nothing", in: setAll(setState(apitype.StateFatal), setFailures(4)), ev: whileDraining(event{kind: evStart}),
		state: apitype.StateFatal, failures: 4},
	{name: "exited/restart while draining does nothing", in: setState(apitype.StateExited), ev: whileDraining(event{kind: evRestart}),
		state: apitype.StateExited},

	// Starting -> Starting (dependencies up)
	{name: "starting/deps-ready spawns", prog: []func(*config.Program){dependsOn("db")}, in: setWaitingDeps, ev: event{kind: evDepsReady},
		state: apitype.StateStarting, eff: []effect{eSpawn()}, msg: "-", check: wantFlags(false, false)},
	{name: "starting/deps-ready when not waiting does nothing", in: setSpawned, ev: event{kind: evDepsReady},
		state: apitype.StateStarting, deadline: time.Second},
	{name: "starting/deps-ready while draining does not spawn", prog: []func(*config.Program){dependsOn("db")}, in: setWaitingDeps,
		ev:    whileDraining(event{kind: evDepsReady}),
		state: apitype.StateStarting, eff: nil},

	// Starting -> Fatal
	{name: "starting/dep-failed goes fatal", prog: []func(*config.Program){dependsOn("db")}, in: setWaitingDeps,
		ev:    event{kind: evDepFailed, reason: "db"},
		state: apitype.StateFatal, eff: []effect{eFatal()}, msg: "dependency db is fatal", check: wantFlags(false, false)},
	{name: "starting/dep-failed when not waiting does nothing", in: setSpawned, ev: event{kind: evDepFailed, reason: "db"},
		state: apitype.StateStarting, deadline: time.Second},

	// Starting -> Starting, or Starting -> Running
	{name: "starting/spawned waits start_seconds", in: setState(apitype.StateStarting), ev: event{kind: evSpawned, pid: testPid}, at: time.Second,
		state: apitype.StateStarting, deadline: 2 * time.Second,
		check: checks(wantPid(testPid, testPid), func(t *testing.T, in *instance) {
			if !in.started.Equal(t0.Add(time.Second)) {
				t.Errorf("started = %v; want %v", in.started, t0.Add(time.Second))
			}
		})},
	{name: "starting/spawned keeps counting failures", in: setAll(setState(apitype.StateStarting), setFailures(2)), ev: event{kind: evSpawned, pid: testPid},
		state: apitype.StateStarting, deadline: time.Second, failures: 2},
	{name: "starting/spawned with start_seconds 0 runs", prog: []func(*config.Program){startSeconds(0)},
		in: setAll(setState(apitype.StateStarting), setFailures(2)), ev: event{kind: evSpawned, pid: testPid},
		state: apitype.StateRunning, failures: 0, check: wantPid(testPid, testPid)},
	{name: "starting/spawned with start_seconds 0 clears the backoff message", prog: []func(*config.Program){startSeconds(0)},
		in: setAll(setState(apitype.StateStarting), setFailures(1), setMessage("exited during start_seconds: exit code 1; retry 1 in 1s")),
		ev: event{kind: evSpawned, pid: testPid}, state: apitype.StateRunning, msg: "-"},

	// Starting -> Backoff, or Starting -> Fatal (spawn error)
	{name: "starting/spawn-error backs off", in: setState(apitype.StateStarting), ev: enoent,
		state: apitype.StateBackoff, deadline: time.Second, failures: 1,
		msg: "start failed: no such file or directory; retry 1 in 1s"},
	{name: "starting/spawn-error third failure waits 4s", in: setAll(setState(apitype.StateStarting), setFailures(2)), ev: enoent,
		state: apitype.StateBackoff, deadline: 4 * time.Second, failures: 3, msg: "retry 3 in 4s"},
	{name: "starting/spawn-error jitter -1 waits 20% less", in: setState(apitype.StateStarting), ev: withJitter(-1, enoent),
		state: apitype.StateBackoff, deadline: 800 * time.Millisecond, failures: 1, msg: "retry 1 in 800ms"},
	{name: "starting/spawn-error after start_retries goes fatal", in: setAll(setState(apitype.StateStarting), setFailures(3)), ev: enoent,
		state: apitype.StateFatal, eff: []effect{eFatal()}, failures: 4,
		msg: "start failed: no such file or directory (gave up after 4 attempts)"},
	{name: "starting/spawn-error start_retries 0 goes fatal at once", prog: []func(*config.Program){startRetries(0)},
		in: setState(apitype.StateStarting), ev: enoent,
		state: apitype.StateFatal, eff: []effect{eFatal()}, failures: 1, msg: "gave up after 1 attempt"},
	{name: "starting/spawn-error start_retries -1 never goes fatal", prog: []func(*config.Program){startRetries(-1)},
		in: setAll(setState(apitype.StateStarting), setFailures(1000)), ev: enoent,
		state: apitype.StateBackoff, deadline: 60 * time.Second, failures: 1001},
	{name: "starting/spawn-error while draining exits", in: setState(apitype.StateStarting), ev: whileDraining(enoent),
		state: apitype.StateExited, failures: 1, msg: "no such file or directory"},

	// Starting -> Backoff, or Starting -> Fatal (exit)
	{name: "starting/exit backs off", in: setSpawned, ev: exitEv(1), at: 500 * time.Millisecond,
		state: apitype.StateBackoff, deadline: 1500 * time.Millisecond, failures: 1,
		msg:   "exited during start_seconds: exit code 1; retry 1 in 1s",
		check: checks(wantExitCode(1), wantPid(0, 0))},
	{name: "starting/exit with a success code backs off too", in: setSpawned, ev: exitEv(0), at: 500 * time.Millisecond,
		state: apitype.StateBackoff, deadline: 1500 * time.Millisecond, failures: 1, msg: "exit code 0"},
	{name: "starting/exit by a signal backs off", in: setSpawned, ev: killedEv(syscall.SIGSEGV),
		state: apitype.StateBackoff, deadline: time.Second, failures: 1, msg: "exited during start_seconds: killed by SIGSEGV",
		check: wantExitSig("SIGSEGV")},
	{name: "starting/exit with the group alive kills the group", in: setSpawned, ev: withGroupAlive(exitEv(1)),
		state: apitype.StateBackoff, eff: []effect{eSig(syscall.SIGKILL, testPid, true)}, deadline: time.Second, failures: 1},
	{name: "starting/exit with the group alive and kill_group false", prog: []func(*config.Program){noKillGroup},
		in: setSpawned, ev: withGroupAlive(exitEv(1)),
		state: apitype.StateBackoff, deadline: time.Second, failures: 1},
	{name: "starting/exit after start_retries goes fatal", in: setAll(setSpawned, setFailures(3)), ev: exitEv(1),
		state: apitype.StateFatal, eff: []effect{eFatal()}, failures: 4,
		msg: "exited during start_seconds: exit code 1 (gave up after 4 attempts)"},
	{name: "starting/exit of another pid is ignored", in: setSpawned, ev: event{kind: evExit, pid: testPid + 1, code: 1},
		state: apitype.StateStarting, deadline: time.Second, check: wantPid(testPid, testPid)},
	{name: "starting/exit while draining exits with no deadline left", in: setSpawned, ev: whileDraining(exitEv(1)), at: 500 * time.Millisecond,
		state: apitype.StateExited, failures: 1, deadline: noDeadline, msg: "exit code 1"},

	// Starting -> Running
	{name: "starting/timer runs", in: setAll(setSpawned, setFailures(2)), ev: event{kind: evTimer}, at: time.Second,
		state: apitype.StateRunning, failures: 0, check: wantPid(testPid, testPid)},
	{name: "starting/timer clears the backoff message", in: setAll(setSpawned, setFailures(1), setMessage("exited during start_seconds: exit code 1; retry 1 in 1s")),
		ev: event{kind: evTimer}, at: time.Second, state: apitype.StateRunning, msg: "-"},

	// Starting -> Starting (spawn after restart_delay)
	{name: "starting/timer after restart_delay spawns", prog: []func(*config.Program){restartDelay(2 * time.Second)}, in: setPendingRestart,
		ev: event{kind: evTimer}, at: 2 * time.Second,
		state: apitype.StateStarting, eff: []effect{eSpawn()}, check: wantFlags(false, false)},
	{name: "starting/timer after restart_delay while draining does not spawn", prog: []func(*config.Program){restartDelay(2 * time.Second)},
		in: setPendingRestart, ev: whileDraining(event{kind: evTimer}), at: 2 * time.Second,
		state: apitype.StateStarting, deadline: skipDeadline},
	{name: "starting/timer waiting for deps does nothing", prog: []func(*config.Program){dependsOn("db")}, in: setWaitingDeps,
		ev: event{kind: evTimer}, state: apitype.StateStarting, check: wantFlags(true, true)},

	// Starting -> Stopping, Starting -> Stopped (nothing runs yet)
	{name: "starting/stop signals the spawned group", in: setSpawned, ev: event{kind: evStop}, at: 500 * time.Millisecond,
		state:    apitype.StateStopping,
		eff:      []effect{eSig(syscall.SIGTERM, testPid, true), eSig(syscall.SIGCONT, testPid, true)},
		deadline: 10500 * time.Millisecond, check: checks(wantStopFlags(false, false, false), wantStopStep("SIGTERM sent, SIGKILL after 10s"))},
	{name: "starting/stop of a pending restart cancels it", prog: []func(*config.Program){restartDelay(2 * time.Second)}, in: setPendingRestart,
		ev: event{kind: evStop}, state: apitype.StateStopped, msg: "-", check: wantFlags(false, false)},
	{name: "starting/stop while waiting for deps", prog: []func(*config.Program){dependsOn("db")}, in: setWaitingDeps,
		ev: event{kind: evStop}, state: apitype.StateStopped, msg: "-", check: wantFlags(false, false)},
	{name: "starting/restart stops then starts", in: setSpawned, ev: event{kind: evRestart},
		state:    apitype.StateStopping,
		eff:      []effect{eSig(syscall.SIGTERM, testPid, true), eSig(syscall.SIGCONT, testPid, true)},
		deadline: 10 * time.Second, check: wantStopFlags(false, false, true)},
	{name: "starting/restart of a pending restart does nothing", prog: []func(*config.Program){restartDelay(2 * time.Second)}, in: setPendingRestart,
		ev: event{kind: evRestart}, state: apitype.StateStarting, deadline: 2 * time.Second, check: wantFlags(true, false)},
	{name: "starting/start does nothing", in: setSpawned, ev: event{kind: evStart},
		state: apitype.StateStarting, deadline: time.Second},

	// Running -> Exited, Running -> Starting (automatic restart)
	{name: "running/exit 0 with always restarts", prog: []func(*config.Program){restartPolicy(config.RestartAlways)}, in: setRunning, ev: exitEv(0),
		state: apitype.StateStarting, eff: []effect{eSpawn()}, restarts: 1, msg: "restarting after exit code 0",
		check: checks(wantExitCode(0), wantPid(0, 0))},
	{name: "running/exit 0 with on-failure exits", in: setRunning, ev: exitEv(0),
		state: apitype.StateExited, msg: "exit code 0", check: checks(wantExitCode(0), wantPid(0, 0))},
	{name: "running/exit 1 with on-failure restarts", in: setRunning, ev: exitEv(1),
		state: apitype.StateStarting, eff: []effect{eSpawn()}, restarts: 1, msg: "restarting after exit code 1"},
	{name: "running/exit 3 listed in success_exit_codes exits", prog: []func(*config.Program){successCodes(0, 3)}, in: setRunning, ev: exitEv(3),
		state: apitype.StateExited, msg: "exit code 3"},
	{name: "running/killed by a signal with on-failure restarts", in: setRunning, ev: killedEv(syscall.SIGTERM),
		state: apitype.StateStarting, eff: []effect{eSpawn()}, restarts: 1, msg: "restarting after killed by SIGTERM",
		check: wantExitSig("SIGTERM")},
	{name: "running/exit 1 with never exits", prog: []func(*config.Program){restartPolicy(config.RestartNever)}, in: setRunning, ev: exitEv(1),
		state: apitype.StateExited, msg: "exit code 1"},
	{name: "running/killed with never exits", prog: []func(*config.Program){restartPolicy(config.RestartNever)}, in: setRunning, ev: killedEv(syscall.SIGKILL),
		state: apitype.StateExited, msg: "killed by SIGKILL", check: wantExitSig("SIGKILL")},
	{name: "running/exit with restart_delay pends", prog: []func(*config.Program){restartDelay(5 * time.Second)}, in: setRunning, ev: exitEv(1), at: time.Second,
		state: apitype.StateStarting, deadline: 6 * time.Second, restarts: 1, check: wantFlags(true, false)},
	{name: "running/exit while draining exits", prog: []func(*config.Program){restartPolicy(config.RestartAlways)}, in: setRunning, ev: whileDraining(exitEv(1)),
		state: apitype.StateExited, msg: "exit code 1"},
	{name: "running/exit with the group alive kills the group", in: setRunning, ev: withGroupAlive(exitEv(1)),
		state: apitype.StateStarting, eff: []effect{eSig(syscall.SIGKILL, testPid, true), eSpawn()}, restarts: 1},
	{name: "running/exit of another pid is ignored", in: setRunning, ev: event{kind: evExit, pid: 7, code: 1},
		state: apitype.StateRunning, check: wantPid(testPid, testPid)},

	// Running -> Stopping
	{name: "running/stop signals the group", in: setRunning, ev: event{kind: evStop},
		state:    apitype.StateStopping,
		eff:      []effect{eSig(syscall.SIGTERM, testPid, true), eSig(syscall.SIGCONT, testPid, true)},
		deadline: 10 * time.Second, check: checks(wantStopFlags(false, false, false), wantStopStep("SIGTERM sent, SIGKILL after 10s"))},
	{name: "running/stop with stop_signal INT and stop_timeout 3s", prog: []func(*config.Program){stopSignal(syscall.SIGINT, 3*time.Second)},
		in: setRunning, ev: event{kind: evStop},
		state:    apitype.StateStopping,
		eff:      []effect{eSig(syscall.SIGINT, testPid, true), eSig(syscall.SIGCONT, testPid, true)},
		deadline: 3 * time.Second, check: wantStopStep("SIGINT sent, SIGKILL after 3s")},
	{name: "running/stop with kill_group false signals the leader", prog: []func(*config.Program){noKillGroup},
		in: setAll(setRunning, func(in *instance) { in.pgid = testPid + 1 }), ev: event{kind: evStop},
		state:    apitype.StateStopping,
		eff:      []effect{eSig(syscall.SIGTERM, testPid, false), eSig(syscall.SIGCONT, testPid, false)},
		deadline: 10 * time.Second},
	{name: "running/restart stops then starts", in: setRunning, ev: event{kind: evRestart},
		state:    apitype.StateStopping,
		eff:      []effect{eSig(syscall.SIGTERM, testPid, true), eSig(syscall.SIGCONT, testPid, true)},
		deadline: 10 * time.Second, check: wantStopFlags(false, false, true)},
	{name: "running/start does nothing", in: setRunning, ev: event{kind: evStart},
		state: apitype.StateRunning, check: wantPid(testPid, testPid)},
	{name: "running/kill does nothing", in: setRunning, ev: event{kind: evKill}, state: apitype.StateRunning},

	// Backoff -> Starting
	{name: "backoff/timer retries", in: setBackoff(1), ev: event{kind: evTimer}, at: time.Second,
		state: apitype.StateStarting, eff: []effect{eSpawn()}, failures: 1},
	{name: "backoff/timer while draining does not retry", in: setBackoff(1), ev: whileDraining(event{kind: evTimer}), at: time.Second,
		state: apitype.StateBackoff, failures: 1, deadline: skipDeadline},
	{name: "backoff/start retries at once and resets failures", in: setBackoff(2), ev: event{kind: evStart},
		state: apitype.StateStarting, eff: []effect{eSpawn()}, failures: 0},
	{name: "backoff/restart retries at once", in: setBackoff(2), ev: event{kind: evRestart},
		state: apitype.StateStarting, eff: []effect{eSpawn()}, failures: 0},
	{name: "backoff/start while draining does nothing", in: setBackoff(2), ev: whileDraining(event{kind: evStart}),
		state: apitype.StateBackoff, failures: 2, deadline: time.Second},

	// Backoff -> Stopped
	{name: "backoff/stop cancels at once", in: setBackoff(2), ev: event{kind: evStop},
		state: apitype.StateStopped, failures: 2, msg: "-"},

	// Stopping -> Stopping (stop_timeout is up: SIGKILL)
	{name: "stopping/timer at stop_timeout kills the group", in: setStopping, ev: event{kind: evTimer}, at: 10 * time.Second,
		state: apitype.StateStopping, eff: []effect{eSig(syscall.SIGKILL, testPid, true)},
		check: checks(wantStopFlags(false, true, false), wantStopStep("SIGKILL"))},
	{name: "stopping/timer with kill_group false still kills the group", prog: []func(*config.Program){noKillGroup},
		in: setStopping, ev: event{kind: evTimer}, at: 10 * time.Second,
		state: apitype.StateStopping, eff: []effect{eSig(syscall.SIGKILL, testPid, true)}},
	{name: "stopping/timer before stop_timeout does nothing", in: setStopping, ev: event{kind: evTimer}, at: 5 * time.Second,
		state: apitype.StateStopping, deadline: 10 * time.Second, check: wantStopFlags(false, false, false)},
	{name: "stopping/timer with the leader gone and the group alive polls", in: setLeaderGone, ev: withGroupAlive(event{kind: evTimer}), at: time.Second + groupPoll,
		state: apitype.StateStopping, deadline: time.Second + 2*groupPoll, check: wantStopFlags(true, false, false)},
	{name: "stopping/timer with the leader gone at stop_timeout kills the group", in: setLeaderGone, ev: withGroupAlive(event{kind: evTimer}), at: 10 * time.Second,
		state: apitype.StateStopping, eff: []effect{eSig(syscall.SIGKILL, testPid, true)}, deadline: 10*time.Second + groupPoll,
		check: wantStopFlags(true, true, false)},
	{name: "stopping/timer killed with the leader gone polls", in: setAll(setLeaderGone, func(in *instance) { in.killed = true }),
		ev: withGroupAlive(event{kind: evTimer}), at: 11 * time.Second,
		state: apitype.StateStopping, deadline: 11*time.Second + groupPoll},

	// Stopping -> Stopped (the group emptied)
	{name: "stopping/timer with the leader gone and the group empty stops", in: setLeaderGone, ev: event{kind: evTimer}, at: time.Second + groupPoll,
		state: apitype.StateStopped, msg: "-", check: checks(wantPid(0, 0), wantStopFlags(false, false, false))},

	// Stopping -> Stopping (SIGKILL now: drain timeout or a second signal)
	{name: "stopping/kill sends SIGKILL now", in: setStopping, ev: event{kind: evKill}, at: time.Second,
		state: apitype.StateStopping, eff: []effect{eSig(syscall.SIGKILL, testPid, true)}, check: wantStopFlags(false, true, false)},
	{name: "stopping/kill with the leader gone polls", in: setLeaderGone, ev: event{kind: evKill}, at: 2 * time.Second,
		state: apitype.StateStopping, eff: []effect{eSig(syscall.SIGKILL, testPid, true)}, deadline: 2*time.Second + groupPoll},
	{name: "stopping/kill twice does nothing", in: setKilled, ev: event{kind: evKill}, state: apitype.StateStopping},

	// Stopping -> Stopping (leader gone, group lives on)
	{name: "stopping/exit with the group alive waits for it", in: setStopping, ev: withGroupAlive(killedEv(syscall.SIGTERM)), at: time.Second,
		state: apitype.StateStopping, deadline: time.Second + groupPoll,
		check: checks(wantPid(0, testPid), wantStopFlags(true, false, false), wantStopStep("leader exited"), wantExitSig("SIGTERM"))},
	{name: "stopping/exit after SIGKILL with the group alive polls", in: setKilled, ev: withGroupAlive(killedEv(syscall.SIGKILL)), at: 11 * time.Second,
		state: apitype.StateStopping, deadline: 11*time.Second + groupPoll, check: wantStopFlags(true, true, false)},

	// Stopping -> Stopped
	{name: "stopping/exit with the group empty stops", in: setStopping, ev: killedEv(syscall.SIGTERM), at: time.Second,
		state: apitype.StateStopped, msg: "-", check: checks(wantPid(0, 0), wantExitSig("SIGTERM"), wantStopFlags(false, false, false))},
	{name: "stopping/exit after SIGKILL stops", in: setKilled, ev: killedEv(syscall.SIGKILL), at: 11 * time.Second,
		state: apitype.StateStopped, check: wantStopFlags(false, false, false)},
	{name: "stopping/exit of another pid is ignored", in: setStopping, ev: event{kind: evExit, pid: 7, code: 0},
		state: apitype.StateStopping, deadline: 10 * time.Second, check: wantPid(testPid, testPid)},
	{name: "stopping/exit is not an automatic restart", prog: []func(*config.Program){restartPolicy(config.RestartAlways)},
		in: setStopping, ev: exitEv(1), state: apitype.StateStopped, restarts: 0},

	// ... -> Starting (restart)
	{name: "stopping/exit then start spawns", in: setAll(setStopping, setThenStart, setFailures(2)), ev: killedEv(syscall.SIGTERM), at: time.Second,
		state: apitype.StateStarting, eff: []effect{eSpawn()}, failures: 0, msg: "-", check: wantStopFlags(false, false, false)},
	{name: "stopping/exit then start with depends_on waits", prog: []func(*config.Program){dependsOn("db")},
		in: setAll(setStopping, setThenStart), ev: killedEv(syscall.SIGTERM),
		state: apitype.StateStarting, eff: []effect{eStartDeps()}, check: wantFlags(true, true)},
	{name: "stopping/exit then start while draining stops", in: setAll(setStopping, setThenStart), ev: whileDraining(killedEv(syscall.SIGTERM)),
		state: apitype.StateStopped, check: wantStopFlags(false, false, false)},
	{name: "stopping/timer then start with the group empty spawns", in: setAll(setLeaderGone, setThenStart), ev: event{kind: evTimer}, at: time.Second + groupPoll,
		state: apitype.StateStarting, eff: []effect{eSpawn()}},

	// Stopping -> Stopping (then start)
	{name: "stopping/start marks then-start", in: setStopping, ev: event{kind: evStart},
		state: apitype.StateStopping, deadline: 10 * time.Second, check: wantStopFlags(false, false, true)},
	{name: "stopping/restart marks then-start", in: setStopping, ev: event{kind: evRestart},
		state: apitype.StateStopping, deadline: 10 * time.Second, check: wantStopFlags(false, false, true)},
	{name: "stopping/start while draining does nothing", in: setStopping, ev: whileDraining(event{kind: evStart}),
		state: apitype.StateStopping, deadline: 10 * time.Second, check: wantStopFlags(false, false, false)},
	{name: "stopping/stop does nothing", in: setStopping, ev: event{kind: evStop},
		state: apitype.StateStopping, deadline: 10 * time.Second, check: wantStopFlags(false, false, false)},

	// Every other pair changes nothing.
	{name: "stopped/stop does nothing", ev: event{kind: evStop}, state: apitype.StateStopped},
	{name: "exited/stop does nothing", in: setState(apitype.StateExited), ev: event{kind: evStop}, state: apitype.StateExited},
	{name: "fatal/stop does nothing", in: setAll(setState(apitype.StateFatal), setFailures(4)), ev: event{kind: evStop},
		state: apitype.StateFatal, failures: 4},
	{name: "stopped/kill does nothing", ev: event{kind: evKill}, state: apitype.StateStopped},
	{name: "stopped/timer does nothing", ev: event{kind: evTimer}, state: apitype.StateStopped},
}

func TestStep(t *testing.T) {
	seen := make(map[string]bool)
	for _, tc := range stepCases {
		if seen[tc.name] {
			t.Fatalf("duplicate case %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			in := newInstance(prog("web", tc.prog...), 0, nil)
			if tc.in != nil {
				tc.in(in)
			}
			now := t0.Add(tc.at)
			from := in.state
			got := step(in, tc.ev, now)
			call := fmt.Sprintf("step(%s, %s)", from, tc.ev.kind)

			if in.state != tc.state {
				t.Errorf("%s: state = %v; want %v", call, in.state, tc.state)
			}
			if !slices.Equal(got, tc.eff) {
				t.Errorf("%s = %v; want %v", call, effStrings(got), effStrings(tc.eff))
			}
			switch tc.deadline {
			case skipDeadline:
			case noDeadline:
				if !in.deadline.IsZero() {
					t.Errorf("%s: deadline = t0+%v; want none", call, in.deadline.Sub(t0))
				}
			default:
				if want := t0.Add(tc.deadline); !in.deadline.Equal(want) {
					t.Errorf("%s: deadline = %v; want t0+%v", call, fmtDeadline(in.deadline), tc.deadline)
				}
			}
			// A deadline at or before now would fire at once, again and
			// again: the loop would spin.
			if !in.deadline.IsZero() && !in.deadline.After(now) {
				t.Errorf("%s at t0+%v: deadline = %v; want none or later than now", call, tc.at, fmtDeadline(in.deadline))
			}
			switch tc.msg {
			case "":
			case "-":
				if in.message != "" {
					t.Errorf("%s: message = %q; want empty", call, in.message)
				}
			default:
				if !strings.Contains(in.message, tc.msg) {
					t.Errorf("%s: message = %q; want it to contain %q", call, in.message, tc.msg)
				}
			}
			if in.failures != tc.failures {
				t.Errorf("%s: failures = %d; want %d", call, in.failures, tc.failures)
			}
			if in.restarts != tc.restarts {
				t.Errorf("%s: restarts = %d; want %d", call, in.restarts, tc.restarts)
			}
			if tc.check != nil {
				tc.check(t, in)
			}
		})
	}
}

func fmtDeadline(d time.Time) string {
	if d.IsZero() {
		return "none"
	}
	return "t0+" + d.Sub(t0).String()
}

// TestStepCoversEveryArm checks that the table has a case for every arm the
// code marks with a "// From -> To" comment.
func TestStepCoversEveryArm(t *testing.T) {
	// Each arm, by the prefix its cases' names start with.
	arms := map[string][]string{
		"Stopped|Exited|Fatal -> Starting":                                                {"stopped/start", "exited/start", "fatal/start"},
		"Starting -> Starting (dependencies up)":                                          {"starting/deps-ready"},
		"Starting -> Fatal":                                                               {"starting/dep-failed"},
		"Starting -> Starting, or Starting -> Running":                                    {"starting/spawned"},
		"Starting -> Backoff, or Starting -> Fatal":                                       {"starting/spawn-error", "starting/exit"},
		"Starting -> Starting (spawn after restart_delay)":                                {"starting/timer after restart_delay"},
		"Starting -> Running":                                                             {"starting/timer runs"},
		"Starting -> Stopped (nothing runs yet)":                                          {"starting/stop of a pending", "starting/stop while waiting"},
		"Starting -> Stopping":                                                            {"starting/stop signals"},
		"Starting -> Stopping (then start)":                                               {"starting/restart stops"},
		"Running -> Exited":                                                               {"running/exit 0 with on-failure", "running/exit 1 with never"},
		"Running -> Starting (automatic restart)":                                         {"running/exit 1 with on-failure", "running/exit with restart_delay"},
		"Running -> Stopping":                                                             {"running/stop"},
		"Running -> Stopping (then start)":                                                {"running/restart"},
		"Backoff -> Starting":                                                             {"backoff/timer retries"},
		"Backoff -> Starting (at once)":                                                   {"backoff/start", "backoff/restart"},
		"Backoff -> Stopped":                                                              {"backoff/stop"},
		"Stopping -> Stopped (the group emptied)":                                         {"stopping/timer with the leader gone and the group empty"},
		"Stopping -> Stopping (stop_timeout is up: SIGKILL)":                              {"stopping/timer at stop_timeout"},
		"Stopping -> Stopping (SIGKILL now: drain timeout or a second signal)":            {"stopping/kill"},
		"Stopping -> Stopping (leader gone, group lives on)":                              {"stopping/exit with the group alive"},
		"Stopping -> Stopped":                                                             {"stopping/exit with the group empty"},
		"Stopping -> Stopping (then start)":                                               {"stopping/start", "stopping/restart"},
		"Stopping -> Stopping (an explicit stop cancels a pending restart or backoff)":    {"stopping/stop"},
		"... -> Starting (restart)":                                                       {"stopping/exit then start"},
		"Starting -> Starting (the forking command runs)":                                 {"starting/spawned forking command"},
		"Starting -> Starting (the forking command is done: adopt its daemon)":            {"starting/forking command exits 0"},
		"Starting -> Stopping (the forking command took too long), then Backoff or Fatal": {"starting/forking command too slow"},
		"Starting -> Running (ready)":                                                     {"starting/ready after start_seconds", "starting/ready with start_seconds 0"},
		"Starting -> Stopping (not ready in time), then Backoff or Fatal":                 {"starting/timer not ready"},
		"Running -> Stopping (unhealthy), then Starting":                                  {"running/health-fail at failures", "running/health-fail with failures 1"},
		"Running -> Stopping (watchdog timeout), then Starting":                           {"running/timer watchdog expired"},
		"Stopping -> Backoff|Fatal (a start that failed its readiness)":                   {"stopping/exit after not ready", "stopping/timer after not ready"},
		"... -> same state (the leader exited; its MAINPID is the leader now)":            {"running/exit handing over", "starting/exit handing over", "stopping/exit handing over"},
	}
	for arm, prefixes := range arms {
		for _, p := range prefixes {
			found := false
			for _, tc := range stepCases {
				if strings.HasPrefix(tc.name, p) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("arm %q: no case named %q...", arm, p)
			}
		}
	}
	// And every arm comment in step.go is listed above.
	src, err := os.ReadFile("step.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(src), "\n") {
		// Arm comments are indented, inside step.
		if !strings.HasPrefix(line, "\t") {
			continue
		}
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "// ") || !strings.Contains(line, " -> ") {
			continue
		}
		arm := strings.TrimPrefix(line, "// ")
		if _, ok := arms[arm]; !ok {
			t.Errorf("step.go arm %q has no cases listed in TestStepCoversEveryArm", arm)
		}
	}
}
