package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// jobWorld is a fake backend's jobs: "hello" (args = append), "plain"
// (args = none), "busy" (queue full), "late" (superd drains); runs
// counted per job; run ids "hello-N" exist up to the count.
type jobWorld struct {
	mu   sync.Mutex // guards the field below
	runs []apitype.JobRun
}

func (w *jobWorld) backend() *fakeBackend {
	return &fakeBackend{
		runJob: func(_ context.Context, name string, args []string) (apitype.JobRun, error) {
			switch name {
			case "hello":
			case "plain":
				if len(args) > 0 {
					return apitype.JobRun{}, fmt.Errorf("%w: job plain takes no arguments (args = \"none\")", apitype.ErrBadRequest)
				}
			case "busy":
				return apitype.JobRun{}, fmt.Errorf("%w: job busy has 1 runs live and 1 queued (queue_max = 1)", apitype.ErrQueueFull)
			case "late":
				return apitype.JobRun{}, fmt.Errorf("run late: %w", apitype.ErrShuttingDown)
			default:
				return apitype.JobRun{}, fmt.Errorf("%w: no job %q", apitype.ErrNotFound, name)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			n := 1
			for _, r := range w.runs {
				if r.Job == name {
					n++
				}
			}
			started := time.Date(2026, 11, 27, 10, 0, n, 0, time.UTC)
			r := apitype.JobRun{
				ID: fmt.Sprintf("%s-%d", name, n), Job: name, State: apitype.RunRunning,
				Pid: ptr(5000 + n), Args: args, StartedAt: &started,
				Log: fmt.Sprintf("/var/log/superd/jobs/%s-%d.log", name, n),
			}
			w.runs = append([]apitype.JobRun{r}, w.runs...)
			return r, nil
		},
		stopRun: func(_ context.Context, id string) (apitype.JobRun, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, r := range w.runs {
				if r.ID == id {
					return r, nil
				}
			}
			return apitype.JobRun{}, fmt.Errorf("%w: no run %q", apitype.ErrNotFound, id)
		},
		jobs: func(context.Context) ([]apitype.JobRun, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			return slices.Clone(w.runs), nil
		},
	}
}

func TestRunJobRoundTrip(t *testing.T) {
	w := &jobWorld{}
	fb := w.backend()
	ts := startServer(t, fb, 0o600)
	ctx := context.Background()

	run, err := ts.client.RunJob(ctx, "hello", []string{"; rm -rf /", "two words", ""})
	if err != nil {
		t.Fatalf("RunJob(hello) = %v", err)
	}
	if run.ID != "hello-1" || run.State != apitype.RunRunning || run.Pid == nil || *run.Pid != 5001 {
		t.Errorf("RunJob(hello) = %+v; want hello-1 running with pid 5001", run)
	}
	// Every argument arrives as it was given, each one element.
	want := []string{"; rm -rf /", "two words", ""}
	if got := fb.recorded()[0].args; !slices.Equal(got, want) {
		t.Errorf("backend got args %q; want %q", got, want)
	}
	if !slices.Equal(run.Args, want) {
		t.Errorf("run.Args = %q; want %q", run.Args, want)
	}

	// Without arguments the client sends no body; the backend sees none.
	run, err = ts.client.RunJob(ctx, "hello", nil)
	if err != nil || run.ID != "hello-2" {
		t.Fatalf("RunJob(hello, no args) = %+v, %v; want hello-2", run, err)
	}
	if got := fb.recorded()[1].args; len(got) != 0 {
		t.Errorf("backend got args %q; want none", got)
	}
	// ... and the answer still has "args": [], not null.
	if run.Args == nil {
		t.Errorf("run.Args = nil; want an empty array on the wire")
	}

	runs, err := ts.client.Jobs(ctx)
	if err != nil {
		t.Fatalf("Jobs() = %v", err)
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"hello-2", "hello-1"}) {
		t.Errorf("Jobs() = %q; want [hello-2 hello-1], as the backend ordered them", ids)
	}

	got, err := ts.client.StopRun(ctx, "hello-1")
	if err != nil || got.ID != "hello-1" {
		t.Errorf("StopRun(hello-1) = %+v, %v; want hello-1", got, err)
	}
	if c := fb.recorded()[len(fb.recorded())-1]; c.op != "stoprun" || !slices.Equal(c.targets, []string{"hello-1"}) {
		t.Errorf("last backend call = %+v; want stoprun hello-1", c)
	}
}

func TestJobErrorsRoundTrip(t *testing.T) {
	w := &jobWorld{}
	ts := startServer(t, w.backend(), 0o600)
	ctx := context.Background()
	tests := []struct {
		name     string
		call     func() error
		want     error
		wantCode int
	}{
		{"unknown job", func() error { _, err := ts.client.RunJob(ctx, "nosuch", nil); return err }, apitype.ErrNotFound, 404},
		{"args refused", func() error { _, err := ts.client.RunJob(ctx, "plain", []string{"x"}); return err }, apitype.ErrBadRequest, 400},
		{"queue full", func() error { _, err := ts.client.RunJob(ctx, "busy", nil); return err }, apitype.ErrQueueFull, 429},
		{"draining", func() error { _, err := ts.client.RunJob(ctx, "late", nil); return err }, apitype.ErrShuttingDown, 503},
		{"unknown run", func() error { _, err := ts.client.StopRun(ctx, "hello-99"); return err }, apitype.ErrNotFound, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if sentinelOf(err) != tt.want {
				t.Fatalf("error = %v (sentinel %v); want %v", err, sentinelOf(err), tt.want)
			}
			re, ok := errors.AsType[*ResponseError](err)
			if !ok || re.StatusCode != tt.wantCode {
				t.Errorf("error = %#v; want a *ResponseError with status %d", err, tt.wantCode)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q has several lines; want one", err)
			}
		})
	}
}

