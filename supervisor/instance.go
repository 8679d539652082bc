package supervisor

import (
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/supervisor/notify"
)

// instance is one running copy of a program. Only the loop goroutine reads
// or writes it.
type instance struct {
	name  string // "web" or "web:1"
	index int
	prog  *config.Program
	out   *output

	state         apitype.State
	pid           int       // the leader, while it lives
	pgid          int       // its process group, until the group is empty
	started       time.Time // when the current process was spawned
	restarts      int       // automatic restarts
	failures      int       // failed starts in a row
	exitCode      *int
	spawnFailures uint64 // fork/exec errors, for /metrics
	exitSig       *string
	message       string

	// deadline is when the loop must call step with evTimer; zero: never.
	// Its meaning depends on the state: starting (spawned): start_seconds
	// are up; starting (pending): spawn now; backoff: retry; stopping:
	// escalate to SIGKILL, or look again whether the group is empty.
	deadline time.Time

	pending  bool // starting: no process yet (restart_delay, or waiting for dependencies)
	waitDeps bool // starting: waits until every dependency runs (and the predecessor is down)
	// predecessor, after a reload changed the program, is the instance this
	// one replaces: it starts only once that one is down. The loop clears it.
	predecessor *instance
	retiring    bool      // removed or replaced by a reload: dropped once down
	leaderGone  bool      // stopping: the leader was reaped, the group lives on
	killed      bool      // stopping: SIGKILL sent
	killAt      time.Time // stopping: when stop_timeout is up
	thenStart   bool      // stopping: start again once stopped (restart)
	stopStep    string
	failReason  string // stopping: the start failed (not ready); backoff once down

	upOK         bool           // starting: start_seconds are up
	readyOK      bool           // starting: ready (check passed, READY=1, or none needed)
	readyBy      time.Time      // starting: the ready timeout
	watchdogAt   time.Time      // running, notify: restart unless a WATCHDOG=1 comes first
	healthy      bool           // the last `failures` health checks did not all fail
	healthFails  int            // health checks failed in a row
	probeAt      time.Time      // the loop's next ready or health probe; zero: none
	probing      int            // pid whose probe is in flight (never more than one per process); 0: none
	probeErr     string         // the last failed ready probe, for the message
	probeCancel  func()         // ends the probe in flight
	stopWatch    func()         // ends a log-ready watch; nil when none runs
	notify       *notify.Socket // type = "notify": its NOTIFY_SOCKET, once made
	adopted      bool           // a detached process re-adopted after a restart of superd
	spawnQueued  bool           // starting: waits in the loop's spawn queue
	launching    bool           // starting, forking: the command that forks the daemon runs
	pidfd        int            // adopted: its pidfd (signals, exit); 0: none
	mainPid      int            // MAINPID= of a notify program (one of its group)
	notifyStatus string         // the last STATUS= of a notify program
	operStop     bool           // stopped by an operator; remembered across restarts
}

func newInstance(p *config.Program, index int, out *output) *instance {
	name := p.Name
	if p.Instances > 1 {
		name = p.Name + ":" + strconv.Itoa(index)
	}
	return &instance{name: name, index: index, prog: p, out: out, state: apitype.StateStopped, healthy: true}
}

// holdsDrain reports whether a drain must wait for in: it is live, and not
// a detached process (those keep running when superd exits).
func (in *instance) holdsDrain() bool {
	if in.down() {
		return false
	}
	return !in.prog.Detach || in.pid == 0 || in.state == apitype.StateStopping
}

// down reports whether the instance has no process and none is coming.
func (in *instance) down() bool { return !in.state.Live() }

// snapshot is the wire form of the instance at now.
func (in *instance) snapshot(now time.Time) apitype.Instance {
	a := apitype.Instance{
		Name:       in.name,
		Program:    in.prog.Name,
		Instance:   in.index,
		State:      in.state,
		Restarts:   in.restarts,
		ExitCode:   in.exitCode,
		ExitSignal: in.exitSig,
		Detached:   in.prog.Detach,
		Message:    in.message,
		// A running instance has passed its readiness check, if it has one.
		Ready:   in.state == apitype.StateRunning,
		Healthy: in.healthy,
	}
	if in.pid > 0 && (in.state == apitype.StateRunning || in.state == apitype.StateStarting || in.state == apitype.StateStopping) {
		pid := in.pid
		if in.mainPid > 0 {
			pid = in.mainPid
		}
		started := in.started.UTC()
		a.Pid = &pid
		a.StartedAt = &started
		if in.state == apitype.StateRunning {
			a.UptimeSeconds = now.Sub(in.started).Seconds()
		}
	}
	return a
}

// signalName is the SIG-prefixed name of sig, as the API reports it.
func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "SIG" + strconv.Itoa(int(sig))
}
