package supervisor

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// Draining is a mode of the loop: nothing starts or restarts, every instance
// is stopped once every instance of the programs that depend on it is down
// (reverse dependency order, independent ones in parallel), and Run returns
// when all are down. shutdown_timeout bounds the whole drain, after which
// every remaining group gets SIGKILL; so does a second Shutdown with force.

// Shutdown starts a graceful drain and returns at once.
func (s *Supervisor) Shutdown(ctx context.Context) error {
	return s.do(ctx, func() { s.beginDrain(time.Now(), "shutdown requested") })
}

// ForceShutdown drains at once: every remaining process group gets SIGKILL
// (a second SIGTERM).
func (s *Supervisor) ForceShutdown(ctx context.Context) error {
	return s.do(ctx, func() {
		now := time.Now()
		s.beginDrain(now, "forced shutdown")
		if !s.killedAll {
			s.logger.Warn("forced shutdown: SIGKILL to every remaining process group")
			s.killAll(now)
		}
	})
}

// Draining reports whether a drain has begun.
func (s *Supervisor) Draining(ctx context.Context) bool {
	var d bool
	if err := s.do(ctx, func() { d = s.draining }); err != nil {
		return true
	}
	return d
}

func (s *Supervisor) beginDrain(now time.Time, why string) {
	if s.draining {
		return
	}
	s.draining = true
	if t := s.cfg.Superd.ShutdownTimeout; t > 0 {
		s.drainEnd = now.Add(t)
	}
	s.logger.Info("draining", "reason", why, "instances_live", s.liveCount())
	if s.onDrain != nil {
		s.onDrain()
	}
	s.advanceDrain(now)
	s.drainRuns(now)
	s.notify()
}

// advanceDrain stops every live instance whose dependents are all down, and
// says in each remaining instance's message what holds it. It reports
// whether any instance changed state.
func (s *Supervisor) advanceDrain(now time.Time) bool {
	moved := false
	deps := dependents{all: s.all}
	for _, in := range s.all {
		if !in.holdsDrain() {
			continue
		}
		if in.state != apitype.StateStopping {
			if waits := deps.of(in.prog.Name); len(waits) > 0 {
				in.message = "shutdown: waiting for " + strings.Join(waits, ", ") + " to stop"
				continue
			}
			from := in.state
			s.apply(in, event{kind: evStop}, now)
			if s.killedAll {
				s.apply(in, event{kind: evKill}, now)
			}
			moved = moved || in.state != from
			if !in.holdsDrain() {
				deps.stale() // in no longer holds its dependencies
			}
		}
		if in.state == apitype.StateStopping {
			sayShutdown(in, in.stopStep)
		}
	}
	if moved {
		// Named only when the pass moved: a pass runs on every event.
		var holding []string
		for _, in := range s.all {
			if in.holdsDrain() {
				holding = append(holding, in.name)
			}
		}
		if len(holding) > 0 {
			s.logger.Info("shutdown held by", "instances", summarize(holding, 10))
		}
	}
	return moved
}

// sayShutdown sets in.message to "shutdown: "+detail, without building the
// string when it says that already: a drain pass sets it for every
// stopping instance on every event.
func sayShutdown(in *instance, detail string) {
	const prefix = "shutdown: "
	m := in.message
	if len(m) == len(prefix)+len(detail) && strings.HasPrefix(m, prefix) && strings.HasSuffix(m, detail) {
		return
	}
	in.message = prefix + detail
}

// dependents answers, for one drain pass, which live instances depend on a
// program: an index of all built on the first question, and again after
// stale, so a pass costs O(instances) instead of O(instances²).
type dependents struct {
	all   []*instance
	index map[string][]string // program name → live dependents' names
	built bool
}

// of names the live instances of programs that depend on program name.
func (d *dependents) of(name string) []string {
	if !d.built {
		d.index = nil
		for _, in := range d.all {
			if len(in.prog.DependsOn) == 0 || !in.holdsDrain() {
				continue
			}
			if d.index == nil {
				d.index = make(map[string][]string)
			}
			for _, dep := range in.prog.DependsOn {
				d.index[dep] = append(d.index[dep], in.name)
			}
		}
		d.built = true
	}
	return d.index[name]
}

// stale makes the next question rebuild the index: an instance stopped
// holding its dependencies.
func (d *dependents) stale() { d.built = false }

// killAll sends SIGKILL to every live instance's process group at once,
// dependencies regardless.
func (s *Supervisor) killAll(now time.Time) {
	s.killedAll = true
	for _, in := range s.all {
		if !in.holdsDrain() {
			continue
		}
		if in.state != apitype.StateStopping {
			s.apply(in, event{kind: evStop}, now)
		}
		s.apply(in, event{kind: evKill}, now)
	}
}

func (s *Supervisor) liveCount() int {
	n := 0
	for _, in := range s.all {
		if !in.down() {
			n++
		}
	}
	return n
}

func summarize(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + ", … (" + strconv.Itoa(len(names)-max) + " more)"
}
