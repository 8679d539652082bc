package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

const controlPrograms = `
[defaults]
start_seconds = "200ms"

[program.web]
command = ["/bin/sleep", "1000"]

[program.slow]
# Needs 5 s to count as started.
command = ["/bin/sleep", "1000"]
start_seconds = "5s"
autostart = false

[program.missing]
command = ["/nonexistent/superd-e2e-program"]
autostart = false
start_retries = 0
`

func TestStopWaitsUntilProcessIsGone(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", controlPrograms)
	pid := d.waitRunning(10*time.Second, "web")[0]
	d.mustCtl("stop", "web")
	if !procGone(pid) {
		t.Errorf("superctl stop web returned while /proc/%d still exists", pid)
	}
	if in := d.inst("web"); in.State != apitype.StateStopped || in.Pid != nil {
		t.Errorf("after superctl stop web: %s; want stopped with pid null", describe(in))
	}
	// Stopping a stopped program succeeds and changes nothing.
	d.mustCtl("stop", "web")
	if in := d.inst("web"); in.State != apitype.StateStopped {
		t.Errorf("after a second stop: %s; want stopped", describe(in))
	}
}

func TestStartWaitsUntilRunning(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", controlPrograms)
	old := d.waitRunning(10*time.Second, "web")[0]
	d.mustCtl("stop", "web")
	// A stop that did nothing would leave the old process for start to
	// find running: make sure it is gone first.
	if in := d.inst("web"); in.State != apitype.StateStopped || !procGone(old) {
		t.Fatalf("after superctl stop web: %s, /proc/%d gone=%v; want stopped and gone", describe(in), old, procGone(old))
	}
	d.mustCtl("start", "web")
	in := d.inst("web")
	if in.State != apitype.StateRunning || in.Pid == nil || *in.Pid == old {
		t.Fatalf("right after superctl start web: %s; want running with a pid other than %d", describe(in), old)
	}
	d.track(*in.Pid)
	// Starting a running program succeeds and changes nothing.
	d.mustCtl("start", "web")
	if again := d.inst("web"); again.State != apitype.StateRunning || intPtr(again.Pid) != intPtr(in.Pid) {
		t.Errorf("after a second start: %s; want running with the same pid %d", describe(again), *in.Pid)
	}
}

func TestRestartGivesNewPid(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", controlPrograms)
	old := d.waitRunning(10*time.Second, "web")[0]
	d.mustCtl("restart", "web")
	in := d.inst("web")
	if in.State != apitype.StateRunning || in.Pid == nil || *in.Pid == old {
		t.Fatalf("right after superctl restart web: %s; want running with a pid other than %d", describe(in), old)
	}
	d.track(*in.Pid)
	if !procGone(old) {
		t.Errorf("old pid %d still in /proc after the restart", old)
	}
	if in.Restarts != 0 {
		t.Errorf("restarts = %d after an operator's restart; want 0 (only automatic restarts count)", in.Restarts)
	}
}

func TestNoWaitReturnsAtOnce(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", controlPrograms+`
[program.stubborn]
# Ignores SIGTERM, so a stop takes stop_timeout.
shell = "trap '' TERM; exec /bin/sleep 1000"
stop_timeout = "5s"
`)
	d.waitRunning(10*time.Second, "stubborn")
	// stubborn ignores SIGTERM and has stop_timeout 5s: a waiting stop
	// would take 5 s; --no-wait must come back while it is stopping.
	d.mustCtl("stop", "--no-wait", "stubborn")
	if in := d.inst("stubborn"); in.State != apitype.StateStopping {
		t.Errorf("right after stop --no-wait stubborn: %s; want stopping", describe(in))
	}
	// slow needs 5 s to count as started.
	d.mustCtl("start", "--no-wait", "slow")
	in := d.inst("slow")
	if in.State != apitype.StateStarting {
		t.Errorf("right after start --no-wait slow: %s; want starting", describe(in))
	}
	if in.Pid != nil {
		d.track(*in.Pid)
	}
}

func TestStartTimeoutExits1(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", controlPrograms)
	_, errOut, code := d.ctl("start", "--timeout", "1s", "slow")
	if code != 1 {
		t.Errorf("superctl start --timeout 1s slow (start_seconds 5s) = exit %d; want 1 (stderr %q)", code, errOut)
	}
	assertOneLine(t, "superctl start --timeout", errOut)
	// It gave up before slow could have counted as started.
	in := d.inst("slow")
	if in.Pid != nil {
		d.track(*in.Pid)
	}
	if in.State != apitype.StateStarting {
		t.Errorf("after start --timeout 1s returned: %s; want still starting", describe(in))
	}
}

func TestStartMissingCommandGoesFatal(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", controlPrograms)
	_, errOut, code := d.ctl("start", "missing")
	if code != 1 {
		t.Errorf("superctl start missing = exit %d; want 1 (stderr %q)", code, errOut)
	}
	in := d.inst("missing")
	if in.State != apitype.StateFatal {
		t.Errorf("after start of a missing command: %s; want fatal", describe(in))
	}
	if !strings.Contains(in.Message, "no such file or directory") {
		t.Errorf("message = %q; want it to contain %q", in.Message, "no such file or directory")
	}
	if !strings.Contains(errOut, "missing") {
		t.Errorf("superctl start missing stderr = %q; want it to name the instance", errOut)
	}
}

func TestControlUnknownNameExits4(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", controlPrograms)
	for _, verb := range []string{"start", "stop", "restart"} {
		if _, errOut, code := d.ctl(verb, "nosuch"); code != 4 {
			t.Errorf("superctl %s nosuch = exit %d; want 4 (stderr %q)", verb, code, errOut)
		}
	}
	if _, errOut, code := d.ctl("signal", "HUP", "nosuch"); code != 4 {
		t.Errorf("superctl signal HUP nosuch = exit %d; want 4 (stderr %q)", code, errOut)
	}
	// A signal to an instance that is not running fails with 1.
	if _, errOut, code := d.ctl("signal", "HUP", "slow"); code != 1 {
		t.Errorf("superctl signal HUP slow (stopped) = exit %d; want 1 (stderr %q)", code, errOut)
	}
}

func TestSignalReachesTheProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := e.path("got")
	e.writeConfig("", `
[program.trap]
shell = "trap 'echo HUP >> `+got+`' HUP; echo ready >> `+got+`; while :; do /bin/sleep 0.05; done"
start_seconds = "0s"
`)
	d := e.start(opts{})
	pid := d.waitRunning(10*time.Second, "trap")[0]
	waitFileContains(t, 10*time.Second, got, "ready")
	for _, sig := range []string{"HUP", "SIGHUP", "1"} {
		before := strings.Count(readFile(t, got), "HUP")
		d.mustCtl("signal", sig, "trap")
		waitForf(t, 10*time.Second, "the trap to record SIG"+sig, func() bool {
			return strings.Count(readFile(t, got), "HUP") > before
		})
	}
	// The signal went to the running process: it was neither replaced nor
	// restarted.
	if in := d.inst("trap"); in.State != apitype.StateRunning || intPtr(in.Pid) != intPtr(&pid) || in.Restarts != 0 {
		t.Errorf("trap after three HUPs: %s; want running with the same pid %d, no restarts", describe(in), pid)
	}
	if _, errOut, code := d.ctl("signal", "NOPE", "trap"); code != 2 {
		t.Errorf("superctl signal NOPE = exit %d (stderr %q); want 2 (a usage error, as in TestControl3Signal)", code, errOut)
	}
}
