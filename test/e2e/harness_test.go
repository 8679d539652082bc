// Package e2e holds superd's black-box tests: they build the superd and
// superctl binaries once and drive them as an operator would, through
// superctl, signals, files and /proc. Nothing here imports superd's
// packages except the wire types of ipc/apitype.
//
// Every wait polls an observable condition with a deadline (waitFor); no
// test sleeps and hopes. Every superd a test starts is stopped by a
// t.Cleanup: SIGTERM, then SIGKILL to its process group after
// cleanupGrace, then SIGKILL to every pid the test recorded.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/ipc/apitype"
)

// Binaries built once by TestMain.
var (
	binDir     string // holds superd and superctl
	superdBin  string
	superctl   string
	moduleRoot string
)

// wrapEnv, when set in the environment of this test binary, makes it act
// as a launcher for superd instead of running tests: it blocks and ignores
// some signals and then execs os.Args[1:] (see wrapExec). It lets a test
// start superd the way a careless parent would, to check that superd's
// children do not inherit that.
const wrapEnv = "SUPERD_E2E_WRAP"

// wrapSeccomp as wrapEnv's value makes the launcher deny what Docker's
// default seccomp profile denies a container without CAP_SYS_ADMIN and
// CAP_SYS_PTRACE and superd would use: unshare(2) and pidfd_getfd(2) fail
// with EPERM (see seccompExec). "seccomp:NR,NR" denies those system call
// numbers too.
const wrapSeccomp = "seccomp"

// The signals the wrapper blocks and ignores in superd's initial state.
var (
	wrapBlocked = []syscall.Signal{syscall.SIGUSR2, syscall.SIGWINCH}
	wrapIgnored = []syscall.Signal{syscall.SIGPIPE, syscall.SIGHUP, syscall.SIGTTOU}
)

const (
	// cleanupGrace is how long a cleanup waits for superd to exit after
	// SIGTERM before it SIGKILLs its process group.
	cleanupGrace = 15 * time.Second
	// ctlTimeout bounds every superctl run.
	ctlTimeout = 90 * time.Second
	// startTimeout bounds how long superd takes to serve its socket.
	startTimeout = 15 * time.Second
)

func TestMain(m *testing.M) {
	switch mode := os.Getenv(wrapEnv); {
	case mode == "":
	case mode == wrapSeccomp || strings.HasPrefix(mode, wrapSeccomp+":"):
		seccompExec(os.Args[1:])
		return // not reached
	default:
		wrapExec(os.Args[1:])
		return // not reached
	}
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	root, err := findModuleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	moduleRoot = root
	dir, err := os.MkdirTemp("", "superd-e2e-bin")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", dir+"/", "./cmd/superd", "./cmd/superctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/superd ./cmd/superctl: %v\n%s", err, out)
		return 1
	}
	superdBin = filepath.Join(dir, "superd")
	superctl = filepath.Join(dir, "superctl")
	return m.Run()
}

// findModuleRoot returns the folder of go.mod.
func findModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	abs, err := filepath.Abs("../..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
		return "", fmt.Errorf("cannot find the module root: %w", err)
	}
	return abs, nil
}

// wrapExec blocks wrapBlocked and ignores wrapIgnored on this thread, then
// execs argv with the environment minus wrapEnv. The blocked mask and the
// ignored dispositions survive execve, so argv starts with them.
func wrapExec(argv []string) {
	runtime.LockOSThread()
	signalIgnore(wrapIgnored)
	var set unix.Sigset_t
	for _, s := range wrapBlocked {
		set.Val[(int(s)-1)/64] |= 1 << ((uint(s) - 1) % 64)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
		fmt.Fprintf(os.Stderr, "e2e wrapper: sigmask: %v\n", err)
		os.Exit(126)
	}
	execUnwrapped("e2e wrapper", argv)
}

// execUnwrapped execs argv with this process's environment minus wrapEnv,
// as a launcher's last step; on failure it says so, as who, and exits 127.
func execUnwrapped(who string, argv []string) {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, wrapEnv+"=") {
			env = append(env, kv)
		}
	}
	err := syscall.Exec(argv[0], argv, env)
	fmt.Fprintf(os.Stderr, "%s: exec %s: %v\n", who, argv[0], err)
	os.Exit(127)
}

