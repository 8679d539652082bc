package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// prog returns a program with every field set to a sensible default, then
// changed by mods.
func prog(name string, mods ...func(*config.Program)) *config.Program {
	p := &config.Program{
		Name:               name,
		File:               "/etc/superd/superd.toml",
		Command:            []string{"/usr/bin/" + name},
		Directory:          "/",
		Umask:              -1,
		InheritEnvironment: true,
		Instances:          1,
		Autostart:          true,
		Restart:            config.RestartOnFailure,
		SuccessExitCodes:   []int{0},
		StartSeconds:       time.Second,
		StartRetries:       3,
		BackoffInitial:     time.Second,
		BackoffMax:         60 * time.Second,
		OnFatal:            config.OnFatalNone,
		StopSignal:         syscall.SIGTERM,
		StopTimeout:        10 * time.Second,
		KillGroup:          true,
		Stdout:             config.OutputFile,
		Stderr:             config.OutputStdout,
		LogMaxSize:         1 << 20,
		LogMaxFiles:        3,
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

// Modifiers for prog.

func startSeconds(d time.Duration) func(*config.Program) {
	return func(p *config.Program) { p.StartSeconds = d }
}

func startRetries(n int) func(*config.Program) {
	return func(p *config.Program) { p.StartRetries = n }
}

func restartPolicy(r config.RestartPolicy) func(*config.Program) {
	return func(p *config.Program) { p.Restart = r }
}

func restartDelay(d time.Duration) func(*config.Program) {
	return func(p *config.Program) { p.RestartDelay = d }
}

func dependsOn(names ...string) func(*config.Program) {
	return func(p *config.Program) { p.DependsOn = names }
}

func noAutostart(p *config.Program) { p.Autostart = false }

func noKillGroup(p *config.Program) { p.KillGroup = false }

func onFatalShutdown(p *config.Program) { p.OnFatal = config.OnFatalShutdown }

func instances(n int) func(*config.Program) {
	return func(p *config.Program) { p.Instances = n }
}

func successCodes(codes ...int) func(*config.Program) {
	return func(p *config.Program) { p.SuccessExitCodes = codes }
}

func stopSignal(sig syscall.Signal, timeout time.Duration) func(*config.Program) {
	return func(p *config.Program) { p.StopSignal, p.StopTimeout = sig, timeout }
}

// newConfig returns a configuration of progs with its state in stateDir.
func newConfig(stateDir string, progs ...*config.Program) *config.Config {
	progs = slices.Clone(progs)
	sort.Slice(progs, func(i, j int) bool { return progs[i].Name < progs[j].Name })
	return &config.Config{
		Path: "/etc/superd/superd.toml",
		Superd: config.Superd{
			Socket:            "/run/superd/superd.sock",
			StateDir:          stateDir,
			LogDir:            stateDir,
			LogFormat:         "text",
			ShutdownTimeout:   90 * time.Second,
			MaxParallelStarts: 16,
		},
		Programs: progs,
	}
}

// fakeSpawner is a Spawner of pretend processes. A process "dies" when it
// gets its program's stop_signal (unless its program is stubborn) or
// SIGKILL, or when the test calls exit. Its process group is alive while the
// leader is, or while the test keeps extra members in it (extra[pgid]);
// SIGKILL to the group empties it.
type fakeSpawner struct {
	mu       sync.Mutex // guards the fields below
	next     int
	procs    map[int]*fakeProc
	spawns   []string         // instance names, in spawn order
	signals  []sigCall        // every Signal call, in order
	extra    map[int]bool     // pgid -> the group has members besides the leader
	errs     map[string]error // instance name -> error every Spawn returns
	stubborn map[string]bool  // instance name -> ignores its stop_signal
	calls    int              // every call of any method
	batches  []int            // the number of requests of each Spawn
}

type fakeProc struct {
	name    string
	pid     int
	stopSig syscall.Signal
	exited  func(ExitStatus)
	dead    bool
}

type sigCall struct {
	name  string // the instance the pid belongs to
	pid   int
	sig   syscall.Signal
	group bool
}

func newFake() *fakeSpawner {
	return &fakeSpawner{
		next:     100,
		procs:    make(map[int]*fakeProc),
		extra:    make(map[int]bool),
		errs:     make(map[string]error),
		stubborn: make(map[string]bool),
	}
}

func (f *fakeSpawner) Spawn(reqs []spawnReq) []spawnResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.batches = append(f.batches, len(reqs))
	res := make([]spawnResult, len(reqs))
	for i, req := range reqs {
		f.spawns = append(f.spawns, req.name)
		if err := f.errs[req.name]; err != nil {
			res[i].err = err
			continue
		}
		f.next++
		p := &fakeProc{name: req.name, pid: f.next, stopSig: req.prog.StopSignal, exited: req.exited}
		f.procs[p.pid] = p
		if req.out != nil {
			req.out.ring.Write([]byte(fmt.Sprintf("%s started as %d\n", req.name, p.pid)))
		}
		res[i].pid = p.pid
	}
	return res
}

func (f *fakeSpawner) Signal(pid int, sig syscall.Signal, group bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	p := f.procs[pid]
	name := ""
	if p != nil {
		name = p.name
	}
	f.signals = append(f.signals, sigCall{name: name, pid: pid, sig: sig, group: group})
	leaderAlive := p != nil && !p.dead
	if !leaderAlive && !(group && f.extra[pid]) {
		return syscall.ESRCH
	}
	if group && sig == syscall.SIGKILL {
		f.extra[pid] = false
	}
	if leaderAlive && (sig == syscall.SIGKILL || (sig == p.stopSig && !f.stubborn[p.name])) {
		f.dieLocked(p, -1, sig)
	}
	return nil
}

func (f *fakeSpawner) GroupAlive(pgid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	p := f.procs[pgid]
	return (p != nil && !p.dead) || f.extra[pgid]
}

// dieLocked reports the exit of p to the loop. The callback may block until
// the loop receives, so it runs on its own goroutine.
func (f *fakeSpawner) dieLocked(p *fakeProc, code int, sig syscall.Signal) {
	p.dead = true
	st := ExitStatus{Pid: p.pid, Code: code, Signal: sig}
	// exits once the loop received the status or Run returned.
	go p.exited(st)
}

// exit makes the live process of instance name exit with code (or be
// killed by sig when sig != 0) and lets the loop settle.
func (f *fakeSpawner) exit(t *testing.T, name string, code int, sig syscall.Signal) {
	t.Helper()
	f.mu.Lock()
	p := f.liveLocked(name)
	if p == nil {
		f.mu.Unlock()
		t.Fatalf("exit(%q): no live process", name)
		return
	}
	if sig != 0 {
		code = -1
	}
	f.dieLocked(p, code, sig)
	f.mu.Unlock()
	synctest.Wait()
}

func (f *fakeSpawner) liveLocked(name string) *fakeProc {
	var last *fakeProc
	for _, p := range f.procs {
		if p.name == name && !p.dead && (last == nil || p.pid > last.pid) {
			last = p
		}
	}
	return last
}

// pid returns the pid of the live process of instance name, or 0.
func (f *fakeSpawner) pid(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.liveLocked(name); p != nil {
		return p.pid
	}
	return 0
}

func (f *fakeSpawner) setExtra(pgid int, alive bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.extra[pgid] = alive
}

func (f *fakeSpawner) setErr(name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[name] = err
}

func (f *fakeSpawner) setStubborn(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stubborn[name] = true
}

func (f *fakeSpawner) spawned() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.spawns)
}