func TestRunJobBody(t *testing.T) {
	w := &jobWorld{}
	fb := w.backend()
	ts := startServer(t, fb, 0o600)
	tests := []struct {
		name     string
		body     string
		wantCode int
		wantArgs []string // when 201
	}{
		{"no body", "", 201, nil},
		{"blank body", " \n", 201, nil},
		{"null", "null", 201, nil},
		{"empty object", "{}", 201, nil},
		{"null args", `{"args":null}`, 201, nil},
		{"args", `{"args":["a b","c"]}`, 201, []string{"a b", "c"}},
		{"NUL escaped in JSON reaches the backend", `{"args":["a\u0000b"]}`, 201, []string{"a\x00b"}},
		{"malformed", `{"args":[`, 400, nil},
		{"not an object", `["a"]`, 400, nil},
		{"args not strings", `{"args":[1,2]}`, 400, nil},
		{"unknown field", `{"arg":["a"]}`, 400, nil},
		{"trailing data", `{"args":["a"]} {"args":["b"]}`, 400, nil},
		{"not UTF-8", "{\"args\":[\"\xff\"]}", 400, nil},
		{"over the cap", `{"args":["` + strings.Repeat("x", maxBodyBytes) + `"]}`, 413, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(fb.recorded())
			resp, body := rawDo(t, ts.path, "POST", "/v1/jobs/hello/run", tt.body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("POST /v1/jobs/hello/run %q = %d %s; want %d", shortBody(tt.body), resp.StatusCode, body, tt.wantCode)
			}
			calls := fb.recorded()[before:]
			if tt.wantCode != 201 {
				var e apitype.Error
				if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
					t.Errorf("error body = %q; want {\"error\":\"...\"}", body)
				}
				if len(calls) != 0 {
					t.Errorf("backend called (%+v) for a refused body", calls)
				}
				return
			}
			if len(calls) != 1 || !slices.Equal(calls[0].args, tt.wantArgs) {
				t.Errorf("backend calls = %+v; want one run with args %q", calls, tt.wantArgs)
			}
			var run map[string]any
			if err := json.Unmarshal([]byte(body), &run); err != nil {
				t.Fatalf("201 body %q: %v", body, err)
			}
			// The run object of SPEC §4, every key present.
			for _, k := range []string{"id", "job", "state", "pid", "args", "started_at", "ended_at", "exit_code", "exit_signal", "log", "detached"} {
				if _, ok := run[k]; !ok {
					t.Errorf("run object %s lacks %q", body, k)
				}
			}
			if run["args"] == nil {
				t.Errorf("run object %s: args is null; want an array", body)
			}
		})
	}
}

func shortBody(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func TestJobRoutes(t *testing.T) {
	fb := &fakeBackend{
		jobs: func(context.Context) ([]apitype.JobRun, error) {
			// A backend that answers nil, and a run without args.
			return nil, nil
		},
		stopRun: func(_ context.Context, id string) (apitype.JobRun, error) {
			return apitype.JobRun{ID: id, Job: "hello", State: apitype.RunStopped}, nil
		},
	}
	ts := startServer(t, fb, 0o600)

	resp, body := rawDo(t, ts.path, "GET", "/v1/jobs", "")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("GET /v1/jobs = %d %q; want 200 []", resp.StatusCode, body)
	}
	resp, body = rawDo(t, ts.path, "POST", "/v1/runs/hello-3/stop", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"id":"hello-3"`) || !strings.Contains(body, `"args":[]`) {
		t.Errorf("POST /v1/runs/hello-3/stop = %d %q; want 200 with hello-3 and args []", resp.StatusCode, body)
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"POST", "/v1/jobs", "GET, HEAD"},
		{"GET", "/v1/jobs/hello/run", "POST"},
		{"GET", "/v1/runs/hello-1/stop", "POST"},
	} {
		resp, body := rawDo(t, ts.path, tc.method, tc.path, "")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d (Allow %q) %q; want 405 allowing %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), body, tc.allow)
		}
	}
	resp, _ = rawDo(t, ts.path, "POST", "/v1/runs/hello-1", "")
	if resp.StatusCode != 404 {
		t.Errorf("POST /v1/runs/hello-1 = %d; want 404", resp.StatusCode)
	}
}

func TestRunJobClientRefusesNonUTF8(t *testing.T) {
	w := &jobWorld{}
	fb := w.backend()
	ts := startServer(t, fb, 0o600)
	_, err := ts.client.RunJob(context.Background(), "hello", []string{"ok", "bad\xff"})
	if !errors.Is(err, apitype.ErrBadRequest) || !strings.Contains(err.Error(), "argument 2") {
		t.Errorf("RunJob with a non-UTF-8 argument = %v; want ErrBadRequest naming argument 2", err)
	}
	if n := len(fb.recorded()); n != 0 {
		t.Errorf("backend called %d times; want the client to refuse before sending", n)
	}
}

func TestJobsUnreachable(t *testing.T) {
	c := NewClient(shortTempDir(t) + "/none.sock")
	ctx := context.Background()
	if _, err := c.Jobs(ctx); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Jobs() = %v; want ErrUnreachable", err)
	}
	if _, err := c.RunJob(ctx, "hello", []string{"a"}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("RunJob() = %v; want ErrUnreachable", err)
	}
	if _, err := c.StopRun(ctx, "hello-1"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("StopRun() = %v; want ErrUnreachable", err)
	}
}
