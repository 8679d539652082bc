package supervisor

import (
	"testing"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// Step cases of type = "forking": the command runs, exits 0, and superd
// adopts the daemon named in its pidfile. Part of stepCases.

func forkingType(p *config.Program) { p.Type = config.TypeForking; p.PidFile = "/run/d.pid" }

// setLaunching: starting, the forking command spawned at t0.
func setLaunching(in *instance) {
	in.state = apitype.StateStarting
	in.pid, in.pgid = testPid, testPid
	in.started = t0
	in.launching = true
	in.deadline = t0.Add(defaultReadyTimeout)
}

var forkingStepCases = []stepCase{
	{name: "starting/spawned forking command waits for it to exit", prog: []func(*config.Program){forkingType},
		in: setState(apitype.StateStarting), ev: event{kind: evSpawned, pid: testPid},
		state: apitype.StateStarting, deadline: defaultReadyTimeout,
		check: func(t *testing.T, in *instance) {
			if !in.launching {
				t.Errorf("launching = false; want true until the command exits")
			}
		}},
	{name: "starting/forking command exits 0: adopt the daemon", prog: []func(*config.Program){forkingType},
		in: setLaunching, ev: exitEv(0), state: apitype.StateStarting, eff: []effect{{kind: efForked}}, deadline: noDeadline,
		check: func(t *testing.T, in *instance) {
			if in.launching || in.pid != 0 {
				t.Errorf("launching %v pid %d after the command exited; want false, 0", in.launching, in.pid)
			}
		}},
	{name: "starting/forking command exits 1: failed start", prog: []func(*config.Program){forkingType},
		in: setLaunching, ev: exitEv(1), state: apitype.StateBackoff, failures: 1, msg: "exit code 1", deadline: skipDeadline},
	{name: "starting/adopted daemon spawned: start_seconds run", prog: []func(*config.Program){forkingType},
		in: setState(apitype.StateStarting), ev: event{kind: evSpawned, pid: testPid + 1, forked: true, pgid: 7},
		state: apitype.StateStarting, deadline: time.Second,
		check: func(t *testing.T, in *instance) {
			if in.pid != testPid+1 || in.pgid != 7 || in.launching {
				t.Errorf("pid %d pgid %d launching %v; want %d, 7, false", in.pid, in.pgid, in.launching, testPid+1)
			}
		}},
	{name: "starting/forking command too slow: stop, then backoff", prog: []func(*config.Program){forkingType},
		in: setLaunching, ev: event{kind: evTimer}, at: defaultReadyTimeout, state: apitype.StateStopping,
		eff: []effect{{kind: efSignal, sig: 15, pid: testPid, group: true}, {kind: efSignal, sig: 18, pid: testPid, group: true}},
		msg: "forking command did not exit within", deadline: skipDeadline},
}
