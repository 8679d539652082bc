package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

func TestOperatorStopIsRememberedAcrossRestarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig("", `
[defaults]
start_seconds = "0s"
command = ["/bin/sleep", "1000"]

[program.web]
instances = 2

[program.other]
`)
	restart := func(d *daemon) *daemon {
		t.Helper()
		d.signal(syscall.SIGTERM)
		if code := d.waitExit(30 * time.Second); code != 0 {
			t.Fatalf("superd after SIGTERM = exit %d; want 0", code)
		}
		return e.start(opts{})
	}

	d := e.start(opts{})
	d.waitRunning(10*time.Second, "web:0", "web:1", "other")
	d.mustCtl("stop", "web:1")

	d = restart(d)
	d.waitRunning(10*time.Second, "web:0", "other")
	in := d.inst("web:1")
	if in.State != apitype.StateStopped {
		t.Fatalf("web:1 after superd restarted: %s; want stopped (an operator stopped it)", describe(in))
	}
	if msg := strings.ToLower(in.Message); !strings.Contains(msg, "operator") && !strings.Contains(msg, "by hand") {
		t.Errorf("web:1 message = %q; want it to say an operator stopped it", in.Message)
	}
	d.mustCtl("start", "web:1")
	d.waitRunning(10*time.Second, "web:1")

	// Started by hand: forgotten. The next superd starts it again.
	d = restart(d)
	d.waitRunning(10*time.Second, "web:0", "web:1", "other")
}

func TestQuickstartExample(t *testing.T) {
	t.Parallel()
	src := filepath.Join(moduleRoot, "examples", "quickstart.toml")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("read the quickstart example: %v", err)
	}
	e := newEnv(t)
	cfg := e.writeFile("examples/quickstart.toml", string(b))
	d := e.start(opts{args: []string{"-c", cfg, "--socket", e.sock}})
	insts := d.status()
	if len(insts) == 0 {
		t.Fatalf("quickstart: superctl status shows no instance")
	}
	// Everything comes up, except perhaps the program that is meant to
	// crash now and then: it must at least have been started.
	for _, in := range insts {
		if strings.Contains(in.Program, "flaky") {
			continue
		}
		d.waitRunning(20*time.Second, in.Name)
	}
	if _, errOut, code := d.ctl("status"); code != 0 && code != 3 {
		t.Errorf("superctl status = exit %d (stderr %q); want 0 or 3", code, errOut)
	}
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Errorf("quickstart superd after SIGTERM = exit %d; want 0", code)
	}
}
