package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/ipc/apitype"
)

// dtStatFields returns the fields of /proc/PID/stat after the command
// name: [0] is field 3 (state), [3] field 6 (session), [19] field 22
// (start time); ok is false when the process is gone.
func dtStatFields(pid int) ([]string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(s[i+1:])
	return f, len(f) >= 20
}

// dtChildren returns the pids of the processes whose parent is ppid, with
// their command lines.
func dtChildren(ppid int) map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && st.ppid == ppid {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			out[pid] = strings.Join(splitNUL(b), " ")
		}
	}
	return out
}

// dtRestart drains d with SIGTERM, wants exit 0, and starts a new superd
// on the same env.
func dtRestart(t *testing.T, d *daemon) *daemon {
	t.Helper()
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("superd after SIGTERM = exit %d; want 0", code)
	}
	return d.env.start(opts{})
}

const dtProgram = `
[program.det]
command = ["/bin/sleep", "1000"]
detach = true
start_seconds = "0s"
`

func TestDetachedProgramSurvivesDrainAndIsReadopted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig("", dtProgram)
	d := e.start(opts{})
	pid := d.waitRunning(10*time.Second, "det")[0]
	if in := d.inst("det"); !in.Detached {
		t.Errorf("det = %s, detached %v; want detached true", describe(in), in.Detached)
	}

	pidFile := filepath.Join(e.stateDir, "pids", "det.pid")
	if s := readFile(t, pidFile); s != strconv.Itoa(pid)+"\n" {
		t.Fatalf("%s = %q; want the pid %d alone", pidFile, s, pid)
	}
	if fi, err := os.Stat(pidFile); err != nil || fi.Mode().Perm()&0o022 != 0 {
		t.Errorf("%s: %v, mode %v; want writable by its owner alone", pidFile, err, fi.Mode())
	}
	f, ok := dtStatFields(pid)
	if !ok {
		t.Fatalf("pid %d gone", pid)
	}
	startFile := filepath.Join(e.stateDir, "pids", "det.start")
	if s := strings.TrimSpace(readFile(t, startFile)); s != f[19] {
		t.Errorf("%s = %q; want the start time %s of /proc/%d/stat", startFile, s, f[19], pid)
	}
	if f[3] != strconv.Itoa(pid) || f[2] != strconv.Itoa(pid) {
		t.Errorf("det (pid %d): session %s, process group %s; want its own session and group", pid, f[3], f[2])
	}
	// Its output goes straight to its file, no pipe through superd.
	if link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/1", pid)); err != nil || link != filepath.Join(e.logDir, "det.log") {
		t.Errorf("det's stdout is %q (%v); want the file %s", link, err, filepath.Join(e.logDir, "det.log"))
	}

	oldSuperd := d.pid()
	d2 := dtRestart(t, d)
	d2.track(pid)
	if procDead(pid) {
		t.Fatalf("det (pid %d) died with superd's drain; want it left running", pid)
	}
	if st, _ := readStat(pid); st.ppid == oldSuperd {
		t.Errorf("det's parent is still the old superd %d", oldSuperd)
	}
	in := d2.inst("det")
	if in.State != apitype.StateRunning || in.Pid == nil || *in.Pid != pid || in.Restarts != 0 {
		t.Fatalf("det after superd restarted = %s; want running with the same pid %d (re-adopted), 0 restarts", describe(in), pid)
	}
	if !in.Detached {
		t.Errorf("re-adopted det: detached %v; want true", in.Detached)
	}
	// A second det would be spawned by the start that follows loading the
	// config, already done when status answered: 300ms, some 20 looks,
	// shows one.
	var stranger string
	holdsFor(t, 300*time.Millisecond, func() string {
		if stranger != "" {
			return fmt.Sprintf("the new superd started %s beside the re-adopted det %d", stranger, pid)
		}
		return fmt.Sprintf("det a moment after re-adoption = %s; want still %d running", describe(d2.inst("det")), pid)
	}, func() bool {
		for c, cmd := range dtChildren(d2.pid()) {
			if strings.Contains(cmd, "sleep") {
				d2.track(c)
				stranger = fmt.Sprintf("%d (%s)", c, cmd)
				return false
			}
		}
		in := d2.inst("det")
		return in.Pid != nil && *in.Pid == pid && in.State == apitype.StateRunning
	})
	if s := readFile(t, pidFile); s != strconv.Itoa(pid)+"\n" {
		t.Errorf("%s after re-adoption = %q; want %d", pidFile, s, pid)
	}

	// superd stops the re-adopted process like any other.
	d2.mustCtl("stop", "det")
	waitForf(t, 10*time.Second, fmt.Sprintf("det (pid %d) to end after superctl stop", pid), func() bool { return procDead(pid) })
	if in := d2.inst("det"); in.State != apitype.StateStopped {
		t.Errorf("det after stop = %s; want stopped", describe(in))
	}
	for _, p := range []string{pidFile, startFile} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after stop: %v; want it removed", p, err)
		}
	}
}

