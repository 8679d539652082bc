package supervisor

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

var allStates = []apitype.State{
	apitype.StateStopped, apitype.StateStarting, apitype.StateRunning, apitype.StateBackoff,
	apitype.StateStopping, apitype.StateExited, apitype.StateFatal,
}

type variant struct {
	name string
	prog []func(*config.Program)
	in   func(*instance)
}

// variants are realistic instances of each state; their deadlines (if any)
// fall at t0+1s or later.
var variants = map[apitype.State][]variant{
	apitype.StateStopped: {
		{name: "plain"},
		{name: "deps", prog: []func(*config.Program){dependsOn("db")}},
	},
	apitype.StateExited: {
		{name: "plain", in: func(in *instance) { in.state = apitype.StateExited; c := 1; in.exitCode = &c }},
	},
	apitype.StateFatal: {
		{name: "plain", in: setAll(setState(apitype.StateFatal), setFailures(4))},
		{name: "deps", prog: []func(*config.Program){dependsOn("db")}, in: setAll(setState(apitype.StateFatal), setFailures(4))},
	},
	apitype.StateStarting: {
		{name: "spawned", in: setSpawned},
		{name: "spawned,deps", prog: []func(*config.Program){dependsOn("db")}, in: setSpawned},
		{name: "spawned,retries=0", prog: []func(*config.Program){startRetries(0)}, in: setSpawned},
		{name: "spawned,kill_group=false", prog: []func(*config.Program){noKillGroup}, in: setSpawned},
		{name: "pending", prog: []func(*config.Program){restartDelay(2 * time.Second)}, in: setPendingRestart},
		{name: "waitDeps", prog: []func(*config.Program){dependsOn("db")}, in: setWaitingDeps},
		{name: "spawning", in: setState(apitype.StateStarting)},
		{name: "spawning,start_seconds=0", prog: []func(*config.Program){startSeconds(0)}, in: setState(apitype.StateStarting)},
		{name: "spawned,ready", prog: []func(*config.Program){readyTCP(30 * time.Second)}, in: setAwaitingReady(30 * time.Second)},
		{name: "spawned,ready,up", prog: []func(*config.Program){readyTCP(30 * time.Second)}, in: setUpAwaitingReady(30 * time.Second)},
		{name: "spawned,ready,retries=0", prog: []func(*config.Program){readyTCP(30 * time.Second), startRetries(0)}, in: setUpAwaitingReady(30 * time.Second)},
		{name: "spawned,ready=ok", prog: []func(*config.Program){readyTCP(30 * time.Second)},
			in: setAll(setAwaitingReady(30*time.Second), func(in *instance) { in.readyOK = true })},
		{name: "spawned,notify,watchdog", prog: []func(*config.Program){notifyType(5 * time.Second)}, in: setAwaitingReady(90 * time.Second)},
		{name: "spawning,ready", prog: []func(*config.Program){readyTCP(30 * time.Second)}, in: setState(apitype.StateStarting)},
		{name: "spawning,notify,watchdog,start_seconds=0", prog: []func(*config.Program){notifyType(5 * time.Second), startSeconds(0)}, in: setState(apitype.StateStarting)},
	},
	apitype.StateRunning: {
		{name: "plain", in: setRunning},
		{name: "always", prog: []func(*config.Program){restartPolicy(config.RestartAlways)}, in: setRunning},
		{name: "never", prog: []func(*config.Program){restartPolicy(config.RestartNever)}, in: setRunning},
		{name: "restart_delay", prog: []func(*config.Program){restartDelay(2 * time.Second)}, in: setRunning},
		{name: "deps", prog: []func(*config.Program){dependsOn("db")}, in: setRunning},
		{name: "kill_group=false", prog: []func(*config.Program){noKillGroup}, in: setRunning},
		{name: "health", prog: []func(*config.Program){healthTCP(3)}, in: setAll(setRunning, setHealthFails(2))},
		{name: "health,failures=1", prog: []func(*config.Program){healthTCP(1)}, in: setRunning},
		{name: "notify,watchdog", prog: []func(*config.Program){notifyType(5 * time.Second)}, in: setRunningWatchdog},
		{name: "notify,watchdog,never", prog: []func(*config.Program){notifyType(5 * time.Second), restartPolicy(config.RestartNever)}, in: setRunningWatchdog},
		{name: "notify,watchdog,health", prog: []func(*config.Program){notifyType(5 * time.Second), healthTCP(1)}, in: setRunningWatchdog},
	},
	apitype.StateBackoff: {
		{name: "failures=1", in: setBackoff(1)},
		{name: "failures=3", in: setBackoff(3)},
	},
	apitype.StateStopping: {
		{name: "signalled", in: setStopping},
		{name: "signalled,thenStart", in: setAll(setStopping, setThenStart)},
		{name: "signalled,thenStart,deps", prog: []func(*config.Program){dependsOn("db")}, in: setAll(setStopping, setThenStart)},
		{name: "leaderGone", in: setLeaderGone},
		{name: "killed", in: setKilled},
		{name: "killed,leaderGone", in: setAll(setLeaderGone, func(in *instance) { in.killed = true })},
		{name: "kill_group=false", prog: []func(*config.Program){noKillGroup}, in: setStopping},
		{name: "notReady", prog: []func(*config.Program){readyTCP(30 * time.Second)}, in: setNotReadyStop},
		{name: "notReady,failures=3", prog: []func(*config.Program){readyTCP(30 * time.Second)}, in: setAll(setNotReadyStop, setFailures(3))},
		{name: "notReady,leaderGone", prog: []func(*config.Program){readyTCP(30 * time.Second)},
			in: setAll(setNotReadyStop, func(in *instance) { in.pid, in.leaderGone = 0, true; in.deadline = t0.Add(time.Second) })},
		{name: "unhealthy,thenStart", prog: []func(*config.Program){healthTCP(1)},
			in: setAll(setStopping, setThenStart, func(in *instance) { in.healthy = false })},
	},
}