// signalIgnore sets the disposition of every signal in sigs to SIG_IGN.
func signalIgnore(sigs []syscall.Signal) {
	for _, s := range sigs {
		signal.Ignore(s)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use: superd's output is
// copied into it while tests read it.
type syncBuffer struct {
	mu sync.Mutex // guards the field below
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a short temp folder for one superd: its config, socket, state
// and logs. Unix socket paths are limited to 107 bytes, so it lives
// directly under /tmp.
type env struct {
	t        *testing.T
	dir      string
	sock     string
	stateDir string
	logDir   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "sde")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &env{
		t:        t,
		dir:      dir,
		sock:     filepath.Join(dir, "s.sock"),
		stateDir: filepath.Join(dir, "state"),
		logDir:   filepath.Join(dir, "logs"),
	}
}

// path returns name inside the env's folder.
func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

// superdTable is the [superd] table of the env, with extra lines.
func (e *env) superdTable(extra string) string {
	return fmt.Sprintf("[superd]\nsocket = %q\nstate_dir = %q\nlog_dir = %q\n%s\n",
		e.sock, e.stateDir, e.logDir, extra)
}

// writeConfig writes superd.toml: the env's [superd] table with the extra
// lines, then body (programs, [defaults]). It returns the file's path.
func (e *env) writeConfig(superdExtra, body string) string {
	e.t.Helper()
	path := e.path("superd.toml")
	e.writeFile("superd.toml", e.superdTable(superdExtra)+"\n"+body)
	return path
}

// writeFile writes content to name in the env's folder and returns the
// path.
func (e *env) writeFile(name, content string) string {
	e.t.Helper()
	p := e.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// opts are the ways a test may start superd.
type opts struct {
	args       []string   // instead of -c <dir>/superd.toml
	extraArgs  []string   // after -c
	env        []string   // added to superd's environment
	wrap       bool       // start through the signal wrapper (wrapExec)
	seccomp    bool       // through the seccomp wrapper instead (seccompExec)
	extraFiles []*os.File // inherited by superd as fds 3, 4, ...
	noWait     bool       // do not wait for the socket (superd is expected to fail)
	stderr     *os.File   // superd's stderr instead of a buffer the test reads
}

// daemon is one running superd.
type daemon struct {
	*env
	t      *testing.T
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{} // closed when superd has exited
	state  *os.ProcessState
	pids   *pidList // killed by the cleanup
}

// pidList is the pids a test recorded for its cleanup to kill.
type pidList struct {
	mu   sync.Mutex // guards the field below
	pids []int
}

// withT returns d reporting to t (a subtest).
func (d *daemon) withT(t *testing.T) *daemon {
	c := *d
	c.t = t
	return &c
}

// startDaemon writes a config with body and starts superd on it.
func startDaemon(t *testing.T, superdExtra, body string) *daemon {
	t.Helper()
	e := newEnv(t)
	e.writeConfig(superdExtra, body)
	return e.start(opts{})
}

// start starts superd on the env's superd.toml (or o.args), registers
// its cleanup and, unless o.noWait, waits until its socket answers.
func (e *env) start(o opts) *daemon {
	t := e.t
	t.Helper()
	args := o.args
	if args == nil {
		args = append([]string{"-c", e.path("superd.toml")}, o.extraArgs...)
	}
	name := superdBin
	argv := args
	o.wrap = o.wrap || o.seccomp
	if o.wrap {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		name = self
		argv = append([]string{superdBin}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Dir = e.dir
	cmd.Env = append(cleanEnviron(), o.env...)
	if o.wrap {
		mode := "1"
		if o.seccomp {
			mode = wrapSeccomp
		}
		// A wrapEnv in o.env (a seccomp mode with more denials) wins.
		cmd.Env = append([]string{wrapEnv + "=" + mode}, cmd.Env...)
	}
	d := &daemon{env: e, t: t, cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{}), pids: &pidList{}}
	cmd.Stdout = d.stdout
	cmd.Stderr = d.stderr
	if o.stderr != nil {
		cmd.Stderr = o.stderr
	}
	cmd.ExtraFiles = o.extraFiles
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start superd: %v", err)
	}
	// exits when superd exits; the cleanup below makes sure it does
	go func() {
		_ = cmd.Wait()
		d.state = cmd.ProcessState
		close(d.done)
	}()
	t.Cleanup(d.cleanup)
	if !o.noWait {
		d.waitSocket()
	}
	return d
}

// cleanEnviron is this process's environment minus what would steer
// superd or superctl elsewhere.
func cleanEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "SUPERD_"), k == "NOTIFY_SOCKET", strings.HasPrefix(k, "LISTEN_"), strings.HasPrefix(k, "WATCHDOG_"):
			continue
		}
		out = append(out, kv)
	}
	return out
}

