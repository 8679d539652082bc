package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// jbJobs decodes `superctl jobs -o json`.
func (d *daemon) jbJobs() []apitype.JobRun {
	d.t.Helper()
	out := d.mustCtl("jobs", "-o", "json")
	var runs []apitype.JobRun
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		d.t.Fatalf("superctl jobs -o json: %v; output %q", err, out)
	}
	return runs
}

// jbRun returns run id as `superctl jobs -o json` lists it; ok is false
// when it is not listed.
func (d *daemon) jbRun(id string) (apitype.JobRun, bool) {
	d.t.Helper()
	for _, r := range d.jbJobs() {
		if r.ID == id {
			return r, true
		}
	}
	return apitype.JobRun{}, false
}

// jbStart runs `superctl job run NAME [-- ARG...]`, wants exit 0 and
// returns the printed run id.
func (d *daemon) jbStart(name string, args ...string) string {
	d.t.Helper()
	argv := []string{"job", "run", name}
	if len(args) > 0 {
		argv = append(append(argv, "--"), args...)
	}
	out := d.mustCtl(argv...)
	id := strings.TrimSpace(out)
	if id == "" || strings.Contains(id, "\n") {
		d.t.Fatalf("superctl %q printed %q; want one run id", argv, out)
	}
	return id
}

// jbWaitState waits until run id is in state and returns it.
func (d *daemon) jbWaitState(id string, state apitype.RunState, timeout time.Duration) apitype.JobRun {
	d.t.Helper()
	var last apitype.JobRun
	waitFor(d.t, timeout, func() string {
		return fmt.Sprintf("run %s to be %s (last: %s)", id, state, jbDescribe(last))
	}, func() bool {
		r, ok := d.jbRun(id)
		last = r
		return ok && r.State == state
	})
	return last
}

func jbDescribe(r apitype.JobRun) string {
	return fmt.Sprintf("%s state=%s pid=%s exit_code=%s exit_signal=%s args=%q", r.ID, r.State, intPtr(r.Pid),
		intPtr(r.ExitCode), strPtr(r.ExitSignal), r.Args)
}