// TestStepTotal calls step for every (state, event) pair of realistic
// instances and checks that nothing panics and every result is coherent.
func TestStepTotal(t *testing.T) {
	for _, st := range allStates {
		if len(variants[st]) == 0 {
			t.Errorf("no variants of state %v", st)
		}
		for _, v := range variants[st] {
			for k := range eventKind(len(eventNames)) {
				for _, drain := range []bool{false, true} {
					for _, groupAlive := range []bool{false, true} {
						name := fmt.Sprintf("%s(%s)/%s/draining=%v/groupAlive=%v", st, v.name, k, drain, groupAlive)
						checkTotal(t, name, st, v, k, drain, groupAlive)
					}
				}
			}
		}
	}
}

func checkTotal(t *testing.T, name string, st apitype.State, v variant, k eventKind, drain, groupAlive bool) {
	t.Helper()
	in := newInstance(prog("web", v.prog...), 0, nil)
	if v.in != nil {
		v.in(in)
	}
	if in.state != st {
		t.Fatalf("%s: variant is in state %v; want %v", name, in.state, st)
	}
	// A timer fires at the deadline (or, without one, at some time later);
	// every other event comes before it.
	now := t0.Add(500 * time.Millisecond)
	if k == evTimer {
		now = in.deadline
		if now.IsZero() {
			now = t0.Add(time.Hour)
		}
	}
	ev := event{kind: k, draining: drain, groupAlive: groupAlive, jitter: 0.3}
	switch k {
	case evSpawned:
		ev.pid = testPid + 1
	case evSpawnErr:
		ev.err = syscall.ENOENT
	case evExit:
		ev.pid, ev.code = in.pid, 1
		if in.pid == 0 {
			ev.pid = 999
		}
	case evDepFailed:
		ev.reason = "db"
	case evReady, evWatchdog, evHealthOK:
		ev.pid = in.pid
	case evHealthFail:
		ev.pid, ev.reason = in.pid, refused
	}
	var eff []effect
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s: step panicked: %v", name, r)
			}
		}()
		eff = step(in, ev, now)
	}()
	if !slices.Contains(allStates, in.state) {
		t.Errorf("%s: state = %q; want one of %v", name, in.state, allStates)
		return
	}
	// evSpawned and evSpawnErr answer a spawn effect, so they only come
	// to an instance that is starting with no process and none pending;
	// for other instances, not panicking is enough.
	spawning := st == apitype.StateStarting && (v.name == "spawning" || strings.HasPrefix(v.name, "spawning,"))
	if (k == evSpawned || k == evSpawnErr) && !spawning {
		return
	}
	// And a spawning instance gets that answer before the loop looks at
	// any timer (it has no deadline).
	if k == evTimer && spawning {
		return
	}
	p := in.prog

	// Deadlines: set iff the state needs one, and never in the past.
	var need, may bool
	switch in.state {
	case apitype.StateStarting:
		switch {
		case in.pending && in.waitDeps:
		case in.pending:
			need = !drain // restart_delay; while draining it waits for the drain's stop
			may = drain
		case in.pid != 0:
			// start_seconds, or the ready timeout
			need = (p.StartSeconds > 0 && !in.upOK) || (needsReady(p) && !in.readyOK)
		}
	case apitype.StateRunning:
		need = p.Watchdog > 0 && !drain // the watchdog
		may = drain
	case apitype.StateBackoff:
		need = !drain
		may = drain
	case apitype.StateStopping:
		need = !in.killed || in.leaderGone
	}
	has := !in.deadline.IsZero()
	if has != need && !may {
		t.Errorf("%s: -> %s (pending %v, waitDeps %v, pid %d, killed %v, leaderGone %v): deadline = %v; want set %v",
			name, in.state, in.pending, in.waitDeps, in.pid, in.killed, in.leaderGone, fmtDeadline(in.deadline), need)
	}
	if has && !in.deadline.After(now) {
		t.Errorf("%s: -> %s: deadline = %v at now t0+%v; want none or later than now (else the loop spins)",
			name, in.state, fmtDeadline(in.deadline), now.Sub(t0))
	}

	// Effects: only those the resulting state can have asked for.
	for _, e := range eff {
		ok := false
		switch e.kind {
		case efSpawn:
			ok = in.state == apitype.StateStarting && !in.pending && !drain
		case efFatal:
			ok = in.state == apitype.StateFatal
		case efStartDeps:
			ok = in.state == apitype.StateStarting && in.waitDeps && !drain
		case efSignal:
			ok = e.pid > 0 && (e.sig == p.StopSignal || e.sig == syscall.SIGCONT || e.sig == syscall.SIGKILL)
		}
		if !ok {
			t.Errorf("%s: -> %s: effect %v not allowed (effects %v)", name, in.state, effString(e), effStrings(eff))
		}
	}
	if in.state == apitype.StateFatal && st != apitype.StateFatal && !slices.Contains(eff, eFatal()) {
		t.Errorf("%s: -> fatal without a fatal effect (effects %v)", name, effStrings(eff))
	}
	if !in.state.Live() && (in.pid != 0 || in.pending || in.waitDeps) {
		t.Errorf("%s: -> %s with pid %d, pending %v, waitDeps %v; want none", name, in.state, in.pid, in.pending, in.waitDeps)
	}
}
