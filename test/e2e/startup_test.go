package e2e

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// markerProgram is a program that leaves a file behind if it ever starts.
func markerProgram(marker string) string {
	return `
[program.marker]
shell = "touch ` + marker + `; exec /bin/sleep 1000"
start_seconds = "0s"
`
}

// assertOneLine fails unless s is exactly one non-empty line.
func assertOneLine(t *testing.T, what, s string) {
	t.Helper()
	if l := lines(s); len(l) != 1 || strings.TrimSpace(l[0]) == "" {
		t.Errorf("%s stderr = %q; want one line", what, s)
	}
}

func TestStartupInvalidConfigExits1AndStartsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	marker := e.path("marker")
	e.writeConfig("", markerProgram(marker)+"\n[program.typo]\ncommand = [\"/bin/sleep\", \"1000\"]\nautostrat = true\n")
	d := e.start(opts{noWait: true})
	if code := d.waitExit(startTimeout); code != 1 {
		t.Fatalf("superd on an invalid config = exit %d; want 1", code)
	}
	errOut := d.stderr.String()
	assertOneLine(t, "superd on an invalid config", errOut)
	cfg := e.path("superd.toml")
	if m := positioned.FindStringSubmatch(strings.TrimSpace(errOut)); m == nil || m[1] != cfg || !strings.Contains(m[4], "autostrat") {
		t.Errorf("superd on an invalid config stderr = %q; want %s:LINE:COL: naming autostrat", errOut, cfg)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a program was started although the config is invalid")
	}
	if _, err := os.Stat(e.sock); err == nil {
		t.Errorf("socket %s was created although the config is invalid", e.sock)
	}
}

func TestStartupSocketHeldByLiveSuperdExits1(t *testing.T) {
	t.Parallel()
	first := startDaemon(t, "", `
[program.web]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	first.waitRunning(10*time.Second, "web")

	e := newEnv(t)
	marker := e.path("marker")
	// The second superd has its own state and logs but the first's socket.
	e.writeFile("superd.toml", "[superd]\nsocket = \""+first.sock+"\"\nstate_dir = \""+e.stateDir+
		"\"\nlog_dir = \""+e.logDir+"\"\n"+markerProgram(marker))
	second := e.start(opts{noWait: true})
	if code := second.waitExit(startTimeout); code != 1 {
		t.Fatalf("second superd on a held socket = exit %d; want 1", code)
	}
	errOut := second.stderr.String()
	assertOneLine(t, "second superd", errOut)
	if !strings.Contains(errOut, first.sock) {
		t.Errorf("second superd stderr = %q; want it to name the socket %s", errOut, first.sock)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the second superd started a program although it could not take the socket")
	}
	// The first superd still serves its socket.
	if _, errOut, code := first.ctl("status", "web"); code != 0 {
		t.Errorf("superctl status web on the first superd = exit %d (%s); want 0", code, errOut)
	}
}

func TestStartupUnwritableStateDirExits1(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	marker := e.path("marker")
	e.writeFile("afile", "not a folder\n")
	e.stateDir = e.path("afile/state") // under a regular file: cannot be created, even by root
	e.writeConfig("", markerProgram(marker))
	d := e.start(opts{noWait: true})
	if code := d.waitExit(startTimeout); code != 1 {
		t.Fatalf("superd with state_dir under a regular file = exit %d; want 1", code)
	}
	errOut := d.stderr.String()
	assertOneLine(t, "superd with an unwritable state_dir", errOut)
	if !strings.Contains(errOut, e.stateDir) {
		t.Errorf("stderr = %q; want it to name %s", errOut, e.stateDir)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a program was started although state_dir is unusable")
	}
}

func TestStartupReplacesStaleSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A socket file nobody listens on any more, as a killed superd leaves.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: e.sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if fi, err := os.Lstat(e.sock); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("setup: stale socket %s not left behind (%v)", e.sock, err)
	}
	e.writeConfig("", `
[program.web]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d := e.start(opts{})
	d.waitRunning(10*time.Second, "web")
	if _, errOut, code := d.ctl("status", "web"); code != 0 {
		t.Errorf("superctl status web = exit %d (%s); want 0", code, errOut)
	}
}

// superd grows its descriptor table ahead of its programs' pipes, to 32
// for itself and, here, 2 an instance (a pipe and a log file), at start
// and at a reload that adds programs, so that no start waits for the
// kernel to grow it (docs/BENCHMARKS.md, "Start, sixth round"). The
// table's size is FDSize in /proc/PID/status. The programs here do not
// autostart: what counts is how many are configured, not their pipes.
func TestStartupReservesDescriptors(t *testing.T) {
	t.Parallel()
	many := func(n int) string {
		return fmt.Sprintf("\n[program.many]\ncommand = [\"/bin/sleep\", \"1000\"]\nautostart = false\ninstances = %d\n", n)
	}
	fdSize := func(d *daemon) int {
		n, err := strconv.Atoi(procStatus(t, d.pid())["FDSize"])
		if err != nil {
			t.Fatalf("FDSize of superd: %v", err)
		}
		return n
	}
	e := newEnv(t)
	e.writeConfig("", many(2))
	d := e.start(opts{})
	if got := fdSize(d); got >= 532 {
		t.Fatalf("superd with 2 programs: FDSize %d; want less than 532, or this test shows nothing", got)
	}

	// 32 for superd, 2 for each of 250 instances: 532.
	e.writeConfig("", many(250))
	d.mustCtl("reload")
	waitForf(t, startTimeout, "superd's FDSize to reach 532 after the reload", func() bool { return fdSize(d) >= 532 })

	e2 := newEnv(t)
	e2.writeConfig("", many(600))
	d2 := e2.start(opts{})
	waitForf(t, startTimeout, "superd's FDSize to reach 1232 with 600 programs", func() bool { return fdSize(d2) >= 1232 })
}
