package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Helpers for the `superd exec` tests: a superd exec (or unshare around
// one) started in the background, observed through files its command
// writes, /proc and its exit status.

const (
	// execExitTimeout bounds how long a superd exec takes to exit once its
	// command has been told to.
	execExitTimeout = 20 * time.Second
	// execCleanupGrace is how long a cleanup waits after SIGTERM.
	execCleanupGrace = 10 * time.Second
)

// execProc is one background superd exec, or a wrapper process around it.
type execProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	start time.Time
	// startTicks is the process's start time in clock ticks since boot:
	// whatever started later may be the test's.
	startTicks uint64
	stdout     *syncBuffer
	stderr     *syncBuffer
	done       chan struct{} // closed when the process has exited
	state      *os.ProcessState
	pids       []trackedPid // SIGKILLed by the cleanup if still the same process
}

// execOpts are the ways a test may start a superd exec.
type execOpts struct {
	sys   *syscall.SysProcAttr // instead of a new process group
	files []*os.File           // stdin, stdout, stderr instead of buffers
	env   []string             // added to the environment
}

// startExecProc starts argv (argv[0] is the binary, superdBin for superd
// exec) in dir, by default in its own process group, and registers a
// cleanup that stops it: SIGTERM and SIGCONT, then SIGKILL to its group after
// execCleanupGrace, then SIGKILL to every recorded pid.
func startExecProc(t *testing.T, dir string, o execOpts, argv ...string) *execProc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnviron(), o.env...)
	p := &execProc{t: t, cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	if o.files != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = o.files[0], o.files[1], o.files[2]
	} else {
		cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	}
	// A leftover that superd failed to end may hold the output pipes: do
	// not let it keep Wait (and so the test) waiting.
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if o.sys != nil {
		cmd.SysProcAttr = o.sys
	}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", argv, err)
	}
	_, p.startTicks, _ = groupAndStart(cmd.Process.Pid)
	// exits when the process exits; the cleanup makes sure it does
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(p.cleanup)
	return p
}

// startExec starts `superd exec args...` in dir.
func startExec(t *testing.T, dir string, args ...string) *execProc {
	t.Helper()
	return startExecProc(t, dir, execOpts{}, append([]string{superdBin, "exec"}, args...)...)
}

func (p *execProc) pid() int { return p.cmd.Process.Pid }

// trackedPid is a process a test started, by pid and start time: pids are
// recycled quickly (pid_max may be 32768), so the cleanup kills a pid only
// while it is still the same process.
type trackedPid struct {
	pid   int
	pgrp  int
	start uint64 // field 22 of /proc/PID/stat
}

// track records pids for the cleanup to SIGKILL, with their process
// groups. Only the test's goroutine calls it.
func (p *execProc) track(pids ...int) {
	for _, pid := range pids {
		if pgrp, start, ok := groupAndStart(pid); ok {
			p.pids = append(p.pids, trackedPid{pid, pgrp, start})
		}
	}
}

// groupAndStart returns the process group of pid and its start time in
// clock ticks since boot; ok is false when it is gone.
func groupAndStart(pid int) (pgrp int, start uint64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 20 {
		return 0, 0, false
	}
	pgrp, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	return pgrp, start, err1 == nil && err2 == nil
}

func (p *execProc) cleanup() {
	select {
	case <-p.done:
	default:
		// superd forwards both: a stopped command acts on SIGTERM only
		// once continued.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		tm := time.NewTimer(execCleanupGrace)
		select {
		case <-p.done:
		case <-tm.C:
			p.t.Errorf("cleanup: %s (pid %d) did not exit %v after SIGTERM; SIGKILL to its group", p.cmd.Path, p.pid(), execCleanupGrace)
			_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
			p.killTracked()
			<-p.done
		}
		tm.Stop()
	}
	p.killTracked()
	if p.t.Failed() {
		p.t.Logf("%s stderr:\n%s", p.cmd.Path, tail(p.stderr.String(), 8000))
	}
}

// killTracked sends SIGKILL to every recorded process still running, and
// to every process in a recorded process group that started after superd
// did (so it is this test's, not one that got a recycled pid): what superd
// failed to end must not outlive the test.
func (p *execProc) killTracked() {
	groups := make(map[int]bool)
	for _, tp := range p.pids {
		groups[tp.pgrp] = true
		if _, start, ok := groupAndStart(tp.pid); ok && start == tp.start && tp.pid > 1 {
			_ = syscall.Kill(tp.pid, syscall.SIGKILL)
		}
	}
	if len(groups) == 0 || p.startTicks == 0 {
		return
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == os.Getpid() {
			continue
		}
		if pgrp, start, ok := groupAndStart(pid); ok && groups[pgrp] && start >= p.startTicks {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// signal sends sig to the process.
func (p *execProc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to pid %d: %v", sig, p.pid(), err)
	}
}

// waitExit waits up to timeout for the process to exit and returns its
// exit code (-1 when a signal killed it).
func (p *execProc) waitExit(timeout time.Duration) int {
	p.t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-p.done:
		return p.state.ExitCode()
	case <-tm.C:
		p.t.Fatalf("%s (pid %d) did not exit within %v", p.cmd.Path, p.pid(), timeout)
		return 0
	}
}

// exited reports whether the process has exited.
func (p *execProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitPidFile waits until path holds a pid (written by a script once it
// is ready) and returns it; it fails at once if p exits first.
func (p *execProc) waitPidFile(path string) int {
	p.t.Helper()
	var pid int
	waitFor(p.t, execExitTimeout, func() string {
		return fmt.Sprintf("a pid in %s (superd exited: %v; stderr: %q)", path, p.exited(), tail(p.stderr.String(), 500))
	}, func() bool {
		s := readFile(p.t, path)
		if !strings.HasSuffix(s, "\n") {
			return false // not completely written yet
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 1 {
			p.t.Fatalf("%s = %q; want a pid", path, s)
		}
		pid = n
		return true
	})
	p.track(pid)
	return pid
}

// waitStateOf waits until /proc/PID/stat says pid is in state (or, with
// not, in any other state) and returns the state seen.
func waitStateOf(t *testing.T, pid int, state byte, not bool) byte {
	t.Helper()
	var last byte
	waitFor(t, execExitTimeout, func() string {
		neg := ""
		if not {
			neg = "not "
		}
		return fmt.Sprintf("pid %d to be %sin state %c (last: %q)", pid, neg, state, last)
	}, func() bool {
		st, ok := readStat(pid)
		if !ok {
			t.Fatalf("pid %d is gone while waiting for its state", pid)
		}
		last = st.state
		return (st.state == state) != not
	})
	return last
}

// childrenOf returns the pids whose parent is ppid, with their state.
func childrenOf(ppid int) map[int]procStat {
	out := make(map[int]procStat)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && st.ppid == ppid {
			out[pid] = st
		}
	}
	return out
}

// writeScript writes a shell script into dir and returns its path.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := dir + "/" + name
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// execDir is a fresh folder for one test's files.
func execDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "sdx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
