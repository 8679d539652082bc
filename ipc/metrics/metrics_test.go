package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

func ptr[T any](v T) *T { return &v }

// fakeSource is a Source with fixed answers.
type fakeSource struct {
	insts []apitype.Instance
	stats []apitype.InstanceStats
	err   error
}

func (f fakeSource) Status(context.Context, ...string) ([]apitype.Instance, error) {
	return f.insts, f.err
}

func (f fakeSource) Stats(context.Context) ([]apitype.InstanceStats, error) {
	return f.stats, f.err
}

func metricsWorld() fakeSource {
	return fakeSource{
		insts: []apitype.Instance{
			{Name: "db", Program: "db", State: apitype.StateExited, ExitCode: ptr(3), Restarts: 2},
			{Name: "web:0", Program: "web", State: apitype.StateRunning, Pid: ptr(10), UptimeSeconds: 12.5, Restarts: 1},
			// A retired instance beside its successor: reported once.
			{Name: "web:0", Program: "web", State: apitype.StateStopping, Pid: ptr(9)},
			{Name: "web:1", Program: "web", State: apitype.StateFatal, ExitSignal: ptr("SIGKILL")},
		},
		stats: []apitype.InstanceStats{
			{Name: "db", Program: "db", LogWritten: 100, LogDropped: 1, SpawnFailures: 0},
			{Name: "web:0", Program: "web", LogWritten: 2048, LogDropped: 0, SpawnFailures: 0},
			{Name: "web:0", Program: "web", LogWritten: 7, LogDropped: 7, SpawnFailures: 7},
			{Name: "web:1", Program: "web", LogWritten: 0, LogDropped: 0, SpawnFailures: 4},
		},
	}
}

