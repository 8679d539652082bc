package ipc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/ipc/metrics"
)

// fakeSource is a metrics.Source with one running instance.
type fakeSource struct{}

func (fakeSource) Status(context.Context, ...string) ([]apitype.Instance, error) {
	return instancesOf("web:0"), nil
}

func (fakeSource) Stats(context.Context) ([]apitype.InstanceStats, error) {
	return []apitype.InstanceStats{{Name: "web:0", Program: "web", LogWritten: 10}}, nil
}

// scrape GETs /metrics over the socket.
func scrape(t *testing.T, path string) string {
	t.Helper()
	resp, body := rawDo(t, path, "GET", "/metrics", "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d (%s) %s; want 200 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return body
}

func TestMetricsOnSocket(t *testing.T) {
	ts := startServer(t, &fakeBackend{}, 0o600, WithMetrics(metrics.New(fakeSource{}, nil, slog.New(slog.DiscardHandler))))
	if body := scrape(t, ts.path); !strings.Contains(body, `superd_instance_state{instance="web:0",program="web",state="running"} 1`) {
		t.Errorf("GET /metrics lacks the instance metrics:\n%s", body)
	}
	// Without WithMetrics: 404.
	plain := startServer(t, &fakeBackend{}, 0o600)
	if resp, body := rawDo(t, plain.path, "GET", "/metrics", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics without metrics = %d %s; want 404", resp.StatusCode, body)
	}
}

func TestAPIRequestsByRoute(t *testing.T) {
	fb := &fakeBackend{status: func(context.Context, []string) ([]apitype.Instance, error) {
		return nil, fmt.Errorf("nope: %w", apitype.ErrNotFound)
	}}
	ts := startServer(t, fb, 0o600, WithMetrics(metrics.New(nil, nil, slog.New(slog.DiscardHandler))))
	for i := range 5 {
		rawDo(t, ts.path, "GET", fmt.Sprintf("/v1/programs/name%d", i), "")
		rawDo(t, ts.path, "GET", fmt.Sprintf("/random/path/%d", i), "")
	}
	rawDo(t, ts.path, "GET", "/v1/health", "")
	rawDo(t, ts.path, "POST", "/v1/health", "")
	body := scrape(t, ts.path)
	for _, want := range []string{
		`superd_api_requests_total{code="404",route="GET /v1/programs/{target}"} 5`,
		`superd_api_requests_total{code="404",route="/"} 5`,
		`superd_api_requests_total{code="200",route="GET /v1/health"} 1`,
		`superd_api_requests_total{code="405",route="/v1/health"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "name3") || strings.Contains(body, "/random") {
		t.Error("GET /metrics has raw request paths as labels; want route patterns only")
	}
}

func TestServeMetrics(t *testing.T) {
	srv := NewServer(&fakeBackend{}, slog.New(slog.DiscardHandler),
		WithMetrics(metrics.New(fakeSource{}, nil, slog.New(slog.DiscardHandler))))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// exits when ctx is cancelled; the test waits on done
	go func() { done <- srv.ServeMetrics(ctx, l) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeMetrics() = %v; want nil", err)
		}
	}()
	hc := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + l.Addr().String()
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/metrics", http.StatusOK},
		{"HEAD", "/metrics", http.StatusOK},
		{"POST", "/metrics", http.StatusMethodNotAllowed},
		{"GET", "/v1/health", http.StatusNotFound},
		{"GET", "/v1/programs", http.StatusNotFound},
		{"POST", "/v1/shutdown", http.StatusNotFound},
		{"GET", "/", http.StatusNotFound},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, base+tt.path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s over TCP = %d; want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
		if tt.method == "GET" && tt.want == http.StatusOK && !strings.Contains(string(body), `superd_instance_state{instance="web:0"`) {
			t.Errorf("GET /metrics over TCP lacks the instance metrics")
		}
	}
}
