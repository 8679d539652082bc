// Package supervisor runs superd's programs: one event loop owns every
// instance and drives each through the state machine of step, spawning
// processes through a Spawner, restarting them by policy, ordering starts
// and stops by dependency, and draining everything on shutdown.
//
// Public methods of Supervisor are safe for concurrent use: each posts a
// closure to the loop goroutine and waits for it, so no lock guards instance
// state.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// ErrFatalShutdown is returned by Run when superd drained because a program
// with on_fatal = "shutdown" went fatal.
var ErrFatalShutdown = errors.New("a program with on_fatal = \"shutdown\" went fatal")

// Spawner starts and signals processes for the loop. The loop calls it from
// its own goroutine only.
type Spawner interface {
	// Spawn starts every request, in order, and returns one result per
	// request in the same order; a request that fails does not stop the
	// others. A request's exited is called exactly once if it started, from
	// any goroutine, and may block until the loop receives it.
	Spawn(reqs []spawnReq) []spawnResult
	Signal(pid int, sig syscall.Signal, group bool) error
	GroupAlive(pgid int) bool
}

// spawnResult is the outcome of one spawnReq: the pid, or why it did not
// start.
type spawnResult struct {
	pid int
	err error
}

// ExitStatus is how process Pid ended: Code is its exit code, or -1 when
// Signal killed it.
type ExitStatus struct {
	Pid     int
	Unknown bool // a re-adopted process: superd could not learn its status
	Code    int
	Signal  syscall.Signal
}

// spawnReq is what a Spawner needs to start one instance.
type spawnReq struct {
	name         string
	index        int
	prog         *config.Program
	out          *output
	socket       string
	notifySocket string   // NOTIFY_SOCKET of a type = "notify" program
	args         []string // a job run's extra argv
	logPath      string   // a job run's output file
	credDir      string   // where credentials are copied ($CREDENTIALS_DIRECTORY)
	exited       func(ExitStatus)
}

type exitMsg struct {
	in *instance
	st ExitStatus
}

// Options configure a Supervisor.
type Options struct {
	Config  *config.Config
	Spawner Spawner
	Logger  *slog.Logger
	// Outputs creates each instance's output sinks; nil: in-memory only.
	Outputs OutputFactory
	// Load reads the config again for Reload; nil: Reload is refused.
	Load func() (*config.Config, error)
	// OnDrain, when set, is called from the loop when a drain begins; it
	// must not block or call back into the Supervisor.
	OnDrain func()
}

// Supervisor is the event loop and everything it owns.
type Supervisor struct {
	logger  *slog.Logger
	spawner Spawner
	outputs OutputFactory
	load    func() (*config.Config, error)
	onDrain func()
	settled chan struct{} // closed once autostart has settled

	ops        chan func()      // closures run on the loop; unbuffered
	probeRes   chan probeResult // probe results; unbuffered
	notifyMsgs chan notifyMsg   // sd_notify messages of type = "notify" programs; unbuffered
	runExits   chan runExit     // exits of job runs; unbuffered
	probes     sync.WaitGroup   // probe goroutines
	runCtx     context.Context  // ends probes when Run returns
	exits      chan exitMsg     // exits from the spawner; unbuffered
	done       chan struct{}    // closed when Run returns

	// Everything below is owned by the loop goroutine.
	cfg       *config.Config
	progs     map[string]*program
	all       []*instance // every instance, by name (retired ones included)
	retired   []*instance // removed or replaced by a reload, not down yet
	offline   map[string]bool
	draining  bool
	drainEnd  time.Time // drain deadline (shutdown_timeout)
	killedAll bool
	fatalExit bool
	changed   chan struct{} // closed and replaced after every change
	subs      map[chan apitype.Event]struct{}
	jobs      map[string]*job
	runIDs    map[string]int // last run number per job
	wakeR     *os.File       // closed-on-exit pipe that ends pidfd watchers
	spawnQ    []*instance    // instances to fork, in order
	kick      chan struct{}  // size 1: more of spawnQ is waiting
	wakeW     *os.File
	rnd       *rand.Rand
	timer     *time.Timer
}

