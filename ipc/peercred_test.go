package ipc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/ipc/apitype"
)

func TestAccessCheck(t *testing.T) {
	tests := []struct {
		name   string
		access access
		peer   peer
		want   string // "" when allowed
	}{
		{"root", access{uids: []uint32{0, 1000}}, peer{Uid: 0, Gid: 0}, ""},
		{"own user", access{uids: []uint32{0, 1000}}, peer{Uid: 1000, Gid: 1000}, ""},
		{"other user", access{uids: []uint32{0, 1000}}, peer{Uid: 1001, Gid: 1001}, "permission denied: uid 1001 may not control superd"},
		{"member of an allowed group", access{uids: []uint32{0}, gids: []uint32{50}}, peer{Uid: 1001, Gid: 50}, ""},
		{"not a member", access{uids: []uint32{0}, gids: []uint32{50}}, peer{Uid: 1001, Gid: 51}, "permission denied: uid 1001 may not control superd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.access.check(tt.peer)
			if tt.want == "" {
				if err != nil {
					t.Errorf("check(%+v) = %v; want nil", tt.peer, err)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, apitype.ErrForbidden) {
				t.Errorf("check(%+v) = %v; want %q wrapping ErrForbidden", tt.peer, err, tt.want)
			}
		})
	}
	if a := defaultAccess(); len(a.uids) != 2 || a.uids[0] != 0 || a.uids[1] != uint32(os.Geteuid()) {
		t.Errorf("defaultAccess() = %+v; want root and uid %d", a, os.Geteuid())
	}
}

// dialAs connects to the Unix socket at path with effective uid euid, which
// the kernel records as the peer's credentials. Only the dialling thread
// changes its credentials (a raw setresuid, not the all-threads wrapper of
// package syscall), and that thread is discarded afterwards, so no other
// goroutine ever runs as euid.
func dialAs(path string, euid int) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	// exits after one dial; dialAs receives its result. It returns still
	// locked to its thread, so the runtime ends that thread.
	go func() {
		runtime.LockOSThread()
		keep := ^uintptr(0) // -1: leave the real and saved uid alone
		if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(euid), keep); errno != 0 {
			ch <- result{err: fmt.Errorf("setresuid: %w", errno)}
			return
		}
		c, err := net.Dial("unix", path)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func TestPeerCredForbidden(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as another uid")
	}
	const nobody = 65534
	ts := startServer(t, &fakeBackend{}, 0o666)
	// Let nobody reach the socket, so the server's check is what refuses it.
	if err := os.Chmod(filepath.Dir(ts.path), 0o755); err != nil {
		t.Fatal(err)
	}
	conn, err := dialAs(ts.path, nobody)
	if err != nil {
		t.Fatalf("dial as uid %d: %v", nobody, err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v1/health HTTP/1.1\r\nHost: superd\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	var e apitype.Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("decode error body: %v", err)
	}
	want := fmt.Sprintf("permission denied: uid %d may not control superd", nobody)
	if resp.StatusCode != http.StatusForbidden || e.Error != want {
		t.Errorf("GET /v1/health as uid %d = %d %q; want 403 %q", nobody, resp.StatusCode, e.Error, want)
	}

	// Root, on a connection of its own, is still served.
	if _, err := ts.client.Health(t.Context()); err != nil {
		t.Errorf("Health() as root = %v; want nil", err)
	}
}

func TestPeerCredNotUnix(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := peerCred(a); err == nil {
		t.Error("peerCred(net.Pipe) = nil error; want one, so the server fails closed")
	}
	if _, err := peerFrom(t.Context()); err == nil {
		t.Error("peerFrom(context without peer) = nil error; want one")
	}
}
