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
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// status answers GET /v1/programs and GET /v1/programs/{target}.
func (a *api) status(w http.ResponseWriter, r *http.Request) {
	var targets []string
	if t := r.PathValue("target"); t != "" {
		targets = []string{t}
	}
	insts, err := a.backend.Status(r.Context(), targets...)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeInstances(w, r, insts)
}

// controlOp is Backend.Start, Backend.Stop or Backend.Restart.
type controlOp func(b Backend, ctx context.Context, target string, wait bool) ([]apitype.Instance, error)

// control answers POST /v1/programs/{target}/VERB?wait=BOOL&timeout=DURATION.
// With wait, the timeout (default DefaultWaitTimeout) is the deadline of the
// backend call.
func (a *api) control(verb string, op controlOp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		target := r.PathValue("target")
		q := r.URL.Query()
		wait, err := boolParam(q, "wait", false)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		timeout, err := durationParam(q, "timeout", DefaultWaitTimeout)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		ctx := r.Context()
		if wait {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		insts, err := op(a.backend, ctx, target, wait)
		if err != nil {
			if wait && apitype.HTTPStatus(err) == http.StatusInternalServerError &&
				errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%s %s: not settled within %v: %w", verb, target, timeout, apitype.ErrTimeout)
			}
			a.fail(w, r, err)
			return
		}
		a.writeInstances(w, r, insts)
	}
}

// signal answers POST /v1/programs/{target}/signal with body
// {"signal":"HUP"}: 204 once sent.
func (a *api) signal(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		a.fail(w, r, bodyError(err))
		return
	}
	var req apitype.SignalRequest
	if err := json.Unmarshal(body, &req); err != nil {
		a.fail(w, r, fmt.Errorf("invalid JSON body: %v: %w", err, apitype.ErrBadRequest))
		return
	}
	if req.Signal == "" {
		a.fail(w, r, fmt.Errorf(`body needs a "signal": %w`, apitype.ErrBadRequest))
		return
	}
	sig, err := ParseSignal(req.Signal)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.backend.Signal(r.Context(), r.PathValue("target"), sig); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// logs answers GET /v1/programs/{instance}/logs?lines=N&follow=BOOL as
// text/plain. With follow, it flushes the tail and then every later chunk,
// until the backend closes the stream, the client goes away or the server
// shuts down; a client that does not take a chunk within the stream write
// timeout is cut off.
func (a *api) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n := defaultLogLines
	if s := q.Get("lines"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			a.fail(w, r, fmt.Errorf("lines=%q is not an integer: %w", s, apitype.ErrBadRequest))
			return
		}
		n = v
	}
	follow, err := boolParam(q, "follow", false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx := r.Context()
	tail, more, cancel, err := a.backend.Logs(ctx, r.PathValue("instance"), n, follow)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if cancel != nil {
		defer cancel()
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !follow || more == nil || r.Method == http.MethodHead {
		_, _ = w.Write(tail)
		return
	}
	st := a.startStream(w)
	defer st.end()
	if err := st.send(tail); err != nil {
		return
	}
	for {
		select {
		case chunk, ok := <-more:
			if !ok {
				return
			}
			if err := st.send(chunk); err != nil {
				a.log.Info("log follower cut off", "instance", r.PathValue("instance"), "err", err)
				return
			}
		case <-ctx.Done():
			return
		case <-a.streams:
			return
		}
	}
}

// events answers GET /v1/events with newline-delimited JSON, one
// apitype.Event a line, each flushed as it comes. The headers are flushed
// at once, so a client that has them is subscribed. The stream ends
// cleanly when the backend closes it because superd drains, or when the
// server shuts down; it ends when the client goes away; and a client that
// does not take an event within the stream write timeout, or that the
// backend cut off for falling behind, has its connection aborted, so it
// cannot mistake the cut for the end.
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	evs, cancel, err := a.backend.Events(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer cancel()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	st := a.startStream(w)
	defer st.end()
	if err := st.send(nil); err != nil {
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				if d, isDrainer := a.backend.(drainer); isDrainer && ctx.Err() == nil && !d.Draining(ctx) {
					a.log.Warn("event follower fell behind; cut off")
					panic(http.ErrAbortHandler)
				}
				return
			}
			buf.Reset()
			if err := enc.Encode(ev); err != nil {
				a.log.Error("encode event", "err", err)
				continue
			}
			if err := st.send(buf.Bytes()); err != nil {
				a.log.Info("event follower cut off", "err", err)
				return
			}
		case <-ctx.Done():
			return
		case <-a.streams:
			return
		}
	}
}

// stream writes the chunks of a long response (a log or event stream).
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

// startStream prepares w for a stream. (The whole-request read timeout
// does not end a stream: net/http lifts the read deadline once a bodiless
// request is read, to watch for the client hanging up.)
func (a *api) startStream(w http.ResponseWriter) *stream {
	return &stream{w: w, rc: http.NewResponseController(w), timeout: a.lim.streamWriteTimeout}
}

