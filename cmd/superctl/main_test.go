package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc"
	"github.com/superd/superd/ipc/apitype"
)

func TestExitCodes(t *testing.T) {
	fb := &fakeBackend{}
	sock := serve(t, fb)
	missing := sock + ".missing"
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr string // a substring of stderr; "" means stderr is empty
	}{
		// 0: success.
		{"status of running instances", []string{"status", "web"}, 0, ""},
		{"start", []string{"start", "web"}, 0, ""},
		{"start no wait", []string{"start", "--no-wait", "bad"}, 0, ""},
		{"stop", []string{"stop", "web:1"}, 0, ""},
		{"restart", []string{"restart", "all"}, 0, ""},
		{"signal", []string{"signal", "HUP", "web"}, 0, ""},
		{"signal by number", []string{"signal", "1", "web:0", "web:1"}, 0, ""},
		{"logs", []string{"logs", "web:0"}, 0, ""},
		{"pid of superd", []string{"pid"}, 0, ""},
		{"pid of a program", []string{"pid", "web"}, 0, ""},
		{"shutdown", []string{"shutdown"}, 0, ""},
		{"version", []string{"version"}, 0, ""},
		{"completion", []string{"completion", "zsh"}, 0, ""},
		{"help", []string{"--help"}, 0, ""},
		{"verb help", []string{"start", "--help"}, 0, ""},

		// 1: the operation failed.
		{"start goes fatal", []string{"start", "bad"}, 1, "superctl: start bad: bad went fatal: exec /nonexistent"},
		{"restart times out", []string{"restart", "slow"}, 1, "superctl: restart slow: timed out"},
		{"signal to a stopped instance", []string{"signal", "TERM", "db"}, 1, "superctl: signal db: db is stopped"},
		{"one target of two fails", []string{"start", "web", "bad"}, 1, "superctl: start bad:"},

		// 2: usage errors.
		{"no verb", nil, 2, "superctl: missing command\nRun 'superctl --help' for usage.\n"},
		{"unknown verb", []string{"statsu"}, 2, `superctl: unknown command "statsu"; did you mean "status"?` + "\nRun 'superctl --help' for usage.\n"},
		{"start without target", []string{"start"}, 2, "superctl: start needs at least one TARGET\nRun 'superctl start --help' for usage.\n"},
		{"signal without target", []string{"signal", "HUP"}, 2, "Run 'superctl signal --help' for usage."},
		{"unknown signal", []string{"signal", "BOGUS", "web"}, 2, `superctl: unknown signal "BOGUS"`},
		{"logs without target", []string{"logs"}, 2, "Run 'superctl logs --help'"},
		{"logs with two targets", []string{"logs", "web:0", "web:1"}, 2, "at most 1"},
		{"negative lines", []string{"logs", "-n", "-1", "web:0"}, 2, "-n must be"},
		{"bad duration", []string{"start", "--timeout", "soon", "web"}, 2, `invalid argument "soon" for "--timeout" flag`},
		{"zero timeout", []string{"stop", "--timeout", "0s", "web"}, 2, "--timeout must be positive"},
		{"bad output", []string{"-o", "yaml", "status"}, 2, `invalid argument "yaml" for "-o, --output" flag: must be table or json`},
		{"unknown flag", []string{"status", "--frobnicate"}, 2, "unknown flag: --frobnicate\nRun 'superctl status --help' for usage."},
		{"pid of two targets", []string{"pid", "web", "db"}, 2, "at most 1"},
		{"unknown shell", []string{"completion", "powershell"}, 2, `unsupported shell "powershell"`},
		{"version with an argument", []string{"version", "x"}, 2, "Run 'superctl version --help'"},

		// 3: status or pid found a targeted instance not running.
		{"status of all", []string{"status"}, 3, ""},
		{"status of a stopped program", []string{"status", "db"}, 3, ""},
		{"pid of a stopped program", []string{"pid", "db"}, 3, "superctl: not running: db (stopped)"},
		{"pid of all", []string{"pid", "all"}, 3, "superctl: not running: bad (fatal), db (stopped)"},

		// 4: unknown name.
		{"status unknown", []string{"status", "web", "nosuch"}, 4, "superctl: nosuch: unknown name"},
		{"start unknown", []string{"start", "nosuch"}, 4, "superctl: start nosuch: unknown name"},
		{"signal unknown", []string{"signal", "HUP", "nosuch"}, 4, "unknown name"},
		{"logs unknown", []string{"logs", "nosuch"}, 4, "unknown name"},
		{"pid unknown", []string{"pid", "nosuch"}, 4, "unknown name"},

		// 5: superd not reachable; the message names the socket.
		{"unreachable", []string{"-s", missing, "status"}, 5,
			"superctl: superd not reachable at " + missing + ": connect: no such file or directory\n"},
		{"unreachable start", []string{"--socket", missing, "start", "web", "db"}, 5, "superctl: superd not reachable at " + missing},

		// 6: permission denied.
		{"forbidden", []string{"start", "locked"}, 6, "superctl: start locked: permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !hasSocketFlag(args) {
				args = append([]string{"-s", sock}, args...)
			}
			code, stdout, stderr := runCLI(context.Background(), args...)
			if code != tt.want {
				t.Errorf("run(%q) = %d; want %d\nstdout: %s\nstderr: %s", args, code, tt.want, stdout, stderr)
			}
			if tt.wantStderr == "" && stderr != "" {
				t.Errorf("run(%q) stderr = %q; want none", args, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("run(%q) stderr = %q; want it to contain %q", args, stderr, tt.wantStderr)
			}
			if strings.Count(stderr, "superctl: ") > 2 || strings.Contains(stderr, "Usage:") || strings.Contains(stderr, "goroutine") {
				t.Errorf("run(%q) stderr = %q; want one error line, no usage dump", args, stderr)
			}
		})
	}
}

