package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// c3RSS returns the resident set size of pid in bytes, from
// /proc/PID/status.
func c3RSS(t *testing.T, pid int) int64 {
	t.Helper()
	f := strings.Fields(procStatus(t, pid)["VmRSS"]) // "12345 kB"
	if len(f) != 2 || f[1] != "kB" {
		t.Fatalf("VmRSS of %d = %q; want N kB", pid, f)
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return kb << 10
}

// c3Dial connects to superd's socket; the test's cleanup closes it.
func c3Dial(t *testing.T, sock string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial %s: %v", sock, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// c3ClosedByServer reports whether superd closes conn before deadline: a
// read ends in EOF or a reset rather than a timeout.
func c3ClosedByServer(conn net.Conn, deadline time.Time) bool {
	_ = conn.SetReadDeadline(deadline)
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestControl3HostileClients: while 200 idle connections, 20 half-sent
// requests, a 10 MiB upload in progress and an events follower that never
// reads (flooded by a program that restarts all the time) are open,
// superctl status still answers, and superd's memory stays bounded. Then
// superd closes every one of them.
func TestControl3HostileClients(t *testing.T) {
	t.Parallel()
	const (
		idle      = 200
		halfSent  = 20
		upload    = 10 << 20
		rssBound  = 100 << 20
		liveBound = 5 * time.Second // generous: a liveness check, not a benchmark
	)
	d := startDaemon(t, "", `
[defaults]
start_seconds = "0s"

[program.web]
command = ["/bin/sleep", "1000"]

[program.flap]
# Exits at once and is restarted at once: a flood of state changes.
command = ["/bin/sleep", "0.005"]
restart = "always"
stdout = "null"
`)
	d.waitRunning(10*time.Second, "web")

	// An events follower that never reads.
	stalled := c3Dial(t, d.sock)
	if _, err := io.WriteString(stalled, "GET /v1/events HTTP/1.1\r\nHost: superd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Idle connections and requests whose headers never end.
	var lingering []net.Conn
	for range idle {
		lingering = append(lingering, c3Dial(t, d.sock))
	}
	for i := range halfSent {
		c := c3Dial(t, d.sock)
		if _, err := fmt.Fprintf(c, "GET /v1/programs HTTP/1.1\r\nHost: superd\r\nX-Slow-%d: ", i); err != nil {
			t.Fatal(err)
		}
		lingering = append(lingering, c)
	}
	// A 10 MiB body, of which the first 512 KiB are sent now, the rest
	// after the status check.
	up := c3Dial(t, d.sock)
	if _, err := fmt.Fprintf(up, "POST /v1/programs/web/signal HTTP/1.1\r\nHost: superd\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", upload); err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("x", 64<<10))
	for range 8 {
		if _, err := up.Write(chunk); err != nil {
			t.Fatalf("upload: %v", err)
		}
	}

	// superctl status answers, in well under liveBound.
	start := time.Now()
	out, errOut, code := d.ctl("status", "web")
	if took := time.Since(start); code != 0 || took > liveBound || !strings.Contains(out, "running") {
		t.Errorf("superctl status web under load = exit %d after %v (%q %q); want 0 within %v",
			code, took, out, errOut, liveBound)
	}
	if rss := c3RSS(t, d.pid()); rss > rssBound {
		t.Errorf("superd VmRSS under load = %d MiB; want under %d MiB", rss>>20, rssBound>>20)
	}

	// The rest of the upload: refused with 413 once past the cap.
	resp := make(chan *http.Response, 1)
	// exits once the answer is read or the connection is closed by the
	// cleanup; the test receives from resp
	go func() {
		r, err := http.ReadResponse(bufio.NewReader(up), nil)
		if err != nil {
			resp <- nil
			return
		}
		r.Body.Close()
		resp <- r
	}()
	sent := 8 * len(chunk)
	for sent < upload {
		n, err := up.Write(chunk)
		sent += n
		if err != nil {
			break // superd stopped reading once it had refused the body
		}
	}
	if r := <-resp; r == nil || r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("10 MiB upload answered %v; want 413", r)
	}

	// superd closes the idle and half-sent connections (header timeout).
	deadline := time.Now().Add(30 * time.Second)
	open := 0
	for _, c := range lingering {
		if !c3ClosedByServer(c, deadline) {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d idle or half-sent connections still open after 30s; want superd to close them", open)
	}

	// The stalled follower is cut off, not buffered for: superd says so,
	// and its stream ends without the final chunk of a proper end.
	waitForf(t, 60*time.Second, "superd to cut off the stalled events follower", func() bool {
		return strings.Contains(d.stderr.String(), "follower") && strings.Contains(d.stderr.String(), "cut off")
	})
	if !c3ClosedByServer(stalled, time.Now().Add(30*time.Second)) {
		t.Error("the stalled follower's connection is still open after it was cut off")
	}
	if rss := c3RSS(t, d.pid()); rss > rssBound {
		t.Errorf("superd VmRSS after the flood = %d MiB; want under %d MiB", rss>>20, rssBound>>20)
	}
	// And superd serves on.
	d.mustCtl("status", "web")
}
