package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// The files of packaging/ and examples/ that ship, run as they would be.
// No Docker engine runs on the machines this is built on, so the image
// itself is not built; what the image does at run time is: superd as PID 1
// of a PID namespace with the image's config, examples/container.toml.

// repoFile is the absolute path of a file of the repository.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return p
}

// TestContainerConfigAsPID1 runs superd -c examples/container.toml as PID
// 1 of new PID and mount namespaces (/run and /var/log on a private tmpfs,
// as in a container), the way packaging/docker/Dockerfile's ENTRYPOINT
// does: every program runs, their output reaches superd's stdout prefixed
// with the instance name, and SIGTERM (docker stop) drains them all and
// exits 0.
func TestContainerConfigAsPID1(t *testing.T) {
	dir := execDir(t)
	cfg := repoFile(t, "examples/container.toml")
	sock := filepath.Join(dir, "s.sock")
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("superd as PID 1 needs unshare (util-linux): %v", err)
	}
	script := fmt.Sprintf("mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/log && exec %s -c %s --socket %s", superdBin, cfg, sock)
	p := startExecProc(t, dir, execOpts{}, unshare, "--pid", "--fork", "--mount-proc", "--mount", "--propagation", "private", "--kill-child", "/bin/sh", "-c", script)

	var insts []apitype.Instance
	waitFor(t, 15*time.Second, func() string {
		return fmt.Sprintf("every program of container.toml to run; status %v; stderr:\n%s", insts, p.stderr.String())
	}, func() bool {
		out, _, code := runCtl(t, nil, "-s", sock, "status", "-o", "json")
		insts = nil
		if code != 0 || json.Unmarshal([]byte(out), &insts) != nil || len(insts) != 3 {
			return false
		}
		for _, in := range insts {
			if in.State != apitype.StateRunning {
				return false
			}
		}
		return true
	})
	waitForf(t, 10*time.Second, "web's and worker:1's output on superd's stdout, prefixed", func() bool {
		out := p.stdout.String()
		return strings.Contains(out, "web | serving") && strings.Contains(out, "worker:1 | working 1")
	})

	// superd is PID 1 inside; outside, it is unshare's child.
	pid1 := childOf(t, p.pid())
	if got := nsPid(t, pid1); got != 1 {
		t.Fatalf("superd's pid in its namespace = %d; want 1", got)
	}
	if err := syscall.Kill(pid1, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to superd (pid %d outside): %v", pid1, err)
	}
	if code := p.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("superd as PID 1 after SIGTERM: exit %d; want 0; stderr:\n%s", code, p.stderr.String())
	}
	stderr := p.stderr.String()
	for _, want := range []string{`msg="superd started" pid=1 `, "drain complete"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("superd's stderr has no %q:\n%s", want, stderr)
		}
	}
}

// childOf returns the one child of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatalf("children of %d: %v", pid, err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("children of %d = %q; want one", pid, f)
	}
	c, _ := strconv.Atoi(f[0])
	return c
}

// nsPid is pid's pid in its own (innermost) PID namespace.
func nsPid(t *testing.T, pid int) int {
	t.Helper()
	f := strings.Fields(procStatus(t, pid)["NSpid"])
	if len(f) == 0 {
		t.Fatalf("no NSpid in /proc/%d/status", pid)
	}
	n, _ := strconv.Atoi(f[len(f)-1])
	return n
}

// TestSystemdUnitVerifies checks packaging/systemd/superd.service with
// systemd-analyze verify (its ExecStart pointed at the superd under test):
// no unknown key, no bad value, no warning at all.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("checking the unit needs systemd-analyze (Debian's systemd package): %v", err)
	}
	unit, err := os.ReadFile(repoFile(t, "packaging/systemd/superd.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/superd ") {
		t.Fatalf("superd.service has no ExecStart=/usr/local/bin/superd ...")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "superd.service")
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/superd ", superdBin+" ")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify superd.service = %v:\n%s\nwant no output", err, out)
	}
	for _, want := range []string{"Type=notify", "NotifyAccess=main", "WatchdogSec=", "KillMode=mixed", "TimeoutStopSec=", "Delegate=yes"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("superd.service lacks %s (issue 4, packaging)", want)
		}
	}
}
