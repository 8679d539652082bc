package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// httpClient talks HTTP to superd's socket, as `curl --unix-socket` does.
func httpClient(sock string) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		},
		Timeout: 30 * time.Second,
	}
}

func TestHTTPAPI(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[defaults]
start_seconds = "0s"
command = ["/bin/sleep", "1000"]

[program.web]
instances = 2

[program.off]
autostart = false
`)
	d.waitRunning(10*time.Second, "web:0", "web:1")
	c := httpClient(d.sock)
	do := func(t *testing.T, method, path, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, "http://superd"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	errorBody := func(t *testing.T, b []byte) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || len(m) != 1 || m["error"] == nil || m["error"] == "" {
			t.Errorf("error body %q; want {\"error\":\"...\"}", b)
		}
	}

	t.Run("GET /v1/programs", func(t *testing.T) {
		code, b := do(t, "GET", "/v1/programs", "")
		var objs []map[string]any
		if code != 200 || json.Unmarshal(b, &objs) != nil || len(objs) != 3 {
			t.Errorf("GET /v1/programs = %d %q; want 200 and 3 instances", code, b)
		}
	})
	t.Run("GET /v1/programs/web", func(t *testing.T) {
		code, b := do(t, "GET", "/v1/programs/web", "")
		var objs []map[string]any
		if code != 200 || json.Unmarshal(b, &objs) != nil || len(objs) != 2 {
			t.Errorf("GET /v1/programs/web = %d %q; want 200 and 2 instances", code, b)
		}
	})
	t.Run("unknown name is 404", func(t *testing.T) {
		code, b := do(t, "GET", "/v1/programs/nosuch", "")
		if code != 404 {
			t.Errorf("GET /v1/programs/nosuch = %d; want 404", code)
		}
		errorBody(t, b)
	})
	t.Run("signal to a stopped instance is 409", func(t *testing.T) {
		code, b := do(t, "POST", "/v1/programs/off/signal", `{"signal":"HUP"}`)
		if code != 409 {
			t.Errorf("POST /v1/programs/off/signal = %d %q; want 409", code, b)
		}
		errorBody(t, b)
	})
	t.Run("bad signal is 400", func(t *testing.T) {
		code, b := do(t, "POST", "/v1/programs/web/signal", `{"signal":"NOPE"}`)
		if code != 400 {
			t.Errorf("POST signal NOPE = %d %q; want 400", code, b)
		}
		errorBody(t, b)
	})
	t.Run("huge body is 413", func(t *testing.T) {
		code, b := do(t, "POST", "/v1/programs/web/signal", `{"signal":"`+strings.Repeat("A", 2<<20)+`"}`)
		if code != 413 {
			t.Errorf("POST a 2 MiB body = %d; want 413", code)
		}
		errorBody(t, b)
	})
	t.Run("start with wait", func(t *testing.T) {
		code, b := do(t, "POST", "/v1/programs/off/start?wait=true&timeout=30s", "")
		var objs []map[string]any
		if code != 200 || json.Unmarshal(b, &objs) != nil || len(objs) != 1 || objs[0]["state"] != "running" {
			t.Errorf("POST /v1/programs/off/start?wait=true = %d %q; want 200 and off running", code, b)
		}
		if len(objs) == 1 {
			if pid, ok := objs[0]["pid"].(float64); ok {
				d.track(int(pid))
			}
		}
	})
	t.Run("logs", func(t *testing.T) {
		code, _ := do(t, "GET", "/v1/programs/web:0/logs?lines=10", "")
		if code != 200 {
			t.Errorf("GET /v1/programs/web:0/logs = %d; want 200", code)
		}
	})
	t.Run("GET /v1/health", func(t *testing.T) {
		code, b := do(t, "GET", "/v1/health", "")
		var h struct {
			Status string `json:"status"`
			Pid    int    `json:"pid"`
		}
		if code != 200 || json.Unmarshal(b, &h) != nil || h.Status != "ok" || h.Pid != d.pid() {
			t.Errorf("GET /v1/health = %d %q; want 200 {status: ok, pid: %d}", code, b, d.pid())
		}
	})
	t.Run("GET /metrics", func(t *testing.T) {
		code, b := do(t, "GET", "/metrics", "")
		if code != 200 || !strings.Contains(string(b), "# TYPE") {
			t.Errorf("GET /metrics = %d %q; want 200 and Prometheus text", code, tail(string(b), 200))
		}
	})
	t.Run("GET /v1/events", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://superd/v1/events", nil)
		resp, err := httpClient(d.sock).Do(req)
		if err != nil {
			t.Fatalf("GET /v1/events: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("GET /v1/events = %d %q; want 200 and a stream", resp.StatusCode, b)
		}
		d.mustCtl("restart", "--no-wait", "web:1")
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("event line %q is not JSON: %v", sc.Text(), err)
			}
			if slices.ContainsFunc([]string{"name", "instance"}, func(k string) bool { return ev[k] == "web:1" }) {
				return
			}
		}
		t.Errorf("no event about web:1 after its restart (%v)", sc.Err())
	})
}
