// Package metrics exports superd's metrics in the Prometheus text format
// 0.0.4: the state and counters of every instance, the orphans reaped, the
// control API's requests by route and status code, and a standard subset of
// the Go runtime and process metrics. Its Registry is the ipc.Metrics of
// superd's control server.
//
// The exposition is written by hand rather than with
// github.com/prometheus/client_golang because of what that library costs
// every superd start, scraped or not: it links google.golang.org/protobuf,
// whose internal/detrand package reads and hashes the whole executable at
// init, and the initialisers of client_golang and procfs run too — about
// 4 ms before main and 1.5 MiB of resident memory per start. The Go metrics
// are read with runtime/metrics (no stop-the-world runtime.ReadMemStats) and
// the process metrics from /proc/self and getrusage/getrlimit.
//
// It lives apart from package ipc so that superctl, which links ipc's
// client, does not link the metrics code.
package metrics

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

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
	prefix = "superd_"
)

// requestKey is the label values of one api_requests_total series.
type requestKey struct {
	code  int
	route string
}

// Registry holds superd's metrics and serves them. It is safe for
// concurrent use.
type Registry struct {
	src     Source
	orphans func() uint64
	logger  *slog.Logger
	// scrapes holds a token per scrape in flight.
	scrapes chan struct{}

	mu       sync.Mutex
	requests map[requestKey]uint64 // api_requests_total{code,route}
}

// New returns a registry that serves the API request counts, the Go
// runtime and process metrics, and what src and orphans report on every
// scrape. src or orphans may be nil: then their metrics are left out.
// Errors of a scrape are logged to logger at warn level.
func New(src Source, orphans func() uint64, logger *slog.Logger) *Registry {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{
		src:      src,
		orphans:  orphans,
		logger:   logger,
		scrapes:  make(chan struct{}, maxScrapes),
		requests: make(map[requestKey]uint64),
	}
}

// ServeHTTP answers a scrape in the Prometheus text format, gzipped when
// the client accepts it. A failure of the source leaves its metrics out and
// is logged; the others are still served. Beyond maxScrapes scrapes at once
// it answers 503.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	select {
	case r.scrapes <- struct{}{}:
		defer func() { <-r.scrapes }()
	default:
		http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", maxScrapes),
			http.StatusServiceUnavailable)
		return
	}
	var tw textWriter
	if err := r.writeSuperd(req.Context(), &tw); err != nil {
		r.logger.Warn("metrics: instance metrics left out of the scrape", "err", err)
	}
	writeGo(&tw)
	writeProcess(&tw)

	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(req.Header.Get("Accept-Encoding")) {
		h.Set("Content-Length", strconv.Itoa(tw.buf.Len()))
		w.Write(tw.buf.Bytes())
		return
	}
	h.Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	gz.Write(tw.buf.Bytes())
	gz.Close()
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(coding) != "gzip" {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		v, err := strconv.ParseFloat(q, 64)
		return !ok || err != nil || v > 0
	}
	return false
}

// CountRequest records one API request. route is the ServeMux pattern that
// matched (so the label set stays bounded whatever paths clients send); ""
// when none did, as for a redirect.
func (r *Registry) CountRequest(route string, code int) {
	if route == "" {
		route = "unmatched"
	}
	r.mu.Lock()
	r.requests[requestKey{code, route}]++
	r.mu.Unlock()
}

// instanceStates are the values of the state label of instance_state: one
// series per state, 1 for the current one.
var instanceStates = [...]apitype.State{
	apitype.StateStopped, apitype.StateStarting, apitype.StateRunning, apitype.StateBackoff,
	apitype.StateStopping, apitype.StateExited, apitype.StateFatal,
}

