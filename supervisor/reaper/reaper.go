// Package reaper is the only code in superd that waits for processes.
//
// A supervisor that is also a subreaper (or PID 1) must reap orphans with
// wait4(-1), and any other waiter on a single pid (exec.Cmd.Wait,
// os.Process.Wait) races it: whoever reaps first steals the other's exit
// status. So every child is started through a Reaper, which forks it and
// registers its pid under a lock (forkMu) that the reap loop holds while it
// calls wait4: a child that exits within microseconds cannot be reaped
// before it is known.
//
// Every fork happens on a spawner thread: a goroutine locked to an OS
// thread that never exits, because Linux delivers Pdeathsig when the thread
// that forked dies, not the process. There are two where superd may use two
// CPUs (SpawnerThreads): a fork with CLONE_VFORK waits for the child's exec,
// and the other thread forks meanwhile. Each thread has a private umask
// (unshare CLONE_FS; where that is refused, the shim sets a child's umask),
// so each child gets its own without touching superd's, and a private
// descriptor table holding little more than each child's own descriptors
// while it is forked (see fdTable), so a fork does not copy, and its exec
// close, every pipe superd holds.
package reaper

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotOwned is returned by Signal when the pid is not a registered,
// unreaped child: it has exited (and may since have been recycled) or was
// never ours.
var ErrNotOwned = errors.New("process is not a live child of superd")

// ErrStopped is returned by Start after Run has returned.
var ErrStopped = errors.New("reaper stopped")

var errEmptyArgv = errors.New("empty argv")

// Exit is the end of a registered child, as wait4 reported it.
type Exit struct {
	Pid    int
	Status syscall.WaitStatus
	Rusage syscall.Rusage
	Time   time.Time
}

// Code returns the exit code, or -1 when the process was killed by a signal.
func (e Exit) Code() int {
	if e.Status.Exited() {
		return e.Status.ExitStatus()
	}
	return -1
}

// Rlimit is a resource limit applied to a child before it execs.
type Rlimit struct {
	Resource int
	Soft     uint64
	Hard     uint64
}

// Spec says how to start a child.
type Spec struct {
	Argv []string
	Env  []string
	Dir  string
	// Files become the child's fds 0, 1, 2, ...; a nil entry is
	// /dev/null (the spawner's own, opened once: nothing to take from
	// superd's table for it), or closed where /dev/null cannot be opened
	// (LogSetup warns).
	Files []*os.File
	// Credential, when non-nil, sets uid, gid and supplementary groups.
	Credential *syscall.Credential
	// Umask is the child's umask; -1 keeps superd's.
	Umask int
	// Rlimits are applied by superd's own binary as a shim that then execs
	// Argv (see RunShim); empty means no shim.
	Rlimits []Rlimit
	// Detach starts the child in its own session without Pdeathsig, so it
	// outlives superd. Otherwise it gets its own process group and dies with
	// superd.
	Detach bool
	// Path, when set, is the file to execute; Argv[0] is then only what the
	// child sees as its name (as with execvp, `sh` runs /bin/sh with argv[0]
	// "sh"). Empty means Argv[0] is both.
	Path string
	// Foreground makes the child's new process group the foreground group
	// of the terminal open on Ctty, a descriptor of superd (not an index
	// into Files). It is ignored with Detach. The kernel would stop a
	// background group that tries this with SIGTTOU; Go's fork does it with
	// signals blocked, so it cannot.
	Foreground bool
	Ctty       int
}

// Request is one child for StartAll: how to start it, and the function
// that gets its exit (see Start).
type Request struct {
	Spec Spec
	Done func(Exit)

	// fds are Spec.Files' descriptors, read on the caller's goroutine: the
	// spawner thread's table may not be superd's (see fdTable).
	fds []uintptr
	seq int // the request's place in its batch
}

// Result is the outcome of one Request: the child's pid, or why it did not
// start.
type Result struct {
	Pid int
	Err error
}

// batch is what StartAll hands the spawner threads: each thread serving it
// takes requests from reqs as they arrive, forks them and puts each result
// at its request's place in res, until reqs is closed; then it calls
// served.Done.
type batch struct {
	reqs   chan Request
	served sync.WaitGroup

	mu  sync.Mutex // guards res: the caller grows it while threads fill it
	res []Result
}

// batchAhead is how many requests StartAll's caller may make ahead of the
// spawner threads. It can fill up, harmlessly: the caller then waits for a
// thread to take the next request, which only paces it; the buffer is there
// so the caller runs ahead instead of handing over each request alone.
const batchAhead = 16

