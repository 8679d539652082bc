package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// Programs that speak sd_notify (SPEC §2 type and watchdog, §5 last
// bullet): each instance of a type = "notify" program gets its own
// NOTIFY_SOCKET; READY=1 from its own processes makes it ready, STATUS=
// shows in message, and WATCHDOG=1 pings keep it from being restarted.
// The programs are the helper of ready_test.go, exec'd as the instance's
// leader.

// notifySocketOf reads NOTIFY_SOCKET from the environment of pid.
func notifySocketOf(t *testing.T, pid int) string {
	t.Helper()
	sock := envMap(procEnviron(t, pid))["NOTIFY_SOCKET"]
	if sock == "" {
		t.Fatalf("pid %d has no NOTIFY_SOCKET in its environment", pid)
	}
	return sock
}

// sendNotify sends msg to the datagram socket at path from this process.
func sendNotify(t *testing.T, path, msg string) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("send %q to %s: %v", msg, path, err)
	}
}

// wantHelperLeader fails the test unless pid is the helper itself.
func wantHelperLeader(t *testing.T, pid int, helper string) {
	t.Helper()
	if argv := procCmdline(t, pid); len(argv) == 0 || argv[0] != helper {
		t.Errorf("pid %d runs %q; want the helper %s as the instance's leader", pid, argv, helper)
	}
}

// TestNotifyReadyAndStatus: a type = "notify" instance gets a
// NOTIFY_SOCKET of its own in state_dir, stays starting until it says
// READY=1, then runs with its STATUS= as message.
func TestNotifyReadyAndStatus(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	gate := e.path("gate")
	e.writeConfig("", fmt.Sprintf(`
[program.web]
command = [%q, "notify-when", %q, "READY=1\\nSTATUS=serving"]
type = "notify"
start_seconds = "3s"
`, helper, gate))
	d := e.start(opts{})

	in := d.waitState("web", apitype.StateStarting, 10*time.Second)
	pid := *in.Pid
	d.track(pid)
	wantHelperLeader(t, pid, helper)
	sock := notifySocketOf(t, pid)
	if !strings.HasPrefix(sock, e.stateDir+"/") {
		t.Errorf("NOTIFY_SOCKET = %q; want a socket in state_dir %s", sock, e.stateDir)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("stat NOTIFY_SOCKET %s = %v, %v; want a socket", sock, fi, err)
	}
	holdsFor(t, 500*time.Millisecond, func() string { return "web left starting before READY=1: " + describe(d.inst("web")) },
		func() bool { in := d.inst("web"); return in.State == apitype.StateStarting && !in.Ready })

	e.writeFile("gate", "")
	in = d.waitState("web", apitype.StateRunning, 10*time.Second)
	if !in.Ready || in.Pid == nil || *in.Pid != pid {
		t.Errorf("status = %s ready=%v; want ready with the same pid %d", describe(in), in.Ready, pid)
	}
	if in.Message != "serving" {
		t.Errorf("status message of a running notify program that sent STATUS=serving = %q; want %q", in.Message, "serving")
	}
}

// TestNotifyStrangerIgnored: a datagram on an instance's NOTIFY_SOCKET
// from a process that is not one of the instance's (here, the test) is
// ignored: READY=1 does not make it ready, STATUS= does not show.
func TestNotifyStrangerIgnored(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	gate := e.path("gate")
	e.writeConfig("", fmt.Sprintf(`
[program.web]
command = [%q, "notify-when", %q, "READY=1"]
type = "notify"
start_seconds = "0s"
`, helper, gate))
	d := e.start(opts{})

	in := d.waitState("web", apitype.StateStarting, 10*time.Second)
	pid := *in.Pid
	d.track(pid)
	sock := notifySocketOf(t, pid)
	sendNotify(t, sock, "READY=1\nSTATUS=from a stranger")
	sendNotify(t, sock, "MAINPID="+strconv.Itoa(os.Getpid()))
	holdsFor(t, time.Second, func() string { return "a stranger's READY=1 was heard: " + describe(d.inst("web")) }, func() bool {
		in := d.inst("web")
		return in.State == apitype.StateStarting && !in.Ready && !strings.Contains(in.Message, "stranger") && in.Pid != nil && *in.Pid == pid
	})

	// The instance's own READY=1 still works.
	e.writeFile("gate", "")
	in = d.waitState("web", apitype.StateRunning, 10*time.Second)
	if in.Pid == nil || *in.Pid != pid {
		t.Errorf("status = %s; want pid %d (MAINPID= from a stranger ignored)", describe(in), pid)
	}
}

