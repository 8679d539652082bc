package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/supervisor/reaper"
)

// quick bounds every check that should answer at once.
const quick = 5 * time.Second

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// wantErr fails the test unless err is nil when want is "", or an error
// containing want otherwise.
func wantErr(t *testing.T, call string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s = %v; want nil", call, err)
	case want != "" && err == nil:
		t.Errorf("%s = nil; want an error containing %q", call, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s = %v; want an error containing %q", call, err, want)
	}
}

func TestTCP(t *testing.T) {
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { open.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name string
		addr string
		want string // "" wants success
	}{
		{name: "listening port", addr: open.Addr().String()},
		{name: "closed port", addr: closedAddr, want: "connection refused"},
		{name: "the error names the address", addr: closedAddr, want: "tcp " + closedAddr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, fmt.Sprintf("TCP(%q)", tc.addr), TCP(ctxFor(t, quick), tc.addr), tc.want)
		})
	}
}

// TestTCPHonoursContext: a check whose context is done fails with the
// context's error, even against a listening port.
func TestTCPHonoursContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = TCP(ctx, l.Addr().String())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("TCP(done ctx) = %v; want an error wrapping context.Canceled", err)
	}
}

func TestHTTP(t *testing.T) {
	var hitTarget sync.Mutex // guards the field below
	redirectFollowed := false
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("check method = %s; want GET", r.Method)
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "warming up", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/notfound", http.NotFound)
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) {
		hitTarget.Lock()
		redirectFollowed = true
		hitTarget.Unlock()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name string
		path string
		want string // "" wants success
	}{
		{name: "200", path: "/ok"},
		{name: "204", path: "/nocontent"},
		{name: "503", path: "/unavailable", want: "503"},
		{name: "404", path: "/notfound", want: "404"},
		{name: "302 is not followed", path: "/moved", want: "302"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := srv.URL + tc.path
			err := HTTP(ctxFor(t, quick), url)
			wantErr(t, fmt.Sprintf("HTTP(%q)", url), err, tc.want)
			if err != nil && !strings.Contains(err.Error(), url) {
				t.Errorf("HTTP(%q) = %v; want the error to name the URL", url, err)
			}
		})
	}
	hitTarget.Lock()
	defer hitTarget.Unlock()
	if redirectFollowed {
		t.Errorf("HTTP followed a redirect; want a 3xx to fail as it is")
	}
}

func TestHTTPConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/healthz"
	srv.Close()
	wantErr(t, fmt.Sprintf("HTTP(%q)", url), HTTP(ctxFor(t, quick), url), "connection refused")
}

// TestHTTPBoundedByContext: a server that never answers does not hold the
// check beyond its context.
func TestHTTPBoundedByContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	start := time.Now()
	err := HTTP(ctxFor(t, 100*time.Millisecond), srv.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("HTTP(stalled server) = %v; want an error wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("HTTP(stalled server) took %v; want about 100ms", d)
	}
}

// recordingStarter is a Starter that remembers the pid of every process it
// started.
type recordingStarter struct {
	*reaper.Reaper

	mu   sync.Mutex // guards the field below
	pids []int
}

func (r *recordingStarter) Start(spec reaper.Spec, done func(reaper.Exit)) (int, error) {
	pid, err := r.Reaper.Start(spec, done)
	if err == nil {
		r.mu.Lock()
		r.pids = append(r.pids, pid)
		r.mu.Unlock()
	}
	return pid, err
}

func (r *recordingStarter) started() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.pids...)
}

// startReaper runs a real Reaper until the test ends.
func startReaper(t *testing.T) *recordingStarter {
	t.Helper()
	r := reaper.New(1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	// exits when ctx is cancelled in Cleanup, which waits on errc
	go func() { errc <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("reaper Run() = %v", err)
		}
	})
	return &recordingStarter{Reaper: r}
}

func procGone(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return errors.Is(err, os.ErrNotExist)
}

// procDead reports whether pid is gone or a zombie its parent (not this
// process) has not reaped yet.
func procDead(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// waitUntil polls cond until it holds or d has passed, and reports which.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		tick := time.NewTimer(10 * time.Millisecond)
		<-tick.C
	}
	return true
}

func TestExec(t *testing.T) {
	r := startReaper(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		argv []string
		env  []string
		want string // "" wants success
	}{
		{name: "true passes", argv: []string{"/bin/true"}},
		{name: "false fails with its exit code", argv: []string{"/bin/false"}, want: "exit code 1"},
		{name: "exit 3", argv: []string{"/bin/sh", "-c", "exit 3"}, want: "exit code 3"},
		{name: "killed by a signal", argv: []string{"/bin/sh", "-c", "kill -KILL $$"}, want: "killed"},
		{name: "the error names the command", argv: []string{"/bin/false"}, want: "exec /bin/false"},
		{name: "a missing command fails to start", argv: []string{"/nonexistent/check"}, want: "no such file or directory"},
		{name: "env and dir are the given ones", argv: []string{"/bin/sh", "-c", `test "$CHECK_VAR" = yes && test "$(pwd -P)" = "$WANT_DIR"`},
			env: []string{"CHECK_VAR=yes", "WANT_DIR=" + mustEvalSymlinks(t, dir)}},
		{name: "stdin is empty", argv: []string{"/bin/sh", "-c", `test -z "$(cat)"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Exec(ctxFor(t, quick), r, tc.argv, tc.env, dir)
			wantErr(t, fmt.Sprintf("Exec(%q)", tc.argv), err, tc.want)
		})
	}
}

func mustEvalSymlinks(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestExecCutByContext: a command that outlives its context is killed
// with its whole process group, promptly, and Exec returns the context's
// error; nothing is left running.
func TestExecCutByContext(t *testing.T) {
	r := startReaper(t)
	dir := t.TempDir()
	grandchild := filepath.Join(dir, "grandchild.pid")
	argv := []string{"/bin/sh", "-c", `sleep 10 & echo $! > ` + grandchild + `; wait`}

	start := time.Now()
	err := Exec(ctxFor(t, 100*time.Millisecond), r, argv, nil, dir)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exec(%q) = %v; want an error wrapping context.DeadlineExceeded", argv, err)
	}
	if took > 2*time.Second {
		t.Errorf("Exec(%q) with a 100ms context took %v; want it cut promptly", argv, took)
	}
	pids := r.started()
	if len(pids) != 1 {
		t.Fatalf("started pids = %v; want one", pids)
	}
	// Exec returns after the reaper has reaped the leader.
	if !procGone(pids[0]) {
		t.Errorf("/proc/%d exists after Exec returned; want the command gone", pids[0])
	}
	b, err := os.ReadFile(grandchild)
	if err != nil {
		t.Fatalf("the command did not record its child: %v", err)
	}
	gc, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", b, err)
	}
	if !waitUntil(quick, func() bool { return procDead(gc) }) {
		t.Errorf("the command's child %d still runs after Exec returned; want the group killed", gc)
		syscall.Kill(gc, syscall.SIGKILL)
	}
}

// TestExecConcurrent: checks are safe for concurrent use, and each
// answers for its own command.
func TestExecConcurrent(t *testing.T) {
	r := startReaper(t)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		// exits when Exec returns; the test waits on wg
		go func() {
			defer wg.Done()
			errs[i] = Exec(ctxFor(t, quick), r, []string{"/bin/sh", "-c", "exit " + strconv.Itoa(i%2)}, nil, "/")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		want := ""
		if i%2 == 1 {
			want = "exit code 1"
		}
		wantErr(t, fmt.Sprintf("Exec(exit %d)", i%2), err, want)
	}
}
