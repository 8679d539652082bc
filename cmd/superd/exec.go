package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/supervisor/reaper"
)

// superd exec: a single-command init, like tini (SPEC §8).
//
// One loop: forward every signal superd receives to the child's process
// group, until the reaper reports the child's exit; then terminate whatever
// the child left behind and exit with its status. The reaper reaps every
// zombie all along (superd is a subreaper, or PID 1).

const (
	// defaultGrace is how long leftovers of the child get between SIGTERM
	// and SIGKILL.
	defaultGrace = 2 * time.Second
	// killBound bounds how long superd waits, after SIGKILL, for the
	// leftovers to be gone (a process in uninterruptible sleep dies late).
	killBound = 5 * time.Second
	// leftoverPoll is how often superd looks whether the leftovers are gone.
	leftoverPoll = 10 * time.Millisecond
	// defaultPath is the search path when $PATH is unset, as execvp's.
	defaultPath = "/bin:/usr/bin"
)

const execUsage = `Usage: superd exec [--no-group] [--no-subreaper] [--grace D]
                   [--log-level LEVEL] [--log-format text|json] -- CMD [ARG...]

Run CMD as the only child of superd, in its own process group (the
terminal's foreground group when superd has the terminal), forward every
signal to that group, reap every zombie, and exit with CMD's exit code, or
128+N when it was killed by signal N (127: CMD not found; 126: it cannot be
executed). Processes CMD leaves in its group (as PID 1: any process left)
get SIGTERM, then SIGKILL after the grace period, before superd exits.

  --no-group      forward signals to CMD alone, not to its process group
  --no-subreaper  do not become a child subreaper (orphans are then reaped
                  by PID 1, not by superd)
  --grace D       SIGTERM to SIGKILL delay for leftover processes (default 2s)
  --log-level L   debug, info, warn (default) or error; logs go to stderr
  --log-format F  text (default) or json
`

// execOptions are the parsed arguments of superd exec.
type execOptions struct {
	noGroup     bool
	noSubreaper bool
	grace       time.Duration
	logLevel    slog.Level
	logFormat   string
	argv        []string
}

// parseExec parses superd exec's flags and command.
func parseExec(args []string, stdout, stderr io.Writer) (execOptions, error) {
	fs := newFlags("exec", stderr)
	noGroup := fs.Bool("no-group", false, "forward signals to the child alone")
	noSubreaper := fs.Bool("no-subreaper", false, "do not become a child subreaper")
	grace := fs.Duration("grace", defaultGrace, "SIGTERM to SIGKILL delay for leftovers")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, execUsage)
			return execOptions{}, &exitError{code: 0}
		}
		return execOptions{}, usageErr("exec: %v (see superd exec --help)", err)
	}
	o := execOptions{noGroup: *noGroup, noSubreaper: *noSubreaper, grace: *grace, logFormat: *logFormat, argv: fs.Args()}
	if o.grace < 0 {
		return execOptions{}, usageErr("exec: --grace must not be negative, not %v", o.grace)
	}
	if err := o.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return execOptions{}, usageErr("exec: --log-level must be debug, info, warn or error, not %q", *logLevel)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return execOptions{}, usageErr("exec: --log-format must be text or json, not %q", o.logFormat)
	}
	if len(o.argv) == 0 {
		return execOptions{}, usageErr("exec: no command (usage: superd exec [flags] -- CMD [ARG...])")
	}
	if o.argv[0] == "" {
		return execOptions{}, usageErr("exec: empty command name")
	}
	return o, nil
}