// send writes b and flushes it; a client that does not take it within the
// stream write timeout fails it. An empty b flushes what is buffered, such
// as the headers.
func (s *stream) send(b []byte) error {
	// A deadline is unsupported only by test recorders; then no bound.
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if len(b) > 0 {
		if _, err := s.w.Write(b); err != nil {
			return err
		}
	}
	return s.rc.Flush()
}

// end clears the last chunk's deadline: a keep-alive connection serves on.
func (s *stream) end() { _ = s.rc.SetWriteDeadline(time.Time{}) }

// reload answers POST /v1/reload: 200 with the applied difference, or 400
// whose error is the config's positioned errors, one a line, when the new
// config is invalid (then nothing changed).
func (a *api) reload(w http.ResponseWriter, r *http.Request) {
	res, err := a.backend.Reload(r.Context())
	if err != nil {
		if errors.Is(err, apitype.ErrBadRequest) {
			writeErrorText(w, http.StatusBadRequest, withoutSentinel(err, apitype.ErrBadRequest))
			return
		}
		a.fail(w, r, err)
		return
	}
	for _, l := range []*[]string{&res.Added, &res.Removed, &res.Changed, &res.Unchanged, &res.RestartRequired} {
		if *l == nil {
			*l = []string{}
		}
	}
	writeJSON(w, http.StatusOK, res)
}

// withoutSentinel returns err's message without the sentinel's: for an
// error made as fmt.Errorf("%w: %w", sentinel, detail), the detail alone.
// Any other error keeps its whole message.
func withoutSentinel(err, sentinel error) string {
	m, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err.Error()
	}
	var parts []string
	for _, e := range m.Unwrap() {
		if e != sentinel {
			parts = append(parts, e.Error())
		}
	}
	if len(parts) == 0 || len(parts) == len(m.Unwrap()) {
		return err.Error()
	}
	return strings.Join(parts, ": ")
}

// shutdown answers POST /v1/shutdown: 202 once the drain has begun.
func (a *api) shutdown(w http.ResponseWriter, r *http.Request) {
	if err := a.backend.Shutdown(r.Context()); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, apitype.Health{Status: "draining", Pid: os.Getpid()})
}

// health answers GET /v1/health: "ok", or "draining" once the backend
// (if it can tell) has begun a drain.
func (a *api) health(w http.ResponseWriter, r *http.Request) {
	status := "ok"
	if d, ok := a.backend.(drainer); ok && d.Draining(r.Context()) {
		status = "draining"
	}
	writeJSON(w, http.StatusOK, apitype.Health{Status: status, Pid: os.Getpid()})
}

// fail answers with the error's status code and message; a server error (no
// sentinel) is also logged, since the client learns little from it.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := apitype.HTTPStatus(err)
	if code == http.StatusInternalServerError {
		a.log.Error("control request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeErrorText(w, code, err.Error())
}

// bodyError classifies a failure to read a request body.
func bodyError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return fmt.Errorf("request body larger than %d bytes: %w", maxBodyBytes, apitype.ErrTooLarge)
	}
	return fmt.Errorf("read request body: %v: %w", err, apitype.ErrBadRequest)
}

// boolParam parses the query parameter name as a bool (true, false, 1, 0,
// ...), def when absent; a bad value wraps apitype.ErrBadRequest.
func boolParam(q url.Values, name string, def bool) (bool, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not a boolean: %w", name, s, apitype.ErrBadRequest)
	}
	return v, nil
}

// durationParam parses the query parameter name as a positive Go duration,
// def when absent; a bad value wraps apitype.ErrBadRequest.
func durationParam(q url.Values, name string, def time.Duration) (time.Duration, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive duration: %w", name, s, apitype.ErrBadRequest)
	}
	return v, nil
}

// writeError answers with err's status code and message.
func writeError(w http.ResponseWriter, err error) {
	writeErrorText(w, apitype.HTTPStatus(err), err.Error())
}

// writeErrorText answers code with the JSON error body {"error": msg}.
func writeErrorText(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apitype.Error{Error: msg})
}

// writeJSON answers code with v as JSON; a v that cannot be encoded is
// answered with 500.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(apitype.Error{Error: fmt.Sprintf("encode answer: %v", err)})
	}
	writeBody(w, code, append(b, '\n'))
}

// writeInstances answers 200 with the JSON array of insts ([] for none);
// an instance that cannot be encoded fails the request.
func (a *api) writeInstances(w http.ResponseWriter, r *http.Request, insts []apitype.Instance) {
	b, err := apitype.AppendInstances(nil, nonNil(insts))
	if err != nil {
		a.fail(w, r, fmt.Errorf("encode instances: %w", err))
		return
	}
	writeBody(w, http.StatusOK, append(b, '\n'))
}

// writeBody answers code with body, JSON, in one write with its length.
func writeBody(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// nonNil makes a nil slice encode as [] rather than null.
func nonNil(insts []apitype.Instance) []apitype.Instance {
	if insts == nil {
		return []apitype.Instance{}
	}
	return insts
}
