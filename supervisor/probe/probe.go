// Package probe runs readiness and health checks: a TCP connect, an HTTP
// GET answered 2xx, or a command that exits 0. Each function makes one
// attempt, bounded by ctx, and returns nil on success or an error saying
// what failed. They are safe for concurrent use; the supervisor runs them
// off its loop goroutine, one in flight per instance.
package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/superd/superd/supervisor/reaper"
)

// TCP connects to addr (host:port) and closes the connection.
func TCP(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("tcp %s: %w", addr, err)
	}
	return c.Close()
}

// HTTP sends a GET to url and wants a 2xx answer. Redirects are not
// followed: a 3xx is a failure, as the target itself did not say it is up.
func HTTP(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("http %s: %w", url, err)
	}
	client := http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("http %s: %w", url, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("http %s: %s", url, resp.Status)
	}
	return nil
}

// Starter starts a process and reports its exit; *reaper.Reaper is one.
type Starter interface {
	Start(spec reaper.Spec, done func(reaper.Exit)) (int, error)
	SignalGroup(pgid int, sig syscall.Signal) error
}

// Exec runs argv (stdio to /dev/null, in env and dir) through r and wants
// exit status 0. When ctx ends first, the command's process group gets
// SIGKILL and Exec returns the context's error.
func Exec(ctx context.Context, r Starter, argv, env []string, dir string) error {
	exited := make(chan reaper.Exit, 1) // the reaper delivers once and must not block
	// nil Files: the reaper's /dev/null.
	pid, err := r.Start(reaper.Spec{Argv: argv, Env: env, Dir: dir, Files: []*os.File{nil, nil, nil}, Umask: -1},
		func(e reaper.Exit) { exited <- e })
	if err != nil {
		return fmt.Errorf("exec %s: %w", argv[0], err)
	}
	select {
	case e := <-exited:
		if e.Status.Exited() && e.Status.ExitStatus() == 0 {
			return nil
		}
		if e.Status.Signaled() {
			return fmt.Errorf("exec %s: killed by %v", argv[0], e.Status.Signal())
		}
		return fmt.Errorf("exec %s: exit code %d", argv[0], e.Status.ExitStatus())
	case <-ctx.Done():
		// Its own group (Setpgid); the leader is unreaped until exited fires,
		// so the group id cannot have been reused.
		r.SignalGroup(pid, syscall.SIGKILL)
		<-exited
		return fmt.Errorf("exec %s: %w", argv[0], ctx.Err())
	}
}