func jbIDs(runs []apitype.JobRun) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func TestJobRunsSucceedFailAndLog(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[job.hello]
command = ["/bin/sh", "-c", "echo hi; exit 0"]

[job.bad]
command = ["/bin/sh", "-c", "echo oops >&2; exit 3"]
`)
	if id := d.jbStart("hello"); id != "hello-1" {
		t.Fatalf("first job run hello printed %q; want hello-1", id)
	}
	d.jbWaitState("hello-1", apitype.RunSucceeded, 10*time.Second)
	if id := d.jbStart("hello"); id != "hello-2" {
		t.Fatalf("second job run hello printed %q; want hello-2", id)
	}
	d.jbWaitState("hello-2", apitype.RunSucceeded, 10*time.Second)
	if id := d.jbStart("bad"); id != "bad-1" {
		t.Fatalf("job run bad printed %q; want bad-1", id)
	}
	bad := d.jbWaitState("bad-1", apitype.RunFailed, 10*time.Second)
	if bad.ExitCode == nil || *bad.ExitCode != 3 || bad.ExitSignal != nil || bad.EndedAt == nil {
		t.Errorf("bad-1 = %s; want failed with exit_code 3, ended_at set", jbDescribe(bad))
	}
	if s := readFile(t, bad.Log); !strings.Contains(s, "oops") {
		t.Errorf("bad-1 log %s = %q; want its stderr (merged into stdout by default)", bad.Log, s)
	}

	runs := d.jbJobs()
	if got := jbIDs(runs); !slices.Equal(got, []string{"bad-1", "hello-2", "hello-1"}) {
		t.Fatalf("superctl jobs -o json ids = %q; want newest first [bad-1 hello-2 hello-1]", got)
	}
	for _, r := range runs[1:] {
		wantLog := filepath.Join(d.logDir, "jobs", r.ID+".log")
		if r.Job != "hello" || r.State != apitype.RunSucceeded || r.ExitCode == nil || *r.ExitCode != 0 ||
			r.ExitSignal != nil || r.Pid != nil || r.StartedAt == nil || r.EndedAt == nil || r.Detached ||
			r.Args == nil || len(r.Args) != 0 || r.Log != wantLog {
			t.Errorf("run %s = %+v; want job hello, succeeded, exit_code 0, no pid, times set, args [], log %s", r.ID, r, wantLog)
		}
		if s := readFile(t, wantLog); s != "hi\n" {
			t.Errorf("%s = %q; want \"hi\\n\"", wantLog, s)
		}
	}
	if !runs[1].StartedAt.After(*runs[2].StartedAt) && !runs[1].StartedAt.Equal(*runs[2].StartedAt) {
		t.Errorf("hello-2 started %v before hello-1 %v", runs[1].StartedAt, runs[2].StartedAt)
	}

	// The table: its header and a row per run.
	table := d.mustCtl("jobs")
	ls := lines(table)
	if len(ls) != 4 || strings.Join(strings.Fields(ls[0]), " ") != "ID JOB STATE PID STARTED ENDED EXIT ARGS" {
		t.Fatalf("superctl jobs =\n%s\nwant the header ID JOB STATE PID STARTED ENDED EXIT ARGS and 3 rows", table)
	}
	if f := strings.Fields(ls[1]); len(f) != 8 || f[0] != "bad-1" || f[2] != "failed" || f[6] != "3" {
		t.Errorf("superctl jobs row %q; want bad-1 failed ... 3 -", ls[1])
	}
}

func TestJobTimeoutAndStop(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[job.slow]
command = ["/bin/sleep", "1000"]
timeout = "300ms"
stop_timeout = "5s"

[job.long]
command = ["/bin/sleep", "1000"]
max_concurrent = 2
`)
	id := d.jbStart("slow")
	r := d.jbWaitState(id, apitype.RunTimedOut, 15*time.Second)
	if r.ExitSignal == nil || *r.ExitSignal != "SIGTERM" || r.ExitCode != nil || r.Pid != nil {
		t.Errorf("%s = %s; want timed_out by SIGTERM (its stop_signal), no exit code", id, jbDescribe(r))
	}
	if el := r.EndedAt.Sub(*r.StartedAt); el < 300*time.Millisecond || el > 5*time.Second {
		t.Errorf("%s ran %v; want about its timeout, 300ms", id, el)
	}

	id = d.jbStart("long")
	r = d.jbWaitState(id, apitype.RunRunning, 10*time.Second)
	if r.Pid == nil {
		t.Fatalf("%s = %s; want a pid while running", id, jbDescribe(r))
	}
	pid := *r.Pid
	d.track(pid)
	if st, ok := readStat(pid); !ok || st.pgrp != pid {
		t.Errorf("run %s (pid %d): process group %d; want its own group", id, pid, st.pgrp)
	}
	out := d.mustCtl("job", "stop", id)
	if f := strings.Fields(lines(out)[len(lines(out))-1]); len(f) < 3 || f[0] != id || f[2] != "stopped" {
		t.Errorf("superctl job stop %s printed\n%s\nwant its row, stopped (job stop waits until the run ended)", id, out)
	}
	r, _ = d.jbRun(id)
	if r.State != apitype.RunStopped || r.ExitSignal == nil || *r.ExitSignal != "SIGTERM" {
		t.Errorf("%s after job stop = %s; want stopped by SIGTERM", id, jbDescribe(r))
	}
	waitForf(t, 10*time.Second, fmt.Sprintf("pid %d of %s to be gone", pid, id), func() bool { return procGone(pid) })

	// -o json: the run object; stopping an ended run changes nothing.
	out = d.mustCtl("-o", "json", "job", "stop", id)
	var again apitype.JobRun
	if err := json.Unmarshal([]byte(out), &again); err != nil || again.ID != id || again.State != apitype.RunStopped {
		t.Errorf("superctl -o json job stop %s (ended) = %q; want the run object, stopped", id, out)
	}
}