type program struct {
	cfg       *config.Program
	instances []*instance
}

// New returns a Supervisor for opts.Config; nothing runs until Run.
func New(opts Options) *Supervisor {
	s := &Supervisor{
		logger:     opts.Logger,
		spawner:    opts.Spawner,
		outputs:    opts.Outputs,
		load:       opts.Load,
		onDrain:    opts.OnDrain,
		settled:    make(chan struct{}),
		ops:        make(chan func()),
		probeRes:   make(chan probeResult),
		notifyMsgs: make(chan notifyMsg),
		runExits:   make(chan runExit),
		kick:       make(chan struct{}, 1),
		jobs:       make(map[string]*job),
		runCtx:     context.Background(),
		exits:      make(chan exitMsg),
		done:       make(chan struct{}),
		cfg:        opts.Config,
		progs:      make(map[string]*program),
		changed:    make(chan struct{}),
		subs:       make(map[chan apitype.Event]struct{}),
		rnd:        rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed)),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.outputs == nil {
		s.outputs = memoryOutputs{}
	}
	for _, p := range opts.Config.Programs {
		s.newProgram(p, nil)
	}
	for _, j := range opts.Config.Jobs {
		s.jobs[j.Name] = s.newJob(j)
	}
	s.reindex()
	return s
}

func (s *Supervisor) reindex() {
	s.all = s.all[:0]
	for _, pr := range s.progs {
		s.all = append(s.all, pr.instances...)
	}
	s.all = append(s.all, s.retired...)
	sort.Slice(s.all, func(i, j int) bool { return lessName(s.all[i], s.all[j]) })
}

func lessName(a, b *instance) bool {
	if a.prog.Name != b.prog.Name {
		return a.prog.Name < b.prog.Name
	}
	return a.index < b.index
}

// Run starts every autostart program and runs the loop until a drain
// (Shutdown, or ctx being done) has stopped everything. It returns
// ErrFatalShutdown when the drain was caused by on_fatal = "shutdown".
func (s *Supervisor) Run(ctx context.Context) error {
	defer close(s.done)
	defer s.closeSubs()
	runCtx, stopProbes := context.WithCancel(context.Background())
	s.runCtx = runCtx
	defer func() {
		stopProbes()
		if s.wakeW != nil {
			s.wakeW.Close() // ends the pidfd watchers
		}
		s.probes.Wait()
		if s.wakeR != nil {
			s.wakeR.Close()
		}
	}()
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	defer s.timer.Stop()

	s.offline = s.loadOffline()
	s.loadRunIDs()
	now := time.Now()
	s.adopt(now)
	for _, in := range s.all {
		if s.offline[in.name] {
			in.operStop = true
			in.message = "stopped by an operator"
		}
	}
	for _, in := range s.all {
		if in.prog.Autostart && !in.operStop {
			s.apply(in, event{kind: evStart}, now)
		}
	}
	s.settle(now)
	s.spawnSome(time.Now())
	s.checkSettled()
	s.resetTimer(time.Now())

	ctxDone := ctx.Done()
	for {
		select {
		case f := <-s.ops:
			f()
		case m := <-s.exits:
			s.onExit(m, time.Now())
		case r := <-s.probeRes:
			s.onProbe(r, time.Now())
		case m := <-s.notifyMsgs:
			s.onNotify(m, time.Now())
		case m := <-s.runExits:
			s.onRunExit(m, time.Now())
		case <-s.kick:
		case <-s.timer.C:
			s.onTimer(time.Now())
		case <-ctxDone:
			ctxDone = nil
			s.beginDrain(time.Now(), "context done")
		}
		now := time.Now()
		s.settle(now)
		s.spawnSome(now)
		s.checkSettled()
		if s.draining && s.allDown() && !s.drainRuns(now) {
			s.logger.Info("drain complete")
			if s.fatalExit {
				return ErrFatalShutdown
			}
			return nil
		}
		s.resetTimer(now)
	}
}

