package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/superd/superd/ipc/apitype"
)

func ptr[T any](v T) *T { return &v }

// fakeSource is a MetricsSource with fixed answers.
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
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
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