// waitSocket waits until superd accepts connections on its socket, and
// fails at once if superd exits first.
func (d *daemon) waitSocket() {
	d.t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-d.done:
			d.t.Fatalf("superd exited during startup (%v); stderr:\n%s", d.state, d.stderr.String())
		default:
		}
		if c, err := net.DialTimeout("unix", d.sock, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("superd did not serve %s within %v; stderr:\n%s", d.sock, startTimeout, d.stderr.String())
		}
		pollPause()
	}
}

// pid is superd's pid.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// track records a pid for the cleanup to SIGKILL.
func (d *daemon) track(pids ...int) {
	d.pids.mu.Lock()
	defer d.pids.mu.Unlock()
	d.pids.pids = append(d.pids.pids, pids...)
}

// cleanup stops superd: SIGTERM, then SIGKILL to its group after
// cleanupGrace; then SIGKILL to the recorded pids.
func (d *daemon) cleanup() {
	select {
	case <-d.done:
	default:
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(cleanupGrace)
		select {
		case <-d.done:
		case <-t.C:
			d.t.Errorf("cleanup: superd (pid %d) did not exit %v after SIGTERM; SIGKILL to its group", d.pid(), cleanupGrace)
			_ = syscall.Kill(-d.pid(), syscall.SIGKILL)
			<-d.done
		}
		t.Stop()
	}
	d.pids.mu.Lock()
	pids := d.pids.pids
	d.pids.mu.Unlock()
	for _, p := range pids {
		if p > 1 {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	if d.t.Failed() {
		d.t.Logf("superd stderr:\n%s", tail(d.stderr.String(), 12000))
		if s := d.stdout.String(); s != "" {
			d.t.Logf("superd stdout:\n%s", tail(s, 4000))
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// signal sends sig to superd.
func (d *daemon) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v to superd: %v", sig, err)
	}
}

// waitExit waits up to timeout for superd to exit and returns its exit
// code (-1 when killed by a signal).
func (d *daemon) waitExit(timeout time.Duration) int {
	d.t.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-d.done:
		return d.state.ExitCode()
	case <-t.C:
		d.t.Fatalf("superd did not exit within %v", timeout)
		return 0
	}
}

// exited reports whether superd has exited.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// ctl runs superctl -s <socket> args.
func (d *daemon) ctl(args ...string) (stdout, stderr string, code int) {
	d.t.Helper()
	return runCtl(d.t, nil, append([]string{"-s", d.sock}, args...)...)
}

// runCtl runs superctl with args and extra environment.
func runCtl(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	return run(t, ctx, env, superctl, args...)
}

// runSuperd runs superd args (check, version, a bad flag) in dir with
// extra environment, bounded by ctlTimeout.
func runSuperd(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, superdBin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnviron(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), exitCodeOf(t, ctx, err, "superd", args)
}

func run(t *testing.T, ctx context.Context, env []string, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnviron(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), exitCodeOf(t, ctx, err, filepath.Base(bin), args)
}

func exitCodeOf(t *testing.T, ctx context.Context, err error, name string, args []string) int {
	t.Helper()
	if ctx.Err() != nil {
		t.Fatalf("%s %q: did not finish within %v", name, args, ctlTimeout)
	}
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	t.Fatalf("%s %q: %v", name, args, err)
	return -1
}

// mustCtl runs superctl and fails unless it exits 0.
func (d *daemon) mustCtl(args ...string) string {
	d.t.Helper()
	out, errOut, code := d.ctl(args...)
	if code != 0 {
		d.t.Fatalf("superctl %q = exit %d; want 0 (stderr: %s)", args, code, strings.TrimSpace(errOut))
	}
	return out
}

// status decodes `superctl status -o json [targets]`; exit codes 0 and 3
// (an instance is not running) are accepted.
func (d *daemon) status(targets ...string) []apitype.Instance {
	d.t.Helper()
	out, errOut, code := d.ctl(append([]string{"status", "-o", "json"}, targets...)...)
	if code != 0 && code != 3 {
		d.t.Fatalf("superctl status -o json %q = exit %d; stderr: %s", targets, code, strings.TrimSpace(errOut))
	}
	var insts []apitype.Instance
	if err := json.Unmarshal([]byte(out), &insts); err != nil {
		d.t.Fatalf("superctl status -o json: %v; output: %q", err, out)
	}
	return insts
}

// inst returns the status of one instance.
func (d *daemon) inst(name string) apitype.Instance {
	d.t.Helper()
	for _, in := range d.status(name) {
		if in.Name == name {
			return in
		}
	}
	d.t.Fatalf("superctl status %s: no instance %q", name, name)
	return apitype.Instance{}
}

// waitState waits until instance name is in state and returns it.
func (d *daemon) waitState(name string, state apitype.State, timeout time.Duration) apitype.Instance {
	d.t.Helper()
	var last apitype.Instance
	waitFor(d.t, timeout, func() string {
		return fmt.Sprintf("%s to be %s (last: %s)", name, state, describe(last))
	}, func() bool {
		last = d.inst(name)
		return last.State == state
	})
	return last
}

// waitRunning waits until every named instance runs and returns their
// pids, in order.
func (d *daemon) waitRunning(timeout time.Duration, names ...string) []int {
	d.t.Helper()
	pids := make([]int, len(names))
	for i, n := range names {
		in := d.waitState(n, apitype.StateRunning, timeout)
		if in.Pid == nil {
			d.t.Fatalf("%s is running with pid null", n)
		}
		pids[i] = *in.Pid
	}
	d.track(pids...)
	return pids
}

func describe(in apitype.Instance) string {
	pid := "null"
	if in.Pid != nil {
		pid = strconv.Itoa(*in.Pid)
	}
	return fmt.Sprintf("%s state=%s pid=%s restarts=%d message=%q", in.Name, in.State, pid, in.Restarts, in.Message)
}

// waitFor polls cond every pollInterval until it is true, failing the
// test with what() after timeout.
func waitFor(t *testing.T, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what())
		}
		pollPause()
	}
}