// maxSpawnerThreads is how many spawner threads a Reaper has at most. With
// CLONE_VFORK a fork waits for its child's exec, about half of the child's
// cost before it runs; a second thread forks the next child meanwhile.
// Measured on 2 CPUs: a start of 500 programs 10 % sooner with two threads
// than with one, no sooner with three (docs/BENCHMARKS.md, "Start, ninth
// round").
const maxSpawnerThreads = 2

// SpawnerThreads is how many spawner threads suit a Reaper that starts
// many children: one per CPU that superd may use, at most
// maxSpawnerThreads.
func SpawnerThreads() int { return min(maxSpawnerThreads, runtime.GOMAXPROCS(0)) }

// Reaper starts children, reaps every child and orphan, and delivers each
// registered child's exit to the function given at its start. Its methods are
// safe for concurrent use.
type Reaper struct {
	shim string // path of superd's binary for the rlimit shim
	// spawn holds one channel per spawner thread that Run starts, which
	// takes the batches sent on it: every batch goes to the first thread,
	// and its second request brings in the others. startMu makes that one
	// batch at a time, so a thread is always free to take it.
	spawn   []chan *batch
	startMu sync.Mutex
	stopped chan struct{} // closed when Run returns
	orphans atomic.Uint64
	// setups are how each spawner thread was set up; filled before up is
	// closed.
	setups     []spawnerSetup
	shareTable bool          // fork from superd's table (benchmarks compare)
	up         chan struct{} // closed once every spawner thread is ready
	// beforeFork and registering, when set (by tests), are called on the
	// spawner thread with each request before it is forked, and with each
	// child's pid between its fork and its registration.
	beforeFork  func(Request)
	registering func(pid int)

	// forkMu is held for reading across each fork and the registration of
	// its pid, and for writing by reap around wait4: a child that exits
	// within microseconds cannot be reaped before it is known, and the
	// spawner threads still fork side by side.
	forkMu sync.RWMutex

	mu    sync.Mutex // guards the fields below
	procs map[int]*proc
	// recent holds the exits of the last orphans reaped, so Adopt can
	// still deliver the exit of a daemon that died before it was adopted.
	recent [recentOrphans]Exit
	next   int
}

// recentOrphans is how many orphan exits Adopt can look back on.
const recentOrphans = 256

// proc is a registered child. It holds no pidfd: each would be one more
// descriptor that every later fork copies and every exec closes again (at
// 500 children, a sixth of a start's time); Signal opens one while it holds
// the lock, when the pid cannot have been reaped.
type proc struct {
	done func(Exit)
}

// New returns a Reaper that forks on threads spawner threads (at least
// one; SpawnerThreads for a supervisor, one for a single command). Nothing
// runs until Run is called.
func New(threads int) *Reaper {
	shim, _ := os.Executable()
	r := &Reaper{
		shim:    shim,
		stopped: make(chan struct{}),
		up:      make(chan struct{}),
		procs:   make(map[int]*proc),
	}
	for range max(1, threads) {
		r.spawn = append(r.spawn, make(chan *batch))
	}
	return r
}

// spawnerSetup is how a spawner thread was set up, where it is not as
// designed.
type spawnerSetup struct {
	tid int // the thread
	// sharedTableWhy is why the thread forks from superd's own descriptor
	// table (nil: from a private one).
	sharedTableWhy error
	// splitLeft, with a private table, says why descriptors superd had
	// when it was split may stay open in it.
	splitLeft error
	// sharedFSWhy is why the thread shares superd's umask (nil: it has
	// its own).
	sharedFSWhy error
	// nullWhy is why the thread has no /dev/null, so that a nil entry of
	// Spec.Files is closed in the child instead.
	nullWhy error
	// splitCopy is superd's pidfd left in the shared table by the split
	// (-1: none); Run closes it from a thread that shares that table.
	splitCopy int
	err       error // the thread cannot fork at all
}

// Run reaps on every SIGCHLD and serves Start until ctx is done. The spawner
// threads it starts are never released (each must outlive every
// non-detached child it forked); they serve nothing after Run returns.
func (r *Reaper) Run(ctx context.Context) error {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	defer signal.Stop(sigchld)

	catchIgnored()
	if err := initPoller(); err != nil {
		close(r.stopped)
		return fmt.Errorf("reaper: %w", err)
	}
	// The threads set up side by side; each sends its setup once.
	ready := make(chan spawnerSetup, len(r.spawn))
	for _, batches := range r.spawn {
		// exits never: the thread must outlive every child it forked, and
		// Go gives no way to end a locked goroutine without ending its
		// thread.
		go r.spawner(batches, ready)
	}
	var failed error
	for range r.spawn {
		st := <-ready
		if st.splitCopy >= 0 {
			// This goroutine's thread shares superd's table (only the
			// spawners' are private): the copy the split left there goes.
			unix.Close(st.splitCopy)
		}
		if st.err != nil && failed == nil {
			failed = st.err
		}
		r.setups = append(r.setups, st)
	}
	if failed != nil {
		close(r.stopped) // Start returns ErrStopped instead of blocking
		return failed
	}
	close(r.up)
	defer close(r.stopped)

	r.reap() // anything that exited before Notify took effect
	for {
		select {
		case <-ctx.Done():
			r.reap()
			return nil
		case <-sigchld:
			r.reap()
		}
	}
}

