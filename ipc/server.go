// Package ipc is superd's control plane: HTTP/1.1 with JSON bodies over a
// Unix socket (SPEC §4). The Server serves a Backend (the supervisor), the
// Client speaks to it (superctl), Listen owns the socket file, and the peer's
// credentials (SO_PEERCRED, SO_PEERGROUPS) decide who may call. GET /metrics
// is served by a Metrics, which package ipc/metrics provides, so that the
// client does not link the Prometheus libraries.
//
// Errors cross the socket as the sentinels of ipc/apitype: the server turns
// an error into the status code of the sentinel it wraps, the client turns
// the code back into the same sentinel, so callers on both sides match with
// errors.Is.
package ipc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// Limits of the server. Slow or stalled clients cannot hold resources
// unbounded (SPEC §4).
const (
	maxBodyBytes       = 1 << 20          // request bodies; beyond it 413
	maxHeaderBytes     = 64 << 10         // request headers
	maxConns           = 256              // connections open at once, per listener
	readHeaderTimeout  = 5 * time.Second  // to read the request headers
	readTimeout        = 10 * time.Second // to read the whole request
	idleTimeout        = 60 * time.Second // keep-alive connections
	streamWriteTimeout = 10 * time.Second // per chunk of a log or event stream
	shutdownGrace      = 5 * time.Second  // for requests in flight when Serve stops
	defaultLogLines    = 100              // lines of GET .../logs without ?lines
)

// limits are the bounds a Server puts on its clients; the constants above,
// except in tests that need them short.
type limits struct {
	maxConns           int
	readHeaderTimeout  time.Duration
	readTimeout        time.Duration
	idleTimeout        time.Duration
	streamWriteTimeout time.Duration
}

func defaultLimits() limits {
	return limits{
		maxConns:           maxConns,
		readHeaderTimeout:  readHeaderTimeout,
		readTimeout:        readTimeout,
		idleTimeout:        idleTimeout,
		streamWriteTimeout: streamWriteTimeout,
	}
}

// DefaultWaitTimeout is how long a start, stop or restart with wait=true may
// take when the request names no timeout.
const DefaultWaitTimeout = 60 * time.Second

// Backend is what the server serves; the supervisor implements it. Its
// methods are called concurrently, one goroutine per request, and must
// return once ctx is done. Errors should wrap the sentinels of apitype; any
// other error is answered with 500.
//
// A Backend that also has a method Draining(ctx) bool makes GET /v1/health
// answer "draining" once a drain has begun.
type Backend interface {
	// Status returns the instances of the targets (none, or "all": every
	// instance), in name order. Unknown target: an error wrapping
	// apitype.ErrNotFound.
	Status(ctx context.Context, targets ...string) ([]apitype.Instance, error)
	// Start acts on a target (program name, instance "NAME:N", or "all").
	// With wait it returns once every targeted instance has settled
	// (running, or fatal → an error wrapping apitype.ErrFailed naming the
	// instance and its message) or ctx is done (→ an error wrapping
	// apitype.ErrTimeout). It returns the instances after the operation.
	Start(ctx context.Context, target string, wait bool) ([]apitype.Instance, error)
	// Stop is Start's counterpart; with wait it returns once every targeted
	// instance is stopped, or ctx is done (apitype.ErrTimeout).
	Stop(ctx context.Context, target string, wait bool) ([]apitype.Instance, error)
	// Restart stops then starts target, settling like Start.
	Restart(ctx context.Context, target string, wait bool) ([]apitype.Instance, error)
	// Signal sends sig to every running instance of target; an instance not
	// running → apitype.ErrConflict.
	Signal(ctx context.Context, target string, sig syscall.Signal) error
	// Logs returns the last n lines of an instance's output (n<=0: all
	// kept). If follow, it also returns a channel of later chunks, closed
	// when the instance is removed, superd drains, or the follower is too
	// slow; cancel releases it and must be called once the caller is done.
	Logs(ctx context.Context, instance string, n int, follow bool) (tail []byte, more <-chan []byte, cancel func(), err error)
	// Reload re-reads the config and applies the difference. An invalid
	// config changes nothing and is an error wrapping apitype.ErrBadRequest
	// whose other wrapped errors are the positioned config errors.
	Reload(ctx context.Context) (apitype.ReloadResult, error)
	// Events subscribes to state changes: the channel gets each one from
	// now on and is closed when superd drains, when the follower falls too
	// far behind, or once cancel is called; the caller must call cancel.
	Events(ctx context.Context) (events <-chan apitype.Event, cancel func(), err error)
	// Shutdown starts a graceful drain and returns at once.
	Shutdown(ctx context.Context) error
	// RunJob starts a run of job name with args appended to its argv (or
	// queues it when max_concurrent runs are live) and returns the run.
	// Unknown job: apitype.ErrNotFound; arguments refused (args = "none",
	// NUL bytes, too large): apitype.ErrBadRequest; queue full:
	// apitype.ErrQueueFull; a drain has begun: apitype.ErrShuttingDown.
	RunJob(ctx context.Context, name string, args []string) (apitype.JobRun, error)
	// StopRun stops run id (a queued run is dropped; a live one gets its
	// stop_signal, then SIGKILL after stop_timeout) and returns it at once,
	// usually still running. A run that has ended is returned unchanged.
	// Unknown id: apitype.ErrNotFound.
	StopRun(ctx context.Context, id string) (apitype.JobRun, error)
	// Jobs returns every kept run of every job, newest first.
	Jobs(ctx context.Context) ([]apitype.JobRun, error)
}

