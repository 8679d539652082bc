// Package apitype holds the wire types of superd's control API: the JSON
// objects, the request and response bodies, the state names and the sentinel
// errors that cross the Unix socket. It imports nothing of the project, so
// both the server side (supervisor, ipc) and the client side (superctl) can
// share it.
package apitype

import (
	"errors"
	"net/http"
	"time"
)

// State is the state of a program instance, as it appears on the wire.
type State string

// The states of SPEC §3.
const (
	StateStopped  State = "stopped"
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateBackoff  State = "backoff"
	StateStopping State = "stopping"
	StateExited   State = "exited"
	StateFatal    State = "fatal"
)

// Live reports whether an instance in state s has, or is about to have, a
// process: everything but stopped, exited and fatal.
func (s State) Live() bool {
	switch s {
	case StateStopped, StateExited, StateFatal:
		return false
	}
	return true
}

// Instance is the JSON object of one program instance (SPEC §4). Pid and
// StartedAt are nil when the instance is not running; ExitCode and
// ExitSignal describe the last exit, at most one of them non-nil. A new
// field must also be taught to AppendInstances and DecodeInstances; their
// tests fail until it is.
type Instance struct {
	Name          string     `json:"name"`
	Program       string     `json:"program"`
	Instance      int        `json:"instance"`
	State         State      `json:"state"`
	Pid           *int       `json:"pid"`
	StartedAt     *time.Time `json:"started_at"`
	UptimeSeconds float64    `json:"uptime_seconds"`
	Restarts      int        `json:"restarts"`
	ExitCode      *int       `json:"exit_code"`
	ExitSignal    *string    `json:"exit_signal"`
	Ready         bool       `json:"ready"`
	Healthy       bool       `json:"healthy"`
	Detached      bool       `json:"detached"`
	Message       string     `json:"message"`
}

// Error is the JSON body of every error answer.
type Error struct {
	Error string `json:"error"`
}

// SignalRequest is the body of POST /v1/programs/{target}/signal.
type SignalRequest struct {
	Signal string `json:"signal"`
}

// Health is the body of GET /v1/health.
type Health struct {
	Status string `json:"status"` // "ok" or "draining"
	Pid    int    `json:"pid"`
}

// Sentinel errors. They cross the socket as HTTP status codes (see
// HTTPStatus) and come back out of the client as the same values, so callers
// match them with errors.Is.
var (
	ErrBadRequest    = errors.New("bad request")
	ErrForbidden     = errors.New("permission denied")
	ErrNotFound      = errors.New("unknown name")
	ErrConflict      = errors.New("not valid in the current state")
	ErrTooLarge      = errors.New("request body too large")
	ErrQueueFull     = errors.New("job queue full")
	ErrShuttingDown  = errors.New("superd is shutting down")
	ErrFailed        = errors.New("operation failed")
	ErrTimeout       = errors.New("timed out")
	ErrUnimplemented = errors.New("not implemented")
)

// statusOf lists every sentinel with its HTTP status code.
var statusOf = []struct {
	err  error
	code int
}{
	{ErrBadRequest, http.StatusBadRequest},
	{ErrForbidden, http.StatusForbidden},
	{ErrNotFound, http.StatusNotFound},
	{ErrConflict, http.StatusConflict},
	{ErrTooLarge, http.StatusRequestEntityTooLarge},
	{ErrQueueFull, http.StatusTooManyRequests},
	{ErrShuttingDown, http.StatusServiceUnavailable},
	{ErrFailed, http.StatusUnprocessableEntity},
	{ErrTimeout, http.StatusGatewayTimeout},
	{ErrUnimplemented, http.StatusNotImplemented},
}

// HTTPStatus returns the status code for err: the code of the first sentinel
// err wraps, else 500.
func HTTPStatus(err error) int {
	for _, s := range statusOf {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	return http.StatusInternalServerError
}

// SentinelFor returns the sentinel error of an HTTP status code, or nil when
// the code has none.
func SentinelFor(code int) error {
	for _, s := range statusOf {
		if s.code == code {
			return s.err
		}
	}
	return nil
}