// LogSetup logs how the spawner threads were set up where it is not as
// designed: a Warn when a private descriptor table kept copies of superd's
// descriptors or there is no /dev/null, a Debug when a thread forks from
// superd's own table or shares superd's umask. The threads set up alike,
// so a line that several would log is logged once. Run does not log (it
// may start before superd has its logger); call LogSetup once Up is
// closed.
func (r *Reaper) LogSetup(logger *slog.Logger) {
	seen := map[string]bool{}
	log := func(level slog.Level, msg, key string, err error) {
		if err == nil || seen[msg+err.Error()] {
			return
		}
		seen[msg+err.Error()] = true
		logger.Log(context.Background(), level, msg, key, err)
	}
	for _, st := range r.setups {
		log(slog.LevelDebug, "reaper: forking from superd's own descriptor table", "reason", st.sharedTableWhy)
		log(slog.LevelWarn, "reaper: the spawner's private descriptor table keeps copies of superd's descriptors", "err", st.splitLeft)
		log(slog.LevelWarn, "reaper: children's unset descriptors start closed", "err", st.nullWhy)
		if st.sharedFSWhy != nil {
			log(slog.LevelDebug, "reaper: a program's own umask is set by the shim", "reason", fmt.Errorf("unshare CLONE_FS: %w", st.sharedFSWhy))
		}
	}
}

// spawner is one spawner thread: it sets itself up, sends how on ready,
// and then forks the requests of every batch sent on batches.
func (r *Reaper) spawner(batches <-chan *batch, ready chan<- spawnerSetup) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The leader thread's table must stay superd's: pidfd_getfd on
		// superd's pidfd reads it (see fdTable). Hand over to a goroutine
		// on another thread, holding this one until it is set up so that
		// it cannot be scheduled here.
		next := make(chan spawnerSetup, 1)
		go r.spawner(batches, next)
		ready <- <-next
		runtime.UnlockOSThread()
		return
	}
	st := spawnerSetup{tid: unix.Gettid(), splitCopy: -1}
	// A child starts with the signal mask of the thread that forked it (the
	// runtime saves it before fork and restores it in the child), and superd
	// may have inherited blocked signals: every child starts with none.
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &unix.Sigset_t{}, nil); err != nil {
		st.err = fmt.Errorf("reaper: clear the spawner thread's signal mask: %w", err)
		ready <- st
		return
	}
	// A private fs struct (cwd, umask) for this thread, so Umask below
	// changes the umask of children only. Where unshare is refused (as
	// Docker's default seccomp profile refuses it without CAP_SYS_ADMIN),
	// a child whose umask differs from superd's gets it from the shim
	// instead: a umask is per fs struct, and changing superd's around a
	// fork would give it to what superd creates meanwhile (a notify
	// socket, a log file).
	st.sharedFSWhy = unix.Unshare(unix.CLONE_FS)
	t := spawnerThread{privateFS: st.sharedFSWhy == nil}
	t.base = unix.Umask(0o022)
	unix.Umask(t.base)
	t.cur = t.base
	// Nothing on this thread may log or touch superd's files from here on:
	// their descriptors are not in its table. LogSetup logs the outcome.
	table, shared, err := sharedTable, -1, errSharedByChoice
	if !r.shareTable {
		table, shared, err = privateTable()
	}
	t.table, st.splitCopy = table, shared
	if table.private() {
		st.splitLeft = err
	} else {
		st.sharedTableWhy = err
	}
	// The children's /dev/null, in the table they are forked from.
	t.null, err = unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.null, st.nullWhy = -1, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	ready <- st
	for {
		select {
		case b := <-batches:
			r.serve(&t, b)
		case <-r.stopped:
			// Keep the thread: block forever without taking requests.
			select {}
		}
	}
}

// spawnerThread is what one spawner thread forks with.
type spawnerThread struct {
	table     fdTable
	null      int  // the children's /dev/null in table, or -1
	privateFS bool // the thread has its own umask
	base      int  // superd's umask
	cur       int  // the thread's umask, set again only when a child's differs
}

