package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

func TestKilledInstanceIsRestarted(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[program.web]
command = ["/bin/sleep", "1000"]
instances = 2
start_seconds = "100ms"
`)
	pids := d.waitRunning(10*time.Second, "web:0", "web:1")
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var in apitype.Instance
	waitFor(t, 10*time.Second, func() string { return "web:1 to run again with a new pid; last " + describe(in) }, func() bool {
		in = d.inst("web:1")
		return in.State == apitype.StateRunning && in.Pid != nil && *in.Pid != pids[1]
	})
	d.track(*in.Pid)
	if in.Restarts != 1 {
		t.Errorf("web:1 restarts = %d after one kill -9; want 1", in.Restarts)
	}
	if in.ExitSignal == nil || *in.ExitSignal != "SIGKILL" || in.ExitCode != nil {
		t.Errorf("web:1 exit_signal=%s exit_code=%s; want \"SIGKILL\" and null", strPtr(in.ExitSignal), intPtr(in.ExitCode))
	}
	if other := d.inst("web:0"); other.Restarts != 0 || intPtr(other.Pid) != intPtr(&pids[0]) {
		t.Errorf("web:0 = %s; want untouched (pid %d, restarts 0)", describe(other), pids[0])
	}
}

func TestRestartPolicies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Each program waits for its trigger file, then exits with a code.
	prog := func(name, restart string, code int) string {
		return "[program." + name + "]\n" +
			`shell = "while [ ! -e ` + e.path(name+".go") + ` ]; do /bin/sleep 0.02; done; rm -f ` + e.path(name+".go") + `; exit ` + strconv.Itoa(code) + "\"\n" +
			"restart = \"" + restart + "\"\nstart_seconds = \"0s\"\n"
	}
	e.writeConfig("", prog("never", "never", 1)+prog("onfail0", "on-failure", 0)+
		prog("onfail2", "on-failure", 2)+prog("always0", "always", 0)+
		`
[program.never9]
command = ["/bin/sleep", "1000"]
restart = "never"
start_seconds = "0s"

[program.codes]
shell = "while [ ! -e `+e.path("codes.go")+` ]; do /bin/sleep 0.02; done; exit 3"
restart = "on-failure"
success_exit_codes = [0, 3]
start_seconds = "0s"
`)
	d := e.start(opts{})
	tests := []struct {
		name         string
		kill         bool // kill -9 instead of the trigger
		wantRestart  bool
		wantCode     *int
		wantSignal   string
		wantRestarts int
	}{
		{name: "never", wantCode: ptr(1)},
		{name: "never9", kill: true, wantSignal: "SIGKILL"},
		{name: "onfail0", wantCode: ptr(0)},
		{name: "codes", wantCode: ptr(3)},
		{name: "onfail2", wantRestart: true, wantCode: ptr(2), wantRestarts: 1},
		{name: "always0", wantRestart: true, wantCode: ptr(0), wantRestarts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := d.withT(t)
			pid := d.waitRunning(10*time.Second, tt.name)[0]
			if tt.kill {
				syscall.Kill(pid, syscall.SIGKILL)
			} else if err := os.WriteFile(e.path(tt.name+".go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			var in apitype.Instance
			if tt.wantRestart {
				waitFor(t, 10*time.Second, func() string { return "a restart; last " + describe(in) }, func() bool {
					in = d.inst(tt.name)
					return in.State == apitype.StateRunning && in.Pid != nil && *in.Pid != pid
				})
				d.track(*in.Pid)
			} else {
				in = d.waitState(tt.name, apitype.StateExited, 10*time.Second)
				if in.Pid != nil {
					t.Errorf("exited instance has pid %d; want null", *in.Pid)
				}
			}
			if in.Restarts != tt.wantRestarts {
				t.Errorf("restarts = %d; want %d", in.Restarts, tt.wantRestarts)
			}
			if intPtr(in.ExitCode) != intPtr(tt.wantCode) {
				t.Errorf("exit_code = %s; want %s", intPtr(in.ExitCode), intPtr(tt.wantCode))
			}
			wantSig := (*string)(nil)
			if tt.wantSignal != "" {
				wantSig = &tt.wantSignal
			}
			if strPtr(in.ExitSignal) != strPtr(wantSig) {
				t.Errorf("exit_signal = %s; want %s", strPtr(in.ExitSignal), strPtr(wantSig))
			}
		})
	}
}

func TestBackoffThenFatal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	attempts := e.path("attempts")
	e.writeConfig("", `
[program.crash]
shell = "echo attempt >> `+attempts+`; exit 1"
start_retries = 2
backoff_initial = "100ms"
start_seconds = "1s"

[program.bystander]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d := e.start(opts{})
	in := d.waitState("crash", apitype.StateFatal, 15*time.Second)
	if n := strings.Count(readFile(t, attempts), "attempt"); n != 3 {
		t.Errorf("crash ran %d times; want 3 (the first attempt and start_retries = 2 retries)", n)
	}
	if !strings.Contains(in.Message, "exit") || !strings.Contains(in.Message, "1") {
		t.Errorf("fatal message = %q; want the reason (exit code 1)", in.Message)
	}
	if in.Pid != nil {
		t.Errorf("fatal instance has pid %d; want null", *in.Pid)
	}
	// It stays fatal: no further attempt. The retries came 100ms and
	// 200ms apart (backoff_initial, doubling); a retry after fatal would
	// come within the next backoff step (400ms), so 1s would show it.
	holdsFor(t, time.Second, func() string {
		return fmt.Sprintf("crash after going fatal: %s, %d attempts; want fatal, 3 attempts",
			describe(d.inst("crash")), strings.Count(readFile(t, attempts), "attempt"))
	}, func() bool {
		return d.inst("crash").State == apitype.StateFatal && strings.Count(readFile(t, attempts), "attempt") == 3
	})
	// An explicit start resets the count: three more attempts, then fatal.
	if _, errOut, code := d.ctl("start", "crash"); code != 1 {
		t.Errorf("superctl start crash = exit %d (stderr %q); want 1 (it goes fatal again)", code, errOut)
	}
	if n := strings.Count(readFile(t, attempts), "attempt"); n != 6 {
		t.Errorf("crash ran %d times after an explicit start; want 6", n)
	}
	// A fatal program does not bring superd down by default.
	d.waitRunning(5*time.Second, "bystander")
}

func TestOnFatalShutdownExits3(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stopped := e.path("stopped")
	e.writeConfig("", `
[program.crash]
command = ["/bin/false"]
start_retries = 1
backoff_initial = "100ms"
on_fatal = "shutdown"

[program.other]
shell = "trap 'echo other stopped >> `+stopped+`; exit 0' TERM; /bin/sleep 1000 & wait"
start_seconds = "0s"
`)
	d := e.start(opts{noWait: true})
	if code := d.waitExit(30 * time.Second); code != 3 {
		t.Errorf("superd after a program with on_fatal = shutdown went fatal = exit %d; want 3", code)
	}
	// The drain stopped the other program gracefully.
	if !strings.Contains(readFile(t, stopped), "other stopped") {
		t.Errorf("the other program was not sent its stop_signal during the on_fatal drain")
	}
}

func ptr[T any](v T) *T { return &v }