// runExec is `superd exec`. It returns nil when the child exited 0, or an
// *exitError with the child's status (127 and 126 with a message when CMD
// cannot be started).
func runExec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseExec(args, stdout, stderr)
	if err != nil {
		return err
	}
	path, err := lookCommand(o.argv[0], os.Getenv("PATH"))
	if err != nil {
		return execFailure(o.argv[0], err)
	}
	logger := newLogger(stderr, o.logFormat, o.logLevel)

	// Every signal, before anything starts: a handler for each is also what
	// makes the kernel deliver them to superd as PID 1 (it drops signals
	// that PID 1 has no handler for), and a caught signal is reset to the
	// default in the child, where an ignored one would stay ignored.
	//
	// The runtime drops a signal rather than block when the channel is
	// full; it holds one of every signal number, so a burst of distinct
	// signals is never lost while the loop is busy.
	sigs := make(chan os.Signal, 65)
	signal.Notify(sigs)
	defer signal.Stop(sigs)

	pid1 := os.Getpid() == 1
	switch {
	case pid1:
		// PID 1 is every orphan's parent already.
	case o.noSubreaper:
		logger.Warn("--no-subreaper: orphans of the command are reaped by PID 1, not by superd; zombies stay if PID 1 does not reap")
	default:
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("become subreaper: %w", err)
		}
	}

	rp := reaper.New(1) // one command: one spawner thread
	reaperCtx, stopReaper := context.WithCancel(context.Background())
	reaperDone := make(chan error, 1)
	// exits when stopReaper is called; waited on through reaperDone below
	go func() { reaperDone <- rp.Run(reaperCtx) }()
	stop := func() error {
		stopReaper()
		return <-reaperDone
	}

	fg := ownsTerminal()
	exits := make(chan reaper.Exit, 1) // one exit, sent once: never blocks the reaper
	pid, err := rp.Start(reaper.Spec{
		Argv:       o.argv,
		Path:       path,
		Env:        os.Environ(),
		Files:      []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Umask:      -1,
		Foreground: fg,
		Ctty:       0,
	}, func(ex reaper.Exit) { exits <- ex })
	if err != nil {
		if rerr := stop(); rerr != nil {
			return rerr // the reaper could not start: nothing was tried
		}
		return execFailure(o.argv[0], err)
	}
	rp.LogSetup(logger) // the spawner was up: it started the command
	logger.Info("started", "pid", pid, "command", o.argv[0], "foreground", fg, "pid1", pid1)

	in := &initProc{logger: logger, rp: rp, pid: pid, noGroup: o.noGroup, pid1: pid1}
	ex := in.forward(ctx, sigs, exits)
	code := exitStatus(ex.Status)
	logger.Info("command exited", "pid", pid, "exit_code", code)
	if fg {
		reclaimTerminal(logger)
	}
	in.endLeftovers(sigs, o.grace)
	if err := stop(); err != nil {
		logger.Warn("reaper", "err", err)
	}
	logger.Info("exiting", "exit_code", code, "orphans", rp.Orphans())
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// initProc is superd exec's view of its one child. Only runExec's goroutine
// uses it.
type initProc struct {
	logger  *slog.Logger
	rp      *reaper.Reaper
	pid     int // the child, leader of its own process group
	noGroup bool
	pid1    bool
}

// forward relays signals to the child until its exit arrives, and returns
// it. ctx done is a SIGTERM.
func (in *initProc) forward(ctx context.Context, sigs <-chan os.Signal, exits <-chan reaper.Exit) reaper.Exit {
	done := ctx.Done()
	for {
		select {
		case ex := <-exits:
			return ex
		case <-done:
			done = nil
			in.relay(syscall.SIGTERM)
		case s := <-sigs:
			sig, ok := s.(syscall.Signal)
			if !ok {
				continue
			}
			in.relay(sig)
		}
	}
}

// relay sends sig to the child's group (to the child alone with
// --no-group), except the signals superd keeps: SIGCHLD (the reaper's),
// SIGURG (the Go runtime's preemption), SIGTTIN and SIGTTOU (ignored, so
// superd never stops itself; it catches them rather than ignore them, so the
// child starts with the default action).
func (in *initProc) relay(sig syscall.Signal) {
	switch sig {
	case syscall.SIGCHLD, syscall.SIGURG:
		return
	case syscall.SIGTTIN, syscall.SIGTTOU:
		in.logger.Debug("ignoring signal", "signal", unix.SignalName(sig))
		return
	}
	var err error
	if in.noGroup {
		err = in.rp.Signal(in.pid, sig)
	} else {
		err = in.rp.SignalGroup(in.pid, sig)
	}
	if err != nil {
		// The child has exited and its exit is on its way.
		in.logger.Debug("signal not forwarded", "pid", in.pid, "signal", unix.SignalName(sig), "err", err)
		return
	}
	in.logger.Debug("signal forwarded", "pid", in.pid, "signal", unix.SignalName(sig), "group", !in.noGroup)
}

