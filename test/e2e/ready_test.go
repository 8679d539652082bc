package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// Readiness and health checks (SPEC §2 ready and health, §3), driven
// through real processes. Programs that must listen on TCP or speak
// sd_notify are played by a small helper binary built from helperSource.

// helperSource is the program behind helperBin. Its first argument is a
// mode:
//
//	listen ADDR DELAY MARKER   after DELAY, listen on ADDR, create MARKER, accept forever
//	notify-when FILE MSG       once FILE exists, send MSG to $NOTIFY_SOCKET, then wait
//	ping N EVERY               send READY=1, then WATCHDOG=1 N times EVERY apart, then wait
//	ready-exit CODE DELAY      send READY=1, exit CODE after DELAY
//	notify-exit MSG            send MSG, then BARRIER=1 as sd_notify_barrier does (wait until superd has read it), exit 0
//	fork-main                  start "wait" as a child, send READY=1 and MAINPID= of the child with a barrier, exit 0
//	wait                       wait
//
// "wait" ends on SIGTERM or SIGINT, or never when $HELPER_IGNORE_TERM is
// set. MSG may hold "\n" for a newline.
const helperSource = `package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	switch args[0] {
	case "listen":
		pause(args[2])
		l, err := net.Listen("tcp", args[1])
		if err != nil {
			return err
		}
		if err := os.WriteFile(args[3], []byte("listening\n"), 0o644); err != nil {
			return err
		}
		fmt.Println("listening on", args[1])
		for {
			c, err := l.Accept()
			if err != nil {
				return err
			}
			c.Close()
		}
	case "notify-when":
		for {
			if _, err := os.Stat(args[1]); err == nil {
				break
			}
			pause("20ms")
		}
		if err := notify(strings.ReplaceAll(args[2], "\\n", "\n")); err != nil {
			return err
		}
	case "ping":
		n, _ := strconv.Atoi(args[1])
		if err := notify("READY=1"); err != nil {
			return err
		}
		for range n {
			pause(args[2])
			if err := notify("WATCHDOG=1"); err != nil {
				return err
			}
		}
	case "ready-exit":
		if err := notify("READY=1"); err != nil {
			return err
		}
		pause(args[2])
		code, _ := strconv.Atoi(args[1])
		os.Exit(code)
	case "notify-exit":
		if err := notify(strings.ReplaceAll(args[1], "\\n", "\n")); err != nil {
			return err
		}
		return barrier()
	case "fork-main":
		child := exec.Command(os.Args[0], "wait")
		if err := child.Start(); err != nil {
			return err
		}
		if err := notify(fmt.Sprintf("READY=1\nMAINPID=%d", child.Process.Pid)); err != nil {
			return err
		}
		return barrier()
	case "wait":
	default:
		return fmt.Errorf("unknown mode %q", args[0])
	}
	wait()
	return nil
}

func notify(msg string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return fmt.Errorf("no NOTIFY_SOCKET")
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(msg))
	return err
}

// barrier is sd_notify_barrier: send BARRIER=1 with the write end of a
// pipe, and wait (5s at most) for the supervisor to close it, which it
// does once it has read every datagram sent before.
func barrier() error {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return err
	}
	r := os.NewFile(uintptr(p[0]), "barrier")
	defer r.Close()
	sfd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		syscall.Close(p[1])
		return err
	}
	err = syscall.Sendmsg(sfd, []byte("BARRIER=1"), syscall.UnixRights(p[1]), &syscall.SockaddrUnix{Name: os.Getenv("NOTIFY_SOCKET")}, 0)
	syscall.Close(sfd)
	syscall.Close(p[1])
	if err != nil {
		return err
	}
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.Read(make([]byte, 1)); err != io.EOF {
		return fmt.Errorf("barrier: %v; want EOF once superd read it", err)
	}
	return nil
}

// pause lets d pass: the helper plays a service that takes its time.
func pause(d string) {
	dur, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	t := time.NewTimer(dur)
	<-t.C
}

func wait() {
	c := make(chan os.Signal, 1)
	if os.Getenv("HELPER_IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
		signal.Notify(c, syscall.SIGUSR2) // never sent: wait for SIGKILL
	} else {
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	}
	<-c
}
`

