package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

func TestStopCancelsBackoffAndPendingRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	attempts := e.path("attempts")
	trigger := e.path("exit-now")
	e.writeConfig("", `
[program.crash]
shell = "echo attempt >> `+attempts+`; exit 1"
backoff_initial = "30s"
backoff_max = "60s"

[program.delayed]
shell = "while [ ! -e `+trigger+` ]; do /bin/sleep 0.02; done; rm -f `+trigger+`; exit 1"
start_seconds = "0s"
restart_delay = "30s"
`)
	d := e.start(opts{})
	d.waitState("crash", apitype.StateBackoff, 10*time.Second)
	d.mustCtl("stop", "crash")
	if in := d.inst("crash"); in.State != apitype.StateStopped {
		t.Errorf("crash after stop during backoff: %s; want stopped", describe(in))
	}
	if n := strings.Count(readFile(t, attempts), "attempt"); n != 1 {
		t.Errorf("crash ran %d times; want 1", n)
	}

	d.waitRunning(10*time.Second, "delayed")
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// It exited 1 and waits restart_delay (30 s) before its restart.
	waitForf(t, 10*time.Second, "delayed to wait for its restart", func() bool {
		in := d.inst("delayed")
		return in.State == apitype.StateStarting && in.Pid == nil
	})
	d.mustCtl("stop", "delayed")
	if in := d.inst("delayed"); in.State != apitype.StateStopped {
		t.Errorf("delayed after stop during restart_delay: %s; want stopped", describe(in))
	}
}