// writeSuperd writes superd's own metrics: the API request counts, the
// orphans reaped, and the instances' metrics asked of the source. An error
// of the source leaves out what it did not answer and is returned.
func (r *Registry) writeSuperd(ctx context.Context, w *textWriter) error {
	type series struct {
		code, route string
		n           uint64
	}
	r.mu.Lock()
	requests := make([]series, 0, len(r.requests))
	for k, n := range r.requests {
		requests = append(requests, series{strconv.Itoa(k.code), k.route, n})
	}
	r.mu.Unlock()
	// By the label values, code then route.
	slices.SortFunc(requests, func(a, b series) int {
		return cmp.Or(strings.Compare(a.code, b.code), strings.Compare(a.route, b.route))
	})
	w.family(prefix+"api_requests_total",
		"Requests to the control API and /metrics, by route pattern and status code.", counter, "code", "route")
	for _, s := range requests {
		w.sample(float64(s.n), s.code, s.route)
	}

	if r.orphans != nil {
		w.family(prefix+"orphans_reaped_total",
			"Processes superd did not start (orphans reparented to it) that it reaped.", counter)
		w.sample(float64(r.orphans()))
	}
	if r.src == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	insts, err := r.src.Status(ctx)
	if err != nil {
		return fmt.Errorf("instance status: %w", err)
	}
	// A reload may leave a retired instance beside its successor of the same
	// name until it is down; report the first only, as a series must be
	// unique.
	insts = firstByName(insts, func(in apitype.Instance) string { return in.Name })
	w.family(prefix+"instance_state",
		"State of an instance: 1 for its current state, 0 for the others.", gauge, "instance", "program", "state")
	for _, in := range insts {
		for _, st := range instanceStates {
			v := 0.0
			if in.State == st {
				v = 1
			}
			w.sample(v, in.Name, in.Program, string(st))
		}
	}
	w.family(prefix+"instance_restarts_total",
		"Automatic restarts of an instance (an operator's are not counted).", counter, "instance", "program")
	for _, in := range insts {
		w.sample(float64(in.Restarts), in.Name, in.Program)
	}
	w.family(prefix+"instance_uptime_seconds",
		"Seconds since a running instance started; 0 when it is not running.", gauge, "instance", "program")
	for _, in := range insts {
		w.sample(in.UptimeSeconds, in.Name, in.Program)
	}
	w.family(prefix+"instance_last_exit_code",
		"Exit code of an instance's last exit; absent before the first exit and when a signal ended it.",
		gauge, "instance", "program")
	for _, in := range insts {
		if in.ExitCode != nil {
			w.sample(float64(*in.ExitCode), in.Name, in.Program)
		}
	}

	stats, err := r.src.Stats(ctx)
	if err != nil {
		return fmt.Errorf("instance stats: %w", err)
	}
	stats = firstByName(stats, func(st apitype.InstanceStats) string { return st.Name })
	for _, f := range []struct {
		name, help string
		value      func(apitype.InstanceStats) uint64
	}{
		{"instance_spawn_failures_total", "Times an instance's process could not be started (exec, chdir, credentials, ...).",
			func(st apitype.InstanceStats) uint64 { return st.SpawnFailures }},
		{"log_bytes_written_total", "Bytes of an instance's output written to its sinks.",
			func(st apitype.InstanceStats) uint64 { return st.LogWritten }},
		{"log_bytes_dropped_total", "Bytes of an instance's output dropped because a sink could not keep up or failed.",
			func(st apitype.InstanceStats) uint64 { return st.LogDropped }},
	} {
		w.family(prefix+f.name, f.help, counter, "instance", "program")
		for _, st := range stats {
			w.sample(float64(f.value(st)), st.Name, st.Program)
		}
	}
	return nil
}

// firstByName returns the first of xs of each name, sorted by name.
func firstByName[T any](xs []T, name func(T) string) []T {
	seen := make(map[string]bool, len(xs))
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		if !seen[name(x)] {
			seen[name(x)] = true
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(name(a), name(b)) })
	return out
}

// goMetrics are the runtime/metrics samples writeGo reads, and the
// go_memstats_* gauges and counters derived from them as client_golang
// derived them: each the sum of the named samples.
var goMetrics = []struct {
	name, help, typ string
	sum             []string
}{
	{"go_goroutines", "Number of goroutines that currently exist.", gauge,
		[]string{"/sched/goroutines:goroutines"}},
	{"go_threads", "Number of OS threads the Go runtime currently has.", gauge,
		[]string{"/sched/threads/total:threads"}},
	{"go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting.", gauge,
		[]string{"/sched/gomaxprocs:threads"}},
	{"go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100 (GOGC).", gauge,
		[]string{"/gc/gogc:percent"}},
	{"go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64 (GOMEMLIMIT).", gauge,
		[]string{"/gc/gomemlimit:bytes"}},
	{"go_gc_cycles_total", "Number of completed GC cycles.", counter,
		[]string{"/gc/cycles/total:gc-cycles"}},
	{"go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.", gauge,
		[]string{"/memory/classes/heap/objects:bytes"}},
	{"go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already.", counter,
		[]string{"/gc/heap/allocs:bytes"}},
	{"go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed.", counter,
		[]string{"/gc/heap/allocs:objects", "/gc/heap/tiny/allocs:objects"}},
	{"go_memstats_frees_total", "Total number of heap objects frees.", counter,
		[]string{"/gc/heap/frees:objects", "/gc/heap/tiny/allocs:objects"}},
	{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes.", gauge,
		[]string{"/memory/classes/heap/objects:bytes"}},
	{"go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", gauge,
		[]string{"/memory/classes/heap/released:bytes", "/memory/classes/heap/free:bytes"}},
	{"go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", gauge,
		[]string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}},
	{"go_memstats_heap_objects", "Number of currently allocated objects.", gauge,
		[]string{"/gc/heap/objects:objects"}},
	{"go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", gauge,
		[]string{"/memory/classes/heap/released:bytes"}},
	{"go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", gauge,
		[]string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes",
			"/memory/classes/heap/released:bytes", "/memory/classes/heap/free:bytes"}},
	{"go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", gauge,
		[]string{"/gc/heap/goal:bytes"}},
	{"go_memstats_stack_inuse_bytes", "Number of bytes in use by the stack allocator.", gauge,
		[]string{"/memory/classes/heap/stacks:bytes"}},
	{"go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator.", gauge,
		[]string{"/memory/classes/heap/stacks:bytes", "/memory/classes/os-stacks:bytes"}},
	{"go_memstats_sys_bytes", "Number of bytes obtained from system.", gauge,
		[]string{"/memory/classes/total:bytes"}},
}

