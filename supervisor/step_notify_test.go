package supervisor

import (
	"testing"

	"github.com/superd/superd/ipc/apitype"
)

// Step cases of a notify program's leader exiting while the MAINPID= it
// named lives on: the loop has the reaper supervise that process and says
// so in the exit event (handoff); the instance stays as it was, led by it.
// Part of stepCases.

const mainPid = testPid + 7

func handoffEv() event { return event{kind: evExit, pid: testPid, handoff: mainPid} }

// wantLedBy checks the instance is led by pid in the same group, with no
// exit recorded.
func wantLedBy(pid int) func(*testing.T, *instance) {
	return func(t *testing.T, in *instance) {
		if in.pid != pid || in.pgid != testPid {
			t.Errorf("pid %d pgid %d; want %d %d", in.pid, in.pgid, pid, testPid)
		}
		if in.exitCode != nil || in.exitSig != nil {
			t.Errorf("exit recorded (%v, %v); the leader's handoff is not the instance's exit", in.exitCode, in.exitSig)
		}
	}
}

var handoffStepCases = []stepCase{
	{name: "running/exit handing over to MAINPID stays running", in: setRunning, ev: handoffEv(),
		state: apitype.StateRunning, deadline: noDeadline, check: wantLedBy(mainPid)},
	{name: "starting/exit handing over to MAINPID keeps starting", in: setSpawned, ev: handoffEv(),
		state: apitype.StateStarting, deadline: skipDeadline, failures: 0, check: wantLedBy(mainPid)},
	{name: "stopping/exit handing over to MAINPID waits for it", in: setStopping, ev: handoffEv(),
		state: apitype.StateStopping, deadline: skipDeadline, check: wantLedBy(mainPid)},
	{name: "running/exit of a stranger with a handoff changes nothing", in: setRunning,
		ev:    event{kind: evExit, pid: testPid + 1, handoff: mainPid},
		state: apitype.StateRunning, deadline: noDeadline, check: wantLedBy(testPid)},
}
