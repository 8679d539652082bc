package ipc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// ErrUnreachable is wrapped by every client error that comes from failing to
// connect to superd's socket: superd is not running, or the path is wrong.
var ErrUnreachable = errors.New("superd not reachable")

// ErrStreamCut is wrapped by the error of a stream (Events, Logs with
// follow) that ended without its proper end: superd cut off a follower that
// fell behind or could not take the output in time, or superd died.
var ErrStreamCut = errors.New("stream cut off")

// Client limits.
const (
	maxErrorBody = 64 << 10 // bytes of an error answer that are read
	maxPresized  = 16 << 20 // bytes of an answer's buffer made up front for its Content-Length
	// waitSlack is how much longer than the server's own deadline a waiting
	// request may take before the client gives up on an answer.
	waitSlack = 10 * time.Second
)

// Client calls superd's control API over its Unix socket. It is safe for
// concurrent use. It keeps no idle connections, so it needs no Close.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the socket at path socket. It does not
// connect until a method is called.
func NewClient(socket string) *Client {
	c := &Client{socket: socket}
	tr := &http.Transport{
		DialContext:        c.dial,
		DisableKeepAlives:  true,
		DisableCompression: true, // superd does not compress
		// Proxy is nil: no proxy, whatever the environment says.
	}
	c.http = &http.Client{Transport: tr}
	return c
}

// Socket returns the socket path the client connects to.
func (c *Client) Socket() string { return c.socket }

// dial connects to the socket; a failure becomes an unreachableError.
func (c *Client) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		inner := err
		if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Err != nil {
			inner = oe.Err // drop the "dial unix PATH" prefix: the message names the path itself
		}
		return nil, &unreachableError{socket: c.socket, err: inner}
	}
	return conn, nil
}

// unreachableError is a failure to connect, worded
// "superd not reachable at PATH: connect: no such file or directory".
type unreachableError struct {
	socket string
	err    error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("%v at %s: %v", ErrUnreachable, e.socket, e.err)
}

func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.err} }

// ResponseError is an error answer of the server. It wraps the apitype
// sentinel of its status code (apitype.SentinelFor), if there is one, and
// its message is the server's.
type ResponseError struct {
	StatusCode int
	Message    string
}

// Error returns the server's message.
func (e *ResponseError) Error() string { return e.Message }

// Unwrap returns the sentinel of the status code, or nil.
func (e *ResponseError) Unwrap() error { return apitype.SentinelFor(e.StatusCode) }

// Status returns the instances of the targets, all instances when none is
// given. Several targets are asked for one by one, and their instances are
// returned in that order, each once. An unknown target is an error wrapping
// apitype.ErrNotFound.
func (c *Client) Status(ctx context.Context, targets ...string) ([]apitype.Instance, error) {
	if len(targets) == 0 {
		return c.instances(ctx, http.MethodGet, "/v1/programs", nil)
	}
	var all []apitype.Instance
	seen := map[string]bool{}
	for _, t := range targets {
		insts, err := c.instances(ctx, http.MethodGet, "/v1/programs/"+url.PathEscape(t), nil)
		if err != nil {
			return nil, err
		}
		for _, in := range insts {
			if !seen[in.Name] {
				seen[in.Name] = true
				all = append(all, in)
			}
		}
	}
	return all, nil
}

// Start starts target. With wait, the server answers once every targeted
// instance is running (or went fatal: apitype.ErrFailed) or timeout ran out
// (apitype.ErrTimeout); timeout <= 0 means DefaultWaitTimeout. It returns
// the targeted instances after the operation.
func (c *Client) Start(ctx context.Context, target string, wait bool, timeout time.Duration) ([]apitype.Instance, error) {
	return c.control(ctx, "start", target, wait, timeout)
}

// Stop stops target; with wait, until every targeted instance is stopped.
// See Start.
func (c *Client) Stop(ctx context.Context, target string, wait bool, timeout time.Duration) ([]apitype.Instance, error) {
	return c.control(ctx, "stop", target, wait, timeout)
}

// Restart stops, then starts target; with wait, until running. See Start.
func (c *Client) Restart(ctx context.Context, target string, wait bool, timeout time.Duration) ([]apitype.Instance, error) {
	return c.control(ctx, "restart", target, wait, timeout)
}

// control posts VERB for target. When waiting, the client gives the server
// waitSlack beyond timeout to answer, then fails with apitype.ErrTimeout.
func (c *Client) control(ctx context.Context, verb, target string, wait bool, timeout time.Duration) ([]apitype.Instance, error) {
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	q := url.Values{}
	q.Set("wait", strconv.FormatBool(wait))
	if wait {
		q.Set("timeout", timeout.String())
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout+waitSlack,
			fmt.Errorf("%s %s: no answer from superd within %v: %w", verb, target, timeout+waitSlack, apitype.ErrTimeout))
		defer cancel()
	}
	return c.instances(ctx, http.MethodPost, "/v1/programs/"+url.PathEscape(target)+"/"+verb, q)
}