func TestStopResumesAStoppedProcess(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[program.paused]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
stop_timeout = "30s"
`)
	pid := d.waitRunning(10*time.Second, "paused")[0]
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitForf(t, 10*time.Second, "the process to be stopped (T)", func() bool {
		st, _ := readStat(pid)
		return st.state == 'T'
	})
	// SIGTERM stays pending in a stopped process; the SIGCONT that follows
	// the stop_signal lets it act on it, long before stop_timeout (30 s).
	d.mustCtl("stop", "--timeout", "20s", "paused")
	if !procGone(pid) {
		t.Errorf("paused (pid %d) still in /proc after superctl stop returned", pid)
	}
	in := d.inst("paused")
	if in.State != apitype.StateStopped || in.ExitSignal == nil || *in.ExitSignal != "SIGTERM" {
		t.Errorf("paused after stop: %s exit_signal=%s; want stopped by SIGTERM", describe(in), strPtr(in.ExitSignal))
	}
}

// groupTermRecorder is a program whose leader and background grandchild
// each append "<who> TERM" to file on SIGTERM and exit.
func groupTermRecorder(name, file, extra string) string {
	return fmt.Sprintf(`
[program.%[1]s]
shell = '''/bin/sh -c 'trap "echo %[1]s-grandchild TERM >> %[2]s; exit 0" TERM; /bin/sleep 1000 & wait' & trap 'echo %[1]s-leader TERM >> %[2]s; exit 0' TERM; /bin/sleep 1000 & wait'''
start_seconds = "0s"
stop_timeout = "500ms"
%[3]s
`, name, file, extra)
}

func TestKillGroupDecidesWhoGetsStopSignal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.path("terms")
	e.writeConfig("", groupTermRecorder("group", rec, "")+groupTermRecorder("leader", rec, "kill_group = false"))
	d := e.start(opts{})
	d.waitRunning(10*time.Second, "group", "leader")
	// Wait until both grandchildren run (their traps are set before they
	// start their sleep).
	waitForf(t, 10*time.Second, "both programs' process trees", func() bool {
		n := 0
		for _, name := range []string{"group", "leader"} {
			pid := *d.inst(name).Pid
			n += countInGroup(pid)
		}
		return n >= 8 // per program: leader sh, its sleep, grandchild sh, its sleep
	})
	d.mustCtl("stop", "group", "leader")
	got := readFile(t, rec)
	for _, want := range []string{"group-leader TERM", "group-grandchild TERM", "leader-leader TERM"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q missing from the record %q", want, got)
		}
	}
	// kill_group = false: SIGTERM to the leader alone; the grandchild is
	// SIGKILLed with the group after stop_timeout, so it records nothing.
	if strings.Contains(got, "leader-grandchild TERM") {
		t.Errorf("with kill_group = false the grandchild got SIGTERM too; record %q", got)
	}
	for _, name := range []string{"group", "leader"} {
		if in := d.inst(name); in.State != apitype.StateStopped {
			t.Errorf("%s after stop: %s; want stopped", name, describe(in))
		}
	}
}

// countInGroup counts the processes of process group pgid.
func countInGroup(pgid int) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && st.pgrp == pgid && st.state != 'Z' {
			n++
		}
	}
	return n
}

func TestStopSignalIsConfigurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.path("rec")
	e.writeConfig("", `
[program.intr]
shell = '''trap 'echo got INT >> `+rec+`; exit 0' INT; trap 'echo got TERM >> `+rec+`; exit 0' TERM; /bin/sleep 1000 & wait'''
stop_signal = "INT"
start_seconds = "0s"
# Its background sleep ignores SIGINT (POSIX, async command): it goes with
# the group's SIGKILL after stop_timeout.
stop_timeout = "300ms"
`)
	d := e.start(opts{})
	pid := d.waitRunning(10*time.Second, "intr")[0]
	d.mustCtl("stop", "intr")
	if got := readFile(t, rec); got != "got INT\n" {
		t.Errorf("record = %q; want \"got INT\\n\" (stop_signal = \"INT\")", got)
	}
	if in := d.inst("intr"); in.State != apitype.StateStopped || !procGone(pid) {
		t.Errorf("intr after stop: %s, /proc/%d gone=%v; want stopped and gone", describe(in), pid, procGone(pid))
	}
}

func TestShutdownVerbAndSigintDrain(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"superctl shutdown", "SIGINT"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			rec := e.path("rec")
			e.writeConfig("", trapper("web", rec, ""))
			d := e.start(opts{})
			d.waitRunning(10*time.Second, "web")
			if how == "SIGINT" {
				d.signal(syscall.SIGINT)
			} else {
				d.mustCtl("shutdown")
			}
			if code := d.waitExit(20 * time.Second); code != 0 {
				t.Errorf("superd after %s = exit %d; want 0", how, code)
			}
			if !strings.Contains(readFile(t, rec), "web stopped") {
				t.Errorf("web was not stopped gracefully by the drain")
			}
			if _, err := os.Stat(e.sock); err == nil {
				t.Errorf("socket %s left behind after a graceful exit", e.sock)
			}
		})
	}
}

func TestDependenciesStartFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seen := e.path("db-as-seen-by-api")
	e.writeConfig("", fmt.Sprintf(`
[program.db]
command = ["/bin/sleep", "1000"]
start_seconds = "500ms"
autostart = false

[program.api]
# At its start, api asks superd how db is doing.
shell = "%s -s $SUPERD_SOCKET status -o json db > %s; exec /bin/sleep 1000"
depends_on = ["db"]
start_seconds = "0s"
autostart = false
`, superctl, seen))
	d := e.start(opts{})
	// Starting api starts db first, and api only once db runs.
	d.mustCtl("start", "api")
	d.waitRunning(10*time.Second, "db", "api")
	var insts []apitype.Instance
	b := waitFileContains(t, 10*time.Second, seen, "]")
	if err := json.Unmarshal([]byte(b), &insts); err != nil || len(insts) != 1 {
		t.Fatalf("api's view of db = %q (%v)", b, err)
	}
	if insts[0].State != apitype.StateRunning {
		t.Errorf("when api started, db was %s; want running", insts[0].State)
	}
}

func TestLogsFollow(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[program.ticker]
shell = 'i=0; while :; do i=$((i+1)); echo "tick $i"; /bin/sleep 0.02; done'
start_seconds = "0s"
stdout = "null"
`)
	d.waitRunning(10*time.Second, "ticker")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, superctl, "-s", d.sock, "logs", "-f", "-n", "1", "ticker")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	var got []string
	for len(got) < 20 && sc.Scan() {
		got = append(got, sc.Text())
	}
	if len(got) < 20 {
		t.Fatalf("superctl logs -f gave %d lines before it ended (%v); want a stream", len(got), sc.Err())
	}
	var first, last int
	fmt.Sscanf(got[0], "tick %d", &first)
	fmt.Sscanf(got[len(got)-1], "tick %d", &last)
	if last-first != len(got)-1 {
		t.Errorf("followed lines %q ... %q: want consecutive ticks", got[0], got[len(got)-1])
	}
}

