package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/config"
	"github.com/superd/superd/supervisor/logs"
	"github.com/superd/superd/supervisor/probe"
	"github.com/superd/superd/supervisor/reaper"
)

// ProcSpawner is the Spawner of real processes: it builds each child's
// environment, credentials and stdio from its config, starts it through the
// reaper, and pumps its output. It is safe for concurrent use.
type ProcSpawner struct {
	reaper  *reaper.Reaper
	outputs *Outputs
	logger  *slog.Logger
	environ []string // superd's own environment, read once
	ctx     context.Context
	wg      sync.WaitGroup // the output pumps

	mu sync.Mutex // guards the fields below
	// inherited is superd's environment minus its own variables: the start
	// of the environment of every program that inherits it and excludes
	// nothing; built at the first spawn of one.
	inherited *envList
	// progs holds, per program or job name, what its config alone decides
	// about a child (see progSetup): built at its first spawn, rebuilt when
	// the config changes (a reload makes a new *config.Program).
	progs map[string]*progSetup
}

// NewProcSpawner returns a spawner using r; the output pumps it starts end
// at EOF of their pipe or when ctx is done.
func NewProcSpawner(ctx context.Context, r *reaper.Reaper, outputs *Outputs, logger *slog.Logger) *ProcSpawner {
	return &ProcSpawner{reaper: r, outputs: outputs, logger: logger, environ: os.Environ(), ctx: ctx,
		progs: make(map[string]*progSetup)}
}

// Wait waits for every output pump to end.
func (sp *ProcSpawner) Wait() { sp.wg.Wait() }

// Descriptors returns how many descriptors superd holds open at most for
// the programs of cfg, all instances running: each instance's output
// pipes (stdout's always, stderr's unless it goes to stdout; a detached
// instance's output files are closed once it is forked), its log files
// (stdout or stderr = "file") and its notify socket (type = "notify").
func Descriptors(cfg *config.Config) int {
	n := 0
	for _, p := range cfg.Programs {
		per := 0
		if !p.Detach {
			per++
			if p.Stderr != config.OutputStdout {
				per++
			}
			if p.Stdout == config.OutputFile {
				per++
			}
			if p.Stderr == config.OutputFile {
				per++
			}
		}
		if p.Type == config.TypeNotify {
			per++
		}
		n += per * p.Instances
	}
	return n
}

// Signal sends sig to pid, or to the process group pid when group is set.
func (sp *ProcSpawner) Signal(pid int, sig syscall.Signal, group bool) error {
	if group {
		return sp.reaper.SignalGroup(pid, sig)
	}
	return sp.reaper.Signal(pid, sig)
}

// GroupAlive reports whether process group pgid has a member.
func (sp *ProcSpawner) GroupAlive(pgid int) bool { return sp.reaper.GroupAlive(pgid) }

// progSetup is what one generation of a program's config decides about
// each of its children, whichever the instance and however often it
// restarts: the credentials (user and groups looked up once), and the
// environment up to what differs per start. A reload makes a new
// *config.Program, and so a new progSetup: the user and group are looked up
// again then; env_files are read at every start.
type progSetup struct {
	prog *config.Program
	cred *syscall.Credential // nil: superd's own
	// head is the environment before what env adds per start. Without
	// env_files it runs up to SUPERD_PROGRAM; with them, it stops before
	// the files. Shared by every start of this generation, never modified.
	head *envList
	// argv (at full capacity, so a job run's append copies it) and
	// rlimits are shared by every start of this generation, never
	// modified.
	argv    []string
	rlimits []reaper.Rlimit
}

// setup returns the progSetup of p, building it at the first spawn of this
// generation of p. A failed lookup of the user or group is not kept: the
// next start tries again.
func (sp *ProcSpawner) setup(p *config.Program) (*progSetup, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if ps := sp.progs[p.Name]; ps != nil && ps.prog == p {
		return ps, nil
	}
	ps := &progSetup{prog: p, argv: slices.Clip(p.Argv()), rlimits: rlimits(p)}
	var u *user.User
	if p.User != "" || p.Group != "" {
		var err error
		if ps.cred, u, err = credential(p); err != nil {
			return nil, err
		}
	}
	var base *envList
	switch {
	case !p.InheritEnvironment:
		base = &envList{}
	case len(p.EnvExclude) == 0:
		if sp.inherited == nil {
			sp.inherited = inheritedEnv(sp.environ, nil)
		}
		base = sp.inherited
	default:
		base = inheritedEnv(sp.environ, p.EnvExclude)
	}
	e := base.extend(len(p.Environment)+5, len(p.Environment)+5)
	if u != nil {
		e.set("HOME", u.HomeDir)
		e.set("USER", u.Username)
		e.set("LOGNAME", u.Username)
		e.set("SHELL", loginShell(u.Username))
	}
	if len(p.EnvFiles) == 0 {
		e.setEnvironment(p)
	}
	ps.head = e
	sp.progs[p.Name] = ps
	return ps, nil
}

