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
}

// NewProcSpawner returns a spawner using r; the output pumps it starts end
// at EOF of their pipe or when ctx is done.
func NewProcSpawner(ctx context.Context, r *reaper.Reaper, outputs *Outputs, logger *slog.Logger) *ProcSpawner {
	return &ProcSpawner{reaper: r, outputs: outputs, logger: logger, environ: os.Environ(), ctx: ctx}
}

// Wait waits for every output pump to end.
func (sp *ProcSpawner) Wait() { sp.wg.Wait() }

// Signal sends sig to pid, or to the process group pid when group is set.
func (sp *ProcSpawner) Signal(pid int, sig syscall.Signal, group bool) error {
	if group {
		return sp.reaper.SignalGroup(pid, sig)
	}
	return sp.reaper.Signal(pid, sig)
}

// GroupAlive reports whether process group pgid has a member.
func (sp *ProcSpawner) GroupAlive(pgid int) bool { return sp.reaper.GroupAlive(pgid) }

// Spawn starts one instance of req.prog.
func (sp *ProcSpawner) Spawn(req spawnReq, exited func(ExitStatus)) (int, error) {
	p := req.prog
	var cred *syscall.Credential
	var u *user.User
	if p.User != "" || p.Group != "" {
		var err error
		cred, u, err = credential(p)
		if err != nil {
			return 0, err
		}
	}
	env, err := buildEnv(sp.environ, p, u, req)
	if err != nil {
		return 0, err
	}
	if len(p.Credentials) > 0 {
		if err := copyCredentials(req.credDir, p.Credentials, cred); err != nil {
			return 0, err
		}
		env = append(env, "CREDENTIALS_DIRECTORY="+req.credDir)
	}
	if p.Detach {
		return sp.spawnDetached(req, env, cred, exited)
	}
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer stdin.Close()

	var toClose []*os.File // the child's ends, closed here once it runs
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
	}()
	var pumps []func()
	newPipe := func(stderr bool, o config.Output, console *logs.Console) (*os.File, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("pipe: %w", err)
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
		return 0, err
	}
	stderr := stdout
	if p.Stderr != config.OutputStdout {
		stderr, err = newPipe(true, p.Stderr, sp.console(p.Stderr, true))
		if err != nil {
			return 0, err
		}
	}
	pid, err := sp.reaper.Start(reaper.Spec{
		Argv:       append(slices.Clone(p.Argv()), req.args...),
		Env:        env,
		Dir:        p.Directory,
		Files:      []*os.File{stdin, stdout, stderr},
		Credential: cred,
		Umask:      p.Umask,
		Rlimits:    rlimits(p),
	}, func(e reaper.Exit) { exited(exitStatus(e)) })
	// Start the pumps either way: on failure, closing the write ends below
	// gives them EOF at once.
	for _, start := range pumps {
		start()
	}
	if err != nil {
		return 0, err
	}
	return pid, nil
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

// buildEnv composes a child's environment, later entries winning: superd's
// (when inherited, minus env_exclude, superd's own variables and SUPERD_*),
// the user's HOME, USER, LOGNAME and SHELL, env_files in order, environment,
// then what superd sets.
func buildEnv(base []string, p *config.Program, u *user.User, req spawnReq) ([]string, error) {
	vars := make(map[string]string)
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	if p.InheritEnvironment {
		for _, kv := range base {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || superdOwn(k) || slices.Contains(p.EnvExclude, k) {
				continue
			}
			set(k, v)
		}
	}
	if u != nil {
		set("HOME", u.HomeDir)
		set("USER", u.Username)
		set("LOGNAME", u.Username)
		set("SHELL", loginShell(u.Username))
	}
	for _, path := range p.EnvFiles {
		kvs, err := readEnvFile(path)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			set(kv[0], kv[1])
		}
	}
	keys := make([]string, 0, len(p.Environment))
	for k := range p.Environment {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		set(k, p.Environment[k])
	}
	set("SUPERD_PROGRAM", p.Name)
	set("SUPERD_INSTANCE", strconv.Itoa(req.index))
	if req.socket != "" {
		set("SUPERD_SOCKET", req.socket)
	}
	if req.notifySocket != "" {
		set("NOTIFY_SOCKET", req.notifySocket)
		if p.Watchdog > 0 {
			set("WATCHDOG_USEC", strconv.FormatInt(p.Watchdog.Microseconds(), 10))
		}
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vars[k])
	}
	return env, nil
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

// spawnDetached starts a detached child: its own session, no Pdeathsig, its
// output straight into its files (no pipe through superd), so it keeps
// running, and writing, when superd exits or dies.
func (sp *ProcSpawner) spawnDetached(req spawnReq, env []string, cred *syscall.Credential, exited func(ExitStatus)) (int, error) {
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
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer stdin.Close()
	stdout, err := open(p.Stdout, false)
	if err != nil {
		return 0, err
	}
	defer stdout.Close()
	stderr := stdout
	if p.Stderr != config.OutputStdout {
		if stderr, err = open(p.Stderr, true); err != nil {
			return 0, err
		}
		defer stderr.Close()
	}
	return sp.reaper.Start(reaper.Spec{
		Argv:       append(slices.Clone(p.Argv()), req.args...),
		Env:        env,
		Dir:        p.Directory,
		Files:      []*os.File{stdin, stdout, stderr},
		Credential: cred,
		Umask:      p.Umask,
		Rlimits:    rlimits(p),
		Detach:     true,
	}, func(e reaper.Exit) { exited(exitStatus(e)) })
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
	return sp.reaper.Adopt(pid, func(e reaper.Exit) { exited(exitStatus(e)) })
}

// exitStatus is a reaper exit as the loop sees it.
func exitStatus(e reaper.Exit) ExitStatus {
	st := ExitStatus{Pid: e.Pid, Code: e.Code()}
	if e.Status.Signaled() {
		st.Signal = e.Status.Signal()
	}
	return st
}

// rlimits are the program's limits as the reaper takes them.
func rlimits(p *config.Program) []reaper.Rlimit {
	var out []reaper.Rlimit
	for _, l := range p.Limits {
		out = append(out, reaper.Rlimit{Resource: l.Resource, Soft: l.Soft, Hard: l.Hard})
	}
	return out
}