// endLeftovers terminates what the child left: the rest of its process
// group, or as PID 1 every other process. SIGTERM (and SIGCONT, so a stopped
// process can act on it), then SIGKILL after grace; it returns once they are
// gone (and reaped, when superd is their parent), or after killBound more.
// Signals that arrive meanwhile are dropped: everything is on its way out.
//
// As PID 1 it signals with kill(-1), which reaches every process of superd's
// PID namespace but superd, in one call: no /proc scan, so no pid can be
// recycled between reading it and signalling it, and it works without /proc
// mounted. Outside PID 1, kill(-1) would reach every process of the user, so
// it is never used.
func (in *initProc) endLeftovers(sigs <-chan os.Signal, grace time.Duration) {
	if !in.leftovers() {
		return
	}
	in.logger.Info("terminating leftover processes", "pgid", in.pid, "all", in.pid1, "grace", grace.String())
	in.signalLeftovers(syscall.SIGTERM)
	in.signalLeftovers(syscall.SIGCONT)
	if in.waitLeftovers(sigs, grace) {
		return
	}
	in.logger.Warn("leftover processes still running after the grace period; SIGKILL", "pgid", in.pid, "all", in.pid1, "grace", grace.String())
	in.signalLeftovers(syscall.SIGKILL)
	if !in.waitLeftovers(sigs, killBound) {
		in.logger.Warn("leftover processes still present after SIGKILL; exiting anyway", "pgid", in.pid, "all", in.pid1)
	}
}

// leftovers reports whether a process is left: in the child's group, or as
// PID 1 anywhere in the namespace (zombies count until reaped).
func (in *initProc) leftovers() bool {
	if in.pid1 {
		err := unix.Kill(-1, 0)
		return err == nil || errors.Is(err, unix.EPERM)
	}
	return in.rp.GroupAlive(in.pid)
}

func (in *initProc) signalLeftovers(sig syscall.Signal) {
	var err error
	if in.pid1 {
		err = unix.Kill(-1, sig)
	} else {
		err = in.rp.SignalGroup(in.pid, sig)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		in.logger.Warn("signal leftover processes", "signal", unix.SignalName(sig), "err", err)
	}
}

// waitLeftovers polls until no leftover is present, or d has passed; it
// reports whether they are gone. A poll, not an event: leftovers need not
// be superd's children (with --no-subreaper they are reparented elsewhere).
func (in *initProc) waitLeftovers(sigs <-chan os.Signal, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(leftoverPoll)
	defer tick.Stop()
	for {
		if !in.leftovers() {
			return true
		}
		select {
		case <-deadline.C:
			return !in.leftovers()
		case <-tick.C:
		case s := <-sigs:
			if sig, ok := s.(syscall.Signal); ok && sig != syscall.SIGCHLD && sig != syscall.SIGURG {
				in.logger.Debug("signal dropped while ending leftovers", "signal", unix.SignalName(sig))
			}
		}
	}
}

// exitStatus is superd exec's exit code for the child's wait status: its
// exit code, or 128+N when signal N killed it.
func exitStatus(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1 // not reported by the reaper: it does not ask for stops
}

// lookCommand finds name as execvp would: as given when it holds a slash,
// else in each directory of pathEnv (defaultPath when empty), the first
// executable file. When only non-executable ones exist, the error is
// EACCES, else ENOENT.
func lookCommand(name, pathEnv string) (string, error) {
	if strings.Contains(name, "/") {
		return name, checkExecutable(name)
	}
	if pathEnv == "" {
		pathEnv = defaultPath
	}
	var denied error
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "." // an empty entry is the current directory
		}
		p := dir + "/" + name
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if denied == nil && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ENOTDIR) {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", syscall.ENOENT
}

// checkExecutable returns nil when path is a file superd may execute, else
// the errno execve would most likely give.
func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return syscall.EACCES
	}
	return unix.Access(path, unix.X_OK)
}

// execFailure is the error for a command that could not be started: exit
// 127 when it does not exist, else 126, with one line naming it
// (`superd: exec foo: no such file or directory`).
func execFailure(name string, err error) error {
	code := 126
	if errors.Is(err, syscall.ENOENT) {
		code = 127
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	return &exitError{code: code, err: fmt.Errorf("exec %s: %w", name, err)}
}

// ownsTerminal reports whether stdin is superd's controlling terminal and
// superd's process group is its foreground group: then the child's group
// takes the foreground, so that ^C, ^Z and terminal reads reach it. A
// superd started in the background leaves the terminal alone.
func ownsTerminal() bool {
	pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// reclaimTerminal makes superd's process group the terminal's foreground
// group again, after the child's group had it. The kernel would stop a
// background group that does this with SIGTTOU unless the signal is
// blocked: it is, on this thread, for the call.
func reclaimTerminal(logger *slog.Logger) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	set.Val[(int(unix.SIGTTOU)-1)/64] |= 1 << ((uint(unix.SIGTTOU) - 1) % 64)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		logger.Warn("reclaim the terminal", "err", err)
		return
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	if err := unix.IoctlSetPointerInt(0, unix.TIOCSPGRP, unix.Getpgrp()); err != nil {
		logger.Debug("reclaim the terminal", "err", err)
	}
}