// inheritedEnv is environ minus superd's own variables and exclude.
func inheritedEnv(environ, exclude []string) *envList {
	e := &envList{kvs: make([]string, 0, len(environ)), own: make(map[string]int, len(environ))}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || superdOwn(k) || slices.Contains(exclude, k) {
			continue
		}
		e.set(k, v)
	}
	return e
}

// Spawn starts every request in one batch through the reaper: each is
// prepared (credentials, environment, pipes) while the reaper's spawner
// thread forks the ones before it; then the output pumps start.
func (sp *ProcSpawner) Spawn(reqs []spawnReq) []spawnResult {
	res := make([]spawnResult, len(reqs))
	var which []int // index in reqs of each request the reaper got
	var toClose []*os.File
	var pumps []func()
	started := sp.reaper.StartAll(func(yield func(reaper.Request) bool) {
		for i, req := range reqs {
			start, files, ps, err := sp.prepare(req)
			toClose = append(toClose, files...)
			pumps = append(pumps, ps...)
			if err != nil {
				res[i].err = err
				continue
			}
			which = append(which, i)
			if !yield(start) {
				return
			}
		}
	})
	for j, r := range started {
		res[which[j]] = spawnResult{pid: r.Pid, err: r.Err}
	}
	// The children hold their ends now. Start the pumps either way: after
	// a failure, closing the write ends gives them EOF at once.
	for _, f := range toClose {
		f.Close()
	}
	for _, start := range pumps {
		start()
	}
	return res
}

// prepare makes what one child needs: the reaper's request, the files to
// close once it has been forked (the child's ends of its pipes, its
// detached output files) and the pumps to start then. The files and pumps
// come back even with an error, to be closed and started all the same.
func (sp *ProcSpawner) prepare(req spawnReq) (reaper.Request, []*os.File, []func(), error) {
	p := req.prog
	ps, err := sp.setup(p)
	if err != nil {
		return reaper.Request{}, nil, nil, err
	}
	env, err := ps.env(req)
	if err != nil {
		return reaper.Request{}, nil, nil, err
	}
	if len(p.Credentials) > 0 {
		if err := copyCredentials(req.credDir, p.Credentials, ps.cred); err != nil {
			return reaper.Request{}, nil, nil, err
		}
		env = append(env, "CREDENTIALS_DIRECTORY="+req.credDir)
	}
	start := reaper.Request{
		Spec: reaper.Spec{
			Argv:       append(ps.argv, req.args...),
			Env:        env,
			Dir:        p.Directory,
			Credential: ps.cred,
			Umask:      p.Umask,
			Rlimits:    ps.rlimits,
			Detach:     p.Detach,
		},
		Done: reaperDone(req.exited),
	}
	if p.Detach {
		files, err := sp.detachedOutput(req)
		if err != nil {
			return reaper.Request{}, files, nil, err
		}
		start.Spec.Files = []*os.File{nil, files[0], files[len(files)-1]} // stdin: the reaper's /dev/null
		return start, files, nil, nil
	}

	var toClose []*os.File // the child's ends
	var pumps []func()
	newPipe := func(stderr bool, o config.Output, console *logs.Console) (*os.File, error) {
		r, w, err := childPipe()
		if err != nil {
			return nil, err
		}
		toClose = append(toClose, w)
		sink := &logs.Sink{Name: req.name, Timestamps: p.Timestamps, Ring: req.out.ring,
			Stats: req.out.stats, Logger: sp.logger, Console: console}
		if o == config.OutputFile && sp.outputs != nil {
			sink.File = sp.outputs.file(req.out, req.name, p, stderr)
		}
		if o == config.OutputJournal {
			sink.Journal = logs.NewJournal(req.name, stderr)
		}
		pumps = append(pumps, func() {
			sp.wg.Add(1)
			// exits at EOF of the pipe or when sp.ctx is done; Wait waits on wg
			go func() {
				defer sp.wg.Done()
				sink.Pump(sp.ctx, r)
			}()
		})
		return w, nil
	}
	stdout, err := newPipe(false, p.Stdout, sp.console(p.Stdout, false))
	if err != nil {
		return reaper.Request{}, toClose, pumps, err
	}
	stderr := stdout
	if p.Stderr != config.OutputStdout {
		stderr, err = newPipe(true, p.Stderr, sp.console(p.Stderr, true))
		if err != nil {
			return reaper.Request{}, toClose, pumps, err
		}
	}
	start.Spec.Files = []*os.File{nil, stdout, stderr} // stdin: the reaper's /dev/null
	return start, toClose, pumps, nil
}

