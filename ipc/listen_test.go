package ipc

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultSocket(t *testing.T) {
	tests := []struct {
		name string
		euid int
		xdg  string
		want string
	}{
		{"root", 0, "/run/user/0", "/run/superd/superd.sock"},
		{"user with XDG_RUNTIME_DIR", 1000, "/run/user/1000", "/run/user/1000/superd/superd.sock"},
		{"user without XDG_RUNTIME_DIR", 1000, "", "/tmp/superd-1000/superd.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "XDG_RUNTIME_DIR" {
					return tt.xdg
				}
				return ""
			}
			if got := defaultSocket(tt.euid, getenv); got != tt.want {
				t.Errorf("defaultSocket(%d, XDG_RUNTIME_DIR=%q) = %q; want %q", tt.euid, tt.xdg, got, tt.want)
			}
		})
	}
}

// listen calls Listen and closes the listener when the test ends.
func listen(t *testing.T, path string, mode os.FileMode) net.Listener {
	t.Helper()
	l, err := Listen(path, mode)
	if err != nil {
		t.Fatalf("Listen(%q) = %v", path, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestListenCreatesDirAndMode(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o660, 0o666} {
		path := filepath.Join(shortTempDir(t), "sub", "s.sock")
		listen(t, path, mode)
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != mode {
			t.Errorf("Listen(%q, %v) made %v; want a socket of mode %v", path, mode, fi.Mode(), mode)
		}
		di, err := os.Stat(filepath.Dir(path))
		if err != nil || !di.IsDir() {
			t.Errorf("socket directory: %v, %v; want it created", di, err)
		}
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "s.sock")
	// A socket file nobody listens on, as a killed superd leaves it.
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket missing: %v", err)
	}
	l := listen(t, path, 0o600)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the new socket: %v", err)
	}
	c.Close()
	if s, err := l.Accept(); err == nil {
		s.Close()
	}
}

func TestListenRefusesLiveSocket(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "s.sock")
	listen(t, path, 0o600)
	l, err := Listen(path, 0o600)
	if err == nil {
		l.Close()
		t.Fatalf("second Listen(%q) = nil; want an error", path)
	}
	if want := "socket " + path + " is held by a running superd"; err.Error() != want {
		t.Errorf("second Listen(%q) = %q; want %q", path, err, want)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the live socket was removed: %v", err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "s.sock")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := Listen(path, 0o600); err == nil || !strings.Contains(err.Error(), "not a socket") {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Listen(%q) on a regular file = %v; want a not-a-socket error", path, err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "keep me" {
		t.Errorf("regular file after Listen = %q, %v; want it untouched", data, err)
	}
}

func TestListenCloseRemovesOnlyItsOwnSocket(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "s.sock")
	l1, err := Listen(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := l1.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Close, Lstat = %v; want the socket removed", err)
	}

	// A successor took the path over: closing the old listener must not
	// remove the new socket.
	old, err := Listen(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	listen(t, path, 0o600)
	old.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("closing the old listener removed the successor's socket: %v", err)
	}
}