// buildHelper builds helperSource into binDir once per test binary.
var buildHelper = sync.OnceValues(func() (string, error) {
	src, err := os.MkdirTemp("", "superd-e2e-helper")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module e2ehelper\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(helperSource), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, "e2ehelper")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build helper: %v\n%s", err, out)
	}
	return bin, nil
})

// helperBin returns the path of the helper binary.
func helperBin(t *testing.T) string {
	t.Helper()
	bin, err := buildHelper()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// freeAddr returns a 127.0.0.1 address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// holdsFor polls cond for d and fails the test, with what(), the first
// time it does not hold.
func holdsFor(t *testing.T, d time.Duration, what func() string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if !cond() {
			t.Fatalf("%s", what())
		}
		pollPause()
	}
}

// wantStarting fails the test unless in is starting, not ready, with a pid.
func wantStarting(t *testing.T, in apitype.Instance) {
	t.Helper()
	if in.State != apitype.StateStarting || in.Ready || in.Pid == nil {
		t.Fatalf("status = %s ready=%v; want starting, ready false, with a pid", describe(in), in.Ready)
	}
}

// startListener starts superd over one program, web: the helper, which
// listens on a free address after delay and then creates marker, with
// ready = { tcp = that address }. extra holds more of web's settings.
func startListener(t *testing.T, delay, extra string) (d *daemon, marker string) {
	t.Helper()
	helper := helperBin(t)
	e := newEnv(t)
	addr := freeAddr(t)
	marker = e.path("listening")
	e.writeConfig("", fmt.Sprintf(`
[program.web]
command = [%q, "listen", %q, %q, %q]
start_seconds = "0s"
ready = { tcp = %q, timeout = "30s" }
%s
`, helper, addr, delay, marker, addr, extra))
	return e.start(opts{}), marker
}

// TestReadyTCPGatesRunning: with ready = { tcp = ... }, an instance whose
// process runs but does not listen yet is starting with ready false; once
// it listens, it runs with ready true.
func TestReadyTCPGatesRunning(t *testing.T) {
	t.Parallel()
	d, marker := startListener(t, "1500ms", "")

	// Until the helper listens (it says so in marker just after), web
	// must not be running.
	var last apitype.Instance
	sawStarting := false
	waitFor(t, 20*time.Second, func() string { return "web to listen; last " + describe(last) }, func() bool {
		last = d.inst("web")
		if readFile(t, marker) != "" {
			return true
		}
		if last.State == apitype.StateRunning || last.Ready {
			t.Fatalf("web is %s ready=%v before it listens; want starting, ready false", last.State, last.Ready)
		}
		if last.State == apitype.StateStarting {
			wantStarting(t, last)
			sawStarting = true
		}
		return false
	})
	if !sawStarting {
		t.Errorf("never saw web starting before it listened")
	}
	in := d.waitState("web", apitype.StateRunning, 10*time.Second)
	d.track(*in.Pid)
	if !in.Ready || !in.Healthy || in.Restarts != 0 {
		t.Errorf("status = %s ready=%v healthy=%v; want ready, healthy, no restarts", describe(in), in.Ready, in.Healthy)
	}
}

// TestReadyStartWaitReturnsWhenReady: `superctl start` (which waits)
// returns only once the instance is ready, not when its process is up.
func TestReadyStartWaitReturnsWhenReady(t *testing.T) {
	t.Parallel()
	d, marker := startListener(t, "1s", "autostart = false")

	start := time.Now()
	out := d.mustCtl("-o", "json", "start", "web")
	took := time.Since(start)
	if readFile(t, marker) == "" {
		t.Errorf("superctl start returned after %v, before web listened; want it to wait until ready (output %q)", took, out)
	}
	in := d.inst("web")
	if in.Pid != nil {
		d.track(*in.Pid)
	}
	if in.State != apitype.StateRunning || !in.Ready {
		t.Errorf("after superctl start: %s ready=%v; want running, ready", describe(in), in.Ready)
	}
}

