package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// c3FreePort returns a loopback TCP address that was free a moment ago.
func c3FreePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// c3Get GETs url with c and returns the status code and body.
func c3Get(t *testing.T, c *http.Client, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

func TestControl3Metrics(t *testing.T) {
	t.Parallel()
	addr := c3FreePort(t)
	d := startDaemon(t, fmt.Sprintf("metrics_listen = %q", addr), `
[defaults]
start_seconds = "0s"

[program.web]
shell = "echo hello; exec /bin/sleep 1000"

[program.off]
command = ["/bin/sleep", "1000"]
autostart = false
`)
	d.waitRunning(10*time.Second, "web")
	waitFileContains(t, 10*time.Second, d.logDir+"/web.log", "hello\n")

	// On the socket: the instance metrics and the API request counts.
	sock := c3HTTP(d.sock)
	code, body := c3Get(t, sock, "GET", "http://superd/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics on the socket = %d %s; want 200", code, body)
	}
	for _, want := range []string{
		`superd_instance_state{instance="web",program="web",state="running"} 1`,
		`superd_instance_state{instance="off",program="off",state="stopped"} 1`,
		`superd_instance_restarts_total{instance="web",program="web"} 0`,
		`superd_instance_uptime_seconds{instance="web",program="web"} `,
		`superd_instance_spawn_failures_total{instance="web",program="web"} 0`,
		`superd_log_bytes_written_total{instance="web",program="web"} `,
		`superd_log_bytes_dropped_total{instance="web",program="web"} 0`,
		`superd_orphans_reaped_total `,
		`superd_api_requests_total{code="200",route="GET /v1/programs/{target}"} `,
		`process_resident_memory_bytes `,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics on the socket lacks %q", want)
		}
	}
	if strings.Contains(body, `superd_log_bytes_written_total{instance="web",program="web"} 0`+"\n") {
		t.Errorf("log_bytes_written_total of web is 0 after it wrote a line")
	}

	// On metrics_listen: /metrics alone.
	tcp := &http.Client{Timeout: 10 * time.Second}
	code, body = c3Get(t, tcp, "GET", "http://"+addr+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, `superd_instance_state{instance="web",program="web",state="running"} 1`) {
		t.Errorf("GET /metrics on %s = %d; want 200 with the instance metrics", addr, code)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/programs"},
		{"GET", "/v1/health"},
		{"GET", "/v1/events"},
		{"POST", "/v1/shutdown"},
		{"POST", "/v1/programs/web/stop"},
		{"GET", "/"},
	} {
		if code, body := c3Get(t, tcp, r.method, "http://"+addr+r.path); code != http.StatusNotFound {
			t.Errorf("%s %s on metrics_listen = %d %s; want 404", r.method, r.path, code, body)
		}
	}
	if in := d.inst("web"); in.Pid == nil {
		t.Errorf("web after requests to metrics_listen: %s; want still running", describe(in))
	}
	// The requests on metrics_listen are counted too, by route.
	_, body = c3Get(t, sock, "GET", "http://superd/metrics")
	if !strings.Contains(body, `superd_api_requests_total{code="404",route="/"} 6`) {
		t.Errorf("GET /metrics lacks 6 requests answered 404 on route \"/\"; got:\n%s", c3Grep(body, "api_requests_total"))
	}
}

func TestControl3MetricsListenTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := newEnv(t)
	e.writeConfig(fmt.Sprintf("metrics_listen = %q", l.Addr().String()), `
[program.web]
command = ["/bin/sleep", "1000"]
`)
	d := e.start(opts{noWait: true})
	if code := d.waitExit(15 * time.Second); code != 1 {
		t.Errorf("superd with metrics_listen taken = exit %d; want 1", code)
	}
	if s := d.stderr.String(); !strings.Contains(s, "metrics_listen") || !strings.Contains(s, "address already in use") {
		t.Errorf("superd stderr = %q; want it to name metrics_listen and the error", s)
	}
}

// c3Grep returns the lines of s that contain sub.
func c3Grep(s, sub string) string {
	var out []string
	for _, l := range lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
