package supervisor

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// Reload re-reads the config through Options.Load and applies the
// difference (SPEC §6). An invalid config changes nothing and comes back as
// an error wrapping apitype.ErrBadRequest with every positioned error.
//
// Per program, on its effective config: added ones are started (if
// autostart); removed ones are stopped and vanish from status once down;
// changed ones are replaced: the old instances stop, then the new ones start;
// unchanged ones are not touched (same pid). A change of `instances` alone
// (both counts above 1) keeps the existing instances and adds or retires the
// difference. [superd] settings that only take effect at a restart of superd
// are listed in RestartRequired.
func (s *Supervisor) Reload(ctx context.Context) (apitype.ReloadResult, error) {
	if s.load == nil {
		return apitype.ReloadResult{}, fmt.Errorf("%w: reload is not configured", apitype.ErrUnimplemented)
	}
	cfg, err := s.load()
	if err != nil {
		return apitype.ReloadResult{}, fmt.Errorf("%w: %w", apitype.ErrBadRequest, err)
	}
	var res apitype.ReloadResult
	var opErr error
	err = s.do(ctx, func() {
		if s.draining {
			opErr = apitype.ErrShuttingDown
			return
		}
		res = s.applyConfig(cfg, time.Now())
	})
	if err == nil {
		err = opErr
	}
	return res, err
}

// applyConfig runs on the loop.
func (s *Supervisor) applyConfig(cfg *config.Config, now time.Time) apitype.ReloadResult {
	res := apitype.ReloadResult{Added: []string{}, Removed: []string{}, Changed: []string{}, Unchanged: []string{}}
	res.RestartRequired = restartRequired(s.cfg.Superd, cfg.Superd)
	// Keep the live values of what cannot change without a restart.
	next := *cfg
	live := s.cfg.Superd
	next.Superd = live
	next.Superd.ShutdownTimeout = cfg.Superd.ShutdownTimeout
	next.Superd.Include = cfg.Superd.Include
	s.cfg = &next

	var start []*instance
	for name, pr := range s.progs {
		if cfg.Program(name) == nil {
			res.Removed = append(res.Removed, name)
			for _, in := range pr.instances {
				s.retire(in, now)
			}
			delete(s.progs, name)
		}
	}
	for _, p := range cfg.Programs {
		pr := s.progs[p.Name]
		switch {
		case pr == nil:
			res.Added = append(res.Added, p.Name)
			start = append(start, s.newProgram(p, nil).instances...)
		case pr.cfg.Equal(p):
			res.Unchanged = append(res.Unchanged, p.Name)
			pr.cfg = p
			for _, in := range pr.instances {
				in.prog = p
			}
		case onlyInstancesDiffer(pr.cfg, p):
			res.Changed = append(res.Changed, p.Name)
			start = append(start, s.scale(pr, p, now)...)
		default:
			res.Changed = append(res.Changed, p.Name)
			old := pr.instances
			for _, in := range old {
				s.retire(in, now)
			}
			start = append(start, s.newProgram(p, old).instances...)
		}
	}
	s.reindex()
	for _, in := range start {
		if in.prog.Autostart && !in.operStop {
			s.apply(in, event{kind: evStart}, now)
		}
	}
	s.saveOffline()
	s.notify()
	for _, l := range [][]string{res.Added, res.Removed, res.Changed, res.Unchanged} {
		sort.Strings(l)
	}
	s.logger.Info("reloaded", "added", res.Added, "removed", res.Removed, "changed", res.Changed, "unchanged", len(res.Unchanged), "restart_required", res.RestartRequired)
	return res
}

// newProgram makes the program entry of p; each new instance whose name an
// old one had starts only after that one is down, and keeps its operator
// stop.
func (s *Supervisor) newProgram(p *config.Program, old []*instance) *program {
	pr := &program{cfg: p}
	for i := range p.Instances {
		in := newInstance(p, i, nil)
		in.out = s.outputs.Output(in.name)
		for _, o := range old {
			if o.name == in.name {
				in.predecessor = o
				in.operStop = o.operStop
				in.restarts = o.restarts
			}
		}
		pr.instances = append(pr.instances, in)
	}
	s.progs[p.Name] = pr
	return pr
}

// scale keeps the instances both counts share, retires the extra ones and
// returns the new ones to start.
func (s *Supervisor) scale(pr *program, p *config.Program, now time.Time) []*instance {
	var keep, added []*instance
	for _, in := range pr.instances {
		if in.index < p.Instances {
			in.prog = p
			keep = append(keep, in)
		} else {
			s.retire(in, now)
		}
	}
	for i := len(keep); i < p.Instances; i++ {
		in := newInstance(p, i, nil)
		in.out = s.outputs.Output(in.name)
		keep = append(keep, in)
		added = append(added, in)
	}
	pr.cfg, pr.instances = p, keep
	return added
}

// retire stops in and keeps it (in status) until it is down.
func (s *Supervisor) retire(in *instance, now time.Time) {
	in.retiring = true
	in.operStop = false
	s.retired = append(s.retired, in)
	s.apply(in, event{kind: evStop}, now)
}

// dropRetired forgets retired instances that are down, and clears the
// predecessors that are gone. It reports whether any was dropped.
func (s *Supervisor) dropRetired() bool {
	if len(s.retired) == 0 {
		return false
	}
	n := len(s.retired)
	s.retired = slices.DeleteFunc(s.retired, func(in *instance) bool {
		if !in.down() {
			return false
		}
		if in.notify != nil {
			in.notify.Close()
			in.notify = nil
		}
		// A removed instance (no successor of its name): its log
		// followers' streams end.
		if _, err := s.targets(in.name); err != nil {
			in.out.ring.EndFollowers()
		}
		return true
	})
	if len(s.retired) == n {
		return false
	}
	for _, pr := range s.progs {
		for _, in := range pr.instances {
			if in.predecessor != nil && in.predecessor.down() {
				in.predecessor = nil
			}
		}
	}
	s.reindex()
	s.notify()
	return true
}

func onlyInstancesDiffer(a, b *config.Program) bool {
	if a.Instances == b.Instances || a.Instances < 2 || b.Instances < 2 {
		return false
	}
	c := *b
	c.Instances = a.Instances
	return a.Equal(&c)
}

// restartRequired names the [superd] settings that differ and apply only
// when superd restarts.
func restartRequired(a, b config.Superd) []string {
	out := []string{}
	add := func(changed bool, key string) {
		if changed {
			out = append(out, key)
		}
	}
	add(a.Socket != b.Socket, "socket")
	add(a.SocketMode != b.SocketMode, "socket_mode")
	add(a.StateDir != b.StateDir, "state_dir")
	add(a.LogDir != b.LogDir, "log_dir")
	add(a.LogFormat != b.LogFormat, "log_format")
	add(a.LogLevel != b.LogLevel, "log_level")
	add(a.MaxParallelStarts != b.MaxParallelStarts, "max_parallel_starts")
	add(a.Subreaper != b.Subreaper, "subreaper")
	add(a.SocketGroup != b.SocketGroup, "socket_group")
	add(a.MetricsListen != b.MetricsListen, "metrics_listen")
	return out
}