// TestReadyLogLine: ready = { log = REGEX } waits for a matching line of
// the program's output.
func TestReadyLogLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gate := e.path("gate")
	e.writeConfig("", fmt.Sprintf(`
[program.web]
shell = 'echo booting; while [ ! -f %s ]; do /bin/sleep 0.05; done; echo "now listening on :8080"; exec /bin/sleep 1000'
start_seconds = "0s"
ready = { log = "listening on :[0-9]+$", timeout = "30s" }
`, gate))
	d := e.start(opts{})

	in := d.waitState("web", apitype.StateStarting, 10*time.Second)
	d.track(*in.Pid)
	pid := *in.Pid
	holdsFor(t, 700*time.Millisecond, func() string { return "web left starting before its line: " + describe(d.inst("web")) },
		func() bool { in := d.inst("web"); return in.State == apitype.StateStarting && !in.Ready })
	e.writeFile("gate", "")
	in = d.waitState("web", apitype.StateRunning, 10*time.Second)
	if !in.Ready || in.Pid == nil || *in.Pid != pid {
		t.Errorf("status = %s ready=%v; want ready, the same pid %d", describe(in), in.Ready, pid)
	}
}

// TestReadyDependencyWaitsForReadyLine: api depends on db, whose ready
// line comes late; api is spawned only after that line.
func TestReadyDependencyWaitsForReadyLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dbReady := e.path("db-ready")
	apiSaw := e.path("api-saw")
	e.writeConfig("", fmt.Sprintf(`
[program.db]
shell = '/bin/sleep 1; date +%%s%%N > %s; echo "db is ready"; exec /bin/sleep 1000'
start_seconds = "0s"
ready = { log = "db is ready", timeout = "30s" }

[program.api]
# At its start, api records the time and whether db's ready file exists.
shell = 'if [ -f %s ]; then echo yes; else echo no; fi > %s.tmp; date +%%s%%N >> %s.tmp; mv %s.tmp %s; exec /bin/sleep 1000'
start_seconds = "0s"
depends_on = ["db"]
`, dbReady, dbReady, apiSaw, apiSaw, apiSaw, apiSaw))
	d := e.start(opts{})

	d.waitRunning(20*time.Second, "db", "api")
	got := lines(waitFileContains(t, 10*time.Second, apiSaw, "\n"))
	if len(got) != 2 {
		t.Fatalf("api's record = %q; want two lines", got)
	}
	if got[0] != "yes" {
		t.Errorf("when api started, db's ready file existed: %s; want yes", got[0])
	}
	dbAt, err1 := strconv.ParseInt(strings.TrimSpace(readFile(t, dbReady)), 10, 64)
	apiAt, err2 := strconv.ParseInt(got[1], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("timestamps %q, %q: %v, %v", readFile(t, dbReady), got[1], err1, err2)
	}
	if apiAt < dbAt {
		t.Errorf("api started at %d, %v before db was ready at %d; want after", apiAt, time.Duration(dbAt-apiAt), dbAt)
	}
}

// TestReadyExecFlipsWhenFileAppears: ready = { exec = [...] } is probed
// until the command exits 0.
func TestReadyExecFlipsWhenFileAppears(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	flag := e.path("ready-flag")
	e.writeConfig("", fmt.Sprintf(`
[program.web]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
ready = { exec = ["/bin/sh", "-c", "test -f %s"], timeout = "5s" }
`, flag))
	d := e.start(opts{})

	in := d.waitState("web", apitype.StateStarting, 10*time.Second)
	d.track(*in.Pid)
	pid := *in.Pid
	holdsFor(t, 700*time.Millisecond, func() string { return "web left starting without its flag: " + describe(d.inst("web")) },
		func() bool { in := d.inst("web"); return in.State == apitype.StateStarting && !in.Ready })
	e.writeFile("ready-flag", "")
	in = d.waitState("web", apitype.StateRunning, 4*time.Second)
	if !in.Ready || in.Pid == nil || *in.Pid != pid {
		t.Errorf("status = %s ready=%v; want ready, the same pid %d", describe(in), in.Ready, pid)
	}
}