// scrape GETs /metrics from r.
func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics = %d (%s) %s; want 200 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return string(body)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestMetrics(t *testing.T) {
	body := scrape(t, New(metricsWorld(), func() uint64 { return 5 }, discard()))
	for _, want := range []string{
		`superd_instance_state{instance="web:0",program="web",state="running"} 1`,
		`superd_instance_state{instance="web:0",program="web",state="stopping"} 0`,
		`superd_instance_state{instance="db",program="db",state="exited"} 1`,
		`superd_instance_state{instance="web:1",program="web",state="fatal"} 1`,
		`superd_instance_restarts_total{instance="db",program="db"} 2`,
		`superd_instance_uptime_seconds{instance="web:0",program="web"} 12.5`,
		`superd_instance_last_exit_code{instance="db",program="db"} 3`,
		`superd_instance_spawn_failures_total{instance="web:1",program="web"} 4`,
		`superd_log_bytes_written_total{instance="web:0",program="web"} 2048`,
		`superd_log_bytes_dropped_total{instance="db",program="db"} 1`,
		`superd_orphans_reaped_total 5`,
		"# TYPE superd_instance_restarts_total counter",
		"# TYPE superd_instance_state gauge",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	for _, unwanted := range []string{
		`superd_instance_last_exit_code{instance="web:1"`, // ended by a signal
		`superd_instance_last_exit_code{instance="web:0"`, // never exited
		`superd_log_bytes_written_total{instance="web:0",program="web"} 7`,
	} {
		if strings.Contains(body, unwanted) {
			t.Errorf("GET /metrics has %q; want it absent", unwanted)
		}
	}
	if n := strings.Count(body, "superd_instance_state{"); n != 3*7 {
		t.Errorf("GET /metrics has %d instance_state series; want 21 (3 instances × 7 states)", n)
	}
}

func TestMetricsSourceFails(t *testing.T) {
	src := fakeSource{err: fmt.Errorf("status: %w", apitype.ErrShuttingDown)}
	// The rest of the scrape is still served.
	body := scrape(t, New(src, nil, discard()))
	if !strings.Contains(body, "go_goroutines ") || strings.Contains(body, "superd_instance_state{") {
		t.Errorf("GET /metrics with a failing source = %q; want the Go metrics and no instance metrics", body)
	}
}

func TestCountRequest(t *testing.T) {
	r := New(nil, nil, discard())
	r.CountRequest("GET /v1/health", 200)
	r.CountRequest("GET /v1/health", 200)
	r.CountRequest("", 301)
	body := scrape(t, r)
	for _, want := range []string{
		`superd_api_requests_total{code="200",route="GET /v1/health"} 2`,
		`superd_api_requests_total{code="301",route="unmatched"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "superd_instance_state") || strings.Contains(body, "orphans") {
		t.Error("GET /metrics without a source has instance or orphan metrics")
	}
}

// statsFails is a source whose Status answers and whose Stats fails.
type statsFails struct{ fakeSource }

func (statsFails) Stats(context.Context) ([]apitype.InstanceStats, error) {
	return nil, errors.New("stats: boom")
}

// TestMetricsSourceFailureLogged: a failure of the source leaves out what
// it did not answer, keeps the rest, and is logged at warn once per scrape.
func TestMetricsSourceFailureLogged(t *testing.T) {
	for _, tc := range []struct {
		name          string
		src           Source
		want, missing []string
		logged        string
	}{
		{"status", fakeSource{err: errors.New("boom")},
			[]string{"superd_orphans_reaped_total 1", `superd_api_requests_total{code="200",route="GET /v1/health"} 1`, "go_goroutines ", "process_open_fds "},
			[]string{"superd_instance_", "superd_log_"},
			"instance status: boom"},
		{"stats", statsFails{metricsWorld()},
			[]string{"superd_orphans_reaped_total 1", `superd_instance_state{instance="db",program="db",state="exited"} 1`, "go_goroutines "},
			[]string{"superd_log_", "superd_instance_spawn_failures_total"},
			"instance stats: stats: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			r := New(tc.src, func() uint64 { return 1 }, slog.New(slog.NewTextHandler(&logs, nil)))
			r.CountRequest("GET /v1/health", 200)
			body := scrape(t, r)
			for _, want := range tc.want {
				if !strings.Contains(body, want) {
					t.Errorf("GET /metrics lacks %q", want)
				}
			}
			for _, missing := range tc.missing {
				if strings.Contains(body, missing) {
					t.Errorf("GET /metrics has %q; want it left out", missing)
				}
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], tc.logged) {
				t.Errorf("log after one scrape = %q; want one warning with %q", logs.String(), tc.logged)
			}
		})
	}
}

func TestTextWriterEscaping(t *testing.T) {
	for _, tc := range []struct {
		name, help, value string
		want              string
	}{
		{"plain", "Plain help.", "web:0",
			"# HELP m Plain help.\n# TYPE m gauge\nm{l=\"web:0\"} 1\n"},
		{"backslash", `a\b`, `c:\d`,
			"# HELP m a\\\\b\n# TYPE m gauge\nm{l=\"c:\\\\d\"} 1\n"},
		{"newline", "two\nlines", "x\ny",
			"# HELP m two\\nlines\n# TYPE m gauge\nm{l=\"x\\ny\"} 1\n"},
		{"quote", `say "hi"`, `"q"`, // a quote is escaped in a label value only
			"# HELP m say \"hi\"\n# TYPE m gauge\nm{l=\"\\\"q\\\"\"} 1\n"},
		{"all", "\\\n\"", "\\\n\"",
			"# HELP m \\\\\\n\"\n# TYPE m gauge\nm{l=\"\\\\\\n\\\"\"} 1\n"},
		{"utf-8", "Größe ✓", "é ✓",
			"# HELP m Größe ✓\n# TYPE m gauge\nm{l=\"é ✓\"} 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w textWriter
			w.family("m", tc.help, gauge, "l")
			w.sample(1, tc.value)
			if got := w.buf.String(); got != tc.want {
				t.Errorf("family with help %q, label value %q =\n%s\nwant\n%s", tc.help, tc.value, got, tc.want)
			}
		})
	}
}

func TestTextWriterFamilies(t *testing.T) {
	var w textWriter
	w.family("empty", "Left out: no samples.", counter, "l")
	w.family("s", "A summary.", summary, "quantile")
	w.sample(0.5, "0.5")
	w.suffixed("_sum", 2)
	w.suffixed("_count", 3)
	w.family("n", "No labels.", counter)
	w.sample(7)
	want := "# HELP s A summary.\n# TYPE s summary\ns{quantile=\"0.5\"} 0.5\ns_sum 2\ns_count 3\n" +
		"# HELP n No labels.\n# TYPE n counter\nn 7\n"
	if got := w.buf.String(); got != want {
		t.Errorf("families =\n%s\nwant\n%s", got, want)
	}
	for name, f := range map[string]func(){
		"declared twice": func() { w.family("n", "Again.", counter) },
		"label count":    func() { w.family("x", "X.", gauge, "a", "b"); w.sample(1, "a") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestFormatFloat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-3, "-3"}, {12.5, "12.5"}, {2048, "2048"},
		{1444182, "1.444182e+06"}, {1e21, "1e+21"}, {0.0001, "0.0001"},
		{float64(math.MaxUint64), "1.8446744073709552e+19"},
		{math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.NaN(), "NaN"},
	} {
		if got := formatFloat(tc.v); got != tc.want {
			t.Errorf("formatFloat(%v) = %q; want %q", tc.v, got, tc.want)
		}
	}
}

// superdLines returns the lines of body about superd's own metrics.
func superdLines(body string) []string {
	var out []string
	for l := range strings.Lines(body) {
		if strings.HasPrefix(l, "superd_") || strings.Contains(l, " superd_") {
			out = append(out, l)
		}
	}
	return out
}

// TestMetricsDeterministic: the order of the instances from the source and
// of the requests counted does not change the output.
func TestMetricsDeterministic(t *testing.T) {
	world := metricsWorld()
	reversed := fakeSource{insts: slices.Clone(world.insts), stats: slices.Clone(world.stats)}
	slices.Reverse(reversed.insts)
	slices.Reverse(reversed.stats)
	// Reversed, the retired web:0 comes before its successor: keep the
	// successor first, as the dedup keeps the first of a name.
	reversed.insts[1], reversed.insts[2] = reversed.insts[2], reversed.insts[1]
	reversed.stats[1], reversed.stats[2] = reversed.stats[2], reversed.stats[1]
	requests := []struct {
		route string
		code  int
	}{{"GET /v1/health", 200}, {"GET /v1/programs", 200}, {"", 301}, {"GET /v1/health", 404}, {"/", 404}, {"GET /v1/health", 200}}

	a := New(world, func() uint64 { return 5 }, discard())
	for _, rq := range requests {
		a.CountRequest(rq.route, rq.code)
	}
	b := New(reversed, func() uint64 { return 5 }, discard())
	for _, rq := range slices.Backward(requests) {
		b.CountRequest(rq.route, rq.code)
	}
	first := superdLines(scrape(t, a))
	for i, body := range []string{scrape(t, a), scrape(t, b)} {
		if got := superdLines(body); !slices.Equal(got, first) {
			t.Errorf("scrape %d =\n%s\nwant\n%s", i+2, strings.Join(got, ""), strings.Join(first, ""))
		}
	}
	want := `superd_api_requests_total{code="200",route="GET /v1/health"} 2
superd_api_requests_total{code="200",route="GET /v1/programs"} 1
superd_api_requests_total{code="301",route="unmatched"} 1
superd_api_requests_total{code="404",route="/"} 1
superd_api_requests_total{code="404",route="GET /v1/health"} 1
`
	var got strings.Builder
	for _, l := range first {
		if strings.HasPrefix(l, "superd_api_requests_total{") {
			got.WriteString(l)
		}
	}
	if got.String() != want {
		t.Errorf("api_requests_total series =\n%s\nwant\n%s", got.String(), want)
	}
}

// blockingSource holds every Status call until release is closed, telling
// entered of each.
type blockingSource struct {
	entered chan struct{}
	release chan struct{}
}

func (s blockingSource) Status(ctx context.Context, _ ...string) ([]apitype.Instance, error) {
	s.entered <- struct{}{}
	select {
	case <-s.release:
		return metricsWorld().insts, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s blockingSource) Stats(context.Context) ([]apitype.InstanceStats, error) {
	return metricsWorld().stats, nil
}

// TestMetricsTooManyScrapes: with maxScrapes scrapes in flight another is
// answered 503 at once; once they are done scrapes are served again.
func TestMetricsTooManyScrapes(t *testing.T) {
	src := blockingSource{entered: make(chan struct{}), release: make(chan struct{})}
	r := New(src, nil, discard())
	get := func() *http.Response {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Result()
	}
	codes := make(chan int, maxScrapes)
	var wg sync.WaitGroup
	for range maxScrapes {
		wg.Go(func() { codes <- get().StatusCode })
	}
	for range maxScrapes {
		<-src.entered // all maxScrapes are in flight, held by the source
	}
	resp := get()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("scrape %d while %d are in flight = %d %s; want 503", maxScrapes+1, maxScrapes, resp.StatusCode, body)
	}
	close(src.release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a scrape in flight = %d; want 200", code)
		}
	}
	go func() { <-src.entered }()
	if resp := get(); resp.StatusCode != http.StatusOK {
		t.Errorf("scrape after the others are done = %d; want 200", resp.StatusCode)
	}
}

func TestMetricsGzip(t *testing.T) {
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"", false}, {"gzip", true}, {"deflate, gzip", true}, {"gzip;q=0.5", true},
		{"gzip; q=0", false}, {"identity", false}, {"x-gzip", false},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept-Encoding", tc.accept)
		New(metricsWorld(), nil, discard()).ServeHTTP(rec, req)
		resp := rec.Result()
		var body io.Reader = resp.Body
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q; want gzip %v", tc.accept, resp.Header.Get("Content-Encoding"), tc.gzip)
			continue
		}
		if tc.gzip {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatalf("Accept-Encoding %q: %v", tc.accept, err)
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil || !strings.Contains(string(b), `superd_instance_state{instance="db",program="db",state="exited"} 1`) {
			t.Errorf("Accept-Encoding %q: body %q, %v; want the metrics", tc.accept, b, err)
		}
	}
}

// sampleLine is a sample line: name, optional labels, value.
var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)`)
	commentRe  = regexp.MustCompile(`^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$`)
	helpText   = regexp.MustCompile(`^(?:[^\\\n]|\\[\\n])*$`)
)

// TestMetricsStrictFormat parses a whole scrape: every sample belongs to
// the family whose # HELP and # TYPE lines came last, no family is declared
// twice, labels and values are well formed, and no series repeats.
func TestMetricsStrictFormat(t *testing.T) {
	world := metricsWorld()
	world.insts = append(world.insts, apitype.Instance{Name: "odd\\\"\n", Program: "p q", State: apitype.StateBackoff})
	world.stats = append(world.stats, apitype.InstanceStats{Name: "odd\\\"\n", Program: "p q", LogWritten: 1})
	r := New(world, func() uint64 { return 5 }, discard())
	r.CountRequest(`GET /v1/programs/{target}`, 200)
	r.CountRequest("", 301)
	body := scrape(t, r)
	if !strings.HasSuffix(body, "\n") {
		t.Errorf("scrape does not end in a newline")
	}

	types := map[string]string{} // declared families
	var family, typ string
	var helped bool
	series := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		n := i + 1
		if strings.HasPrefix(line, "#") {
			m := commentRe.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("line %d %q: not a HELP or TYPE comment", n, line)
				continue
			}
			switch m[1] {
			case "HELP":
				if _, dup := types[m[2]]; dup || m[2] == family {
					t.Errorf("line %d: family %s declared twice", n, m[2])
				}
				if !helpText.MatchString(m[3]) {
					t.Errorf("line %d: bad escape in HELP %q", n, m[3])
				}
				family, typ, helped = m[2], "", true
			case "TYPE":
				if !helped || m[2] != family || typ != "" {
					t.Errorf("line %d: TYPE of %s not right after its HELP", n, m[2])
				}
				if !slices.Contains([]string{counter, gauge, summary}, m[3]) {
					t.Errorf("line %d: type %q", n, m[3])
				}
				typ, helped = m[3], false
				types[family] = typ
			}
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %d %q: not name{labels} value", n, line)
			continue
		}
		name, labels, value := m[1], m[3], m[4]
		switch {
		case typ == "":
			t.Errorf("line %d %q: sample before any # TYPE", n, line)
		case name == family:
		case typ == summary && (name == family+"_sum" || name == family+"_count"):
		default:
			t.Errorf("line %d %q: sample of %s under family %s", n, line, name, family)
		}
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			t.Errorf("line %d %q: value: %v", n, line, err)
		}
		var names []string
		for rest := labels; rest != ""; {
			lm := labelPair.FindStringSubmatch(rest)
			if lm == nil {
				t.Errorf("line %d %q: bad labels at %q", n, line, rest)
				break
			}
			names = append(names, lm[1])
			rest = rest[len(lm[0]):]
			if lm[3] == "," && rest == "" {
				t.Errorf("line %d %q: trailing comma", n, line)
			}
		}
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Errorf("line %d %q: label names %v not sorted and unique", n, line, names)
		}
		key := name + "{" + labels + "}"
		if series[key] {
			t.Errorf("line %d %q: series repeated", n, line)
		}
		series[key] = true
	}
	for _, want := range []string{"superd_instance_state", "superd_api_requests_total", "go_goroutines", "go_info",
		"go_gc_duration_seconds", "go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes", "go_threads",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
		"process_open_fds", "process_max_fds", "process_start_time_seconds"} {
		if types[want] == "" {
			t.Errorf("scrape lacks the family %s", want)
		}
	}
	if want := `superd_log_bytes_written_total{instance="odd\\\"\n",program="p q"} 1`; !strings.Contains(body, want) {
		t.Errorf("scrape lacks %s", want)
	}
}

