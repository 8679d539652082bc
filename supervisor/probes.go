package supervisor

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/supervisor/probe"
)

// Readiness and health checks never run on the loop goroutine and never pile
// up: the loop keeps, per instance, the time of the next probe (probeAt,
// part of its one timer) and for which process one is in flight (probing:
// a probe of a process that has since exited does not hold back the probes
// of its replacement). A probe
// runs in a goroutine of its own and posts its result back; results for a
// process that is gone are dropped.

// readyInterval is the pause between two failed readiness probes.
const readyInterval = 200 * time.Millisecond

// readyAttempt bounds one readiness probe.
const readyAttempt = 2 * time.Second

// logWatchBuffer is how many output chunks a log-ready watch may fall
// behind before it is cut off (then the instance times out).
const logWatchBuffer = 1024

// Prober runs one tcp, http or exec check; a Spawner that also implements
// it runs exec checks (ProcSpawner does, through the reaper). Without one,
// tcp and http checks run in-process and exec checks fail.
type Prober interface {
	Probe(ctx context.Context, c *config.Check, dir string) error
}

type probeResult struct {
	in     *instance
	pid    int
	health bool
	err    error
}

// scheduleProbes, after any step of in, arms or disarms its probe.
func (s *Supervisor) scheduleProbes(in *instance, now time.Time) {
	p := in.prog
	if in.probing != 0 && in.probing != in.pid && in.probeCancel != nil {
		// The process it checks is gone: end it now, so checks never pile
		// up across restarts.
		in.probeCancel()
		in.probeCancel = nil
	}
	switch {
	case in.state == apitype.StateStarting && in.pid > 0 && !in.readyOK && p.Ready != nil && p.Ready.Log == nil:
		if in.probeAt.IsZero() && in.probing != in.pid {
			in.probeAt = now
		}
	case in.state == apitype.StateRunning && p.Health != nil:
		if in.probeAt.IsZero() && in.probing != in.pid {
			in.probeAt = now.Add(p.Health.Interval)
		}
	default:
		in.probeAt = time.Time{}
	}
	if in.stopWatch != nil && (in.state != apitype.StateStarting || in.readyOK) {
		in.stopWatch()
		in.stopWatch = nil
	}
}

// launchProbes starts every probe that is due.
func (s *Supervisor) launchProbes(now time.Time) {
	for _, in := range s.all {
		if in.probeAt.IsZero() || now.Before(in.probeAt) || in.probing == in.pid {
			continue
		}
		in.probeAt = time.Time{}
		in.probing = in.pid
		c, bound, health := in.prog.Ready, readyAttempt, false
		if in.state == apitype.StateRunning {
			c, bound, health = in.prog.Health, in.prog.Health.Timeout, true
		} else if left := in.readyBy.Sub(now); left < bound {
			bound = max(left, time.Millisecond)
		}
		r := probeResult{in: in, pid: in.pid, health: health}
		dir := in.prog.Directory
		s.probes.Add(1)
		// exits when the probe returns (bounded by its timeout); Run waits
		// on s.probes after cancelling s.runCtx
		ctx, cancel := context.WithTimeout(s.runCtx, bound)
		in.probeCancel = cancel
		go func() {
			defer s.probes.Done()
			r.err = s.probe(ctx, c, dir)
			cancel()
			select {
			case s.probeRes <- r:
			case <-s.runCtx.Done():
			}
		}()
	}
}

func (s *Supervisor) probe(ctx context.Context, c *config.Check, dir string) error {
	if pr, ok := s.spawner.(Prober); ok {
		return pr.Probe(ctx, c, dir)
	}
	switch {
	case c.TCP != "":
		return probe.TCP(ctx, c.TCP)
	case c.HTTP != "":
		return probe.HTTP(ctx, c.HTTP)
	}
	return errors.New("exec checks need a process spawner")
}

// onProbe takes a probe's result on the loop.
func (s *Supervisor) onProbe(r probeResult, now time.Time) {
	in := r.in
	if in.probing == r.pid {
		in.probing = 0
		in.probeCancel = nil
	}
	if r.pid != in.pid || in.pid == 0 {
		s.scheduleProbes(in, now)
		return
	}
	switch {
	case r.health && in.state == apitype.StateRunning:
		if r.err == nil {
			s.apply(in, event{kind: evHealthOK}, now)
		} else {
			s.logger.Warn("health check failed", "instance", in.name, "pid", in.pid, "err", r.err)
			s.apply(in, event{kind: evHealthFail, pid: r.pid, reason: r.err.Error()}, now)
		}
	case !r.health && in.state == apitype.StateStarting:
		if r.err == nil {
			s.apply(in, event{kind: evReady, pid: r.pid}, now)
		} else {
			in.probeErr = r.err.Error()
			in.probeAt = now.Add(readyInterval)
		}
	}
	s.scheduleProbes(in, now)
}

// watchLog starts a log-ready watch of in's output on sub, which was
// subscribed before the process was spawned so no line can slip past.
func (s *Supervisor) watchLog(in *instance, pid int, sub <-chan []byte, cancel func()) {
	re := in.prog.Ready.Log
	in.stopWatch = cancel
	s.probes.Add(1)
	// exits when a line matches, the subscription closes (cancel, or cut
	// off), or Run ends; Run waits on s.probes
	go func() {
		defer s.probes.Done()
		defer cancel()
		for chunk := range sub {
			for line := range bytes.Lines(chunk) {
				if re.Match(bytes.TrimRight(line, "\n")) {
					select {
					case s.probeRes <- probeResult{in: in, pid: pid}:
					case <-s.runCtx.Done():
					}
					return
				}
			}
		}
	}()
}
