// Package metrics exports superd's metrics in the Prometheus text format
// with github.com/prometheus/client_golang: the state and counters of every
// instance, the orphans reaped, the control API's requests by route and
// status code, and the Go runtime and process metrics. Its Registry is the
// ipc.Metrics of superd's control server.
//
// It lives apart from package ipc so that superctl, which links ipc's
// client, does not link the Prometheus libraries.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/superd/superd/ipc/apitype"
)

// Source is what a scrape asks about the instances; the supervisor
// implements it. Its methods are called concurrently and must return once
// ctx is done.
type Source interface {
	// Status returns every instance when called without targets.
	Status(ctx context.Context, targets ...string) ([]apitype.Instance, error)
	// Stats returns the counters of every instance.
	Stats(ctx context.Context) ([]apitype.InstanceStats, error)
}

const (
	// scrapeTimeout bounds how long one scrape waits for the source.
	scrapeTimeout = 5 * time.Second
	// maxScrapes is how many scrapes may run at once; more are answered
	// 503, so a flood of scrapes cannot queue up on the supervisor loop.
	maxScrapes = 4
	// prefix is the namespace of superd's own metrics.
	prefix = "superd"
)

// Registry is superd's own Prometheus registry (never the global default
// one) and the handler that serves it. It is safe for concurrent use.
type Registry struct {
	requests *prometheus.CounterVec // api_requests_total{route,code}
	handler  http.Handler
}

// New returns a registry with the API request counter, the Go runtime and
// process collectors, and a collector that asks src and orphans on every
// scrape. src or orphans may be nil: then their metrics are left out.
// Errors of a scrape are logged to logger.
func New(src Source, orphans func() uint64, logger *slog.Logger) *Registry {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: prefix,
		Name:      "api_requests_total",
		Help:      "Requests to the control API and /metrics, by route pattern and status code.",
	}, []string{"route", "code"})
	reg.MustRegister(
		requests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newInstanceCollector(src, orphans),
	)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxScrapes,
	})
	return &Registry{requests: requests, handler: h}
}

// ServeHTTP answers a scrape in the Prometheus text format. A failure of
// the source leaves its metrics out; the others are still served.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.handler.ServeHTTP(w, req)
}

// CountRequest records one API request. route is the ServeMux pattern that
// matched (so the label set stays bounded whatever paths clients send); ""
// when none did, as for a redirect.
func (r *Registry) CountRequest(route string, code int) {
	if route == "" {
		route = "unmatched"
	}
	r.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

// instanceStates returns the values of the state label of instance_state:
// one series per state, 1 for the current one.
func instanceStates() []apitype.State {
	return []apitype.State{
		apitype.StateStopped, apitype.StateStarting, apitype.StateRunning, apitype.StateBackoff,
		apitype.StateStopping, apitype.StateExited, apitype.StateFatal,
	}
}

// instanceCollector asks the source on every scrape and turns its answer
// into constant metrics, so no state is kept between scrapes.
type instanceCollector struct {
	src     Source
	orphans func() uint64

	state, restarts, uptime, lastExit, spawnFailures, logWritten, logDropped, orphansReaped *prometheus.Desc
}

func newInstanceCollector(src Source, orphans func() uint64) *instanceCollector {
	labels := []string{"instance", "program"}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(prefix, "", name), help, labels, nil)
	}
	return &instanceCollector{
		src:     src,
		orphans: orphans,
		state: desc("instance_state",
			"State of an instance: 1 for its current state, 0 for the others.",
			"instance", "program", "state"),
		restarts: desc("instance_restarts_total",
			"Automatic restarts of an instance (an operator's are not counted).", labels...),
		uptime: desc("instance_uptime_seconds",
			"Seconds since a running instance started; 0 when it is not running.", labels...),
		lastExit: desc("instance_last_exit_code",
			"Exit code of an instance's last exit; absent before the first exit and when a signal ended it.", labels...),
		spawnFailures: desc("instance_spawn_failures_total",
			"Times an instance's process could not be started (exec, chdir, credentials, ...).", labels...),
		logWritten: desc("log_bytes_written_total",
			"Bytes of an instance's output written to its sinks.", labels...),
		logDropped: desc("log_bytes_dropped_total",
			"Bytes of an instance's output dropped because a sink could not keep up or failed.", labels...),
		orphansReaped: desc("orphans_reaped_total",
			"Processes superd did not start (orphans reparented to it) that it reaped."),
	}
}

// Describe sends every metric's description.
func (c *instanceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.restarts, c.uptime, c.lastExit,
		c.spawnFailures, c.logWritten, c.logDropped, c.orphansReaped} {
		ch <- d
	}
}

// Collect asks the source for the instances and their counters. A failure
// of the source is reported as an invalid metric; the other metrics of the
// scrape are still served.
func (c *instanceCollector) Collect(ch chan<- prometheus.Metric) {
	if c.orphans != nil {
		ch <- prometheus.MustNewConstMetric(c.orphansReaped, prometheus.CounterValue, float64(c.orphans()))
	}
	if c.src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	insts, err := c.src.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.state, fmt.Errorf("instance status: %w", err))
		return
	}
	// A reload may leave a retired instance beside its successor of the same
	// name until it is down; report the first only, as a series must be
	// unique.
	states := instanceStates()
	seen := make(map[string]bool, len(insts))
	for _, in := range insts {
		if seen[in.Name] {
			continue
		}
		seen[in.Name] = true
		for _, st := range states {
			v := 0.0
			if in.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, in.Name, in.Program, string(st))
		}
		ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(in.Restarts), in.Name, in.Program)
		ch <- prometheus.MustNewConstMetric(c.uptime, prometheus.GaugeValue, in.UptimeSeconds, in.Name, in.Program)
		if in.ExitCode != nil {
			ch <- prometheus.MustNewConstMetric(c.lastExit, prometheus.GaugeValue, float64(*in.ExitCode), in.Name, in.Program)
		}
	}

	stats, err := c.src.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.logWritten, fmt.Errorf("instance stats: %w", err))
		return
	}
	seen = make(map[string]bool, len(stats))
	for _, st := range stats {
		if seen[st.Name] {
			continue
		}
		seen[st.Name] = true
		ch <- prometheus.MustNewConstMetric(c.spawnFailures, prometheus.CounterValue, float64(st.SpawnFailures), st.Name, st.Program)
		ch <- prometheus.MustNewConstMetric(c.logWritten, prometheus.CounterValue, float64(st.LogWritten), st.Name, st.Program)
		ch <- prometheus.MustNewConstMetric(c.logDropped, prometheus.CounterValue, float64(st.LogDropped), st.Name, st.Program)
	}
}
