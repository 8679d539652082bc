package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// Status returns the instances of the targets (none, or "all": every
// instance) in name order. An unknown target is an error wrapping
// apitype.ErrNotFound.
func (s *Supervisor) Status(ctx context.Context, targets ...string) ([]apitype.Instance, error) {
	var out []apitype.Instance
	var terr error
	err := s.do(ctx, func() {
		ins, err := s.resolve(targets)
		if err != nil {
			terr = err
			return
		}
		now := time.Now()
		out = make([]apitype.Instance, 0, len(ins))
		for _, in := range ins {
			out = append(out, in.snapshot(now))
		}
	})
	if err != nil {
		return nil, err
	}
	return out, terr
}

// resolve turns targets into instances, in name order, without duplicates.
func (s *Supervisor) resolve(targets []string) ([]*instance, error) {
	if len(targets) == 0 {
		targets = []string{"all"}
	}
	seen := make(map[*instance]bool)
	var out []*instance
	for _, t := range targets {
		ins, err := s.targets(t)
		if err != nil {
			return nil, err
		}
		for _, in := range ins {
			if !seen[in] {
				seen[in] = true
				out = append(out, in)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessName(out[i], out[j]) })
	return out, nil
}

type controlOp int

const (
	opStart controlOp = iota
	opStop
	opRestart
)

// Start starts target (a program, NAME:N, or "all"); with wait it returns
// once every targeted instance runs (nil), one went fatal or exited (an
// error wrapping apitype.ErrFailed), or ctx is done (apitype.ErrTimeout).
// Starting a running instance changes nothing.
func (s *Supervisor) Start(ctx context.Context, target string, wait bool) ([]apitype.Instance, error) {
	return s.control(ctx, opStart, target, wait)
}

// Stop stops target and, with wait, returns once every targeted instance is
// down. The stop is remembered in state_dir: a stopped program stays stopped
// across restarts of superd until an operator starts it.
func (s *Supervisor) Stop(ctx context.Context, target string, wait bool) ([]apitype.Instance, error) {
	return s.control(ctx, opStop, target, wait)
}

// Restart stops then starts target; with wait it returns as Start does.
func (s *Supervisor) Restart(ctx context.Context, target string, wait bool) ([]apitype.Instance, error) {
	return s.control(ctx, opRestart, target, wait)
}

func (s *Supervisor) control(ctx context.Context, op controlOp, target string, wait bool) ([]apitype.Instance, error) {
	var names []string
	var opErr error
	err := s.do(ctx, func() {
		if s.draining {
			opErr = apitype.ErrShuttingDown
			return
		}
		ins, err := s.targets(target)
		if err != nil {
			opErr = err
			return
		}
		now := time.Now()
		kind := evStart
		switch op {
		case opStop:
			kind = evStop
		case opRestart:
			kind = evRestart
		}
		for _, in := range ins {
			names = append(names, in.name)
			in.operStop = op == opStop
			s.apply(in, event{kind: kind}, now)
		}
		s.saveOffline()
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return nil, err
	}
	if !wait {
		return s.Status(ctx, names...)
	}
	return s.waitSettled(ctx, op, names)
}

// waitSettled waits until every named instance has settled after op.
func (s *Supervisor) waitSettled(ctx context.Context, op controlOp, names []string) ([]apitype.Instance, error) {
	for {
		var snap []apitype.Instance
		var changed <-chan struct{}
		err := s.do(ctx, func() {
			now := time.Now()
			for _, n := range names {
				if ins, err := s.targets(n); err == nil {
					for _, in := range ins {
						snap = append(snap, in.snapshot(now))
					}
				}
			}
			changed = s.changed
		})
		if err != nil {
			return snap, err
		}
		done, err := settled(op, snap)
		if done {
			return snap, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return snap, fmt.Errorf("%w: waiting for %s", apitype.ErrTimeout, pending(op, snap))
		}
	}
}

// settled reports whether every instance has reached the end of op, and
// whether that end is a failure.
func settled(op controlOp, snap []apitype.Instance) (bool, error) {
	var failed []string
	for _, a := range snap {
		switch op {
		case opStop:
			if a.State.Live() {
				return false, nil
			}
		default:
			switch a.State {
			case apitype.StateRunning:
			case apitype.StateFatal, apitype.StateExited, apitype.StateStopped:
				failed = append(failed, fmt.Sprintf("%s is %s: %s", a.Name, a.State, a.Message))
			default:
				return false, nil
			}
		}
	}
	if len(failed) > 0 {
		return true, fmt.Errorf("%w: %s", apitype.ErrFailed, strings.Join(failed, "; "))
	}
	return true, nil
}

func pending(op controlOp, snap []apitype.Instance) string {
	var p []string
	for _, a := range snap {
		if (op == opStop && a.State.Live()) || (op != opStop && a.State != apitype.StateRunning) {
			p = append(p, a.Name+" ("+string(a.State)+")")
		}
	}
	return strings.Join(p, ", ")
}

// Signal sends sig to the leader of every instance of target; any targeted
// instance that is not running is an error wrapping apitype.ErrConflict, and
// then no signal is sent.
func (s *Supervisor) Signal(ctx context.Context, target string, sig syscall.Signal) error {
	var opErr error
	err := s.do(ctx, func() {
		ins, err := s.targets(target)
		if err != nil {
			opErr = err
			return
		}
		for _, in := range ins {
			if in.pid == 0 || (in.state != apitype.StateRunning && in.state != apitype.StateStarting) {
				opErr = fmt.Errorf("%w: %s is %s", apitype.ErrConflict, in.name, in.state)
				return
			}
		}
		for _, in := range ins {
			if err := s.spawner.Signal(in.pid, sig, false); err != nil {
				opErr = fmt.Errorf("%w: signal %s: %w", apitype.ErrConflict, in.name, err)
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return opErr
}

// followBuffer is how many unread chunks a log follower may fall behind
// before it is cut off.
const followBuffer = 256

// Logs returns the last n lines an instance wrote (n <= 0: all kept). With
// follow it also returns a channel of later output, closed when the
// follower falls too far behind or cancel is called; the caller must call
// cancel.
func (s *Supervisor) Logs(ctx context.Context, instance string, n int, follow bool) ([]byte, <-chan []byte, func(), error) {
	var out *output
	var opErr error
	err := s.do(ctx, func() {
		ins, err := s.targets(instance)
		if err != nil {
			opErr = err
			return
		}
		if len(ins) != 1 {
			opErr = fmt.Errorf("%w: %s has %d instances; name one as %s:N", apitype.ErrBadRequest, instance, len(ins), instance)
			return
		}
		out = ins[0].out
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return nil, nil, func() {}, err
	}
	if !follow {
		return out.ring.Tail(n), nil, func() {}, nil
	}
	tail, ch, cancel := out.ring.SubscribeTail(n, followBuffer)
	return tail, ch, cancel, nil
}

// The operator's stops are kept in state_dir/stopped.json, a JSON array of
// instance names, so they survive a restart of superd.

func (s *Supervisor) offlinePath() string {
	return filepath.Join(s.cfg.Superd.StateDir, "stopped.json")
}

func (s *Supervisor) loadOffline() map[string]bool {
	m := make(map[string]bool)
	b, err := os.ReadFile(s.offlinePath())
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.logger.Warn("read operator stops", "err", err)
		}
		return m
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		s.logger.Warn("read operator stops", "path", s.offlinePath(), "err", err)
		return m
	}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (s *Supervisor) saveOffline() {
	names := []string{}
	for _, in := range s.all {
		if in.operStop {
			names = append(names, in.name)
		}
	}
	if len(names) == 0 && len(s.offline) == 0 {
		return
	}
	s.offline = make(map[string]bool, len(names))
	for _, n := range names {
		s.offline[n] = true
	}
	b, _ := json.Marshal(names)
	if err := writeAtomic(s.offlinePath(), b); err != nil {
		s.logger.Warn("save operator stops", "err", err)
	}
}

// Stats returns the counters of every instance for /metrics.
func (s *Supervisor) Stats(ctx context.Context) ([]apitype.InstanceStats, error) {
	var out []apitype.InstanceStats
	err := s.do(ctx, func() {
		out = make([]apitype.InstanceStats, 0, len(s.all))
		for _, in := range s.all {
			out = append(out, apitype.InstanceStats{
				Name:          in.name,
				Program:       in.prog.Name,
				LogWritten:    in.out.stats.Written.Load(),
				LogDropped:    in.out.stats.Dropped.Load(),
				SpawnFailures: in.spawnFailures,
			})
		}
	})
	return out, err
}