// waitForf is waitFor with a fixed description.
func waitForf(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitFor(t, timeout, func() string { return what }, cond)
}

const pollInterval = 15 * time.Millisecond

// pollPause is the pause between two looks at a condition in waitFor; it
// is the only place the tests wait on the clock.
func pollPause() {
	t := time.NewTimer(pollInterval)
	<-t.C
}

// readFile returns the content of path, or "" when it does not exist.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

// waitFileContains waits until path contains sub and returns its content.
func waitFileContains(t *testing.T, timeout time.Duration, path, sub string) string {
	t.Helper()
	var s string
	waitFor(t, timeout, func() string {
		return fmt.Sprintf("%s to contain %q (content: %q)", path, sub, tail(s, 500))
	}, func() bool {
		s = readFile(t, path)
		return strings.Contains(s, sub)
	})
	return s
}

// procStat is what /proc/PID/stat says of a process.
type procStat struct {
	state byte
	ppid  int
	pgrp  int
	comm  string
}

// readStat reads /proc/PID/stat; ok is false when the process is gone.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < 0 || end+2 >= len(s) {
		return procStat{}, false
	}
	f := strings.Fields(s[end+2:])
	if len(f) < 3 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return procStat{state: f[0][0], ppid: ppid, pgrp: pgrp, comm: s[open+1 : end]}, true
}

// procGone reports whether /proc/PID is absent: the process has exited and
// been reaped.
func procGone(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return errors.Is(err, os.ErrNotExist)
}

// procDead reports whether pid is gone or a zombie (its parent, which is
// not superd, may not have reaped it yet).
func procDead(pid int) bool {
	st, ok := readStat(pid)
	return !ok || st.state == 'Z' || st.state == 'X'
}

// waitGone waits until every pid is absent from /proc.
func waitGone(t *testing.T, timeout time.Duration, pids ...int) {
	t.Helper()
	waitFor(t, timeout, func() string { return fmt.Sprintf("pids %v to be gone from /proc", alive(pids)) },
		func() bool { return len(alive(pids)) == 0 })
}

func alive(pids []int) []int {
	var out []int
	for _, p := range pids {
		if !procGone(p) {
			out = append(out, p)
		}
	}
	return out
}

// procStatus parses /proc/PID/status into its fields.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/status: %v", pid, err)
	}
	m := make(map[string]string)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// procEnviron reads /proc/PID/environ in order.
func procEnviron(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/environ: %v", pid, err)
	}
	return splitNUL(b)
}

// procCmdline reads /proc/PID/cmdline.
func procCmdline(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/cmdline: %v", pid, err)
	}
	return splitNUL(b)
}

func splitNUL(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\x00")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

// envMap turns KEY=VALUE entries into a map.
func envMap(kvs []string) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// lines splits s into its lines, without a trailing empty one.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// intPtr formats a *int for messages.
func intPtr(p *int) string {
	if p == nil {
		return "null"
	}
	return strconv.Itoa(*p)
}

// strPtr formats a *string for messages.
func strPtr(p *string) string {
	if p == nil {
		return "null"
	}
	return strconv.Quote(*p)
}