// TestNotifyWatchdogRestarts: with watchdog set, an instance whose
// WATCHDOG=1 pings stop is restarted, counted in restarts, with a message
// naming the watchdog.
func TestNotifyWatchdogRestarts(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	// The helper pings 3 times 150ms apart, then falls silent; it ignores
	// SIGTERM so the stop lasts stop_timeout and status can show why.
	e.writeConfig("", fmt.Sprintf(`
[program.web]
command = [%q, "ping", "3", "150ms"]
type = "notify"
watchdog = "500ms"
start_seconds = "0s"
stop_timeout = "2s"
environment = { HELPER_IGNORE_TERM = "1" }
`, helper))
	d := e.start(opts{})

	first := d.waitRunning(10*time.Second, "web")[0]
	wantHelperLeader(t, first, helper)
	var last apitype.Instance
	waitFor(t, 10*time.Second, func() string { return "web to be stopped by its watchdog; last " + describe(last) }, func() bool {
		last = d.inst("web")
		return last.State == apitype.StateStopping
	})
	if !strings.Contains(last.Message, "watchdog") || last.Restarts != 1 {
		t.Errorf("status = %s; want a message naming the watchdog, restarts 1", describe(last))
	}
	var in apitype.Instance
	waitFor(t, 10*time.Second, func() string { return "web to run again; last " + describe(in) }, func() bool {
		in = d.inst("web")
		return in.State == apitype.StateRunning && in.Pid != nil && *in.Pid != first
	})
	d.track(*in.Pid)
	if in.Restarts < 1 {
		t.Errorf("status = %s; want restarts >= 1", describe(in))
	}
	waitGone(t, 5*time.Second, first)
}

// TestNotifyWatchdogPingsKeepItRunning: pings more often than watchdog
// keep the instance running, pid unchanged.
func TestNotifyWatchdogPingsKeepItRunning(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	e.writeConfig("", fmt.Sprintf(`
[program.web]
command = [%q, "ping", "1000", "150ms"]
type = "notify"
watchdog = "600ms"
start_seconds = "0s"
`, helper))
	d := e.start(opts{})

	pid := d.waitRunning(10*time.Second, "web")[0]
	holdsFor(t, 2500*time.Millisecond, func() string { return "web did not stay up while pinging: " + describe(d.inst("web")) }, func() bool {
		in := d.inst("web")
		return in.State == apitype.StateRunning && in.Pid != nil && *in.Pid == pid && in.Restarts == 0
	})
}

// TestNotifyWatchdogEnvironment: like systemd, superd tells a program with
// a watchdog the period in WATCHDOG_USEC (libsystemd's
// sd_watchdog_enabled() reads it; without it a program does not ping).
func TestNotifyWatchdogEnvironment(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	e.writeConfig("", fmt.Sprintf(`
[program.web]
command = [%q, "ping", "1000", "100ms"]
type = "notify"
watchdog = "1500ms"
start_seconds = "0s"
`, helper))
	d := e.start(opts{})

	pid := d.waitRunning(10*time.Second, "web")[0]
	env := envMap(procEnviron(t, pid))
	if got := env["WATCHDOG_USEC"]; got != "1500000" {
		t.Errorf("WATCHDOG_USEC of a program with watchdog = \"1500ms\" = %q; want \"1500000\"", got)
	}
	if p, ok := env["WATCHDOG_PID"]; ok && p != strconv.Itoa(pid) {
		t.Errorf("WATCHDOG_PID = %q; want unset or %d", p, pid)
	}
}

// cpuTicks is the user+system CPU time of pid, in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}

// TestNotifyWatchdogExitLeavesSuperdIdle: a notify program with a
// watchdog that exits for good (exit 0, restart on-failure) leaves
// nothing due: superd stays idle after the watchdog time has passed.
func TestNotifyWatchdogExitLeavesSuperdIdle(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	e.writeConfig("", fmt.Sprintf(`
[program.web]
command = [%q, "ready-exit", "0", "200ms"]
type = "notify"
watchdog = "1s"
start_seconds = "0s"
restart = "on-failure"
`, helper))
	d := e.start(opts{})

	in := d.waitState("web", apitype.StateExited, 10*time.Second)
	if in.ExitCode == nil || *in.ExitCode != 0 {
		t.Fatalf("status = %s exit_code=%s; want exited with 0", describe(in), intPtr(in.ExitCode))
	}
	// Let the watchdog time of the exited process pass, then measure.
	holdsFor(t, 1500*time.Millisecond, func() string { return "web did not stay exited: " + describe(d.inst("web")) },
		func() bool { return d.inst("web").State == apitype.StateExited })
	before := cpuTicks(t, d.pid())
	start := time.Now()
	waitForf(t, 5*time.Second, "a second to pass", func() bool { return time.Since(start) >= time.Second })
	used := cpuTicks(t, d.pid()) - before
	// Clock ticks are 1/100 s: an idle superd uses next to none.
	if used > 30 {
		t.Errorf("idle superd used %d clock ticks of CPU in %v with web exited; want next to none (a busy loop?)", used, time.Since(start).Round(time.Millisecond))
	}
}