// drainer is the optional part of a Backend that GET /v1/health asks.
type drainer interface {
	Draining(ctx context.Context) bool
}

// Server serves the control API of a Backend. Build it with NewServer; it is
// safe for concurrent use, and Serve and ServeMetrics may be called for
// several listeners at once.
type Server struct {
	backend Backend
	log     *slog.Logger
	access  access
	lim     limits
	metrics Metrics
}

// Metrics serves GET /metrics and counts the API's requests; package
// ipc/metrics provides one in the Prometheus format. Its methods are called
// concurrently.
type Metrics interface {
	http.Handler
	// CountRequest records one request by the ServeMux pattern that matched
	// it ("" when none did) and its status code.
	CountRequest(route string, code int)
}

// noMetrics is the Metrics of a server built without WithMetrics: /metrics
// is 404 and nothing is counted.
type noMetrics struct{}

func (noMetrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	writeErrorText(w, http.StatusNotFound, "metrics are not enabled")
}

func (noMetrics) CountRequest(string, int) {}

// Option configures a Server built by NewServer.
type Option func(*Server)

// WithSocketGroup also allows the peers whose primary or supplementary
// groups include gid (socket_group).
func WithSocketGroup(gid uint32) Option {
	return func(s *Server) { s.access.gids = append(s.access.gids, gid) }
}

// WithMetrics serves GET /metrics with m (on the socket, and on
// ServeMetrics' listeners) and reports every request to it.
func WithMetrics(m Metrics) Option {
	return func(s *Server) { s.metrics = m }
}