// spawnSome forks up to max_parallel_starts queued instances in one batch
// (one hand-over to each of the reaper's spawner threads, not one per
// fork), lets dependents of what now runs move (once for the batch, not
// per fork: settle walks every instance), and kicks the loop if more wait.
func (s *Supervisor) spawnSome(now time.Time) {
	limit := max(s.cfg.Superd.MaxParallelStarts, 1)
	var batch []launch
	var reqs []spawnReq
	for len(s.spawnQ) > 0 && len(reqs) < limit {
		in := s.spawnQ[0]
		s.spawnQ = s.spawnQ[1:]
		in.spawnQueued = false // set exactly while in is in spawnQ
		if in.state != apitype.StateStarting || in.pending || in.pid != 0 || s.draining {
			continue
		}
		l, req := s.prepareSpawn(in)
		if l.err == nil {
			l.req = len(reqs)
			reqs = append(reqs, req)
		}
		batch = append(batch, l)
	}
	if len(batch) > 0 {
		var res []spawnResult
		if len(reqs) > 0 {
			res = s.spawner.Spawn(reqs)
		}
		// The started ones first: a failure below may begin a drain
		// (on_fatal), which must find every new process under its pid.
		for _, l := range batch {
			if l.err == nil && res[l.req].err == nil {
				s.spawned(l, res[l.req].pid, now)
			}
		}
		for _, l := range batch {
			switch {
			case l.err != nil: // no notify socket
				s.apply(l.in, event{kind: evSpawnErr, err: l.err}, now)
			case res[l.req].err != nil:
				s.spawnFailed(l, res[l.req].err, now)
			}
		}
		s.settle(now)
	}
	if len(s.spawnQ) > 0 {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	} else {
		s.spawnQ = nil
	}
}

// Settled returns a channel closed once every autostart instance has
// settled: reached running, or left starting for any other state (or superd
// began to drain). It is the moment superd tells systemd READY=1.
func (s *Supervisor) Settled() <-chan struct{} { return s.settled }

func (s *Supervisor) checkSettled() {
	select {
	case <-s.settled:
		return
	default:
	}
	if !s.draining {
		for _, in := range s.all {
			if in.prog.Autostart && !in.operStop && in.state == apitype.StateStarting {
				return
			}
		}
	}
	close(s.settled)
}

// do runs f on the loop goroutine and waits for it. It fails when ctx is
// done first or the loop has returned.
func (s *Supervisor) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case s.ops <- func() { f(); close(done) }:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", apitype.ErrTimeout, ctx.Err())
	case <-s.done:
		return apitype.ErrShuttingDown
	}
	<-done
	return nil
}

// apply runs step for in and performs its effects, logging a transition
// once, here.
func (s *Supervisor) apply(in *instance, ev event, now time.Time) {
	ev.draining = s.draining
	if ev.kind == evSpawnErr || ev.kind == evExit {
		ev.jitter = s.rnd.Float64()*2 - 1
	}
	from := in.state
	effects := step(in, ev, now)
	if in.state != from {
		s.logger.Info("state", "instance", in.name, "from", string(from), "to", string(in.state), "pid", in.pid, "message", in.message)
		s.notify()
		if len(s.subs) > 0 {
			s.publish(transitionEvent(in, from, ev, now))
		}
	}
	for _, e := range effects {
		s.perform(in, e, now)
	}
	s.scheduleProbes(in, now)
}