func (f *fakeSpawner) spawnCount(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.spawns {
		if s == name {
			n++
		}
	}
	return n
}

func (f *fakeSpawner) sigs() []sigCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.signals)
}

// sigsTo returns the signals sent to instance name's processes.
func (f *fakeSpawner) sigsTo(name string) []sigCall {
	var out []sigCall
	for _, c := range f.sigs() {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeSpawner) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.batches)
}

func (f *fakeSpawner) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// harness runs one Supervisor inside a synctest bubble.
type harness struct {
	t    *testing.T
	s    *Supervisor
	f    *fakeSpawner
	cfg  *config.Config
	done chan error // receives what Run returned; size 1 so Run never blocks
	ret  *error
}

// run starts a Supervisor of cfg with f and lets it settle. It must be
// called inside a synctest bubble; the test ends it with finish.
func runSupervisor(t *testing.T, cfg *config.Config, f *fakeSpawner) *harness {
	t.Helper()
	h := &harness{t: t, s: New(Options{Config: cfg, Spawner: f}), f: f, cfg: cfg, done: make(chan error, 1)}
	// exits when a drain completes; finish (or the test) waits on done.
	go func() { h.done <- h.s.Run(context.Background()) }()
	synctest.Wait()
	return h
}

// advance lets d of virtual time pass and the loop settle.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// returned reports whether Run has returned, and what.
func (h *harness) returned() (bool, error) {
	if h.ret != nil {
		return true, *h.ret
	}
	select {
	case err := <-h.done:
		h.ret = &err
		return true, err
	default:
		return false, nil
	}
}

// wait waits (in virtual time) for Run to return and returns its error.
func (h *harness) wait() error {
	h.t.Helper()
	if h.ret != nil {
		return *h.ret
	}
	select {
	case err := <-h.done:
		h.ret = &err
		return err
	case <-time.After(24 * time.Hour):
		h.t.Fatalf("Run did not return")
		return nil
	}
}

// finish ends the supervisor: a forced drain, then waits for Run.
func (h *harness) finish() {
	h.t.Helper()
	if ok, _ := h.returned(); ok {
		return
	}
	if err := h.s.ForceShutdown(context.Background()); err != nil && !errors.Is(err, apitype.ErrShuttingDown) {
		h.t.Errorf("ForceShutdown() = %v; want nil", err)
	}
	h.wait()
}

// status returns the one instance called name.
func (h *harness) status(name string) apitype.Instance {
	h.t.Helper()
	st, err := h.s.Status(context.Background(), name)
	if err != nil || len(st) != 1 {
		h.t.Fatalf("Status(%q) = %v, %v; want one instance", name, st, err)
	}
	return st[0]
}

// wantState fails the test unless instance name is in state want.
func (h *harness) wantState(name string, want apitype.State) apitype.Instance {
	h.t.Helper()
	a := h.status(name)
	if a.State != want {
		h.t.Fatalf("Status(%q).State = %v (message %q); want %v", name, a.State, a.Message, want)
	}
	return a
}

// wantSpawns fails the test unless instance name was spawned n times.
func (h *harness) wantSpawns(name string, n int) {
	h.t.Helper()
	if got := h.f.spawnCount(name); got != n {
		h.t.Fatalf("spawns of %s = %d (%v); want %d", name, got, h.f.spawned(), n)
	}
}
