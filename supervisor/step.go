package supervisor

import (
	"fmt"
	"syscall"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// eventKind is what happened to an instance.
type eventKind int

const (
	evStart      eventKind = iota // an operator, autostart or a dependent asks for it to run
	evStop                        // an operator or the drain asks for it to stop
	evRestart                     // an operator asks for stop then start
	evDepsReady                   // every dependency runs (only while waitDeps)
	evDepFailed                   // a dependency went fatal (only while waitDeps)
	evSpawned                     // the process was started with pid
	evSpawnErr                    // fork or exec failed with err
	evExit                        // the leader exited
	evTimer                       // the instance's deadline has come
	evKill                        // stopping: SIGKILL now (drain timeout, second signal)
	evReady                       // starting: the readiness check passed (or READY=1)
	evHealthOK                    // running: a health check passed
	evHealthFail                  // running: a health check failed (reason)
	evWatchdog                    // a WATCHDOG=1 ping
)

var eventNames = [...]string{"start", "stop", "restart", "deps-ready", "dep-failed", "spawned", "spawn-error", "exit", "timer", "kill", "ready", "health-ok", "health-fail", "watchdog"}

func (k eventKind) String() string { return eventNames[k] }

// event is one input of step. The loop fills in what step may not find out
// itself: the time, a jitter draw, whether the process group still has
// members.
type event struct {
	kind       eventKind
	pid        int
	err        error
	code       int            // evExit: exit code, or -1
	sig        syscall.Signal // evExit: killing signal, or 0
	groupAlive bool           // evExit, evTimer while stopping: the process group has members
	draining   bool           // superd is draining: nothing is (re)started
	jitter     float64        // in [-1, 1): varies backoff delays by up to ±20%
	reason     string         // evDepFailed: which dependency
	unknown    bool           // evExit of a re-adopted process: status unknown
	forked     bool           // evSpawned: the daemon a forking program left, adopted
	pgid       int            // evSpawned (forked): the daemon's process group
	handoff    int            // evExit of a notify leader: its live MAINPID, now supervised instead
}

// effectKind is something the loop must do for step.
type effectKind int

const (
	efSpawn     effectKind = iota // start the process
	efSignal                      // send sig to the leader, or to the group when group is set
	efFatal                       // the instance went fatal (on_fatal applies)
	efStartDeps                   // ask the dependencies to start
	efForked                      // a forking program's command exited 0: read its pidfile, adopt the daemon
)

type effect struct {
	kind  effectKind
	sig   syscall.Signal
	pid   int  // efSignal: the leader's pid, or the process group id when group
	group bool // efSignal: to the process group
}

// groupPoll is how often a stopping instance whose leader is gone looks
// again at its process group (no event says when the group empties).
const groupPoll = 10 * time.Millisecond

// step is the state machine of one instance: it applies ev at now and
// returns what the loop must do. It performs no I/O and reads no clock.
//
// Transitions (state, event -> state):
//
//	stopped|exited|fatal, start   -> starting (waitDeps if dependencies, else spawn)
//	stopped|exited|fatal, restart -> starting
//	starting, deps-ready          -> starting (spawn, or pending restart_delay)
//	starting, dep-failed          -> fatal
//	starting, spawned             -> starting (deadline start_seconds, ready timeout), or running when neither applies
//	starting, ready               -> running once start_seconds are up too
//	starting, timer (not ready)   -> stopping, then backoff or fatal (not ready in time)
//	starting, spawn-error         -> backoff, or fatal after start_retries
//	starting, exit                -> backoff, or fatal after start_retries
//	starting, timer (spawned)     -> running (start_seconds up and ready)
//	running, health-fail          -> stopping, then starting (after `failures` in a row: unhealthy)
//	running, timer (watchdog)     -> stopping, then starting (WATCHDOG=1 pings stopped)
//	starting|running, watchdog    -> same state, watchdog deadline moved
//	starting, timer (pending)     -> starting (spawn)
//	running, exit                 -> starting (restart policy says so), else exited
//	backoff, timer                -> starting (spawn)
//	backoff, start|restart        -> starting (spawn now)
//	starting|running, stop        -> stopping (stop_signal, SIGCONT; deadline stop_timeout)
//	starting (pending), stop      -> stopped
//	backoff, stop                 -> stopped
//	starting|running, restart     -> stopping (then start)
//	stopping, timer (not killed)  -> stopping (SIGKILL to the group)
//	stopping, exit, group empty   -> stopped, or starting when restarting
//	stopping, exit, group alive   -> stopping (leaderGone; poll the group)
//	stopping, timer (leaderGone)  -> stopped when the group is empty, else poll again
//	stopping, kill                -> stopping (SIGKILL to the group now)
//	stopping, start|restart       -> stopping (then start)
//	stopping, stop                -> stopping (cancels a pending restart or backoff)
//	any, exit with a MAINPID      -> same state, the MAINPID supervised as the leader
//
// Every other pair changes nothing.
func step(in *instance, ev event, now time.Time) []effect {
	p := in.prog
	if ev.kind == evExit && ev.handoff > 0 && ev.pid == in.pid && in.pid != 0 {
		// ... -> same state (the leader exited; its MAINPID is the leader now)
		in.pid = ev.handoff
		return nil
	}
	switch in.state {
	case apitype.StateStopped, apitype.StateExited, apitype.StateFatal:
		switch ev.kind {
		case evStart, evRestart:
			if ev.draining {
				return nil
			}
			// Stopped|Exited|Fatal -> Starting
			in.failures = 0
			in.state = apitype.StateStarting
			in.message = ""
			return beginStart(in, now)
		}
	case apitype.StateStarting:
		switch ev.kind {
		case evDepsReady:
			if !in.waitDeps || ev.draining {
				return nil
			}
			// Starting -> Starting (dependencies up)
			in.waitDeps = false
			in.message = ""
			return spawnNow(in)
		case evDepFailed:
			if !in.waitDeps {
				return nil
			}
			// Starting -> Fatal
			in.waitDeps, in.pending = false, false
			in.state = apitype.StateFatal
			in.message = "dependency " + ev.reason + " is fatal"
			return []effect{{kind: efFatal}}
		case evSpawned:
			if p.Type == config.TypeForking && !ev.forked {
				// Starting -> Starting (the forking command runs)
				in.pid, in.pgid = ev.pid, ev.pid
				in.started = now
				in.pending, in.launching = false, true
				in.deadline = now.Add(readyTimeout(p))
				return nil
			}
			// Starting -> Starting, or Starting -> Running
			in.launching = false
			in.pid, in.pgid = ev.pid, ev.pid
			if ev.forked && ev.pgid > 0 {
				in.pgid = ev.pgid
			}
			in.started = now
			in.pending = false
			in.healthy, in.healthFails = true, 0
			in.upOK = p.StartSeconds <= 0
			in.readyOK = !needsReady(p)
			if !in.readyOK {
				in.readyBy = now.Add(readyTimeout(p))
			}
			if in.upOK && in.readyOK {
				enterRunning(in, now)
				return nil
			}
			in.deadline = startingDeadline(in)
			return nil
		case evReady:
			if ev.pid != in.pid || in.pid == 0 || in.readyOK {
				return nil
			}
			in.readyOK = true
			if in.upOK {
				// Starting -> Running (ready)
				enterRunning(in, now)
				return nil
			}
			in.deadline = startingDeadline(in)
			return nil
		case evWatchdog:
			if ev.pid == in.pid && p.Watchdog > 0 {
				in.watchdogAt = now.Add(p.Watchdog)
			}
			return nil
		case evSpawnErr:
			// Starting -> Backoff, or Starting -> Fatal
			in.pid = 0
			return failedStart(in, ev, now, "start failed: "+ev.err.Error())
		case evExit:
			if ev.pid != in.pid {
				return nil
			}
			if in.launching && ev.sig == 0 && ev.code == 0 {
				// Starting -> Starting (the forking command is done: adopt its daemon)
				in.launching = false
				in.pid = 0
				in.deadline = time.Time{}
				return []effect{{kind: efForked}}
			}
			in.launching = false
			// Starting -> Backoff, or Starting -> Fatal
			recordExit(in, ev)
			var eff []effect
			if ev.groupAlive && p.KillGroup {
				eff = append(eff, effect{kind: efSignal, sig: syscall.SIGKILL, pid: in.pgid, group: true})
			}
			return append(eff, failedStart(in, ev, now, "exited during start_seconds: "+exitText(ev))...)
		case evTimer:
			if in.pending {
				if in.waitDeps || ev.draining {
					in.deadline = time.Time{}
					return nil
				}
				// Starting -> Starting (spawn after restart_delay)
				return spawnNow(in)
			}
			if in.launching {
				// Starting -> Stopping (the forking command took too long), then Backoff or Fatal
				why := fmt.Sprintf("forking command did not exit within %s", readyTimeout(p))
				eff := beginStop(in, now, false)
				in.failReason, in.message = why, why
				return eff
			}
			if !in.upOK && !now.Before(in.started.Add(p.StartSeconds)) {
				in.upOK = true
			}
			ready := in.readyOK || !needsReady(p)
			if !ready && !now.Before(in.readyBy) {
				// Starting -> Stopping (not ready in time), then Backoff or Fatal
				why := fmt.Sprintf("not ready within %s", readyTimeout(p))
				if ev.reason != "" {
					why += ": " + ev.reason
				}
				eff := beginStop(in, now, false)
				in.failReason = why
				in.message = why
				return eff
			}
			if in.upOK && ready {
				// Starting -> Running
				enterRunning(in, now)
				return nil
			}
			in.deadline = startingDeadline(in)
			return nil
		case evStop:
			if in.pending || in.pid == 0 {
				// Starting -> Stopped (nothing runs yet)
				in.state = apitype.StateStopped
				in.pending, in.waitDeps = false, false
				in.deadline = time.Time{}
				in.message = ""
				return nil
			}
			// Starting -> Stopping
			return beginStop(in, now, false)
		case evRestart:
			if in.pending || in.pid == 0 {
				return nil
			}
			// Starting -> Stopping (then start)
			return beginStop(in, now, true)
		}
	case apitype.StateRunning:
		switch ev.kind {
		case evExit:
			if ev.pid != in.pid {
				return nil
			}
			recordExit(in, ev)
			in.deadline = time.Time{} // no watchdog for a process that is gone
			var eff []effect
			if ev.groupAlive && p.KillGroup {
				// Whatever the leader left in its group dies with it.
				eff = append(eff, effect{kind: efSignal, sig: syscall.SIGKILL, pid: in.pgid, group: true})
			}
			in.pgid = 0
			in.pid = 0
			if ev.draining || !wantsRestart(p, ev) {
				// Running -> Exited
				in.state = apitype.StateExited
				in.message = exitText(ev)
				return eff
			}
			// Running -> Starting (automatic restart)
			in.restarts++
			in.state = apitype.StateStarting
			in.message = "restarting after " + exitText(ev)
			if p.RestartDelay > 0 {
				in.pending = true
				in.deadline = now.Add(p.RestartDelay)
				return eff
			}
			return append(eff, spawnNow(in)...)
		case evStop:
			// Running -> Stopping
			return beginStop(in, now, false)
		case evHealthOK:
			in.healthFails, in.healthy = 0, true
			return nil
		case evHealthFail:
			if p.Health == nil {
				return nil
			}
			in.healthFails++
			if in.healthFails < p.Health.Failures || ev.draining {
				return nil
			}
			// Running -> Stopping (unhealthy), then Starting
			in.healthy = false
			in.restarts++
			eff := beginStop(in, now, true)
			in.message = fmt.Sprintf("unhealthy after %s: %s; restarting", plural(in.healthFails, "failed check"), ev.reason)
			return eff
		case evWatchdog:
			if ev.pid == in.pid && p.Watchdog > 0 {
				in.watchdogAt = now.Add(p.Watchdog)
				in.deadline = in.watchdogAt
			}
			return nil
		case evTimer:
			if p.Watchdog <= 0 || now.Before(in.watchdogAt) || ev.draining {
				in.deadline = in.watchdogAt
				if p.Watchdog <= 0 || ev.draining {
					in.deadline = time.Time{}
				}
				return nil
			}
			// Running -> Stopping (watchdog timeout), then Starting
			in.restarts++
			eff := beginStop(in, now, true)
			in.message = fmt.Sprintf("watchdog: no WATCHDOG=1 for %s; restarting", p.Watchdog)
			return eff
		case evRestart:
			// Running -> Stopping (then start)
			return beginStop(in, now, true)
		}
	case apitype.StateBackoff:
		switch ev.kind {
		case evTimer:
			if ev.draining {
				in.deadline = time.Time{}
				return nil
			}
			// Backoff -> Starting
			in.state = apitype.StateStarting
			return spawnNow(in)
		case evStart, evRestart:
			if ev.draining {
				return nil
			}
			// Backoff -> Starting (at once)
			in.state = apitype.StateStarting
			in.failures = 0
			return spawnNow(in)
		case evStop:
			// Backoff -> Stopped
			in.state = apitype.StateStopped
			in.deadline = time.Time{}
			in.message = ""
			return nil
		}
	case apitype.StateStopping:
		switch ev.kind {
		case evTimer:
			if in.leaderGone && !ev.groupAlive {
				// Stopping -> Stopped (the group emptied)
				return stopped(in, now, ev)
			}
			var eff []effect
			if !in.killed && !now.Before(in.killAt) {
				// Stopping -> Stopping (stop_timeout is up: SIGKILL)
				eff = escalate(in)
			}
			in.deadline = stoppingDeadline(in, now)
			return eff
		case evKill:
			if in.killed {
				return nil
			}
			// Stopping -> Stopping (SIGKILL now: drain timeout or a second signal)
			eff := escalate(in)
			in.deadline = stoppingDeadline(in, now)
			return eff
		case evExit:
			if ev.pid != in.pid {
				return nil
			}
			recordExit(in, ev)
			in.pid = 0
			if ev.groupAlive {
				// Stopping -> Stopping (leader gone, group lives on)
				in.leaderGone = true
				if !in.killed {
					in.stopStep = "leader exited; waiting for the rest of the process group"
				}
				in.deadline = stoppingDeadline(in, now)
				return nil
			}
			// Stopping -> Stopped
			return stopped(in, now, ev)
		case evStart, evRestart:
			if ev.draining {
				return nil
			}
			// Stopping -> Stopping (then start)
			in.thenStart = true
			in.failReason = ""
			return nil
		case evStop:
			// Stopping -> Stopping (an explicit stop cancels a pending restart or backoff)
			in.thenStart = false
			in.failReason = ""
			return nil
		}
	}
	return nil
}

// stoppingDeadline is the next time a stopping instance needs a look: the
// SIGKILL time, and while the leader is gone (no event tells when its group
// empties) a poll of the group.
func stoppingDeadline(in *instance, now time.Time) time.Time {
	var d time.Time
	if !in.killed {
		d = in.killAt
	}
	if in.leaderGone {
		if poll := now.Add(groupPoll); d.IsZero() || poll.Before(d) {
			d = poll
		}
	}
	return d
}

func beginStart(in *instance, now time.Time) []effect {
	if len(in.prog.DependsOn) > 0 || in.predecessor != nil {
		in.waitDeps = true
		in.pending = true
		in.message = "waiting for dependencies"
		return []effect{{kind: efStartDeps}}
	}
	return spawnNow(in)
}

func spawnNow(in *instance) []effect {
	in.pending = false
	in.deadline = time.Time{}
	return []effect{{kind: efSpawn}}
}

func beginStop(in *instance, now time.Time, thenStart bool) []effect {
	p := in.prog
	in.state = apitype.StateStopping
	in.thenStart = thenStart
	in.killed, in.leaderGone = false, false
	in.killAt = now.Add(p.StopTimeout)
	in.deadline = in.killAt
	in.stopStep = fmt.Sprintf("%s sent, SIGKILL after %s", signalName(p.StopSignal), p.StopTimeout)
	target := in.pid
	if p.KillGroup {
		target = in.pgid
	}
	return []effect{
		{kind: efSignal, sig: p.StopSignal, pid: target, group: p.KillGroup},
		{kind: efSignal, sig: syscall.SIGCONT, pid: target, group: p.KillGroup},
	}
}

func escalate(in *instance) []effect {
	in.killed = true
	in.stopStep = "SIGKILL sent to the process group"
	return []effect{{kind: efSignal, sig: syscall.SIGKILL, pid: in.pgid, group: true}}
}

func stopped(in *instance, now time.Time, ev event) []effect {
	in.leaderGone, in.killed = false, false
	in.deadline = time.Time{}
	in.stopStep = ""
	in.pid, in.pgid = 0, 0
	if in.thenStart && !ev.draining {
		// ... -> Starting (restart)
		in.thenStart = false
		in.failReason = ""
		in.state = apitype.StateStarting
		in.failures = 0
		in.message = ""
		return beginStart(in, now)
	}
	if why := in.failReason; why != "" && !ev.draining {
		// Stopping -> Backoff|Fatal (a start that failed its readiness)
		in.failReason = ""
		in.state = apitype.StateStarting
		return failedStart(in, ev, now, why)
	}
	in.failReason = ""
	in.thenStart = false
	in.state = apitype.StateStopped
	in.message = ""
	return nil
}

// needsReady reports whether an instance of p must say it is ready before it
// counts as running: a ready check, or type = "notify" (READY=1).
func needsReady(p *config.Program) bool {
	return p.Ready != nil || p.Type == "notify"
}

// readyTimeout is how long an instance of p has to become ready.
func readyTimeout(p *config.Program) time.Duration {
	if p.Ready != nil && p.Ready.Timeout > 0 {
		return p.Ready.Timeout
	}
	return defaultReadyTimeout
}

// defaultReadyTimeout bounds READY=1 of a notify program without a ready
// table (systemd's default TimeoutStartSec).
const defaultReadyTimeout = 90 * time.Second

// startingDeadline is the next time a spawned, starting instance needs a
// look: start_seconds up, or the ready timeout.
func startingDeadline(in *instance) time.Time {
	var d time.Time
	if !in.upOK {
		d = in.started.Add(in.prog.StartSeconds)
	}
	if !in.readyOK && needsReady(in.prog) && (d.IsZero() || in.readyBy.Before(d)) {
		d = in.readyBy
	}
	return d
}

// enterRunning makes in running: the start counted as a success.
func enterRunning(in *instance, now time.Time) {
	in.state = apitype.StateRunning
	in.failures = 0
	in.message = in.notifyStatus // a notify program's STATUS=, or nothing
	in.deadline = time.Time{}
	if in.prog.Watchdog > 0 {
		in.watchdogAt = now.Add(in.prog.Watchdog)
		in.deadline = in.watchdogAt
	}
}

func failedStart(in *instance, ev event, now time.Time, why string) []effect {
	p := in.prog
	in.failures++
	in.pid, in.pgid = 0, 0
	if ev.draining {
		in.state = apitype.StateExited
		in.deadline = time.Time{}
		in.message = why
		return nil
	}
	if p.StartRetries >= 0 && in.failures > p.StartRetries {
		in.state = apitype.StateFatal
		in.deadline = time.Time{}
		in.message = fmt.Sprintf("%s (gave up after %s)", why, plural(in.failures, "attempt"))
		return []effect{{kind: efFatal}}
	}
	d := backoffDelay(p, in.failures, ev.jitter)
	in.state = apitype.StateBackoff
	in.deadline = now.Add(d)
	in.message = fmt.Sprintf("%s; retry %d in %s", why, in.failures, d.Round(time.Millisecond))
	return nil
}

// backoffDelay is the delay after the n-th failed start in a row:
// backoff_initial doubling up to backoff_max, varied by jitter*20%.
func backoffDelay(p *config.Program, n int, jitter float64) time.Duration {
	d := p.BackoffInitial
	for i := 1; i < n && d < p.BackoffMax; i++ {
		d *= 2
	}
	if d > p.BackoffMax {
		d = p.BackoffMax
	}
	return d + time.Duration(float64(d)*0.2*jitter)
}

func wantsRestart(p *config.Program, ev event) bool {
	switch p.Restart {
	case config.RestartAlways:
		return true
	case config.RestartOnFailure:
		return ev.sig != 0 || !p.IsSuccess(ev.code)
	}
	return false
}

func recordExit(in *instance, ev event) {
	if ev.unknown {
		in.exitCode, in.exitSig = nil, nil
		return
	}
	if ev.sig != 0 {
		name := signalName(ev.sig)
		in.exitSig, in.exitCode = &name, nil
		return
	}
	code := ev.code
	in.exitCode, in.exitSig = &code, nil
}

func exitText(ev event) string {
	if ev.unknown {
		return "exited (re-adopted process: status unknown)"
	}
	if ev.sig != 0 {
		return "killed by " + signalName(ev.sig)
	}
	return fmt.Sprintf("exit code %d", ev.code)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