// serve forks b's requests as they arrive, back to back (one hand-over
// between threads per batch, not per child), until b.reqs is closed.
func (r *Reaper) serve(t *spawnerThread, b *batch) {
	defer b.served.Done()
	for req := range b.reqs {
		mask := t.base
		if req.Spec.Umask >= 0 {
			mask = req.Spec.Umask
		}
		shimUmask := -1
		switch {
		case t.privateFS && mask != t.cur:
			unix.Umask(mask)
			t.cur = mask
		case !t.privateFS && mask != t.base:
			shimUmask = mask
		}
		if r.beforeFork != nil {
			r.beforeFork(req)
		}
		pid, err := r.forkRegister(t.table, t.null, req, shimUmask)
		b.mu.Lock()
		b.res[req.seq] = Result{Pid: pid, Err: err}
		b.mu.Unlock()
	}
}

// forkRegister forks and registers the child under forkMu, null
// (in table, or -1) being its /dev/null. A umask of 0 or more is set by
// the shim.
func (r *Reaper) forkRegister(table fdTable, null int, req Request, umask int) (int, error) {
	spec := req.Spec
	attr := &syscall.SysProcAttr{Credential: spec.Credential}
	if spec.Detach {
		attr.Setsid = true
	} else {
		attr.Setpgid = true
		attr.Pdeathsig = syscall.SIGKILL
		attr.Foreground = spec.Foreground
		attr.Ctty = spec.Ctty
	}
	argv := spec.Argv
	if len(argv) == 0 {
		return 0, errEmptyArgv
	}
	name := argv[0]
	if spec.Path != "" {
		name = spec.Path
	}
	if len(spec.Rlimits) > 0 || umask >= 0 {
		// The shim execs its argv[0]: it gets the path.
		argv = shimArgv(r.shim, spec.Rlimits, umask, append([]string{name}, spec.Argv[1:]...))
		name = argv[0]
	}
	env := spec.Env
	if env == nil {
		env = syscall.Environ()
	}
	// The child's descriptors and the terminal, in the table forked from.
	want := req.fds
	if attr.Foreground {
		want = append(want[:len(want):len(want)], uintptr(spec.Ctty))
	}
	fds, release, err := table.take(want, null)
	if err != nil {
		return 0, err
	}
	defer release()
	if attr.Foreground {
		attr.Ctty = int(fds[len(fds)-1])
		fds = fds[:len(fds)-1]
	}
	r.forkMu.RLock()
	defer r.forkMu.RUnlock()
	// As os.StartProcess, but without the pidfd it would open and keep.
	pid, err := syscall.ForkExec(name, argv, &syscall.ProcAttr{Dir: spec.Dir, Env: env, Files: fds, Sys: attr})
	runtime.KeepAlive(spec.Files) // no finalizer closes them before the fork
	if err != nil {
		return 0, &os.PathError{Op: "fork/exec", Path: name, Err: err}
	}
	if r.registering != nil {
		r.registering(pid)
	}
	r.mu.Lock()
	r.procs[pid] = &proc{done: req.Done}
	r.mu.Unlock()
	return pid, nil
}

// fileFds returns the descriptors of files, ^uintptr(0) (the spawner's
// /dev/null) for nil entries.
func fileFds(files []*os.File) []uintptr {
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = ^uintptr(0)
		if f != nil {
			fds[i] = f.Fd()
		}
	}
	return fds
}

// Up returns a channel closed once Run's spawner threads are ready to fork.
// It is never closed when Run fails before that; Run then returns why.
func (r *Reaper) Up() <-chan struct{} { return r.up }

// Adopt registers pid, a process superd did not start but will reap (a
// daemon a forking program left behind, reparented to superd as
// subreaper), so its exit goes to done like a started child's. If pid was
// reaped as an orphan already, done gets that exit at once (from another
// goroutine). It fails when pid is neither live nor among the recent
// orphans.
func (r *Reaper) Adopt(pid int, done func(Exit)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.procs[pid]; ok {
		return fmt.Errorf("adopt %d: already registered", pid)
	}
	for i := range r.recent {
		if e := r.recent[i]; e.Pid == pid {
			r.recent[i] = Exit{}
			// exits after one call of done
			go done(e)
			return nil
		}
	}
	if err := signalPid(pid, syscall.Signal(0)); err != nil {
		return fmt.Errorf("adopt %d: %w", pid, err)
	}
	r.procs[pid] = &proc{done: done}
	return nil
}

