package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// jobWorld is the fake superd's job runs, newest first. Jobs: "hello"
// (args = append), "plain" (args = none, its runs fail with exit code 3),
// "busy" (queue full), "locked" (permission denied). A run that is stopped, or started, is running when
// the call answers and has ended by the next listing, except the runs of
// "stuck", which never end.
type jobWorld struct {
	runs   []apitype.JobRun
	settle map[string]apitype.JobRun // what a run becomes at the next listing
}

var jobTime = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func newJobWorld() *jobWorld {
	t := func(s int) *time.Time { v := jobTime.Add(time.Duration(s) * time.Second); return &v }
	return &jobWorld{
		runs: []apitype.JobRun{
			{ID: "stuck-1", Job: "stuck", State: apitype.RunRunning, Pid: ptr(303), Args: []string{}, StartedAt: t(40), Log: "/l/jobs/stuck-1.log"},
			{ID: "hello-2", Job: "hello", State: apitype.RunRunning, Pid: ptr(301), Args: []string{"; rm -rf /", "x", "", "a\nb"},
				StartedAt: t(30), Log: "/l/jobs/hello-2.log", Detached: true},
			{ID: "sig-1", Job: "sig", State: apitype.RunStopped, Args: []string{}, StartedAt: t(20), EndedAt: t(21),
				ExitSignal: ptr("SIGTERM"), Log: "/l/jobs/sig-1.log"},
			{ID: "plain-1", Job: "plain", State: apitype.RunFailed, Args: []string{}, StartedAt: t(10), EndedAt: t(12),
				ExitCode: ptr(3), Log: "/l/jobs/plain-1.log"},
			{ID: "hello-1", Job: "hello", State: apitype.RunSucceeded, Args: nil, StartedAt: t(0), EndedAt: t(1),
				ExitCode: ptr(0), Log: "/l/jobs/hello-1.log"},
			{ID: "hello-9", Job: "hello", State: apitype.RunQueued, Args: []string{}, Log: "/l/jobs/hello-9.log"},
		},
		settle: map[string]apitype.JobRun{},
	}
}

func (f *fakeBackend) world() *jobWorld {
	if f.jobs == nil {
		f.jobs = newJobWorld()
	}
	return f.jobs
}

func (f *fakeBackend) RunJob(ctx context.Context, name string, args []string) (apitype.JobRun, error) {
	f.record(ctx, call{op: "run", target: name, args: args})
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.world()
	switch name {
	case "hello", "stuck":
	case "plain":
		if len(args) > 0 {
			return apitype.JobRun{}, fmt.Errorf("%w: job plain takes no arguments (args = \"none\")", apitype.ErrBadRequest)
		}
	case "busy":
		return apitype.JobRun{}, fmt.Errorf("%w: job busy has 1 runs live and 1 queued (queue_max = 1)", apitype.ErrQueueFull)
	case "locked":
		return apitype.JobRun{}, fmt.Errorf("uid 1000: %w", apitype.ErrForbidden)
	default:
		return apitype.JobRun{}, fmt.Errorf("%w: no job %q", apitype.ErrNotFound, name)
	}
	n := 10
	for _, r := range w.runs {
		if r.Job == name {
			n++
		}
	}
	id := fmt.Sprintf("%s-%d", name, n)
	r := apitype.JobRun{ID: id, Job: name, State: apitype.RunRunning, Pid: ptr(400 + n), Args: args,
		StartedAt: &jobTime, Log: "/l/jobs/" + id + ".log"}
	w.runs = append([]apitype.JobRun{r}, w.runs...)
	if name != "stuck" {
		end := r
		end.State, end.Pid, end.EndedAt = apitype.RunSucceeded, nil, &jobTime
		end.ExitCode = ptr(0)
		if name == "plain" {
			end.State, end.ExitCode = apitype.RunFailed, ptr(3)
		}
		w.settle[id] = end
	}
	return r, nil
}

func (f *fakeBackend) StopRun(ctx context.Context, id string) (apitype.JobRun, error) {
	f.record(ctx, call{op: "stoprun", target: id})
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.world()
	for _, r := range w.runs {
		if r.ID != id {
			continue
		}
		if !r.State.Done() && r.Job != "stuck" {
			end := r
			end.State, end.Pid, end.EndedAt, end.ExitSignal = apitype.RunStopped, nil, &jobTime, ptr("SIGTERM")
			w.settle[id] = end
		}
		return r, nil
	}
	return apitype.JobRun{}, fmt.Errorf("%w: no run %q", apitype.ErrNotFound, id)
}

