package main

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc"
	"github.com/superd/superd/ipc/apitype"
)

func TestControlWaitAndTimeout(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantOp   string
		wantWait bool
		deadline time.Duration // the backend's deadline; 0: none
	}{
		{"start waits by default", []string{"start", "web"}, "start", true, ipc.DefaultWaitTimeout},
		{"stop with timeout", []string{"stop", "--timeout", "30s", "web"}, "stop", true, 30 * time.Second},
		{"restart no wait", []string{"restart", "--no-wait", "web"}, "restart", false, 0},
		{"timeout after target", []string{"start", "web:1", "--timeout", "2m"}, "start", true, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := &fakeBackend{}
			sock := serve(t, fb)
			args := append([]string{"-s", sock}, tt.args...)
			if code, _, stderr := runCLI(context.Background(), args...); code != 0 {
				t.Fatalf("run(%q) = %d (%s); want 0", args, code, stderr)
			}
			calls := fb.recorded()
			if len(calls) != 1 {
				t.Fatalf("backend calls = %+v; want one", calls)
			}
			c := calls[0]
			if c.op != tt.wantOp || c.wait != tt.wantWait {
				t.Errorf("backend call = %+v; want %s wait=%v", c, tt.wantOp, tt.wantWait)
			}
			switch {
			case tt.deadline == 0 && c.deadline != 0:
				t.Errorf("backend deadline = %v; want none", c.deadline)
			case tt.deadline != 0 && (c.deadline > tt.deadline || c.deadline < tt.deadline-5*time.Second):
				t.Errorf("backend deadline = %v; want about %v", c.deadline, tt.deadline)
			}
		})
	}
}

func TestControlOutput(t *testing.T) {
	sock := serve(t, &fakeBackend{})
	code, stdout, stderr := runCLI(context.Background(), "-s", sock, "-o", "json", "stop", "web:1", "web")
	if code != 0 {
		t.Fatalf("run(stop) = %d (%s); want 0", code, stderr)
	}
	var got []apitype.Instance
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("run(-o json stop) printed %q: %v", stdout, err)
	}
	if len(got) != 2 || got[0].Name != "web:1" || got[1].Name != "web:0" {
		t.Fatalf("run(-o json stop web:1 web) = %+v; want web:1 then web:0, once each", got)
	}
	for _, in := range got {
		if in.State != apitype.StateStopped || in.Pid != nil {
			t.Errorf("instance %s = %s pid %v; want stopped without pid", in.Name, in.State, in.Pid)
		}
	}

	// The table keeps what succeeded when another target fails.
	code, stdout, stderr = runCLI(context.Background(), "-s", sock, "start", "web:0", "bad")
	if code != exitFailed || !strings.HasPrefix(stdout, "NAME ") || !strings.Contains(stdout, "web:0  running  200") ||
		strings.Count(stderr, "\n") != 1 {
		t.Errorf("run(start web:0 bad) = %d\n%s%s; want 1, the table of web:0 and one error line", code, stdout, stderr)
	}
}

func TestSignalCommand(t *testing.T) {
	fb := &fakeBackend{}
	sock := serve(t, fb)
	if code, _, stderr := runCLI(context.Background(), "-s", sock, "signal", "sigusr1", "web:0", "web:1"); code != 0 {
		t.Fatalf("run(signal) = %d (%s); want 0", code, stderr)
	}
	calls := fb.recorded()
	if len(calls) != 2 || calls[0].target != "web:0" || calls[1].target != "web:1" ||
		calls[0].sig != syscall.SIGUSR1 || calls[1].sig != syscall.SIGUSR1 {
		t.Errorf("backend calls = %+v; want SIGUSR1 to web:0 and web:1", calls)
	}
}

func TestPidCommand(t *testing.T) {
	sock := serve(t, &fakeBackend{})
	code, stdout, _ := runCLI(context.Background(), "-s", sock, "pid", "web")
	if code != 0 || stdout != "101\n102\n" {
		t.Errorf("run(pid web) = %d %q; want 0 \"101\\n102\\n\"", code, stdout)
	}
	code, stdout, _ = runCLI(context.Background(), "-s", sock, "pid")
	if code != 0 || strings.TrimSpace(stdout) == "" || strings.Count(stdout, "\n") != 1 {
		t.Errorf("run(pid) = %d %q; want 0 and one pid", code, stdout)
	}
	code, stdout, _ = runCLI(context.Background(), "-s", sock, "pid", "all")
	if code != exitNotRunning || stdout != "101\n102\n" {
		t.Errorf("run(pid all) = %d %q; want %d and the running pids", code, stdout, exitNotRunning)
	}
}