// Signal sends the signal sig (a name like "HUP" or "SIGHUP", or a number)
// to every running instance of target. An instance that is not running is
// an error wrapping apitype.ErrConflict; a bad signal, apitype.ErrBadRequest.
func (c *Client) Signal(ctx context.Context, target, sig string) error {
	body, err := json.Marshal(apitype.SignalRequest{Signal: sig})
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/v1/programs/"+url.PathEscape(target)+"/signal", nil, body, nil)
}

// Logs copies the last n lines of instance's output to w (n <= 0: all that
// superd keeps). With follow it keeps copying later output until superd
// ends the stream (the instance was removed, superd drains, or w was too
// slow) or ctx is done, which returns ctx's error.
func (c *Client) Logs(ctx context.Context, instance string, n int, follow bool, w io.Writer) error {
	q := url.Values{}
	q.Set("lines", strconv.Itoa(max(n, 0)))
	q.Set("follow", strconv.FormatBool(follow))
	resp, err := c.send(ctx, http.MethodGet, "/v1/programs/"+url.PathEscape(instance)+"/logs", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return streamError(ctx, "read logs of "+instance, err)
	}
	return nil
}

// Reload asks superd to re-read its config and apply the difference, and
// returns what it did. An invalid config changes nothing and is an error
// wrapping apitype.ErrBadRequest whose message is the config's positioned
// errors, one a line.
func (c *Client) Reload(ctx context.Context) (apitype.ReloadResult, error) {
	var res apitype.ReloadResult
	err := c.do(ctx, http.MethodPost, "/v1/reload", nil, nil, &res)
	return res, err
}

// Events calls fn with every state change superd reports from now on, in
// order, until superd ends the stream because it drains (nil), ctx is done
// (ctx's error), fn returns an error (that error), or the stream is cut
// (an error wrapping ErrStreamCut). fn runs on the calling goroutine; while
// it runs, no further event is read.
func (c *Client) Events(ctx context.Context, fn func(apitype.Event) error) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/events", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev apitype.Event
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return streamError(ctx, "read events", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// streamError is the error of a stream whose reading failed with err:
// ctx's cause when ctx is done, else err wrapped with what, and with
// ErrStreamCut when the connection broke or the body ended early.
func streamError(ctx context.Context, what string, err error) error {
	if cerr := context.Cause(ctx); cerr != nil {
		return cerr
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || isConnError(err) {
		return fmt.Errorf("%s: %w: %w", what, ErrStreamCut, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isConnError reports whether err comes from the connection rather than
// from the data on it.
func isConnError(err error) bool {
	_, ok := errors.AsType[*net.OpError](err)
	return ok
}

// Shutdown asks superd to drain and exit; it returns once the drain has
// begun, not when it ends.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/shutdown", nil, nil, nil)
}

// Health returns superd's health: "ok" and its pid.
func (c *Client) Health(ctx context.Context) (apitype.Health, error) {
	var h apitype.Health
	err := c.do(ctx, http.MethodGet, "/v1/health", nil, nil, &h)
	return h, err
}

// do sends a request and decodes a JSON answer into out (unless out is nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return decodeError(ctx, method, path, err)
	}
	return nil
}

// instances sends a request whose answer is a list of instances, and
// decodes it with apitype.DecodeInstances.
func (c *Client) instances(ctx context.Context, method, path string, q url.Values) ([]apitype.Instance, error) {
	resp, err := c.send(ctx, method, path, q, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// Sized for the whole answer when superd said how long it is (it does),
	// so that it is read without growing the buffer.
	buf := bytes.NewBuffer(make([]byte, 0, min(max(resp.ContentLength, 0), maxPresized)+bytes.MinRead))
	_, err = buf.ReadFrom(resp.Body)
	var insts []apitype.Instance
	if err == nil {
		insts, err = apitype.DecodeInstances(buf.Bytes())
	}
	if err != nil {
		return nil, decodeError(ctx, method, path, err)
	}
	return insts, nil
}

// decodeError is the error of an answer that could not be read or
// decoded: ctx's cause when ctx is done, else err naming the request.
func decodeError(ctx context.Context, method, path string, err error) error {
	if cerr := context.Cause(ctx); cerr != nil {
		return cerr
	}
	return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
}

// send sends a request and returns a 2xx response, whose body the caller
// closes; an error answer becomes a *ResponseError.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
	u := "http://superd" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*unreachableError](err); ok {
			return nil, ue
		}
		if cerr := context.Cause(ctx); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, responseError(resp)
}

// responseError turns an error answer into a *ResponseError, with the
// server's message, or the status text when the body has none.
func responseError(resp *http.Response) error {
	msg := ""
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var e apitype.Error
	if json.Unmarshal(data, &e) == nil {
		msg = e.Error
	}
	if msg == "" {
		msg = fmt.Sprintf("superd answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return &ResponseError{StatusCode: resp.StatusCode, Message: msg}
}