func TestDetachedProgramSurvivesKill9(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig("", dtProgram+`
[program.attached]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d := e.start(opts{})
	pids := d.waitRunning(10*time.Second, "det", "attached")
	d.signal(syscall.SIGKILL)
	d.waitExit(30 * time.Second)
	waitForf(t, 10*time.Second, "the attached child to die with superd", func() bool { return procDead(pids[1]) })
	if procDead(pids[0]) {
		t.Fatalf("det (pid %d) died when superd was killed; want it left running", pids[0])
	}
	d2 := e.start(opts{})
	d2.track(pids[0])
	in := d2.inst("det")
	if in.State != apitype.StateRunning || in.Pid == nil || *in.Pid != pids[0] {
		t.Fatalf("det after kill -9 and restart = %s; want re-adopted pid %d", describe(in), pids[0])
	}
	d2.waitRunning(10*time.Second, "attached")
}

func TestDetachedRecordOfDeadProcessIsDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig("", dtProgram)
	d := e.start(opts{})
	pid := d.waitRunning(10*time.Second, "det")[0]
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("superd after SIGTERM = exit %d", code)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill det %d: %v", pid, err)
	}
	// Its new parent (init) reaps it; only then is it gone.
	waitGone(t, 30*time.Second, pid)

	d2 := e.start(opts{})
	pids := d2.waitRunning(10*time.Second, "det")
	in := d2.inst("det")
	if pids[0] == pid || in.Restarts != 0 {
		t.Errorf("det after its process died while superd was away = %s; want a fresh start (new pid, 0 restarts)", describe(in))
	}
	waitForf(t, 10*time.Second, "superd to log that it dropped the stale record", func() bool {
		return strings.Contains(d2.stderr.String(), "record removed")
	})
	if s := readFile(t, filepath.Join(e.stateDir, "pids", "det.pid")); s != strconv.Itoa(pids[0])+"\n" {
		t.Errorf("det.pid = %q; want the new pid %d", s, pids[0])
	}
}

// TestDetachedRecordOfZombieIsDropped: a detached process that has exited
// but is not reaped yet (its new parent is slow to wait, as a container's
// init may be) is dead: superd must not re-adopt it and count a restart.
// The test process makes itself the orphan's subreaper for a moment, so
// that the zombie stays until the test reaps it. Not parallel: the
// subreaper flag is process-wide.
func TestDetachedRecordOfZombieIsDropped(t *testing.T) {
	e := newEnv(t)
	e.writeConfig("", dtProgram)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	subreaper := true
	unset := func() {
		if subreaper {
			_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
			subreaper = false
		}
	}
	defer unset()
	d := e.start(opts{})
	pid := d.waitRunning(10*time.Second, "det")[0]
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("superd after SIGTERM = exit %d", code)
	}
	unset()
	if st, ok := readStat(pid); !ok || st.ppid != os.Getpid() {
		t.Fatalf("det (pid %d) parent %d; want this test (its subreaper)", pid, st.ppid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The test is its parent now: it reaps it in the end.
	defer func() {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
	}()
	waitForf(t, 10*time.Second, "det to be a zombie", func() bool {
		st, ok := readStat(pid)
		return ok && st.state == 'Z'
	})

	d2 := e.start(opts{})
	pids := d2.waitRunning(10*time.Second, "det")
	in := d2.inst("det")
	if pids[0] == pid || in.Restarts != 0 || strings.Contains(d2.stderr.String(), "re-adopted") {
		t.Errorf("det after its process died (a zombie, not yet reaped) while superd was away = %s; "+
			"want a fresh start (new pid, 0 restarts) without re-adopting the zombie\nsuperd log:\n%s", describe(in), d2.stderr.String())
	}
}

func TestDetachedPidfileRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig("", `
[program.det]
command = ["/bin/sleep", "1000"]
detach = true
start_seconds = "0s"
instances = 4
`)
	// A live process that is no business of superd's, to point records at.
	other := exec.Command("/bin/sleep", "1000")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	op := other.Process.Pid
	f, ok := dtStatFields(op)
	if !ok {
		t.Fatal("sleep gone")
	}
	nobody := 65534
	dir := filepath.Join(e.stateDir, "pids")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	records := []struct {
		name, pid string
		mode      os.FileMode
		uid       int
		why       string
	}{
		{"det-0", "garbage", 0o644, 0, "not a number"},
		{"det-1", "1", 0o644, 0, "pid 1"},
		{"det-2", strconv.Itoa(op), 0o666, 0, "writable by others"},
		{"det-3", strconv.Itoa(op), 0o644, nobody, "owned by another user"},
	}
	for _, r := range records {
		p := filepath.Join(dir, r.name+".pid")
		if err := os.WriteFile(p, []byte(r.pid+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, r.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, r.uid, -1); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, r.name+".start"), []byte(f[19]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	d := e.start(opts{})
	pids := d.waitRunning(10*time.Second, "det:0", "det:1", "det:2", "det:3")
	for i, r := range records {
		if pids[i] == 1 || pids[i] == op {
			t.Errorf("det:%d adopted pid %d from a record that is %s; want it refused and a fresh start", i, pids[i], r.why)
		}
		if s := readFile(t, filepath.Join(dir, r.name+".pid")); s != strconv.Itoa(pids[i])+"\n" {
			t.Errorf("%s.pid = %q; want the fresh pid %d (the refused record removed)", r.name, s, pids[i])
		}
	}
	if procDead(op) {
		t.Errorf("the unrelated process %d named by refused records was killed", op)
	}
	log := d.stderr.String()
	if n := strings.Count(log, "refused"); n < len(records) {
		t.Errorf("superd logged %d refusals; want one per bad record (%d)\n%s", n, len(records), log)
	}
}

// dtGateJob is a detached job whose runs last until the file gate exists.
func dtGateJob(gate string) string {
	return fmt.Sprintf(`
[job.dj]
command = ["/bin/sh", "-c", "while [ ! -e %s ]; do sleep 0.05; done; echo \"done $*\"", "sh"]
args = "append"
detach = true
`, gate)
}

func TestDetachedJobRunSurvivesRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gate := e.path("gate")
	e.writeConfig("", dtGateJob(gate))
	d := e.start(opts{})
	id := d.jbStart("dj", "x y")
	r := d.jbWaitState(id, apitype.RunRunning, 10*time.Second)
	if r.Pid == nil || !r.Detached {
		t.Fatalf("%s = %s, detached %v; want running, detached", id, jbDescribe(r), r.Detached)
	}
	pid := *r.Pid
	d.track(pid)
	if f, ok := dtStatFields(pid); !ok || f[3] != strconv.Itoa(pid) {
		t.Errorf("detached run %s (pid %d): session %v; want its own", id, pid, f)
	}
	pidFile := filepath.Join(e.stateDir, "pids", id+".pid")
	if s := readFile(t, pidFile); s != strconv.Itoa(pid)+"\n" {
		t.Errorf("%s = %q; want %d", pidFile, s, pid)
	}

	d2 := dtRestart(t, d)
	d2.track(pid)
	if procDead(pid) {
		t.Fatalf("detached run %s died with superd's drain", id)
	}
	r2, ok := d2.jbRun(id)
	if !ok || r2.State != apitype.RunRunning || r2.Pid == nil || *r2.Pid != pid ||
		!slices.Equal(r2.Args, []string{"x y"}) || r2.StartedAt == nil || !r2.StartedAt.Equal(*r.StartedAt) {
		t.Fatalf("%s after superd restarted = %s (listed %v); want re-adopted: running, pid %d, args [x y], started %v",
			id, jbDescribe(r2), ok, pid, r.StartedAt)
	}
	if got := d2.jbStart("dj"); got != "dj-2" {
		t.Errorf("next run = %q; want dj-2", got)
	}

	// It ends while the new superd runs. superd is not its parent, so its
	// exit status is unknown: superd marks it lost (supervisor/jobs.go,
	// onRunExit), with no exit code or signal (apitype.JobRun: they stay
	// null for a lost run).
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	end := d2.jbWaitState(id, apitype.RunLost, 15*time.Second)
	if end.ExitCode != nil || end.ExitSignal != nil || end.Pid != nil || end.EndedAt == nil {
		t.Errorf("%s after it ended = %s, ended_at %v; want lost with exit_code and exit_signal null (unknown), ended_at set",
			id, jbDescribe(end), end.EndedAt)
	}
	if s := waitFileContains(t, 10*time.Second, end.Log, "done x y"); !strings.Contains(s, "done x y") {
		t.Errorf("%s log = %q", id, s)
	}
	for _, p := range []string{pidFile, filepath.Join(e.stateDir, "runs", id+".json")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after the run ended: %v; want it removed", p, err)
		}
	}
	// The run superd started itself has a known status.
	d2.jbWaitState("dj-2", apitype.RunSucceeded, 15*time.Second)
}

func TestDetachedJobRunEndedWhileDownIsLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gate := e.path("gate")
	e.writeConfig("", dtGateJob(gate))
	d := e.start(opts{})
	id := d.jbStart("dj")
	r := d.jbWaitState(id, apitype.RunRunning, 10*time.Second)
	pid := *r.Pid
	d.track(pid)
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("superd after SIGTERM = exit %d", code)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitGone(t, 30*time.Second, pid)

	d2 := e.start(opts{})
	lost, ok := d2.jbRun(id)
	if !ok || lost.State != apitype.RunLost || lost.Pid != nil || lost.ExitCode != nil || lost.ExitSignal != nil ||
		lost.StartedAt == nil || !lost.Detached {
		t.Fatalf("%s after it ended while superd was down = %s (listed %v); want lost, exit status null, started_at kept",
			id, jbDescribe(lost), ok)
	}
	for _, p := range []string{filepath.Join(e.stateDir, "pids", id+".pid"), filepath.Join(e.stateDir, "runs", id+".json")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s: %v; want it removed", p, err)
		}
	}
	if got := d2.jbStart("dj"); got != "dj-2" {
		t.Errorf("next run = %q; want dj-2", got)
	}
}

func TestDetachedJobReadoptedRunStopAndTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig("", `
[job.dj]
command = ["/bin/sleep", "1000"]
detach = true
max_concurrent = 2

[job.dt]
command = ["/bin/sleep", "1000"]
detach = true
timeout = "3s"
`)
	d := e.start(opts{})
	stopID := d.jbStart("dj")
	timeoutID := d.jbStart("dt")
	var pids []int
	for _, id := range []string{stopID, timeoutID} {
		r := d.jbWaitState(id, apitype.RunRunning, 10*time.Second)
		pids = append(pids, *r.Pid)
	}
	d.track(pids...)
	d2 := dtRestart(t, d)
	d2.track(pids...)
	for i, id := range []string{stopID, timeoutID} {
		if r, ok := d2.jbRun(id); !ok || r.State != apitype.RunRunning || r.Pid == nil || *r.Pid != pids[i] {
			t.Fatalf("%s after restart = %s; want re-adopted, pid %d", id, jbDescribe(r), pids[i])
		}
	}

	// An operator's stop of a re-adopted run: it ends stopped (superd
	// stopped it; lost is for runs that ended while superd was away).
	out, errOut, code := d2.ctl("-o", "json", "job", "stop", stopID)
	if code != 0 {
		t.Fatalf("job stop %s (re-adopted) = exit %d, %q", stopID, code, errOut)
	}
	waitForf(t, 10*time.Second, "the stopped run's process to end", func() bool { return procDead(pids[0]) })
	if r, _ := d2.jbRun(stopID); r.State != apitype.RunStopped {
		t.Errorf("%s after job stop = %s (job stop printed %q); want stopped", stopID, jbDescribe(r), out)
	}

	// The job's timeout still holds after re-adoption.
	r := d2.jbWaitState(timeoutID, apitype.RunTimedOut, 12*time.Second)
	if !procDead(pids[1]) {
		t.Errorf("%s is %s but its process %d still runs", timeoutID, r.State, pids[1])
	}
}