// TestNotifyFloodDoesNotSlowSuperd: a flood of datagrams on an instance's
// NOTIFY_SOCKET (pings, garbage, and READY=1 from a stranger) does not
// slow superd's API, and changes nothing about the instance.
func TestNotifyFloodDoesNotSlowSuperd(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	e.writeConfig("", fmt.Sprintf(`
[program.web]
command = [%q, "ping", "0", "0s"]
type = "notify"
start_seconds = "0s"
`, helper))
	d := e.start(opts{})

	pid := d.waitRunning(10*time.Second, "web")[0]
	sock := notifySocketOf(t, pid)
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// No empty datagram: Go returns EAGAIN for a zero-length write on a
	// full socket instead of waiting.
	msgs := []string{"WATCHDOG=1", "garbage", "READY=1\nSTATUS=flood", strings.Repeat("x", 5000), "\x00\x01"}
	const n = 10000
	var wg sync.WaitGroup
	var sendErr error
	wg.Add(1)
	// exits after n datagrams; the test waits on wg
	go func() {
		defer wg.Done()
		for i := range n {
			if _, err := c.Write([]byte(msgs[i%len(msgs)])); err != nil {
				sendErr = fmt.Errorf("datagram %d: %w", i, err)
				return
			}
		}
	}()
	var slowest time.Duration
	for range 10 {
		start := time.Now()
		in := d.inst("web")
		slowest = max(slowest, time.Since(start))
		if in.State != apitype.StateRunning || in.Pid == nil || *in.Pid != pid || strings.Contains(in.Message, "flood") {
			t.Errorf("during the flood: %s; want running, pid %d, message untouched", describe(in), pid)
		}
	}
	wg.Wait()
	if sendErr != nil {
		t.Fatalf("flood: %v", sendErr)
	}
	if slowest > 2*time.Second {
		t.Errorf("slowest superctl status during the flood took %v; want under 2s", slowest)
	}
	in := d.inst("web")
	if in.State != apitype.StateRunning || *in.Pid != pid || in.Restarts != 0 || strings.Contains(in.Message, "flood") {
		t.Errorf("after the flood: %s; want running, pid %d, no restarts, message untouched", describe(in), pid)
	}
}

// unixSocketsAt counts the sockets bound to path, listed in /proc/net/unix
// (an unlinked socket that is still open keeps its path there).
func unixSocketsAt(t *testing.T, path string) int {
	t.Helper()
	n := 0
	for _, l := range lines(readFile(t, "/proc/net/unix")) {
		f := strings.Fields(l)
		if len(f) >= 8 && f[7] == path {
			n++
		}
	}
	return n
}

// TestNotifySocketClosedOnReload: the NOTIFY_SOCKET of an instance that a
// reload replaced or removed is closed: changing a notify program three
// times leaves one socket, removing it leaves none and no file.
func TestNotifySocketClosedOnReload(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	program := func(gen int) string {
		return fmt.Sprintf(`
[program.web]
command = [%q, "ping", "0", "0s"]
type = "notify"
start_seconds = "0s"
environment = { GEN = "%d" }
`, helper, gen)
	}
	other := `
[program.other]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`
	e.writeConfig("", program(0)+other)
	d := e.start(opts{})
	pid := d.waitRunning(10*time.Second, "web")[0]
	sock := notifySocketOf(t, pid)

	for gen := 1; gen <= 3; gen++ {
		e.writeConfig("", program(gen)+other)
		d.mustCtl("reload")
		var in apitype.Instance
		waitFor(t, 10*time.Second, func() string { return fmt.Sprintf("web (gen %d) to run; last %s", gen, describe(in)) }, func() bool {
			in = d.inst("web")
			return in.State == apitype.StateRunning && in.Pid != nil && *in.Pid != pid
		})
		pid = *in.Pid
		d.track(pid)
	}
	if got := unixSocketsAt(t, sock); got != 1 {
		t.Errorf("sockets bound to %s after 3 reloads that changed web = %d; want 1 (the old ones closed)", sock, got)
	}

	e.writeConfig("", other)
	d.mustCtl("reload")
	waitForf(t, 10*time.Second, "web to be gone from status", func() bool {
		for _, in := range d.status() {
			if in.Program == "web" {
				return false
			}
		}
		return true
	})
	waitGone(t, 5*time.Second, pid)
	if got := unixSocketsAt(t, sock); got != 0 {
		t.Errorf("sockets bound to %s after web was removed = %d; want 0", sock, got)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("%s still exists after web was removed; want it removed", sock)
	}
	if dir := filepath.Dir(sock); !strings.HasPrefix(dir, e.stateDir) {
		t.Errorf("notify socket folder %s is outside state_dir %s", dir, e.stateDir)
	}
}

