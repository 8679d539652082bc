package ipc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/superd/superd/ipc/apitype"
)

// The job routes (SPEC §4): GET /v1/jobs, POST /v1/jobs/{name}/run and
// POST /v1/runs/{id}/stop, each answering run objects (apitype.JobRun).

// jobs answers GET /v1/jobs: the array of kept runs, newest first.
func (a *api) jobs(w http.ResponseWriter, r *http.Request) {
	runs, err := a.backend.Jobs(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if runs == nil {
		runs = []apitype.JobRun{}
	}
	for i := range runs {
		runs[i] = wireRun(runs[i])
	}
	writeJSON(w, http.StatusOK, runs)
}

// runJob answers POST /v1/jobs/{name}/run with the optional body
// {"args":[...]}: 201 with the new run (running, or queued). A body that is
// not one JSON object of that shape is 400; one over the cap, 413.
func (a *api) runJob(w http.ResponseWriter, r *http.Request) {
	req, err := decodeRunRequest(r.Body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	run, err := a.backend.RunJob(r.Context(), r.PathValue("name"), req.Args)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, wireRun(run))
}

// decodeRunRequest reads the optional body of a run request: empty (no
// arguments), or exactly one JSON object {"args":[strings]}. Unknown
// fields, trailing data and bytes that are not UTF-8 (which JSON would
// silently replace, changing an argument) are refused.
func decodeRunRequest(body io.Reader) (apitype.RunRequest, error) {
	var req apitype.RunRequest
	b, err := io.ReadAll(body)
	if err != nil {
		return req, bodyError(err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return req, nil
	}
	if !utf8.Valid(b) {
		return req, fmt.Errorf("invalid JSON body: not valid UTF-8: %w", apitype.ErrBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf(`invalid JSON body (want {"args":["..."]}): %v: %w`, err, apitype.ErrBadRequest)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, fmt.Errorf("invalid JSON body: data after the object: %w", apitype.ErrBadRequest)
	}
	return req, nil
}

// stopRun answers POST /v1/runs/{id}/stop: 200 with the run, which is
// usually still running (stopping) when the answer leaves.
func (a *api) stopRun(w http.ResponseWriter, r *http.Request) {
	run, err := a.backend.StopRun(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wireRun(run))
}

// wireRun is run as it goes on the wire: args is an array, never null.
func wireRun(run apitype.JobRun) apitype.JobRun {
	if run.Args == nil {
		run.Args = []string{}
	}
	return run
}

// Jobs returns every run superd keeps, of every job, newest first.
func (c *Client) Jobs(ctx context.Context) ([]apitype.JobRun, error) {
	var runs []apitype.JobRun
	err := c.do(ctx, http.MethodGet, "/v1/jobs", nil, nil, &runs)
	return runs, err
}

// RunJob starts a run of job name, with args appended to its argv as
// separate elements, and returns the run (running, or queued). Unknown
// job: an error wrapping apitype.ErrNotFound; arguments refused (the job
// takes none, a NUL byte, too large, not UTF-8): apitype.ErrBadRequest; the
// job's queue is full: apitype.ErrQueueFull.
func (c *Client) RunJob(ctx context.Context, name string, args []string) (apitype.JobRun, error) {
	var run apitype.JobRun
	var body []byte
	if len(args) > 0 {
		for i, a := range args {
			if !utf8.ValidString(a) {
				// JSON would replace the bad bytes, so the job would get
				// another argument than the one given.
				return run, fmt.Errorf("argument %d is not valid UTF-8, which the control API cannot carry: %w", i+1, apitype.ErrBadRequest)
			}
		}
		var err error
		if body, err = json.Marshal(apitype.RunRequest{Args: args}); err != nil {
			return run, err
		}
	}
	err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(name)+"/run", nil, body, &run)
	return run, err
}

// StopRun stops run id and returns it at once (still running while its
// stop_signal takes effect). Unknown id: an error wrapping
// apitype.ErrNotFound.
func (c *Client) StopRun(ctx context.Context, id string) (apitype.JobRun, error) {
	var run apitype.JobRun
	err := c.do(ctx, http.MethodPost, "/v1/runs/"+url.PathEscape(id)+"/stop", nil, nil, &run)
	return run, err
}