func hasSocketFlag(args []string) bool {
	for _, a := range args {
		if a == "-s" || a == "--socket" {
			return true
		}
	}
	return false
}

func TestSocketFromEnvironment(t *testing.T) {
	sock := serve(t, &fakeBackend{})
	t.Setenv("SUPERD_SOCKET", sock)
	if code, _, stderr := runCLI(context.Background(), "pid"); code != 0 {
		t.Errorf("run(pid) with $SUPERD_SOCKET = %d (%s); want 0", code, stderr)
	}
	// -s wins over the environment.
	missing := sock + ".missing"
	if code, _, stderr := runCLI(context.Background(), "-s", missing, "pid"); code != 5 || !strings.Contains(stderr, missing) {
		t.Errorf("run(-s %s pid) = %d (%s); want 5 naming the path", missing, code, stderr)
	}
}

func TestInterrupted(t *testing.T) {
	fb := &fakeBackend{entered: make(chan struct{}, 1)}
	sock := serve(t, fb)
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	// exits when ctx is cancelled below; the test waits on done
	go func() {
		code, stdout, stderr := runCLI(ctx, "-s", sock, "start", "hang")
		done <- result{code, stdout, stderr}
	}()
	<-fb.entered
	cancel()
	r := <-done
	if r.code != exitInterrupted || r.stderr != "superctl: interrupted\n" {
		t.Errorf("run(start hang) after Ctrl-C = %d %q; want %d \"superctl: interrupted\"", r.code, r.stderr, exitInterrupted)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(context.Background(), "version")
	if re := regexp.MustCompile(`^superctl \S+ \(\S+, go1\.\d+\S*\)\n$`); code != 0 || !re.MatchString(stdout) {
		t.Errorf("run(version) = %d %q; want 0 and superctl VERSION (COMMIT, GOVERSION)", code, stdout)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, stdout, stderr := runCLI(context.Background(), "completion", shell)
		if code != 0 || !strings.Contains(stdout, "superctl") {
			t.Errorf("run(completion %s) = %d, %d bytes, %q; want a script", shell, code, len(stdout), stderr)
		}
	}
}

func TestExitCodeMapping(t *testing.T) {
	// Errors that did not come from a verb are usage errors; a cancelled
	// context is an interruption.
	tests := []struct {
		err  error
		want int
	}{
		{errors.New("unknown shorthand flag: 'x' in -x"), exitUsage},
		{usagef("bad"), exitUsage},
		{runError{context.Canceled}, exitInterrupted},
		{runError{errors.New("read: connection reset")}, exitFailed},
		{&exitError{code: exitNotRunning}, exitNotRunning},
		{runError{errors.Join(ipc.ErrUnreachable, syscall.ECONNREFUSED)}, exitUnreachable},
		{runError{errors.Join(ipc.ErrUnreachable, syscall.EACCES)}, exitForbidden},
		{runError{fmt.Errorf("start web: %w", apitype.ErrQueueFull)}, exitFailed},
		{runError{errors.Join(apitype.ErrFailed, apitype.ErrNotFound)}, exitNotFound},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d; want %d", tt.err, got, tt.want)
		}
	}
}

func TestUptime(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{5700 * time.Millisecond, "5s"},
		{59 * time.Second, "59s"},
		{60 * time.Second, "1m0s"},
		{3*time.Minute + 12*time.Second, "3m12s"},
		{2*time.Hour + 5*time.Minute + 30*time.Second, "2h5m"},
		{27 * time.Hour, "1d3h"},
		{-time.Second, "0s"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q; want %q", tt.d, got, tt.want)
		}
	}
}