// childPipe returns a pipe for a child's output: superd reads r through the
// poller; w, blocking, is the child's. (os.Pipe would make both ends
// non-blocking and register both with the poller, and handing w to the
// child would make it blocking again: five system calls more per pipe.)
func childPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	// O_NONBLOCK is the only status flag a fresh pipe end takes.
	if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
}

func (sp *ProcSpawner) console(o config.Output, stderr bool) *logs.Console {
	if o != config.OutputInherit || sp.outputs == nil {
		return nil
	}
	if stderr {
		return sp.outputs.stderr
	}
	return sp.outputs.stdout
}

// credential resolves the program's user and group.
func credential(p *config.Program) (*syscall.Credential, *user.User, error) {
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	var u *user.User
	if p.User != "" {
		var err error
		u, err = lookupUser(p.User)
		if err != nil {
			return nil, nil, err
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		gids, err := u.GroupIds()
		if err != nil {
			return nil, nil, fmt.Errorf("supplementary groups of %s: %w", p.User, err)
		}
		for _, g := range gids {
			n, err := strconv.ParseUint(g, 10, 32)
			if err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	if p.Group != "" {
		g, err := user.LookupGroup(p.Group)
		if err != nil {
			if g, err = user.LookupGroupId(p.Group); err != nil {
				return nil, nil, fmt.Errorf("group %s: %w", p.Group, err)
			}
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.Gid = uint32(gid)
	}
	if u == nil {
		cred.NoSetGroups = true
	}
	return cred, u, nil
}

func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if u, err2 := user.LookupId(name); err2 == nil {
		return u, nil
	}
	return nil, fmt.Errorf("user %s: %w", name, err)
}

// superdOwn reports whether k is one of superd's own variables, which no
// child inherits.
func superdOwn(k string) bool {
	switch k {
	case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES":
		return true
	}
	return strings.HasPrefix(k, "SUPERD_")
}

// envList is an environment being composed: setting a key again replaces
// its value where it first appeared. Its first entries may be a copy of
// another list's (see extend), whose key positions it shares, read only.
type envList struct {
	kvs    []string         // KEY=VALUE
	shared []map[string]int // key → position in kvs, of the copied entries
	// own is key → position in kvs of the keys added to this list; nil:
	// they are found by a scan of kvs[from:] (for a few keys).
	own  map[string]int
	from int
}

// extend returns a new list that starts as a copy of e, with room for more
// entries, and indexes the keys it adds when there may be more than a few
// (indexed > 0).
func (e *envList) extend(more, indexed int) *envList {
	x := &envList{kvs: make([]string, len(e.kvs), len(e.kvs)+more), from: len(e.kvs)}
	copy(x.kvs, e.kvs)
	x.shared = append(slices.Clip(e.shared), e.own)
	if indexed > 0 {
		x.own = make(map[string]int, indexed)
	}
	return x
}

func (e *envList) set(k, v string) {
	kv := k + "=" + v
	for _, m := range e.shared {
		if i, ok := m[k]; ok {
			e.kvs[i] = kv
			return
		}
	}
	if e.own != nil {
		if i, ok := e.own[k]; ok {
			e.kvs[i] = kv
			return
		}
		e.own[k] = len(e.kvs)
	} else {
		for i := e.from; i < len(e.kvs); i++ {
			if old := e.kvs[i]; len(old) > len(k) && old[len(k)] == '=' && old[:len(k)] == k {
				e.kvs[i] = kv
				return
			}
		}
	}
	e.kvs = append(e.kvs, kv)
}

// setEnvironment sets the program's environment table, by key, then
// SUPERD_PROGRAM.
func (e *envList) setEnvironment(p *config.Program) {
	keys := make([]string, 0, len(p.Environment))
	for k := range p.Environment {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.set(k, p.Environment[k])
	}
	e.set("SUPERD_PROGRAM", p.Name)
}

// env composes a child's environment, later entries winning: superd's
// (when inherited, minus env_exclude, superd's own variables and SUPERD_*),
// the user's HOME, USER, LOGNAME and SHELL, env_files in order, environment,
// then what superd sets. All but the env_files and what differs per start
// comes from ps.head, built once per generation of the program.
func (ps *progSetup) env(req spawnReq) ([]string, error) {
	p := ps.prog
	var files [][2]string
	for _, path := range p.EnvFiles {
		kvs, err := readEnvFile(path)
		if err != nil {
			return nil, err
		}
		files = append(files, kvs...)
	}
	indexed := 0
	if len(files) > 0 {
		indexed = len(files) + len(p.Environment)
	}
	// Room for CREDENTIALS_DIRECTORY, appended by the caller.
	e := ps.head.extend(len(files)+len(p.Environment)+6, indexed)
	if len(p.EnvFiles) > 0 {
		for _, kv := range files {
			e.set(kv[0], kv[1])
		}
		e.setEnvironment(p)
	}
	e.set("SUPERD_INSTANCE", strconv.Itoa(req.index))
	if req.socket != "" {
		e.set("SUPERD_SOCKET", req.socket)
	}
	if req.notifySocket != "" {
		e.set("NOTIFY_SOCKET", req.notifySocket)
		if p.Watchdog > 0 {
			e.set("WATCHDOG_USEC", strconv.FormatInt(p.Watchdog.Microseconds(), 10))
		}
	}
	return e.kvs, nil
}

// readEnvFile reads KEY=VALUE lines; blank lines and # comments are
// skipped, an "export " prefix and matching quotes around the value are
// removed.
func readEnvFile(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("env_files: %w", err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("env_files: %s:%d: want KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out = append(out, [2]string{k, v})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("env_files: %s: %w", path, err)
	}
	return out, nil
}

// loginShell is the user's shell from /etc/passwd, or /bin/sh.
func loginShell(name string) string {
	b, err := os.ReadFile("/etc/passwd")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) == 7 && f[0] == name && f[6] != "" {
				return f[6]
			}
		}
	}
	return "/bin/sh"
}

// Probe runs one tcp, http or exec check; exec checks run through the
// reaper, with superd's environment, in dir.
func (sp *ProcSpawner) Probe(ctx context.Context, c *config.Check, dir string) error {
	switch {
	case c.TCP != "":
		return probe.TCP(ctx, c.TCP)
	case c.HTTP != "":
		return probe.HTTP(ctx, c.HTTP)
	case len(c.Exec) > 0:
		return probe.Exec(ctx, sp.reaper, c.Exec, sp.environ, dir)
	}
	return fmt.Errorf("empty check")
}

// detachedOutput opens a detached child's stdout and stderr (one file when
// stderr goes to stdout): its output goes straight into its files, no pipe
// through superd, so it keeps running, and writing, when superd exits or
// dies. The files come back to be closed once the child is forked, even
// with an error.
func (sp *ProcSpawner) detachedOutput(req spawnReq) ([]*os.File, error) {
	p := req.prog
	open := func(o config.Output, stderr bool) (*os.File, error) {
		path := req.logPath
		if path == "" || stderr {
			path = sp.outputs.filePath(req.name, stderr)
		}
		if o == config.OutputNull {
			path = os.DevNull
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("detached output: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("detached output: %w", err)
		}
		return f, nil
	}
	stdout, err := open(p.Stdout, false)
	if err != nil {
		return nil, err
	}
	if p.Stderr == config.OutputStdout {
		return []*os.File{stdout}, nil
	}
	stderr, err := open(p.Stderr, true)
	if err != nil {
		return []*os.File{stdout}, err
	}
	return []*os.File{stdout, stderr}, nil
}

// copyCredentials copies each named credential file into dir (0500, files
// 0400), owned by the child's user, at every start. The secret goes nowhere
// else: not into the environment, argv or superd's logs.
func copyCredentials(dir string, creds map[string]string, cred *syscall.Credential) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if cred != nil {
		uid, gid = int(cred.Uid), int(cred.Gid)
	}
	names := make([]string, 0, len(creds))
	for n := range creds {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b, err := os.ReadFile(creds[n])
		if err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("credential %s: %w", n, err)
		}
		dst := filepath.Join(dir, n)
		if err := os.WriteFile(dst, b, 0o400); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("credential %s: %w", n, err)
		}
		clear(b)
		if err := os.Chown(dst, uid, gid); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("credential %s: %w", n, err)
		}
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("credentials: %w", err)
	}
	return os.Chmod(dir, 0o500)
}

// Adopt has the reaper supervise pid, a daemon a forking program left
// behind (reparented to superd as subreaper).
func (sp *ProcSpawner) Adopt(pid int, exited func(ExitStatus)) error {
	return sp.reaper.Adopt(pid, reaperDone(exited))
}

// reaperDone is exited as the reaper calls it: with a reaper exit, passed on
// as the loop sees it.
func reaperDone(exited func(ExitStatus)) func(reaper.Exit) {
	return func(e reaper.Exit) {
		st := ExitStatus{Pid: e.Pid, Code: e.Code()}
		if e.Status.Signaled() {
			st.Signal = e.Status.Signal()
		}
		exited(st)
	}
}

// rlimits are the program's limits as the reaper takes them.
func rlimits(p *config.Program) []reaper.Rlimit {
	var out []reaper.Rlimit
	for _, l := range p.Limits {
		out = append(out, reaper.Rlimit{Resource: l.Resource, Soft: l.Soft, Hard: l.Hard})
	}
	return out
}