// Start starts a child as spec says and registers it; done is called once,
// from the reaper's goroutine, with its exit. done must not block for long
// and must not call back into the Reaper's Start. A failed fork or exec
// (ENOENT, EACCES, a bad directory) is returned as an error and done is never
// called.
func (r *Reaper) Start(spec Spec, done func(Exit)) (int, error) {
	res := r.startAll(func(yield func(Request) bool) { yield(Request{Spec: spec, Done: done}) }, 1)
	return res[0].Pid, res[0].Err
}

// StartAll starts every request reqs yields, as Start would, and returns
// one Result per request in the same order. The spawner threads take the
// requests in order, each as soon as it is yielded, while reqs (on the
// caller's goroutine) makes the next one; with two threads, two children
// are forked at once, so a child may exec before one requested earlier.
// A batch costs one hand-over to each thread and back, where a Start per
// child costs one each. reqs must not call the Reaper: the threads serve
// this batch alone until reqs returns, and other callers wait. A request
// that fails (fork, exec, chdir) gets its error and never a call of its
// Done; the requests after it are still started. After Run has returned,
// every Result is ErrStopped.
func (r *Reaper) StartAll(reqs iter.Seq[Request]) []Result { return r.startAll(reqs, batchAhead) }

func (r *Reaper) startAll(reqs iter.Seq[Request], ahead int) []Result {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	b := &batch{reqs: make(chan Request, ahead)}
	serving := 0 // threads that took b
	for req := range reqs {
		b.mu.Lock()
		req.seq = len(b.res)
		b.res = append(b.res, Result{Err: ErrStopped}) // until a thread forks it
		b.mu.Unlock()
		// The first request brings in the first thread, the second the
		// others: a lone Start wakes one thread only.
		switch {
		case req.seq == 0:
			serving += r.join(b, r.spawn[:1])
		case req.seq == 1 && serving > 0:
			serving += r.join(b, r.spawn[1:])
		}
		if serving == 0 {
			continue // Run has returned: no thread took b
		}
		req.fds = fileFds(req.Spec.Files)
		b.reqs <- req
	}
	close(b.reqs)
	b.served.Wait()
	return b.res
}

// join hands b to the threads of threads, each free (startMu keeps other
// batches out), and returns how many took it: none once Run has returned.
func (r *Reaper) join(b *batch, threads []chan *batch) int {
	n := 0
	for _, c := range threads {
		b.served.Add(1)
		select {
		case c <- b:
			n++
		case <-r.stopped:
			b.served.Done()
		}
	}
	return n
}

// reap collects every exited child under forkMu and mu, then delivers the exits
// of registered ones after unlocking.
func (r *Reaper) reap() {
	type delivery struct {
		pr *proc
		ex Exit
	}
	var out []delivery
	r.forkMu.Lock()
	r.mu.Lock()
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, &ru)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			break
		}
		ex := Exit{Pid: pid, Status: ws, Rusage: ru, Time: time.Now()}
		pr, ok := r.procs[pid]
		if !ok {
			r.orphans.Add(1)
			r.recent[r.next] = ex
			r.next = (r.next + 1) % recentOrphans
			continue
		}
		delete(r.procs, pid)
		out = append(out, delivery{pr, ex})
	}
	r.mu.Unlock()
	r.forkMu.Unlock()
	for _, d := range out {
		d.pr.done(d.ex)
	}
}

// Signal sends sig to pid, only while pid is a registered child that has not
// been reaped, so it can never hit a recycled pid. It returns ErrNotOwned
// otherwise.
func (r *Reaper) Signal(pid int, sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.procs[pid]; !ok {
		return ErrNotOwned
	}
	return signalPid(pid, sig)
}

// signalPid sends sig to pid through a pidfd opened for the purpose. The
// caller holds r.mu and pid is registered, so pid has not been reaped: the
// pidfd is that process's, live or a zombie.
func signalPid(pid int, sig syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	return p.Signal(sig)
}

// SignalGroup sends sig to the process group pgid. Linux does not recycle a
// pid while it names a live process group, so while the group has members the
// signal reaches only them; once it is empty, the call fails with ESRCH.
func (r *Reaper) SignalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return fmt.Errorf("signal group %d: refused", pgid)
	}
	return unix.Kill(-pgid, sig)
}

// GroupAlive reports whether process group pgid still has a member.
func (r *Reaper) GroupAlive(pgid int) bool {
	if pgid <= 1 {
		return false
	}
	err := unix.Kill(-pgid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Orphans returns how many processes that superd did not start it has reaped.
func (r *Reaper) Orphans() uint64 { return r.orphans.Load() }

// Live returns how many registered children have not been reaped yet.
func (r *Reaper) Live() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.procs)
}
