package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// c3Nobody is the uid (and gid) superctl runs as to be "someone else".
const c3Nobody = 65534

// c3Group creates a group for the test with groupadd and returns its name
// and gid; the cleanup deletes it. Without groupadd it falls back to the
// existing group "users".
func c3Group(t *testing.T) (string, uint32) {
	t.Helper()
	name := fmt.Sprintf("sd3e%d", os.Getpid())
	if out, err := exec.Command("groupadd", name).CombinedOutput(); err != nil {
		t.Logf("groupadd %s: %v %s; using the group users", name, err, out)
		name = "users"
	} else {
		t.Cleanup(func() {
			if out, err := exec.Command("groupdel", name).CombinedOutput(); err != nil {
				t.Errorf("groupdel %s: %v %s", name, err, out)
			}
		})
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Skipf("no group to test with: %v", err)
	}
	gid, _ := strconv.ParseUint(g.Gid, 10, 32)
	return name, uint32(gid)
}

// c3CtlAs runs superctl (the copy at bin) as uid with primary group gid and
// supplementary groups, and returns its output and exit code.
func c3CtlAs(t *testing.T, bin string, uid, gid uint32, groups []uint32, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = cleanEnviron()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), exitCodeOf(t, ctx, err, "superctl", args)
}

// c3Reachable makes e's folder traversable by anyone and puts a copy of
// superctl in it that anyone may run; it returns the copy's path.
func c3Reachable(t *testing.T, e *env) string {
	t.Helper()
	if err := os.Chmod(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Copied by another process: a descriptor of this one open for
	// writing on bin would be inherited by whatever a parallel test forks
	// meanwhile, until that child's exec, and running bin then fails with
	// "text file busy" (golang/go#22315).
	bin := e.path("superctl")
	if out, err := exec.Command("install", "-m", "0755", superctl, bin).CombinedOutput(); err != nil {
		t.Fatalf("install %s %s: %v\n%s", superctl, bin, err, out)
	}
	return bin
}

func TestControl3SocketGroup(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run superctl as another user")
	}
	group, gid := c3Group(t)
	const program = `
[program.web]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`

	t.Run("socket file", func(t *testing.T) {
		e := newEnv(t)
		bin := c3Reachable(t, e)
		e.writeConfig(fmt.Sprintf("socket_group = %q\nsocket_mode = \"0660\"", group), program)
		d := e.start(opts{})
		d.waitRunning(10*time.Second, "web")
		fi, err := os.Stat(e.sock)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Gid != gid || fi.Mode().Perm() != 0o660 {
			t.Errorf("socket gid %d mode %v; want gid %d (%s) mode 0660", st.Gid, fi.Mode().Perm(), gid, group)
		}
		tests := []struct {
			name   string
			gid    uint32
			groups []uint32
			want   int
		}{
			{"member by supplementary group", c3Nobody, []uint32{gid}, 0},
			{"member by primary group", gid, nil, 0},
			{"not a member: the socket file refuses", c3Nobody, nil, 6},
		}
		for _, tt := range tests {
			out, errOut, code := c3CtlAs(t, bin, c3Nobody, tt.gid, tt.groups, "-s", e.sock, "status", "web")
			if code != tt.want {
				t.Errorf("%s: superctl status = exit %d (%q %q); want %d", tt.name, code, out, errOut, tt.want)
			}
			if tt.want == 0 && !strings.Contains(out, "web") {
				t.Errorf("%s: superctl status = %q; want the web row", tt.name, out)
			}
			if tt.want != 0 && (len(lines(errOut)) != 1 || !strings.Contains(errOut, "permission denied")) {
				t.Errorf("%s: superctl stderr = %q; want one line saying permission denied", tt.name, errOut)
			}
		}
		// Root and superd's own user are always allowed.
		d.mustCtl("status", "web")
	})

	t.Run("server refuses", func(t *testing.T) {
		// A socket anyone may connect to, the group given by gid: the
		// server's credential check is what refuses.
		e := newEnv(t)
		bin := c3Reachable(t, e)
		e.writeConfig(fmt.Sprintf("socket_group = \"%d\"\nsocket_mode = \"0666\"", gid), program)
		d := e.start(opts{})
		d.waitRunning(10*time.Second, "web")
		_, errOut, code := c3CtlAs(t, bin, c3Nobody, c3Nobody, nil, "-s", e.sock, "stop", "web")
		want := fmt.Sprintf("superctl: permission denied: uid %d may not control superd\n", c3Nobody)
		if code != 6 || errOut != want {
			t.Errorf("superctl stop web as uid %d = exit %d %q; want 6 %q", c3Nobody, code, errOut, want)
		}
		if in := d.inst("web"); in.Pid == nil {
			t.Errorf("web after a refused stop: %s; want running", describe(in))
		}
		if _, errOut, code := c3CtlAs(t, bin, c3Nobody, c3Nobody, []uint32{gid}, "-s", e.sock, "pid"); code != 0 {
			t.Errorf("superctl pid as a member of %d = exit %d %q; want 0", gid, code, errOut)
		}
	})
}