// TestReadyNeverReadyGoesFatal: a ready target that never answers ends
// in fatal with the reason, after start_retries, and leaves no process.
func TestReadyNeverReadyGoesFatal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pids := e.path("pids")
	e.writeConfig("", fmt.Sprintf(`
[program.web]
shell = 'echo $$ >> %s; exec /bin/sleep 1000'
start_seconds = "0s"
start_retries = 1
backoff_initial = "100ms"
ready = { tcp = "127.0.0.1:1", timeout = "500ms" }
`, pids))
	d := e.start(opts{})

	in := d.waitState("web", apitype.StateFatal, 20*time.Second)
	for _, want := range []string{"not ready within 500ms", "gave up after 2 attempts"} {
		if !strings.Contains(in.Message, want) {
			t.Errorf("status message = %q; want it to contain %q", in.Message, want)
		}
	}
	if in.Pid != nil || in.Ready {
		t.Errorf("status = %s ready=%v; want no pid, not ready", describe(in), in.Ready)
	}
	var started []int
	for _, l := range lines(readFile(t, pids)) {
		if p, err := strconv.Atoi(l); err == nil {
			started = append(started, p)
		}
	}
	d.track(started...)
	if len(started) != 2 {
		t.Errorf("processes started = %v; want 2 (1 + start_retries)", started)
	}
	waitGone(t, 5*time.Second, started...)
}

// TestHealthExecRestartsUnhealthy: a health check that fails `failures`
// times in a row makes the instance unhealthy and restarts it (a new pid,
// restarts 1); once the check passes again, it stays up.
func TestHealthExecRestartsUnhealthy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	flag := e.path("healthy-flag")
	e.writeFile("healthy-flag", "")
	// The program ignores SIGTERM, so it stays stopping for stop_timeout:
	// long enough for status to show it unhealthy.
	e.writeConfig("", fmt.Sprintf(`
[program.web]
shell = 'trap "" TERM; while :; do /bin/sleep 0.05; done'
start_seconds = "0s"
stop_timeout = "1s"
health = { exec = ["/bin/sh", "-c", "test -f %s"], interval = "200ms", timeout = "1s", failures = 2 }
`, flag))
	d := e.start(opts{})

	first := d.waitRunning(10*time.Second, "web")[0]
	holdsFor(t, time.Second, func() string { return "web not steady while healthy: " + describe(d.inst("web")) }, func() bool {
		in := d.inst("web")
		return in.State == apitype.StateRunning && in.Healthy && in.Pid != nil && *in.Pid == first
	})

	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	var last apitype.Instance
	waitFor(t, 10*time.Second, func() string { return "web to be unhealthy; last " + describe(last) }, func() bool {
		last = d.inst("web")
		return !last.Healthy
	})
	if last.State != apitype.StateStopping || !strings.Contains(last.Message, "unhealthy") || last.Restarts != 1 {
		t.Errorf("unhealthy status = %s; want stopping, restarts 1, message mentioning unhealthy", describe(last))
	}
	e.writeFile("healthy-flag", "")

	var in apitype.Instance
	waitFor(t, 10*time.Second, func() string { return "web to run again; last " + describe(in) }, func() bool {
		in = d.inst("web")
		return in.State == apitype.StateRunning && in.Pid != nil && *in.Pid != first
	})
	second := *in.Pid
	d.track(second)
	if in.Restarts != 1 || !in.Healthy {
		t.Errorf("after the restart: %s healthy=%v; want restarts 1, healthy", describe(in), in.Healthy)
	}
	if !procDead(first) {
		t.Errorf("the unhealthy process %d still runs; want it stopped", first)
	}
	holdsFor(t, time.Second, func() string { return "web not steady once healthy again: " + describe(d.inst("web")) }, func() bool {
		in := d.inst("web")
		return in.State == apitype.StateRunning && in.Healthy && in.Pid != nil && *in.Pid == second && in.Restarts == 1
	})
}