func (f *fakeBackend) Jobs(ctx context.Context) ([]apitype.JobRun, error) {
	f.record(ctx, call{op: "jobs"})
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.world()
	out := slices.Clone(w.runs)
	for i, r := range w.runs {
		if end, ok := w.settle[r.ID]; ok {
			w.runs[i] = end
			delete(w.settle, r.ID)
		}
	}
	return out, nil
}

func TestJobsTable(t *testing.T) {
	sock := serve(t, &fakeBackend{})
	code, stdout, stderr := runCLI(context.Background(), "-s", sock, "jobs")
	if code != 0 || stderr != "" {
		t.Fatalf("jobs = %d (stderr %q); want 0", code, stderr)
	}
	want := `ID       JOB    STATE      PID  STARTED               ENDED                 EXIT     ARGS
stuck-1  stuck  running    303  2026-11-27T10:00:40Z  -                     -        -
hello-2  hello  running    301  2026-11-27T10:00:30Z  -                     -        "; rm -rf /" x "" "a\nb"
sig-1    sig    stopped    -    2026-11-27T10:00:20Z  2026-11-27T10:00:21Z  SIGTERM  -
plain-1  plain  failed     -    2026-11-27T10:00:10Z  2026-11-27T10:00:12Z  3        -
hello-1  hello  succeeded  -    2026-11-27T10:00:00Z  2026-11-27T10:00:01Z  0        -
hello-9  hello  queued     -    -                     -                     -        -
`
	if stdout != want {
		t.Errorf("jobs table:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestJobsJSON(t *testing.T) {
	sock := serve(t, &fakeBackend{})
	code, stdout, stderr := runCLI(context.Background(), "-s", sock, "jobs", "-o", "json")
	if code != 0 || stderr != "" {
		t.Fatalf("jobs -o json = %d (stderr %q); want 0", code, stderr)
	}
	if strings.Count(stdout, "\n") != 1 {
		t.Errorf("jobs -o json printed %d lines; want the array on one line", strings.Count(stdout, "\n"))
	}
	var raw []map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("jobs -o json: %v; output %q", err, stdout)
	}
	if len(raw) != 6 || raw[0]["id"] != "stuck-1" || raw[4]["id"] != "hello-1" {
		t.Fatalf("jobs -o json = %s; want the 6 runs in the backend's order", stdout)
	}
	for _, k := range []string{"id", "job", "state", "pid", "args", "started_at", "ended_at", "exit_code", "exit_signal", "log", "detached"} {
		if _, ok := raw[1][k]; !ok {
			t.Errorf("run object %v lacks %q", raw[1], k)
		}
	}
	if args, ok := raw[4]["args"].([]any); !ok || len(args) != 0 {
		t.Errorf("hello-1 args = %#v; want [] (never null)", raw[4]["args"])
	}
	var runs []apitype.JobRun
	if err := json.Unmarshal([]byte(stdout), &runs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(runs[1].Args, []string{"; rm -rf /", "x", "", "a\nb"}) || !runs[1].Detached {
		t.Errorf("hello-2 = %+v; want its args as they are and detached", runs[1])
	}
}

func TestJobRun(t *testing.T) {
	fb := &fakeBackend{}
	sock := serve(t, fb)
	ctx := context.Background()

	code, stdout, stderr := runCLI(ctx, "-s", sock, "job", "run", "hello")
	if code != 0 || stdout != "hello-13\n" || stderr != "" {
		t.Errorf("job run hello = %d %q %q; want 0 and the run id alone", code, stdout, stderr)
	}
	if c := fb.recorded()[0]; c.op != "run" || c.target != "hello" || len(c.args) != 0 {
		t.Errorf("backend call = %+v; want run hello without args", c)
	}

	// Arguments after --, each one argument, flags among them untouched.
	args := []string{"; rm -rf /", "-o", "json", "--wait", "", "two words"}
	code, stdout, stderr = runCLI(ctx, append([]string{"-s", sock, "job", "run", "hello", "--"}, args...)...)
	if code != 0 || stdout != "hello-14\n" {
		t.Errorf("job run hello -- ... = %d %q %q; want 0 hello-14", code, stdout, stderr)
	}
	if c := fb.recorded()[len(fb.recorded())-1]; !slices.Equal(c.args, args) {
		t.Errorf("backend args = %q; want %q", c.args, args)
	}

	// -o json: the run object.
	code, stdout, _ = runCLI(ctx, "-s", sock, "-o", "json", "job", "run", "hello", "--", "a")
	var run apitype.JobRun
	if code != 0 || json.Unmarshal([]byte(stdout), &run) != nil || run.ID != "hello-15" || !slices.Equal(run.Args, []string{"a"}) {
		t.Errorf("job run -o json = %d %q; want the run object of hello-15", code, stdout)
	}
	code, stdout, _ = runCLI(ctx, "-s", sock, "job", "run", "-o", "json", "plain")
	if code != 0 || !strings.Contains(stdout, `"args":[]`) {
		t.Errorf("job run -o json plain = %d %q; want args []", code, stdout)
	}
}

func TestJobRunWait(t *testing.T) {
	sock := serve(t, &fakeBackend{})
	ctx := context.Background()
	code, stdout, stderr := runCLI(ctx, "-s", sock, "job", "run", "--wait", "hello")
	if code != 0 || stdout != "hello-13\n" || stderr != "" {
		t.Errorf("job run --wait hello = %d %q %q; want 0 hello-13", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(ctx, "-s", sock, "job", "run", "--wait", "plain")
	if code != 1 || stdout != "plain-11\n" || stderr != "superctl: run plain-11 failed (exit code 3); its output is in /l/jobs/plain-11.log\n" {
		t.Errorf("job run --wait plain = %d %q %q; want 1 and how it ended", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(ctx, "-s", sock, "-o", "json", "job", "run", "--wait", "hello")
	var run apitype.JobRun
	if code != 0 || json.Unmarshal([]byte(stdout), &run) != nil || run.State != apitype.RunSucceeded {
		t.Errorf("job run --wait -o json = %d %q; want the ended run object alone", code, stdout)
	}
	code, _, stderr = runCLI(ctx, "-s", sock, "job", "run", "--wait", "--timeout", "200ms", "stuck")
	if code != 1 || !strings.Contains(stderr, "still running after 200ms: timed out") {
		t.Errorf("job run --wait of a run that does not end = %d %q; want 1 and timed out", code, stderr)
	}
}

func TestJobStop(t *testing.T) {
	fb := &fakeBackend{}
	sock := serve(t, fb)
	ctx := context.Background()

	code, stdout, stderr := runCLI(ctx, "-s", sock, "job", "stop", "hello-2")
	want := `ID       JOB    STATE    PID  STARTED               ENDED                 EXIT     ARGS
hello-2  hello  stopped  -    2026-11-27T10:00:30Z  2026-11-27T10:00:00Z  SIGTERM  "; rm -rf /" x "" "a\nb"
`
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("job stop hello-2 = %d\n%s%q\nwant 0 and\n%s", code, stdout, stderr, want)
	}

	code, stdout, _ = runCLI(ctx, "-s", sock, "-o", "json", "job", "stop", "--no-wait", "hello-1")
	var run apitype.JobRun
	if code != 0 || json.Unmarshal([]byte(stdout), &run) != nil || run.ID != "hello-1" || run.State != apitype.RunSucceeded {
		t.Errorf("job stop of an ended run = %d %q; want 0 and the run unchanged", code, stdout)
	}
	if c := fb.recorded()[len(fb.recorded())-1]; c.op != "stoprun" || c.target != "hello-1" {
		t.Errorf("last backend call = %+v; want stoprun hello-1 and no wait (no listing)", c)
	}

	code, _, stderr = runCLI(ctx, "-s", sock, "job", "stop", "--timeout", "150ms", "stuck-1")
	if code != 1 || !strings.Contains(stderr, "superctl: job stop stuck-1: run stuck-1 still running after 150ms: timed out") {
		t.Errorf("job stop of a run that does not end = %d %q; want 1 and timed out", code, stderr)
	}
}

func TestJobExitCodes(t *testing.T) {
	sock := serve(t, &fakeBackend{})
	missing := sock + ".missing"
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr string
	}{
		{"jobs", []string{"jobs"}, 0, ""},
		{"run", []string{"job", "run", "hello", "--", "x"}, 0, ""},
		{"stop", []string{"job", "stop", "--no-wait", "hello-2"}, 0, ""},
		{"help", []string{"job", "run", "--help"}, 0, ""},

		{"args refused", []string{"job", "run", "plain", "--", "x"}, 1,
			"superctl: job run plain: bad request: job plain takes no arguments (args = \"none\")\n"},
		{"queue full", []string{"job", "run", "busy"}, 1,
			"superctl: job run busy: job queue full: job busy has 1 runs live and 1 queued (queue_max = 1)\n"},
		{"not UTF-8", []string{"job", "run", "hello", "--", "\xff"}, 1, "argument 1 is not valid UTF-8"},

		{"job without command", []string{"job"}, 2, "superctl: job needs a command: run or stop\nRun 'superctl job --help' for usage.\n"},
		{"job unknown command", []string{"job", "start", "x"}, 2, `unknown job command "start"; want run or stop`},
		{"run without name", []string{"job", "run"}, 2, "superctl: job run needs the NAME of a job\n"},
		{"run args without dash", []string{"job", "run", "hello", "a", "b"}, 2,
			"superctl: job run takes one NAME; arguments for the job go after --: superctl job run hello -- a b\n"},
		{"run only args", []string{"job", "run", "--", "a"}, 2, "job run needs the NAME of a job"},
		{"run unknown flag", []string{"job", "run", "hello", "-x"}, 2, "unknown shorthand flag: 'x' in -x"},
		{"stop without id", []string{"job", "stop"}, 2, "superctl: stop needs a RUNID, got 0 argument(s)\n"},
		{"stop two ids", []string{"job", "stop", "a-1", "b-1"}, 2, "stop needs a RUNID, got 2"},
		{"stop zero timeout", []string{"job", "stop", "--timeout", "0s", "hello-2"}, 2, "--timeout must be positive"},
		{"jobs with an argument", []string{"jobs", "hello"}, 2, "jobs takes at most 0 argument(s)"},

		{"unknown job", []string{"job", "run", "nosuch"}, 4, `superctl: job run nosuch: unknown name: no job "nosuch"` + "\n"},
		{"unknown job with args", []string{"job", "run", "nosuch", "--", "a"}, 4, "unknown name"},
		{"unknown run", []string{"job", "stop", "hello-99"}, 4, `superctl: job stop hello-99: unknown name: no run "hello-99"` + "\n"},

		{"unreachable jobs", []string{"-s", missing, "jobs"}, 5, "superctl: superd not reachable at " + missing},
		{"unreachable run", []string{"-s", missing, "job", "run", "hello"}, 5, "superd not reachable at " + missing},
		{"unreachable stop", []string{"-s", missing, "job", "stop", "hello-1"}, 5, "superd not reachable at " + missing},

		{"forbidden", []string{"job", "run", "locked"}, 6, "superctl: job run locked: uid 1000: permission denied\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !hasSocketFlag(args) {
				args = append([]string{"-s", sock}, args...)
			}
			code, stdout, stderr := runCLI(context.Background(), args...)
			if code != tt.want {
				t.Errorf("run(%q) = %d; want %d\nstdout: %s\nstderr: %s", args, code, tt.want, stdout, stderr)
			}
			if tt.wantStderr == "" && stderr != "" {
				t.Errorf("run(%q) stderr = %q; want none", args, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("run(%q) stderr = %q; want it to contain %q", args, stderr, tt.wantStderr)
			}
			if code != 0 && code != 2 && strings.Count(stderr, "\n") != 1 {
				t.Errorf("run(%q) stderr = %q; want exactly one line", args, stderr)
			}
		})
	}
}

func TestJobHelp(t *testing.T) {
	for _, args := range [][]string{{"jobs", "--help"}, {"job", "--help"}, {"job", "run", "--help"}, {"job", "stop", "--help"}} {
		code, stdout, _ := runCLI(context.Background(), args...)
		if code != 0 || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "superctl job") && args[0] != "jobs" {
			t.Errorf("%q = %d; want help with examples:\n%s", args, code, stdout)
		}
	}
	_, stdout, _ := runCLI(context.Background(), "--help")
	for _, verb := range []string{"jobs ", "job "} {
		if !strings.Contains(stdout, "\n  "+verb) {
			t.Errorf("superctl --help does not list %q:\n%s", verb, stdout)
		}
	}
}