func TestLongLinesAreSplit(t *testing.T) {
	t.Parallel()
	const n = 150000
	d := startDaemon(t, "", fmt.Sprintf(`
[program.long]
shell = "/usr/bin/head -c %d /dev/zero | /usr/bin/tr '\\0' x; echo; echo after; exec /bin/sleep 1000"
start_seconds = "0s"
`, n))
	d.waitRunning(10*time.Second, "long")
	got := waitFileContains(t, 10*time.Second, filepath.Join(d.logDir, "long.log"), "after\n")
	ls := lines(got)
	total := 0
	for _, l := range ls[:len(ls)-1] {
		if len(l) > 64<<10 {
			t.Errorf("a line of %d bytes in long.log; want lines of at most 64 KiB", len(l))
		}
		if strings.Trim(l, "x") != "" {
			t.Errorf("a piece of the long line holds something else than x")
		}
		total += len(l)
	}
	if total != n || len(ls) < 4 {
		t.Errorf("long.log holds %d x's in %d lines; want %d in at least 3 pieces", total, len(ls)-1, n)
	}
	if out := d.mustCtl("logs", "-n", "1", "long"); out != "after\n" {
		t.Errorf("superctl logs -n 1 long = %q; want \"after\\n\"", out)
	}
}

func TestSocketModeAndPeerCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Let nobody reach the socket and the superctl binary.
	for _, p := range []string{e.dir, binDir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.writeConfig(`socket_mode = "0666"`, `
[program.web]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d := e.start(opts{})
	d.waitRunning(10*time.Second, "web")
	fi, err := os.Stat(e.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode = %v; want 0666 (socket_mode)", fi.Mode().Perm())
	}
	// nobody can connect, but superd refuses it: exit 6.
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, superctl, "-s", e.sock, "stop", "web")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var errb strings.Builder
	cmd.Stderr = &errb
	err = cmd.Run()
	if code := exitCodeOf(t, ctx, err, "superctl", []string{"stop", "web"}); code != 6 {
		t.Errorf("superctl stop web as nobody = exit %d (stderr %q); want 6", code, errb.String())
	}
	if in := d.inst("web"); in.State != apitype.StateRunning {
		t.Errorf("web after nobody's stop: %s; want running", describe(in))
	}
}

func TestDefaultSocketModeRefusesOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []string{e.dir, binDir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.writeConfig("", `
[program.web]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d := e.start(opts{})
	fi, err := os.Stat(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket mode = %v; want a socket with mode 0600", fi.Mode())
	}
	// nobody cannot even connect to a 0600 root socket: permission denied.
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, superctl, "-s", e.sock, "status")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var errb strings.Builder
	cmd.Stderr = &errb
	err = cmd.Run()
	if code := exitCodeOf(t, ctx, err, "superctl", []string{"status"}); code != 6 {
		t.Errorf("superctl status as nobody on a 0600 socket = exit %d (stderr %q); want 6 (permission denied)", code, errb.String())
	}
}