func (s *Supervisor) perform(in *instance, e effect, now time.Time) {
	switch e.kind {
	case efSpawn:
		// Queued: the loop forks at most max_parallel_starts instances
		// between two looks at its other channels, so a start of 500
		// programs never keeps the control API waiting.
		if !in.spawnQueued {
			in.spawnQueued = true
			s.spawnQ = append(s.spawnQ, in)
		}
	case efSignal:
		if e.pid <= 0 {
			return
		}
		if in.adopted && !e.group {
			if err := signalAdopted(in.pidfd, e.sig); err != nil {
				s.logger.Warn("signal", "instance", in.name, "pid", e.pid, "signal", signalName(e.sig), "err", err)
			}
			return
		}
		if err := s.spawner.Signal(e.pid, e.sig, e.group); err != nil && !errors.Is(err, syscall.ESRCH) {
			s.logger.Warn("signal", "instance", in.name, "pid", e.pid, "signal", signalName(e.sig), "err", err)
		}
	case efFatal:
		s.notify()
		if in.prog.OnFatal == config.OnFatalShutdown && !s.draining {
			s.logger.Error("program went fatal; shutting down (on_fatal = shutdown)", "instance", in.name, "message", in.message)
			s.fatalExit = true
			s.beginDrain(now, "on_fatal of "+in.name)
		}
	case efForked:
		s.adoptForked(in, now)
	case efStartDeps:
		for _, dep := range in.prog.DependsOn {
			if pr := s.progs[dep]; pr != nil {
				for _, d := range pr.instances {
					// A dependency an operator stopped stays stopped;
					// its dependents wait for it.
					if d.down() && !d.operStop {
						s.apply(d, event{kind: evStart}, now)
					}
				}
			}
		}
	}
}

// launch is one instance of a spawn batch.
type launch struct {
	in        *instance
	req       int           // its request in the batch
	err       error         // why it could not be prepared; not spawned
	watch     <-chan []byte // the log-ready watch's subscription, or nil
	stopWatch func()
}

// prepareSpawn readies in for a spawn (its log-ready subscription, its
// notify socket) and returns what the spawner needs to start it.
func (s *Supervisor) prepareSpawn(in *instance) (launch, spawnReq) {
	l := launch{in: in, stopWatch: func() {}}
	if r := in.prog.Ready; r != nil && r.Log != nil {
		// Subscribed before the spawn, so no line slips past.
		l.watch, l.stopWatch = in.out.ring.Subscribe(logWatchBuffer)
	}
	in.probeErr, in.mainPid, in.notifyStatus = "", 0, ""
	notifySocket, err := s.notifySocket(in)
	if err != nil {
		l.stopWatch()
		l.err = err
		return l, spawnReq{}
	}
	req := spawnReq{name: in.name, index: in.index, prog: in.prog, out: in.out, socket: s.cfg.Superd.Socket, notifySocket: notifySocket}
	if len(in.prog.Credentials) > 0 {
		req.credDir = s.credDir(in.name)
	}
	req.exited = s.exitsOf(in)
	return l, req
}

// spawned takes the pid of a started instance.
func (s *Supervisor) spawned(l launch, pid int, now time.Time) {
	in := l.in
	if l.watch != nil {
		s.watchLog(in, pid, l.watch, l.stopWatch)
	}
	if in.prog.Detach {
		s.recordPid(in.name, pid)
	}
	s.apply(in, event{kind: evSpawned, pid: pid}, now)
}

// spawnFailed takes the error of an instance the spawner could not start.
func (s *Supervisor) spawnFailed(l launch, err error, now time.Time) {
	l.stopWatch()
	l.in.spawnFailures++
	s.logger.Warn("start failed", "instance", l.in.name, "err", err)
	s.apply(l.in, event{kind: evSpawnErr, err: err}, now)
}

// exitsOf is the callback that hands the exits of in's processes to the
// loop; the reaper calls it from its own goroutine.
func (s *Supervisor) exitsOf(in *instance) func(ExitStatus) {
	return func(st ExitStatus) {
		select {
		case s.exits <- exitMsg{in: in, st: st}:
		case <-s.done:
		}
	}
}

func (s *Supervisor) onExit(m exitMsg, now time.Time) {
	in := m.in
	ev := event{kind: evExit, pid: m.st.Pid, code: m.st.Code, sig: m.st.Signal, unknown: m.st.Unknown}
	if m.st.Pid == in.pid && in.pid > 0 {
		if ev.handoff = s.handOff(in); ev.handoff > 0 {
			s.apply(in, ev, now)
			return
		}
	}
	if m.st.Pid == in.pid {
		if in.prog.Detach {
			s.forgetPid(in.name)
		}
		if in.pidfd > 0 {
			unix.Close(in.pidfd)
			in.pidfd, in.adopted = 0, false
		}
		if len(in.prog.Credentials) > 0 {
			os.RemoveAll(s.credDir(in.name))
		}
	}
	if in.pgid > 0 {
		ev.groupAlive = s.spawner.GroupAlive(in.pgid)
	}
	s.logger.Debug("exit", "instance", in.name, "pid", m.st.Pid, "exit_code", m.st.Code, "signal", m.st.Signal)
	s.apply(in, ev, now)
	s.notify()
}

