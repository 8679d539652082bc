package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// c3Proc is a superctl running in the background (logs -f, events).
type c3Proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{} // closed when it has exited
}

// c3Start starts superctl -s SOCK args in the background; the test's
// cleanup kills it if it is still running.
func c3Start(t *testing.T, d *daemon, args ...string) *c3Proc {
	t.Helper()
	cmd := exec.Command(superctl, append([]string{"-s", d.sock}, args...)...)
	cmd.Env = cleanEnviron()
	p := &c3Proc{t: t, cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start superctl %q: %v", args, err)
	}
	// exits when superctl exits; the cleanup below makes sure it does
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits up to timeout for superctl to exit and returns its exit code.
func (p *c3Proc) wait(timeout time.Duration) int {
	p.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-timer.C:
		p.t.Fatalf("superctl %q still running after %v; stdout %q stderr %q",
			p.cmd.Args[1:], timeout, tail(p.stdout.String(), 500), p.stderr.String())
		return -1
	}
}

// events decodes the JSON lines superctl events printed so far.
func (p *c3Proc) events() []apitype.Event {
	p.t.Helper()
	var out []apitype.Event
	for _, l := range lines(p.stdout.String()) {
		var ev apitype.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			p.t.Fatalf("superctl events printed %q, not a JSON event: %v", l, err)
		}
		out = append(out, ev)
	}
	return out
}

// c3HasEvent reports whether evs has a change of instance to state to.
func c3HasEvent(evs []apitype.Event, instance string, to apitype.State) bool {
	for _, ev := range evs {
		if ev.Instance == instance && ev.To == to {
			return true
		}
	}
	return false
}

func TestControl3Signal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hups := e.path("hups")
	e.writeConfig("", fmt.Sprintf(`
[program.trap]
shell = '''trap 'echo hup >> %s' HUP; while :; do /bin/sleep 0.05; done'''
start_seconds = "0s"
stop_timeout = "5s"
`, hups))
	d := e.start(opts{})
	pid := d.waitRunning(10*time.Second, "trap")[0]

	d.mustCtl("signal", "HUP", "trap")
	waitFileContains(t, 10*time.Second, hups, "hup\n")
	d.mustCtl("signal", "1", "all")
	waitFileContains(t, 10*time.Second, hups, "hup\nhup\n")
	if in := d.inst("trap"); in.State != apitype.StateRunning || intPtr(in.Pid) != intPtr(&pid) || in.Restarts != 0 {
		t.Errorf("trap after two HUPs: %s; want running with the same pid %d, no restarts", describe(in), pid)
	}

	tests := []struct {
		name string
		args []string
		want int
		sub  string // in the one line of stderr
	}{
		{"unknown signal", []string{"signal", "BOGUS", "trap"}, 2, `unknown signal "BOGUS"`},
		{"unknown name", []string{"signal", "HUP", "nosuch"}, 4, "nosuch"},
		{"stopped instance", []string{"signal", "HUP", "trap"}, 1, "trap is stopped"},
	}
	d.mustCtl("stop", "trap")
	for _, tt := range tests {
		_, errOut, code := d.ctl(tt.args...)
		if code != tt.want || !strings.Contains(errOut, tt.sub) || len(lines(errOut)) > 2 {
			t.Errorf("superctl %q = exit %d %q; want %d and one line with %q", tt.args, code, errOut, tt.want, tt.sub)
		}
	}
}

