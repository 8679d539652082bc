package ipc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/ipc/apitype"
)

func TestAccessCheckGroups(t *testing.T) {
	a := access{uids: []uint32{0, 1000}, gids: []uint32{50}}
	tests := []struct {
		name    string
		peer    peer
		allowed bool
	}{
		{"root", peer{Uid: 0, Gid: 0}, true},
		{"superd's user", peer{Uid: 1000, Gid: 1000}, true},
		{"primary group", peer{Uid: 1001, Gid: 50}, true},
		{"supplementary group", peer{Uid: 1001, Gid: 1001, Groups: []uint32{20, 50}}, true},
		{"other groups", peer{Uid: 1001, Gid: 1001, Groups: []uint32{20, 51}}, false},
		{"no groups", peer{Uid: 1001, Gid: 1001}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.check(tt.peer)
			if (err == nil) != tt.allowed || (err != nil && !errors.Is(err, apitype.ErrForbidden)) {
				t.Errorf("check(%+v) = %v; want allowed %v", tt.peer, err, tt.allowed)
			}
		})
	}
	if !a.byIDs(peer{Uid: 7, Gid: 50}) || a.byIDs(peer{Uid: 7, Gid: 7, Groups: []uint32{50}}) {
		t.Error("byIDs must decide by uid and primary gid alone")
	}
}

func TestParseProcGroups(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []uint32
		wantErr bool
	}{
		{"groups", "Name:\tsh\nGid:\t0\t0\t0\t0\nGroups:\t4 24 27 1000 \nNSpid:\t1\n", []uint32{4, 24, 27, 1000}, false},
		{"none", "Groups:\t\n", []uint32{}, false},
		{"no line", "Name:\tsh\n", nil, true},
		{"garbage", "Groups:\t4 x\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcGroups(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Errorf("parseProcGroups(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	// This thread's own status file parses to its groups. Groups are per
	// thread, and dialWith's threads take others (one of them may be the
	// leader, whose status /proc/PID/status shows): the test reads the
	// thread it asks getgroups on.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	got, err := procGroups("/proc/thread-self/status")
	if err != nil {
		t.Fatalf("procGroups(self) = %v", err)
	}
	if want := ownGroups(t); !slices.Equal(sorted(got), want) {
		t.Errorf("procGroups(self) = %v; want %v", got, want)
	}
}

// ownGroups returns this process's supplementary groups, sorted.
func ownGroups(t *testing.T) []uint32 {
	t.Helper()
	gs, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, g := range gs {
		out = append(out, uint32(g))
	}
	return sorted(out)
}

func sorted(s []uint32) []uint32 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// socketPair returns the two ends of a connected Unix socket: the server's
// end, as accepted, and the client's.
func socketPair(t *testing.T, dial func(path string) (net.Conn, error)) (server, client net.Conn) {
	t.Helper()
	path := filepath.Join(shortTempDir(t), "p.sock")
	l, err := Listen(path, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	client, err = dial(path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}

func TestPeerGroupsOwn(t *testing.T) {
	server, _ := socketPair(t, func(path string) (net.Conn, error) { return net.Dial("unix", path) })
	got, err := peerGroups(server, int32(os.Getpid()))
	if err != nil {
		t.Fatalf("peerGroups() = %v", err)
	}
	if want := ownGroups(t); !slices.Equal(sorted(got), want) {
		t.Errorf("peerGroups() = %v; want %v", got, want)
	}
	if _, err := peerGroups(&net.TCPConn{}, 1); err == nil {
		t.Error("peerGroups(TCP) = nil error; want one")
	}
}

// creds are the credentials of a dialling thread.
type creds struct {
	uid, gid int
	groups   []uint32
}

// dialWith connects to the Unix socket at path from a thread that has
// switched to c: supplementary groups, then real/effective/saved gid, then
// effective uid. Only that thread changes (raw syscalls, not the
// all-threads wrappers of package syscall), and it is discarded afterwards
// because it returns still locked.
func dialWith(path string, c creds) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	// exits after one dial; dialWith receives its result
	go func() {
		runtime.LockOSThread()
		var gp uintptr
		if len(c.groups) > 0 {
			gp = uintptr(unsafe.Pointer(&c.groups[0]))
		}
		if _, _, errno := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(c.groups)), gp, 0); errno != 0 {
			ch <- result{err: fmt.Errorf("setgroups: %w", errno)}
			return
		}
		if _, _, errno := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(c.gid), uintptr(c.gid), uintptr(c.gid)); errno != 0 {
			ch <- result{err: fmt.Errorf("setresgid: %w", errno)}
			return
		}
		keep := ^uintptr(0) // -1: leave the real and saved uid alone
		if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(c.uid), keep); errno != 0 {
			ch <- result{err: fmt.Errorf("setresuid: %w", errno)}
			return
		}
		conn, err := net.Dial("unix", path)
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.c, r.err
}

func TestPeerGroupsManyGroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to set the groups of a thread")
	}
	var many []uint32
	for g := range uint32(3 * firstGroupsGuess) {
		many = append(many, 20000+g)
	}
	server, _ := socketPair(t, func(path string) (net.Conn, error) {
		return dialWith(path, creds{uid: 0, gid: 0, groups: many})
	})
	got, err := peerGroups(server, 0)
	if err != nil {
		t.Fatalf("peerGroups() = %v", err)
	}
	if !slices.Equal(sorted(got), many) {
		t.Errorf("peerGroups() = %d groups %v; want the %d set by the peer", len(got), got, len(many))
	}
}

func TestSocketGroupAccess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as another user")
	}
	const (
		nobody = 65534
		group  = 54321 // the socket group; need not exist in /etc/group
		other  = 54322
	)
	ts := startServer(t, &fakeBackend{}, 0o666, WithSocketGroup(group))
	if err := os.Chmod(filepath.Dir(ts.path), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    creds
		want int
	}{
		{"supplementary group", creds{uid: nobody, gid: nobody, groups: []uint32{other, group}}, http.StatusOK},
		{"primary group", creds{uid: nobody, gid: group}, http.StatusOK},
		{"other groups", creds{uid: nobody, gid: nobody, groups: []uint32{other}}, http.StatusForbidden},
		{"no groups", creds{uid: nobody, gid: nobody}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := dialWith(ts.path, tt.c)
			if err != nil {
				t.Fatalf("dial as %+v: %v", tt.c, err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, "GET /v1/health HTTP/1.1\r\nHost: superd\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET /v1/health as %+v = %d; want %d", tt.c, resp.StatusCode, tt.want)
			}
		})
	}
}

func TestListenGroup(t *testing.T) {
	gid := os.Getgid() // a group the caller may give a file to
	if gs := ownGroups(t); len(gs) > 0 {
		gid = int(gs[len(gs)-1])
	}
	path := filepath.Join(shortTempDir(t), "g.sock")
	l, err := ListenGroup(path, 0o660, gid)
	if err != nil {
		t.Fatalf("ListenGroup(%q, 0660, %d) = %v", path, gid, err)
	}
	defer l.Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Gid) != gid || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket gid %d mode %v; want gid %d mode 0660", st.Gid, fi.Mode().Perm(), gid)
	}
}

func TestLookupGroup(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint32
		wantErr bool
	}{
		{"by name", "root", 0, false},
		{"by gid", "0", 0, false},
		{"unknown name", "no-such-group-superd", 0, true},
		{"unknown gid", "4294967", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LookupGroup(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("LookupGroup(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