func (s *Supervisor) onTimer(now time.Time) {
	if s.draining && !s.killedAll && !s.drainEnd.IsZero() && !now.Before(s.drainEnd) {
		s.logger.Warn("shutdown_timeout is up: SIGKILL to every remaining process group")
		s.killAll(now)
	}
	for _, in := range s.all {
		if in.deadline.IsZero() || now.Before(in.deadline) {
			continue
		}
		ev := event{kind: evTimer, reason: in.probeErr}
		if in.state == apitype.StateStopping && in.leaderGone {
			ev.groupAlive = s.spawner.GroupAlive(in.pgid)
		}
		s.apply(in, ev, now)
	}
	s.launchProbes(now)
	s.onRunTimers(now)
}

// resetTimer sets the loop's one timer to the earliest deadline, or stops
// it when nothing is due: an idle superd never wakes.
func (s *Supervisor) resetTimer(now time.Time) {
	var next time.Time
	for _, in := range s.all {
		if !in.deadline.IsZero() && (next.IsZero() || in.deadline.Before(next)) {
			next = in.deadline
		}
		if !in.probeAt.IsZero() && (next.IsZero() || in.probeAt.Before(next)) {
			next = in.probeAt
		}
	}
	if d := s.nextRunDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
		next = d
	}
	if s.draining && !s.killedAll && !s.drainEnd.IsZero() && (next.IsZero() || s.drainEnd.Before(next)) {
		next = s.drainEnd
	}
	s.timer.Stop()
	if !next.IsZero() {
		s.timer.Reset(max(next.Sub(now), 0))
	}
}

// settle moves instances that wait for dependencies, and advances the
// drain, until nothing changes.
func (s *Supervisor) settle(now time.Time) {
	for range len(s.all) + 1 {
		moved := false
		for _, in := range s.all {
			if in.state != apitype.StateStarting || !in.waitDeps {
				continue
			}
			ready, failed := s.depsState(in)
			switch {
			case failed != "":
				s.apply(in, event{kind: evDepFailed, reason: failed}, now)
				moved = true
			case ready:
				s.apply(in, event{kind: evDepsReady}, now)
				moved = true
			}
		}
		if s.draining && s.advanceDrain(now) {
			moved = true
		}
		if s.dropRetired() {
			moved = true
		}
		if !moved {
			return
		}
	}
}

// depsState reports whether every dependency of in runs, or names one that
// is fatal.
func (s *Supervisor) depsState(in *instance) (ready bool, failed string) {
	ready = true
	if in.predecessor != nil && !in.predecessor.down() {
		ready = false
	}
	for _, dep := range in.prog.DependsOn {
		pr := s.progs[dep]
		if pr == nil {
			continue
		}
		for _, d := range pr.instances {
			switch d.state {
			case apitype.StateRunning:
			case apitype.StateFatal:
				return false, d.name
			default:
				ready = false
			}
		}
	}
	return ready, ""
}

// allDown reports whether nothing holds the drain any more.
func (s *Supervisor) allDown() bool {
	for _, in := range s.all {
		if in.holdsDrain() {
			return false
		}
	}
	return true
}

// notify wakes everyone waiting for a change.
func (s *Supervisor) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// targets resolves a target: "all", a program name, or NAME:N.
func (s *Supervisor) targets(target string) ([]*instance, error) {
	if target == "" || target == "all" {
		return slices.Clone(s.all), nil
	}
	if pr := s.progs[target]; pr != nil {
		return slices.Clone(pr.instances), nil
	}
	for _, in := range s.all {
		if in.name == target && !in.retiring {
			return []*instance{in}, nil
		}
	}
	return nil, fmt.Errorf("%w: no program or instance %q", apitype.ErrNotFound, target)
}