// goSamples returns each runtime/metrics sample that goMetrics names once,
// and, per goMetrics entry, the indexes in them of its sum. Both are made
// at the first scrape, not at superd's start; a scrape reads into a copy
// of the samples.
var goSamples = sync.OnceValues(func() ([]metrics.Sample, [][]int) {
	var samples []metrics.Sample
	index := make([][]int, len(goMetrics))
	at := make(map[string]int)
	for i, m := range goMetrics {
		for _, name := range m.sum {
			j, ok := at[name]
			if !ok {
				j = len(samples)
				at[name] = j
				samples = append(samples, metrics.Sample{Name: name})
			}
			index[i] = append(index[i], j)
		}
	}
	return samples, index
})

// writeGo writes the Go runtime metrics.
func writeGo(w *textWriter) {
	proto, index := goSamples()
	samples := slices.Clone(proto)
	metrics.Read(samples)
	for i, m := range goMetrics {
		v, ok := 0.0, true
		for _, j := range index[i] {
			switch s := samples[j].Value; s.Kind() {
			case metrics.KindUint64:
				v += float64(s.Uint64())
			case metrics.KindFloat64:
				v += s.Float64()
			default: // not supported by this Go version
				ok = false
			}
		}
		if ok {
			w.family(m.name, m.help, m.typ)
			w.sample(v)
		}
	}

	w.family("go_info", "Information about the Go environment.", gauge, "version")
	w.sample(1, runtime.Version())

	// The pause quantiles as client_golang computed them. ReadGCStats does
	// not stop the world.
	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	w.family("go_gc_duration_seconds",
		"A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", summary, "quantile")
	for i, q := range gc.PauseQuantiles {
		w.sample(q.Seconds(), formatFloat(float64(i)/float64(len(gc.PauseQuantiles)-1)))
	}
	w.suffixed("_sum", gc.PauseTotal.Seconds())
	w.suffixed("_count", float64(gc.NumGC))
	last := 0.0
	if !gc.LastGC.IsZero() {
		last = float64(gc.LastGC.UnixNano()) / 1e9
	}
	w.family("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", gauge)
	w.sample(last)
}

// userHZ is the unit of the times in /proc/self/stat, USER_HZ: 100 on
// every Linux architecture Go supports.
const userHZ = 100

// writeProcess writes the process metrics. What cannot be read is left
// out.
func writeProcess(w *textWriter) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		w.family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", counter)
		w.sample(float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9)
	}
	if st, err := readStat(); err == nil {
		w.family("process_resident_memory_bytes", "Resident memory size in bytes.", gauge)
		w.sample(float64(st.rssPages * uint64(os.Getpagesize())))
		w.family("process_virtual_memory_bytes", "Virtual memory size in bytes.", gauge)
		w.sample(float64(st.vsize))
		if boot, err := bootTime(); err == nil {
			w.family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", gauge)
			w.sample(float64(boot) + float64(st.startTicks)/userHZ)
		}
	}
	if n, err := openFDs(); err == nil {
		w.family("process_open_fds", "Number of open file descriptors.", gauge)
		w.sample(float64(n))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		w.family("process_max_fds", "Maximum number of open file descriptors.", gauge)
		w.sample(float64(lim.Cur))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		w.family("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", gauge)
		w.sample(float64(lim.Cur))
	}
}

// procStat is what writeProcess needs of /proc/self/stat.
type procStat struct {
	startTicks uint64 // starttime: clock ticks after boot
	vsize      uint64 // bytes
	rssPages   uint64
}

// readStat reads /proc/self/stat.
func readStat() (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat parses the content of /proc/self/stat.
func parseStat(b []byte) (procStat, error) {
	// The command name, field 2, is in parentheses and may hold spaces and
	// parentheses itself; the fields after the last ')' start at field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("/proc/self/stat: no ')' after the command name")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("/proc/self/stat: %d fields after the command name, want at least 22", len(f))
	}
	var (
		st  procStat
		err error
	)
	for _, x := range []struct {
		field int // as numbered in proc(5)
		dst   *uint64
	}{{22, &st.startTicks}, {23, &st.vsize}, {24, &st.rssPages}} {
		if *x.dst, err = strconv.ParseUint(f[x.field-3], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("/proc/self/stat field %d: %w", x.field, err)
		}
	}
	return st, nil
}

// bootTime returns the btime of /proc/stat: when the system booted, in
// seconds since the epoch. It does not change, so /proc/stat is read once.
var bootTime = sync.OnceValues(readBootTime)

// readBootTime reads the btime of /proc/stat.
func readBootTime() (uint64, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("/proc/stat: %w", err)
	}
	return 0, errors.New("/proc/stat: no btime line")
}

// openFDs counts the entries of /proc/self/fd, the directory's own
// descriptor included as procfs counted it.
func openFDs() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/fd: %w", err)
	}
	return len(names), nil
}
