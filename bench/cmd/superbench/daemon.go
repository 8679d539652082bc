package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon is a supervisor process that superbench launched: in its own
// process group, with Pdeathsig so that it dies with superbench, its output
// in a log file of its folder. Every system embeds one. It is used from one
// goroutine, but for the goroutine that waits for the process.
type daemon struct {
	e    *env
	name string // for messages: superd, supervisord, ...
	dir  string // the system's temporary folder; removed by kill
	// okExits are the exit codes of a clean stop besides 0 (runsvdir exits
	// 111 on SIGHUP).
	okExits []int
	// stdout, when set, is the daemon's standard output instead of the
	// log file (a pipe the harness reads); standard error still goes to
	// the log.
	stdout *os.File

	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{} // closed once cmd.Wait returned; waitErr is then set
	waitErr error
}

// makeDir creates the daemon's folder /tmp/PREFIX-XXXX.
func (d *daemon) makeDir(prefix string) error {
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		return fmt.Errorf("make %s's folder: %w", d.name, err)
	}
	d.dir = dir
	return nil
}

// start launches argv with its output in d.dir/NAME.out (stdout in
// d.stdout when set).
func (d *daemon) start(argv []string) error {
	if d.cmd != nil {
		return fmt.Errorf("%s: started twice", d.name)
	}
	f, err := os.Create(filepath.Join(d.dir, d.name+".out"))
	if err != nil {
		return fmt.Errorf("create %s's log: %w", d.name, err)
	}
	d.logFile = f
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if d.stdout != nil {
		cmd.Stdout = d.stdout
	}
	cmd.Dir = d.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.name, err)
	}
	d.cmd = cmd
	d.e.procs.add(cmd.Process.Pid, procKind{group: true, waited: true})
	d.exited = make(chan struct{})
	// exits when the daemon has exited (stop or kill makes sure it does);
	// kill waits on d.exited
	go func() {
		d.waitErr = cmd.Wait()
		d.e.procs.forget(cmd.Process.Pid)
		close(d.exited)
	}()
	return nil
}

// Pid returns the daemon's pid, 0 before start.
func (d *daemon) Pid() int {
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// gone returns an error when the daemon has exited.
func (d *daemon) gone() error {
	if d.exited == nil {
		return fmt.Errorf("%s: not started", d.name)
	}
	select {
	case <-d.exited:
		return fmt.Errorf("%s exited (%v); its output ends: %s", d.name, d.waitErr, d.logTail())
	default:
		return nil
	}
}

// logTail returns the end of the daemon's own output, for error messages.
func (d *daemon) logTail() string {
	b, err := os.ReadFile(filepath.Join(d.dir, d.name+".out"))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	const keep = 1500
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return strings.TrimSpace(string(b))
}

// signal sends sig to the daemon, which must still run.
func (d *daemon) signal(sig syscall.Signal) error {
	if err := d.gone(); err != nil {
		return err
	}
	if err := syscall.Kill(d.Pid(), sig); err != nil {
		return fmt.Errorf("%v to %s: %w", sig, d.name, err)
	}
	return nil
}

// waitStopped waits for the daemon to exit after a stop request, then for
// every process it left (handed to superbench, a subreaper) to be gone. An
// exit status other than 0 or okExits is an error.
func (d *daemon) waitStopped(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.e.sizes.waitDeadline)
	defer cancel()
	select {
	case <-d.exited:
	case <-ctx.Done():
		return fmt.Errorf("%s did not exit after the stop request: %w", d.name, context.Cause(ctx))
	}
	if d.waitErr != nil {
		var ee *exec.ExitError
		if !errors.As(d.waitErr, &ee) || !slices.Contains(d.okExits, ee.ExitCode()) {
			return fmt.Errorf("%s: %w; its output ends: %s", d.name, d.waitErr, d.logTail())
		}
	}
	if err := d.e.procs.waitOrphans(ctx); err != nil {
		return fmt.Errorf("after %s exited: %w", d.name, err)
	}
	return nil
}

// kill SIGKILLs the daemon's group, waits for the daemon, kills and reaps
// the processes it left (handed to superbench) and removes the folder.
func (d *daemon) kill() {
	if d.cmd != nil {
		pid := d.Pid()
		select {
		case <-d.exited:
		default:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			t := time.NewTimer(reapDeadline)
			select {
			case <-d.exited:
			case <-t.C:
				d.e.progress("%s (pid %d) did not die within %v of SIGKILL", d.name, pid, reapDeadline)
			}
			t.Stop()
		}
		if _, err := d.e.procs.sweepOrphans(); err != nil {
			d.e.progress("%v", err)
		}
	}
	if d.logFile != nil {
		d.logFile.Close()
		d.logFile = nil
	}
	if d.dir != "" {
		if err := os.RemoveAll(d.dir); err != nil {
			d.e.progress("remove %s: %v", d.dir, err)
		}
		d.dir = ""
	}
}

// helperProcs returns pid and its descendants whose command name is one of
// names: a supervision tree's own processes (s6-supervise, runsv, loggers)
// as opposed to the programs they run.
func helperProcs(pid int, names ...string) ([]int, error) {
	tree, err := procTable()
	if err != nil {
		return nil, err
	}
	out := []int{pid}
	for _, p := range tree {
		if slices.Contains(names, p.comm) && descends(tree, p.pid, pid) {
			out = append(out, p.pid)
		}
	}
	return out, nil
}

// procEntry is one process of procTable.
type procEntry struct {
	pid, ppid int
	comm      string
}

// procTable reads every process's pid, parent and command name from /proc.
func procTable() (map[int]procEntry, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	tree := make(map[int]procEntry, len(ents))
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		open, end := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(b[end+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		tree[pid] = procEntry{pid: pid, ppid: ppid, comm: string(b[open+1 : end])}
	}
	return tree, nil
}

// descends reports whether pid is a descendant of ancestor in tree.
func descends(tree map[int]procEntry, pid, ancestor int) bool {
	for range len(tree) {
		p, ok := tree[pid]
		if !ok || p.ppid <= 1 {
			return false
		}
		if p.ppid == ancestor {
			return true
		}
		pid = p.ppid
	}
	return false
}

// errNotYet is what a status function of waitAllRunning returns while the
// supervisor cannot answer yet (its socket is not there).
var errNotYet = errors.New("not answering yet")

// waitAllRunning polls status every interval until it lists n programs,
// all running. A program exited or fatal, or the daemon exiting, is an
// error; errNotYet is retried.
func waitAllRunning(ctx context.Context, d *daemon, n int, every time.Duration, status func(context.Context) ([]instance, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d.e.sizes.waitDeadline)
	defer cancel()
	var last []instance
	err := poll(ctx, every, func() (bool, error) {
		if err := d.gone(); err != nil {
			return false, err
		}
		insts, err := status(ctx)
		if errors.Is(err, errNotYet) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		last = insts
		running := 0
		for _, in := range insts {
			switch in.state {
			case "running":
				running++
			case "fatal", "exited":
				return false, fmt.Errorf("program %s is %s: %s", in.name, in.state, in.message)
			}
		}
		return running == n && len(insts) == n, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: not all %d programs running within %v (%s): %w", d.name, n, d.e.sizes.waitDeadline, summarizeStates(last), err)
	}
	return err
}

// runQuiet runs argv with its output to /dev/null; a failure carries its
// standard error.
func runQuiet(ctx context.Context, argv ...string) error {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = devnull
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