// NewServer returns a server for b that logs to logger. Only root and the
// user superd runs as may call it, and whom the options add.
func NewServer(b Backend, logger *slog.Logger, opts ...Option) *Server {
	s := &Server{backend: b, log: logger, access: defaultAccess(), lim: defaultLimits(), metrics: noMetrics{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Serve answers the control API on l, a Unix socket listener (from Listen),
// until ctx is done, then shuts down and returns nil. Every connection's
// peer credentials are checked. Shutting down stops accepting, ends log and
// event streams at once, gives requests in flight up to a few seconds, then
// cancels their contexts and closes their connections, and waits for every
// handler to return (which depends on the Backend honouring ctx). Serve
// closes l. An error means l failed.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.serve(ctx, l, "control socket", true)
}

// ServeMetrics answers GET /metrics, and nothing else (404), on l, a TCP
// listener for metrics_listen, until ctx is done; it shuts down like Serve.
// No peer credentials are checked: whoever reaches l may read the metrics.
func (s *Server) ServeMetrics(ctx context.Context, l net.Listener) error {
	return s.serve(ctx, l, "metrics listener", false)
}

// serve runs one http.Server on l: the whole API with peer checks (control),
// or /metrics alone.
func (s *Server) serve(ctx context.Context, l net.Listener, what string, control bool) error {
	// Handler contexts outlive ctx by the shutdown grace, so that a request
	// in flight can still be answered while the server winds down.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	streams, stopStreams := context.WithCancel(hctx)
	defer stopStreams()

	a := &api{Server: s, checkPeers: control, streams: streams.Done(), inflight: &inflight{}}
	if control {
		a.mux = a.routes()
	} else {
		a.mux = a.metricsRoutes()
	}
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: s.lim.readHeaderTimeout,
		ReadTimeout:       s.lim.readTimeout,
		WriteTimeout:      0, // streams write for as long as they follow; each write has its own deadline
		IdleTimeout:       s.lim.idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return hctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if control {
		srv.ConnContext = s.withPeer
	}
	srv.RegisterOnShutdown(stopStreams)
	ll := newLimitListener(l, s.lim.maxConns)

	errc := make(chan error, 1)
	// Exits when srv is shut down or closed, or the listener fails; serve
	// receives from errc before it returns.
	go func() { errc <- srv.Serve(ll) }()

	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(hctx, shutdownGrace)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		s.log.Warn("requests still running after grace; closing", "listener", what, "err", serr)
		hcancel()
		_ = srv.Close()
	}
	if err == nil {
		err = <-errc
	}
	hcancel()
	a.inflight.closeAndWait()
	_ = ll.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve %s: %w", what, err)
}

// api is the handler of one Serve or ServeMetrics call.
type api struct {
	*Server
	checkPeers bool // the control socket: peers are checked, every route served
	mux        *http.ServeMux
	streams    <-chan struct{} // closed when shutdown begins: streams end
	inflight   *inflight
}

// route is one method and path of the API.
type route struct {
	method, pattern string
	handler         http.HandlerFunc
}

// routes builds the mux of the control socket: each route, then for each
// path a fallback that answers 405 for other methods, then a 404 for
// everything else; all errors as JSON.
func (a *api) routes() *http.ServeMux {
	return newMux([]route{
		{"GET", "/v1/programs", a.status},
		{"GET", "/v1/programs/{target}", a.status},
		{"POST", "/v1/programs/{target}/start", a.control("start", Backend.Start)},
		{"POST", "/v1/programs/{target}/stop", a.control("stop", Backend.Stop)},
		{"POST", "/v1/programs/{target}/restart", a.control("restart", Backend.Restart)},
		{"POST", "/v1/programs/{target}/signal", a.signal},
		{"GET", "/v1/programs/{instance}/logs", a.logs},
		{"POST", "/v1/reload", a.reload},
		{"GET", "/v1/jobs", a.jobs},
		{"POST", "/v1/jobs/{name}/run", a.runJob},
		{"POST", "/v1/runs/{id}/stop", a.stopRun},
		{"GET", "/v1/events", a.events},
		{"POST", "/v1/shutdown", a.shutdown},
		{"GET", "/v1/health", a.health},
		{"GET", "/metrics", a.metrics.ServeHTTP},
	})
}

// metricsRoutes builds the mux of a metrics listener: /metrics alone.
func (a *api) metricsRoutes() *http.ServeMux {
	return newMux([]route{{"GET", "/metrics", a.metrics.ServeHTTP}})
}

// newMux registers rs, a 405 fallback for each of their paths, and a 404
// for everything else.
func newMux(rs []route) *http.ServeMux {
	mux := http.NewServeMux()
	methods := map[string][]string{}
	for _, r := range rs {
		mux.HandleFunc(r.method+" "+r.pattern, r.handler)
		methods[r.pattern] = append(methods[r.pattern], r.method)
		if r.method == http.MethodGet {
			methods[r.pattern] = append(methods[r.pattern], http.MethodHead)
		}
	}
	for pattern, allowed := range methods {
		slices.Sort(allowed)
		mux.HandleFunc(pattern, methodNotAllowed(allowed))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrorText(w, http.StatusNotFound, fmt.Sprintf("no such route: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// methodNotAllowed answers 405 naming the allowed methods.
func methodNotAllowed(allowed []string) http.HandlerFunc {
	list := strings.Join(allowed, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", list)
		writeErrorText(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, list))
	}
}

// ServeHTTP checks the caller's credentials (on the control socket), caps
// the request body, dispatches to the routes and counts the request by
// route pattern and status code.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.inflight.enter() {
		writeError(w, fmt.Errorf("control socket closing: %w", apitype.ErrShuttingDown))
		return
	}
	defer a.inflight.leave()

	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	var p peer
	if a.checkPeers {
		var err error
		p, err = peerFrom(r.Context())
		if err != nil {
			err = fmt.Errorf("%w: %w", apitype.ErrForbidden, err)
		} else {
			err = a.access.check(p)
		}
		if err != nil {
			a.log.Warn("control request refused", "method", r.Method, "path", r.URL.Path,
				"peer_uid", p.Uid, "peer_pid", p.Pid, "err", err)
			writeError(rec, err)
			_, pattern := a.mux.Handler(r)
			a.metrics.CountRequest(pattern, rec.status)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	start := time.Now()
	// Deferred: a stream that aborts its connection (panics with
	// http.ErrAbortHandler) is counted too.
	defer func() { a.metrics.CountRequest(r.Pattern, rec.status) }()
	a.mux.ServeHTTP(rec, r)
	a.log.Debug("control request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
		"peer_uid", p.Uid, "peer_pid", p.Pid, "duration", time.Since(start))
}

// statusRecorder notes the status code of a response for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records code and passes it on.
func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush passes a flush on, for log streams.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// inflight counts running handlers so Serve can wait for them; once closed
// it admits no more.
type inflight struct {
	mu     sync.Mutex // guards the fields below
	closed bool
	wg     sync.WaitGroup // Add only under mu while !closed, so Wait never races an Add
}

// enter admits a handler, or reports false once closeAndWait has begun.
func (f *inflight) enter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.wg.Add(1)
	return true
}

// leave marks a handler admitted by enter as done.
func (f *inflight) leave() { f.wg.Done() }

// closeAndWait refuses new handlers and waits for the running ones.
func (f *inflight) closeAndWait() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.wg.Wait()
}