func TestJobQueue(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[job.one]
command = ["/bin/sleep", "1000"]
max_concurrent = 1
queue_max = 1
`)
	first := d.jbStart("one")
	d.jbWaitState(first, apitype.RunRunning, 10*time.Second)
	second := d.jbStart("one")
	if r, _ := d.jbRun(second); r.State != apitype.RunQueued || r.Pid != nil || r.StartedAt != nil {
		t.Fatalf("%s while %s runs = %s; want queued, no pid, not started", second, first, jbDescribe(r))
	}
	out, errOut, code := d.ctl("job", "run", "one")
	if code != 1 || out != "" || len(lines(errOut)) != 1 || !strings.Contains(errOut, "queue") {
		t.Fatalf("third job run one = exit %d, stdout %q, stderr %q; want exit 1 and one line about the full queue", code, out, errOut)
	}
	// Refused: no run was made of it.
	if got := jbIDs(d.jbJobs()); !slices.Equal(got, []string{second, first}) {
		t.Errorf("runs after the refusal = %q; want [%s %s]", got, second, first)
	}

	// The queued run stays queued while the first lives ... A wrong start
	// would follow the enqueue at once (nothing in superd is periodic):
	// 300ms, some 20 looks, shows it.
	holdsFor(t, 300*time.Millisecond, func() string {
		r, _ := d.jbRun(second)
		return fmt.Sprintf("%s = %s while %s still runs; want queued", second, jbDescribe(r), first)
	}, func() bool {
		r, _ := d.jbRun(second)
		return r.State == apitype.RunQueued
	})
	// ... and starts once it ends.
	d.mustCtl("job", "stop", first)
	r := d.jbWaitState(second, apitype.RunRunning, 10*time.Second)
	if r.Pid == nil {
		t.Fatalf("%s = %s; want a pid", second, jbDescribe(r))
	}
	d.track(*r.Pid)
	d.mustCtl("job", "stop", second)

	// A queued run can be stopped before it starts: it never gets a pid.
	a := d.jbStart("one")
	d.jbWaitState(a, apitype.RunRunning, 10*time.Second)
	b := d.jbStart("one")
	d.mustCtl("job", "stop", b)
	if r, _ := d.jbRun(b); r.State != apitype.RunStopped || r.Pid != nil || r.StartedAt != nil {
		t.Errorf("queued %s after job stop = %s; want stopped without ever starting", b, jbDescribe(r))
	}
	d.mustCtl("job", "stop", a)
}

func TestJobArgs(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[job.echo]
command = ["/usr/bin/printf", "<%s>\n"]
args = "append"

[job.plain]
command = ["/bin/true"]
args = "none"
`)
	evil := "; rm -rf /"
	id := d.jbStart("echo", evil, "$(id)", "two words", "-o", "")
	r := d.jbWaitState(id, apitype.RunSucceeded, 10*time.Second)
	want := "<; rm -rf />\n<$(id)>\n<two words>\n<-o>\n<>\n"
	if s := readFile(t, r.Log); s != want {
		t.Errorf("%s log = %q; want %q: every argument one literal argv element, no shell", id, s, want)
	}
	if !slices.Equal(r.Args, []string{evil, "$(id)", "two words", "-o", ""}) {
		t.Errorf("%s args = %q; want them as given", id, r.Args)
	}

	out, errOut, code := d.ctl("job", "run", "plain", "--", "x")
	if code != 1 || out != "" || len(lines(errOut)) != 1 || !strings.Contains(errOut, "argument") {
		t.Errorf("job run plain -- x (args = \"none\") = exit %d, %q, %q; want exit 1 and one line saying it takes no arguments", code, out, errOut)
	}
	// Without arguments the job runs.
	d.jbWaitState(d.jbStart("plain"), apitype.RunSucceeded, 10*time.Second)

	// Over the socket: NUL bytes and oversize arguments are 400, an
	// oversize body is 413, malformed JSON 400; the run is 201.
	c := httpClient(d.sock)
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := c.Post("http://superd"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var e apitype.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error
	}
	big := strings.Repeat("x", 200<<10)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"NUL byte", `{"args":["a\u0000b"]}`, http.StatusBadRequest},
		{"arguments too large", `{"args":["` + big + `"]}`, http.StatusBadRequest},
		{"body too large", `{"args":["` + strings.Repeat(big, 6) + `"]}`, http.StatusRequestEntityTooLarge},
		{"malformed", `{"args":`, http.StatusBadRequest},
	} {
		if code, msg := post("/v1/jobs/echo/run", tc.body); code != tc.want || msg == "" {
			t.Errorf("POST /v1/jobs/echo/run with %s = %d %q; want %d with an error", tc.name, code, msg, tc.want)
		}
	}
	runs := d.jbJobs()
	if len(runs) != 2 {
		t.Errorf("runs after refused requests = %q; want only %s and plain-1", jbIDs(runs), id)
	}
}