func TestParseStat(t *testing.T) {
	// Fields 3 to 24 after the command name; 22 starttime, 23 vsize, 24 rss.
	tail := " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 1234 5678 90 1 2 3\n"
	for _, tc := range []struct {
		stat    string
		want    procStat
		wantErr bool
	}{
		{"42 (superd)" + tail, procStat{startTicks: 1234, vsize: 5678, rssPages: 90}, false},
		{"42 (a) b) (c d)" + tail, procStat{startTicks: 1234, vsize: 5678, rssPages: 90}, false},
		{"42 (superd) S 1 2 3\n", procStat{}, true},
		{"42 superd S", procStat{}, true},
		{"42 (superd)" + strings.Replace(tail, "5678", "x", 1), procStat{}, true},
	} {
		got, err := parseStat([]byte(tc.stat))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, error %v", tc.stat, got, err, tc.want, tc.wantErr)
		}
	}
	// The real ones parse (TestMetricsGoAndProcessValues checks the values).
	if _, err := readStat(); err != nil {
		t.Errorf("readStat: %v", err)
	}
	if _, err := bootTime(); err != nil {
		t.Errorf("bootTime: %v", err)
	}
}

// TestMetricsGoAndProcessValues: every Go runtime family of goMetrics is
// served (a misspelled runtime/metrics name would leave its family out
// silently), and the Go and process metrics hold plausible values, not
// merely a line each.
func TestMetricsGoAndProcessValues(t *testing.T) {
	before := float64(time.Now().Unix())
	body := scrape(t, New(nil, nil, discard()))
	values := map[string]float64{}
	for l := range strings.Lines(body) {
		name, v, ok := strings.Cut(strings.TrimSpace(l), " ")
		if ok && !strings.HasPrefix(name, "#") && !strings.Contains(name, "{") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			values[name] = f
		}
	}
	for _, m := range goMetrics {
		if _, ok := values[m.name]; !ok {
			t.Errorf("scrape lacks %s", m.name)
		}
	}
	atLeast := func(name string, min float64) {
		t.Helper()
		if v, ok := values[name]; !ok || v < min {
			t.Errorf("%s = %v (present %v); want at least %v", name, v, ok, min)
		}
	}
	atLeast("go_goroutines", 1)
	atLeast("go_threads", 1)
	atLeast("go_sched_gomaxprocs_threads", 1)
	atLeast("go_memstats_heap_alloc_bytes", 1)
	atLeast("go_memstats_sys_bytes", values["go_memstats_heap_sys_bytes"])
	atLeast("go_memstats_heap_sys_bytes", values["go_memstats_heap_inuse_bytes"])
	atLeast("go_memstats_mallocs_total", values["go_memstats_frees_total"])
	atLeast("process_resident_memory_bytes", 1<<20)
	atLeast("process_virtual_memory_bytes", values["process_resident_memory_bytes"])
	atLeast("process_open_fds", 3)
	atLeast("process_max_fds", values["process_open_fds"])
	// The test binary started before the scrape, and not ten minutes before.
	if v := values["process_start_time_seconds"]; v > before+1 || v < before-600 {
		t.Errorf("process_start_time_seconds = %v; want shortly before %v", v, before)
	}
}