// TestNotifyReadyFromGroupMember: READY=1 from a process of the
// instance's process group other than its leader (a helper the program's
// shell started) is heard too.
func TestNotifyReadyFromGroupMember(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	e.writeConfig("", fmt.Sprintf(`
[program.web]
shell = '%s notify-when / "READY=1\nSTATUS=from a child" & exec /bin/sleep 1000'
type = "notify"
start_seconds = "0s"
`, helper))
	d := e.start(opts{})

	in := d.waitState("web", apitype.StateRunning, 10*time.Second)
	d.track(*in.Pid)
	if argv := procCmdline(t, *in.Pid); len(argv) == 0 || argv[0] != "/bin/sleep" {
		t.Errorf("leader runs %q; want /bin/sleep (the helper is not the leader)", argv)
	}
	if in.Message != "from a child" {
		t.Errorf("status message = %q; want %q", in.Message, "from a child")
	}
}

// TestNotifyReadyFromShortLivedHelper: READY=1 from a helper that exits as
// soon as it has sent, after a BARRIER=1 (as systemd-notify --ready does),
// is heard, and the barrier returns so the program goes on. That the
// sender's group is the one looked up on arrival, not when the loop gets to
// the message, is TestOwns's and TestServeBarrier's.
func TestNotifyReadyFromShortLivedHelper(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	e.writeConfig("", fmt.Sprintf(`
[program.web]
shell = '%s notify-exit "READY=1\nSTATUS=told by a helper" && exec /bin/sleep 1000'
type = "notify"
start_seconds = "0s"
`, helper))
	d := e.start(opts{})

	in := d.waitState("web", apitype.StateRunning, 10*time.Second)
	d.track(*in.Pid)
	// READY=1 makes it running while the helper still waits on its
	// barrier; the shell execs sleep only once the helper exited 0.
	pid := *in.Pid
	var argv []string
	waitFor(t, 10*time.Second, func() string {
		return fmt.Sprintf("leader %d runs %q; want /bin/sleep, exec'd after the helper exited 0 (its barrier returned)", pid, argv)
	}, func() bool {
		argv = procCmdline(t, pid)
		return len(argv) > 0 && argv[0] == "/bin/sleep"
	})
	if in := d.inst("web"); in.State != apitype.StateRunning || in.Pid == nil || *in.Pid != pid {
		t.Errorf("status after the helper exited = %s; want running with the same leader %d", describe(in), pid)
	}
	if !in.Ready || in.Message != "told by a helper" {
		t.Errorf("status = %s ready=%v; want ready with message %q", describe(in), in.Ready, "told by a helper")
	}
}

// TestNotifyMainPidHandoff: a notify program whose leader starts the real
// server, names it with MAINPID= and exits keeps running, supervised
// through that server: its pid is shown, the leader's exit is not the
// instance's, and the server's death is (a restart follows).
func TestNotifyMainPidHandoff(t *testing.T) {
	t.Parallel()
	helper := helperBin(t)
	e := newEnv(t)
	e.writeConfig("", fmt.Sprintf(`
[program.web]
command = [%q, "fork-main"]
type = "notify"
start_seconds = "0s"
restart = "always"
restart_delay = "0s"
`, helper))
	d := e.start(opts{})

	in := d.waitState("web", apitype.StateRunning, 10*time.Second)
	main := *in.Pid
	d.track(main)
	if argv := procCmdline(t, main); len(argv) < 2 || argv[0] != helper || argv[1] != "wait" {
		t.Fatalf("running pid %d runs %q; want the server the leader named with MAINPID= (%s wait)", main, argv, helper)
	}
	// The leader exits once its barrier returns; the server is reparented
	// to superd, its subreaper.
	waitFor(t, 10*time.Second, func() string { return fmt.Sprintf("pid %d to be reparented to superd %d", main, d.pid()) },
		func() bool { return procStatus(t, main)["PPid"] == strconv.Itoa(d.pid()) })
	holdsFor(t, 300*time.Millisecond, func() string { return "after the leader exited: " + describe(d.inst("web")) },
		func() bool {
			in := d.inst("web")
			return in.State == apitype.StateRunning && in.Pid != nil && *in.Pid == main && in.Restarts == 0
		})

	if err := syscall.Kill(main, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 the server %d: %v", main, err)
	}
	waitFor(t, 10*time.Second, func() string { return "a restart after the server was killed: " + describe(d.inst("web")) },
		func() bool {
			in := d.inst("web")
			return in.State == apitype.StateRunning && in.Restarts == 1 && in.Pid != nil && *in.Pid != main
		})
	in = d.inst("web")
	d.track(*in.Pid)
	if in.ExitSignal == nil || *in.ExitSignal != "SIGKILL" {
		t.Errorf("last exit signal = %v; want SIGKILL (the server's death, not the leader's exit 0)", in.ExitSignal)
	}
}
