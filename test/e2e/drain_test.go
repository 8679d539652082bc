package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// trapper is a program that, on SIGTERM, appends "NAME stopped <ns>" to
// file and exits 0.
func trapper(name, file, extra string) string {
	return fmt.Sprintf(`
[program.%s]
shell = '''trap 'echo "%s stopped $(date +%%s%%N)" >> %s; exit 0' TERM; /bin/sleep 1000 & wait'''
start_seconds = "0s"
%s
`, name, name, file, extra)
}

func TestDrainStopsDependentsFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	order := e.path("order")
	e.writeConfig("", trapper("db", order, "")+
		trapper("api", order, `depends_on = ["db"]`+"\ninstances = 2")+
		trapper("web", order, `depends_on = ["api"]`))
	d := e.start(opts{})
	d.waitRunning(15*time.Second, "db", "api:0", "api:1", "web")
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("superd after SIGTERM = exit %d; want 0", code)
	}
	type stop struct {
		name string
		ns   int64
	}
	var stops []stop
	for _, l := range lines(readFile(t, order)) {
		f := strings.Fields(l)
		if len(f) != 3 || f[1] != "stopped" {
			t.Fatalf("order file line %q; want NAME stopped NS", l)
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("order file line %q: %v", l, err)
		}
		stops = append(stops, stop{f[0], ns})
	}
	var names []string
	for _, s := range stops {
		names = append(names, s.name)
	}
	if len(stops) != 4 || stops[0].name != "web" || stops[1].name != "api" || stops[2].name != "api" || stops[3].name != "db" {
		t.Fatalf("stop order %q; want web, api, api, db (reverse dependency order)", names)
	}
	// Each stage received SIGTERM after the one before it had exited (the
	// two api instances, independent of each other, in either order).
	for _, pair := range [][2]int{{0, 1}, {0, 2}, {1, 3}, {2, 3}} {
		a, b := stops[pair[0]], stops[pair[1]]
		if b.ns < a.ns {
			t.Errorf("%s stopped at %d, before %s at %d", b.name, b.ns, a.name, a.ns)
		}
	}
}

func TestDrainStopsIndependentProgramsInParallel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.path("terms")
	// On SIGTERM each records it, then waits (up to 4 s) until the other
	// has received its SIGTERM too, and only then exits. Stopped one after
	// the other, neither would see the other's SIGTERM.
	prog := func(me, other string) string {
		return fmt.Sprintf(`
[program.%[1]s]
shell = '''trap 'echo "%[1]s term" >> %[3]s; i=0; while ! grep -q "%[2]s term" %[3]s && [ $i -lt 200 ]; do /bin/sleep 0.02; i=$((i+1)); done; grep -q "%[2]s term" %[3]s && echo "%[1]s saw %[2]s" >> %[3]s; exit 0' TERM; /bin/sleep 1000 & wait'''
start_seconds = "0s"
stop_timeout = "20s"
`, me, other, f)
	}
	e.writeConfig("", prog("left", "right")+prog("right", "left"))
	d := e.start(opts{})
	d.waitRunning(15*time.Second, "left", "right")
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("superd after SIGTERM = exit %d; want 0", code)
	}
	got := readFile(t, f)
	for _, want := range []string{"left saw right", "right saw left"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q missing: the two independent programs were not both sent SIGTERM before either exited; record:\n%s", want, got)
		}
	}
}

// drainStubborn runs superd (with superdExtra) over one program that
// ignores SIGTERM and has stop_timeout, sends superd SIGTERM, and fails
// the test unless superd exits 0 within 20 s with the program dead. It
// returns how long superd took from the SIGTERM to its exit.
func drainStubborn(t *testing.T, superdExtra, stopTimeout string) time.Duration {
	t.Helper()
	d := startDaemon(t, superdExtra, fmt.Sprintf(`
[program.stubborn]
shell = "trap '' TERM; exec /bin/sleep 1000"
stop_timeout = %q
start_seconds = "0s"
`, stopTimeout))
	pid := d.waitRunning(10*time.Second, "stubborn")[0]
	waitForf(t, 10*time.Second, "stubborn to ignore SIGTERM", func() bool {
		return sigset(t, procStatus(t, pid)["SigIgn"])&sigbit(syscall.SIGTERM) != 0
	})
	start := time.Now()
	d.signal(syscall.SIGTERM)
	code := d.waitExit(20 * time.Second)
	took := time.Since(start)
	if code != 0 {
		t.Errorf("superd after SIGTERM = exit %d; want 0", code)
	}
	if !procDead(pid) {
		t.Errorf("stubborn (pid %d) outlived superd's drain", pid)
	}
	return took
}

func TestDrainKillsProgramIgnoringTermAfterStopTimeout(t *testing.T) {
	t.Parallel()
	// SIGKILL before stop_timeout would also leave stubborn dead: the
	// drain must have given it the whole 500ms.
	if took := drainStubborn(t, "", "500ms"); took < 500*time.Millisecond {
		t.Errorf("drain took %v; want at least stop_timeout (500ms) before the SIGKILL", took)
	}
}