func TestJobUnknownNames(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[job.hello]
command = ["/bin/true"]

[program.web]
command = ["/bin/sleep", "1000"]
`)
	for _, args := range [][]string{
		{"job", "run", "nosuch"},
		{"job", "run", "web"}, // a program is not a job
		{"job", "stop", "hello-1"},
		{"job", "stop", "nosuch-1"},
	} {
		out, errOut, code := d.ctl(args...)
		if code != 4 || out != "" || len(lines(errOut)) != 1 {
			t.Errorf("superctl %q = exit %d, %q, %q; want exit 4 and one line", args, code, out, errOut)
		}
	}
}

func TestJobHTTPRun(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[job.hello]
command = ["/bin/sh", "-c", "echo \"hi $*\"", "sh"]
args = "append"
`)
	c := httpClient(d.sock)
	resp, err := c.Post("http://superd/v1/jobs/hello/run", "application/json", strings.NewReader(`{"args":["there"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var r apitype.JobRun
	err = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil || r.ID != "hello-1" || r.Job != "hello" {
		t.Fatalf("POST /v1/jobs/hello/run = %d %+v (%v); want 201 and run hello-1", resp.StatusCode, r, err)
	}
	// No body: a run without arguments.
	resp, err = c.Post("http://superd/v1/jobs/hello/run", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/jobs/hello/run without a body = %d; want 201", resp.StatusCode)
	}
	r1 := d.jbWaitState("hello-1", apitype.RunSucceeded, 10*time.Second)
	d.jbWaitState("hello-2", apitype.RunSucceeded, 10*time.Second)
	if s := readFile(t, r1.Log); s != "hi there\n" {
		t.Errorf("hello-1 log = %q; want \"hi there\\n\"", s)
	}

	resp, err = c.Get("http://superd/v1/jobs")
	if err != nil {
		t.Fatal(err)
	}
	var runs []apitype.JobRun
	err = json.NewDecoder(resp.Body).Decode(&runs)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || !slices.Equal(jbIDs(runs), []string{"hello-2", "hello-1"}) {
		t.Errorf("GET /v1/jobs = %d %q (%v); want 200 [hello-2 hello-1]", resp.StatusCode, jbIDs(runs), err)
	}
	resp, err = c.Post("http://superd/v1/runs/hello-1/stop", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST /v1/runs/hello-1/stop = %d; want 200", resp.StatusCode)
	}
}

func TestJobRunIDsAcrossRestarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig("", `
[job.hello]
command = ["/bin/sh", "-c", "echo hi"]
`)
	d := e.start(opts{})
	d.jbWaitState(d.jbStart("hello"), apitype.RunSucceeded, 10*time.Second)
	d.jbWaitState(d.jbStart("hello"), apitype.RunSucceeded, 10*time.Second)
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("superd after SIGTERM = exit %d; want 0", code)
	}
	d = e.start(opts{})
	if id := d.jbStart("hello"); id != "hello-3" {
		t.Errorf("job run hello after superd restarted = %q; want hello-3 (ids are kept in state_dir)", id)
	}
	// And after kill -9 too: the id was saved when the run was made.
	d.signal(syscall.SIGKILL)
	d.waitExit(30 * time.Second)
	d = e.start(opts{})
	if id := d.jbStart("hello"); id != "hello-4" {
		t.Errorf("job run hello after superd was killed = %q; want hello-4", id)
	}
}

func TestJobKeepRuns(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[job.hello]
command = ["/bin/sh", "-c", "echo hi"]
keep_runs = 2
`)
	for i := 1; i <= 4; i++ {
		id := d.jbStart("hello")
		d.jbWaitState(id, apitype.RunSucceeded, 10*time.Second)
	}
	if got := jbIDs(d.jbJobs()); !slices.Equal(got, []string{"hello-4", "hello-3"}) {
		t.Errorf("runs with keep_runs = 2 = %q; want [hello-4 hello-3]", got)
	}
	dir := filepath.Join(d.logDir, "jobs")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range ents {
		files = append(files, e.Name())
	}
	if !slices.Equal(files, []string{"hello-3.log", "hello-4.log"}) {
		t.Errorf("%s holds %q; want the logs of the kept runs alone", dir, files)
	}
}

func TestJobPermissionDenied(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run superctl as another user")
	}
	e := newEnv(t)
	// The socket file lets anyone connect; superd's peer check refuses.
	e.writeConfig(`socket_mode = "0666"`, `
[job.hello]
command = ["/bin/true"]
`)
	d := e.start(opts{})
	bin := c3Reachable(t, e)
	for _, args := range [][]string{
		{"job", "run", "hello"},
		{"jobs"},
		{"job", "stop", "hello-1"},
	} {
		out, errOut, code := c3CtlAs(t, bin, c3Nobody, c3Nobody, nil, append([]string{"-s", d.sock}, args...)...)
		if code != 6 || out != "" || len(lines(errOut)) != 1 || !strings.Contains(errOut, "permission denied") {
			t.Errorf("superctl %q as nobody = exit %d, %q, %q; want exit 6 and one line", args, code, out, errOut)
		}
	}
	if runs := d.jbJobs(); len(runs) != 0 {
		t.Errorf("runs after refused requests = %q; want none", jbIDs(runs))
	}
}