func TestControl3Pid(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[defaults]
start_seconds = "0s"

[program.web]
command = ["/bin/sleep", "1000"]
instances = 2

[program.off]
command = ["/bin/sleep", "1000"]
autostart = false
`)
	pids := d.waitRunning(10*time.Second, "web:0", "web:1")
	if out := d.mustCtl("pid"); out != strconv.Itoa(d.pid())+"\n" {
		t.Errorf("superctl pid = %q; want superd's pid %d", out, d.pid())
	}
	if out, want := d.mustCtl("pid", "web"), fmt.Sprintf("%d\n%d\n", pids[0], pids[1]); out != want {
		t.Errorf("superctl pid web = %q; want %q", out, want)
	}
	if out := d.mustCtl("pid", "web:1"); out != strconv.Itoa(pids[1])+"\n" {
		t.Errorf("superctl pid web:1 = %q; want %d", out, pids[1])
	}
	if out, errOut, code := d.ctl("pid", "off"); code != 3 || out != "" || !strings.Contains(errOut, "off (stopped)") {
		t.Errorf("superctl pid off = exit %d %q %q; want 3 naming off (stopped)", code, out, errOut)
	}
	if _, errOut, code := d.ctl("pid", "nosuch"); code != 4 {
		t.Errorf("superctl pid nosuch = exit %d %q; want 4", code, errOut)
	}
}

func TestControl3Events(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[program.web]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d.waitRunning(10*time.Second, "web")
	for _, output := range []string{"table", "json"} {
		p := c3Start(t, d, "-o", output, "events")
		// The follower subscribes asynchronously: stop and start until it
		// has seen a whole stop and start.
		deadline := time.Now().Add(20 * time.Second)
		for {
			d.mustCtl("stop", "web")
			d.mustCtl("start", "web")
			var seen []apitype.Event
			waitFor(t, 5*time.Second, func() string { return "events of the stop and start" }, func() bool {
				seen = p.events()
				return len(seen) == 0 || c3HasEvent(seen, "web", apitype.StateRunning)
			})
			if c3HasEvent(seen, "web", apitype.StateStopping) && c3HasEvent(seen, "web", apitype.StateStopped) &&
				c3HasEvent(seen, "web", apitype.StateStarting) && c3HasEvent(seen, "web", apitype.StateRunning) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("superctl events printed %q; want web stopping, stopped, starting, running", tail(p.stdout.String(), 2000))
			}
		}
		for _, ev := range p.events() {
			if ev.Program != "web" || ev.Time.IsZero() || ev.From == "" || ev.To == "" {
				t.Errorf("event %+v; want program web, a time, from and to", ev)
			}
			if ev.To == apitype.StateStopped && (ev.ExitSignal == nil || *ev.ExitSignal != "SIGTERM") {
				t.Errorf("stop event %+v; want exit_signal SIGTERM", ev)
			}
		}
		// Ctrl-C ends it cleanly.
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(10 * time.Second); code != 0 {
			t.Errorf("superctl events after SIGINT = exit %d (stderr %q); want 0", code, p.stderr.String())
		}
	}
}

func TestControl3FollowersEndWhenSuperdDrains(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[program.ticker]
shell = 'i=0; while :; do i=$((i+1)); echo "tick $i"; /bin/sleep 0.05; done'
start_seconds = "0s"
stdout = "null"
`)
	d.waitRunning(10*time.Second, "ticker")
	logs := c3Start(t, d, "logs", "-f", "-n", "1", "ticker")
	events := c3Start(t, d, "events")
	// New lines stream in.
	waitForf(t, 10*time.Second, "superctl logs -f to print 5 lines", func() bool {
		return len(lines(logs.stdout.String())) >= 5
	})
	ls := lines(logs.stdout.String())
	var first, last int
	fmt.Sscanf(ls[0], "tick %d", &first)
	fmt.Sscanf(ls[len(ls)-1], "tick %d", &last)
	if first == 0 || last-first < 4 {
		t.Errorf("superctl logs -f printed %q; want consecutive new ticks", ls)
	}

	// Ctrl-C ends a follow cleanly too.
	interrupted := c3Start(t, d, "logs", "-f", "ticker")
	waitForf(t, 10*time.Second, "a second superctl logs -f to print", func() bool {
		return interrupted.stdout.String() != ""
	})
	if err := interrupted.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := interrupted.wait(10 * time.Second); code != 0 {
		t.Errorf("superctl logs -f after SIGINT = exit %d (stderr %q); want 0", code, interrupted.stderr.String())
	}

	out := d.mustCtl("shutdown")
	if out != "" {
		t.Errorf("superctl shutdown printed %q; want nothing", out)
	}
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Errorf("superd after superctl shutdown = exit %d; want 0", code)
	}
	if code := logs.wait(10 * time.Second); code != 0 {
		t.Errorf("superctl logs -f when superd drained = exit %d (stderr %q); want 0", code, logs.stderr.String())
	}
	if code := events.wait(10 * time.Second); code != 0 {
		t.Errorf("superctl events when superd drained = exit %d (stderr %q); want 0", code, events.stderr.String())
	}
	if !c3HasEvent(events.events(), "ticker", apitype.StateStopping) {
		t.Errorf("superctl events printed %q during the drain; want ticker stopping", events.stdout.String())
	}
	// superd is gone: 5, naming the socket.
	if _, errOut, code := d.ctl("status"); code != 5 || !strings.Contains(errOut, d.sock) {
		t.Errorf("superctl status after shutdown = exit %d %q; want 5 naming %s", code, errOut, d.sock)
	}
}

func TestControl3VersionCompletionUsage(t *testing.T) {
	t.Parallel()
	out, _, code := runCtl(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "superctl ") || !strings.Contains(out, "go1.") {
		t.Errorf("superctl version = exit %d %q; want superctl VERSION (COMMIT, GOVERSION)", code, out)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, errOut, code := runCtl(t, nil, "completion", shell)
		if code != 0 || len(out) < 200 || !strings.Contains(out, "superctl") {
			t.Errorf("superctl completion %s = exit %d, %d bytes (%q); want a script", shell, code, len(out), errOut)
		}
	}
	for _, verb := range []string{"reload", "events"} {
		out, _, code := runCtl(t, nil, verb, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "superctl "+verb) {
			t.Errorf("superctl %s --help = exit %d %q; want help with examples", verb, code, out)
		}
		if _, errOut, code := runCtl(t, nil, verb, "extra"); code != 2 || len(lines(errOut)) != 2 {
			t.Errorf("superctl %s extra = exit %d %q; want 2 and a one-line error plus the help hint", verb, code, errOut)
		}
	}
}
