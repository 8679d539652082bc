package e2e

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestForkingDaemon: type = "forking" runs the command, waits for it to
// exit 0, reads the pidfile and supervises that pid: status shows it, its
// death restarts the program, stop reaches it.
func TestForkingDaemon(t *testing.T) {
	e := newEnv(t)
	pidPath := e.path("d.pid")
	e.writeConfig("", `
[program.d]
shell = "/bin/sleep 1000 & echo $! > `+pidPath+`; exit 0"
type = "forking"
pidfile = "`+pidPath+`"
start_seconds = "0s"
restart = "always"
`)
	d := e.start(opts{})
	in := d.waitState("d", "running", 15*time.Second)
	b, err := os.ReadFile(pidPath)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if in.Pid == nil || *in.Pid != want {
		t.Fatalf("status pid = %s; want the pidfile's %d", intPtr(in.Pid), want)
	}
	d.track(want)
	if st, ok := readStat(want); !ok || st.ppid != d.pid() {
		t.Errorf("daemon %d parent = %+v; want superd %d (subreaper)", want, st, d.pid())
	}

	// Its death is seen (superd reaps it) and the program restarts.
	syscall.Kill(want, syscall.SIGKILL)
	waitForf(t, 15*time.Second, "a new daemon after the kill", func() bool {
		a := d.inst("d")
		return a.State == "running" && a.Pid != nil && *a.Pid != want && a.Restarts == 1
	})
	second := *d.inst("d").Pid
	d.track(second)
	if a := d.inst("d"); a.ExitSignal == nil || *a.ExitSignal != "SIGKILL" {
		t.Errorf("exit_signal = %s; want SIGKILL (the daemon's real status, reaped by superd)", strPtr(a.ExitSignal))
	}

	d.mustCtl("stop", "d")
	waitGone(t, 10*time.Second, second)
}

// TestForkingPidfileRefused: a pidfile naming PID 1 (or superd, or garbage)
// is refused: the start fails with a clear message, never supervising a
// stranger.
func TestForkingPidfileRefused(t *testing.T) {
	e := newEnv(t)
	pidPath := e.path("d.pid")
	e.writeConfig("", `
[program.d]
shell = "echo 1 > `+pidPath+`; exit 0"
type = "forking"
pidfile = "`+pidPath+`"
start_retries = 0
`)
	d := e.start(opts{})
	a := d.waitState("d", "fatal", 15*time.Second)
	if !strings.Contains(a.Message, "pid 1 refused") {
		t.Errorf("message = %q; want it to say pid 1 is refused", a.Message)
	}
}