func TestStopEscalatesToSigkill(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[program.stubborn]
shell = "trap '' TERM; exec /bin/sleep 1000"
stop_timeout = "300ms"
start_seconds = "0s"
`)
	pid := d.waitRunning(10*time.Second, "stubborn")[0]
	d.mustCtl("stop", "stubborn")
	if !procGone(pid) {
		t.Errorf("stubborn (pid %d) still in /proc after superctl stop returned", pid)
	}
	in := d.inst("stubborn")
	if in.State != apitype.StateStopped || in.ExitSignal == nil || *in.ExitSignal != "SIGKILL" {
		t.Errorf("stubborn after stop: %s exit_signal=%s; want stopped by SIGKILL", describe(in), strPtr(in.ExitSignal))
	}
}

func TestShutdownTimeoutBoundsDrain(t *testing.T) {
	t.Parallel()
	// stop_timeout is 5 minutes; shutdown_timeout (1 s) must end the drain
	// long before (drainStubborn allows 20 s), and not before 1 s.
	if took := drainStubborn(t, `shutdown_timeout = "1s"`, "5m"); took < time.Second {
		t.Errorf("drain took %v; want at least shutdown_timeout (1s)", took)
	}
}

func TestSecondSigtermSkipsToSigkill(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[program.stubborn]
shell = "trap '' TERM; exec /bin/sleep 1000"
stop_timeout = "5m"
start_seconds = "0s"
`)
	pid := d.waitRunning(10*time.Second, "stubborn")[0]
	d.signal(syscall.SIGTERM)
	d.waitState("stubborn", apitype.StateStopping, 10*time.Second)
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(20 * time.Second); code != 0 {
		t.Errorf("superd after two SIGTERMs = exit %d; want 0", code)
	}
	if !procDead(pid) {
		t.Errorf("stubborn (pid %d) outlived superd", pid)
	}
}

func TestDrainNamesTheHoldingInstance(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[program.base]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"

[program.holder]
shell = "trap '' TERM; exec /bin/sleep 1000"
depends_on = ["base"]
stop_timeout = "5m"
start_seconds = "0s"
`)
	d.waitRunning(10*time.Second, "base", "holder")
	d.signal(syscall.SIGTERM)
	holder := d.waitState("holder", apitype.StateStopping, 10*time.Second)
	if !strings.Contains(holder.Message, "TERM") {
		t.Errorf("holder's message during the drain = %q; want the step it is at (SIGTERM sent)", holder.Message)
	}
	base := d.inst("base")
	if base.State != apitype.StateRunning || !strings.Contains(base.Message, "holder") {
		t.Errorf("base during the drain: %s; want running, its message naming holder", describe(base))
	}
	waitForf(t, 10*time.Second, "superd's log to name holder as holding the shutdown", func() bool {
		log := d.stderr.String()
		i := strings.Index(log, "drain")
		return i >= 0 && strings.Contains(log[i:], "holder")
	})
	// Finish: the second SIGTERM.
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(20 * time.Second); code != 0 {
		t.Errorf("superd = exit %d; want 0", code)
	}
}

func TestStopKillsTheWholeProcessGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gcFile := e.path("grandchild")
	// The leader (sleep 1001) dies on SIGTERM; its background grandchild,
	// in the same process group, ignores SIGTERM and must be SIGKILLed
	// after stop_timeout although the leader is already gone.
	e.writeConfig("", `
[program.grp]
shell = '''/bin/sh -c "trap '' TERM; exec /bin/sleep 1000" & echo $! > `+gcFile+`; exec /bin/sleep 1001'''
stop_timeout = "300ms"
start_seconds = "0s"
`)
	d := e.start(opts{})
	leader := d.waitRunning(10*time.Second, "grp")[0]
	gc, err := strconv.Atoi(strings.TrimSpace(waitFileContains(t, 10*time.Second, gcFile, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	d.track(gc)
	waitForf(t, 10*time.Second, "the grandchild to ignore SIGTERM", func() bool {
		st := procStatus(t, gc)
		return sigset(t, st["SigIgn"])&sigbit(syscall.SIGTERM) != 0
	})
	if st, ok := readStat(gc); !ok || st.pgrp != leader {
		t.Fatalf("grandchild %d: pgrp %d; want the leader's group %d", gc, st.pgrp, leader)
	}
	d.mustCtl("stop", "grp")
	for _, p := range []int{leader, gc} {
		if !procGone(p) {
			st, _ := readStat(p)
			t.Errorf("pid %d (state %c) still in /proc after superctl stop grp returned", p, st.state)
		}
	}
	if in := d.inst("grp"); in.State != apitype.StateStopped {
		t.Errorf("grp after stop: %s; want stopped", describe(in))
	}
}

func TestKilledSuperdTakesItsChildren(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[defaults]
start_seconds = "0s"

[program.a]
command = ["/bin/sleep", "1000"]
instances = 2

[program.b]
# Ignores TERM and HUP; Pdeathsig is SIGKILL.
shell = "trap '' TERM HUP; exec /bin/sleep 1000"
`)
	pids := d.waitRunning(10*time.Second, "a:0", "a:1", "b")
	d.signal(syscall.SIGKILL)
	d.waitExit(10 * time.Second)
	waitFor(t, 10*time.Second, func() string {
		var live []int
		for _, p := range pids {
			if !procDead(p) {
				live = append(live, p)
			}
		}
		return fmt.Sprintf("children %v to die with superd", live)
	}, func() bool {
		for _, p := range pids {
			if !procDead(p) {
				return false
			}
		}
		return true
	})
}
