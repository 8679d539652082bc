package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExecUsage checks the arguments superd exec refuses before it starts
// anything: exit 2 and one line on stderr.
func TestExecUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the message
	}{
		{"no command", []string{"exec"}, "no command"},
		{"only --", []string{"exec", "--"}, "no command"},
		{"flags only", []string{"exec", "--no-group"}, "no command"},
		{"empty command", []string{"exec", "--", ""}, "empty command"},
		{"bad grace", []string{"exec", "--grace", "soon", "--", "true"}, "grace"},
		{"grace without value", []string{"exec", "--grace"}, "grace"},
		{"negative grace", []string{"exec", "--grace=-1s", "--", "true"}, "must not be negative"},
		{"unknown flag", []string{"exec", "--nope", "--", "true"}, "nope"},
		{"bad log level", []string{"exec", "--log-level", "loud", "--", "true"}, "--log-level"},
		{"bad log format", []string{"exec", "--log-format", "xml", "--", "true"}, "--log-format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if code := exitCode(err, &stderr); code != 2 {
				t.Fatalf("run(%q) exit code = %d; want 2 (err %v)", tc.args, code, err)
			}
			line := strings.TrimSuffix(stderr.String(), "\n")
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, "superd: exec: ") || !strings.Contains(line, tc.want) {
				t.Errorf("run(%q) stderr = %q; want one line starting %q that mentions %q", tc.args, stderr.String(), "superd: exec: ", tc.want)
			}
		})
	}
}

// TestExecHelp checks that --help prints the usage on stdout and exits 0.
func TestExecHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"exec", "--help"}, &stdout, &stderr)
	if code := exitCode(err, &stderr); code != 0 {
		t.Fatalf("superd exec --help exit code = %d; want 0", code)
	}
	if !strings.Contains(stdout.String(), "--no-subreaper") || stderr.Len() != 0 {
		t.Errorf("superd exec --help: stdout %q, stderr %q; want the usage on stdout", stdout.String(), stderr.String())
	}
}

// TestParseExec checks the options parsed from valid arguments.
func TestParseExec(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want execOptions
	}{
		{"defaults", []string{"--", "sh", "-c", "x"}, execOptions{grace: defaultGrace, argv: []string{"sh", "-c", "x"}}},
		{"no --", []string{"sh", "--grace", "1s"}, execOptions{grace: defaultGrace, argv: []string{"sh", "--grace", "1s"}}},
		{"all flags", []string{"--no-group", "--no-subreaper", "--grace", "300ms", "--", "cmd", "--no-group"},
			execOptions{noGroup: true, noSubreaper: true, grace: 300 * time.Millisecond, argv: []string{"cmd", "--no-group"}}},
		{"grace 0", []string{"--grace=0s", "--", "cmd"}, execOptions{argv: []string{"cmd"}}},
		{"command that looks like a flag", []string{"--", "-x"}, execOptions{grace: defaultGrace, argv: []string{"-x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseExec(tc.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err != nil {
				t.Fatalf("parseExec(%q) = %v", tc.args, err)
			}
			if got.noGroup != tc.want.noGroup || got.noSubreaper != tc.want.noSubreaper || got.grace != tc.want.grace || strings.Join(got.argv, " ") != strings.Join(tc.want.argv, " ") {
				t.Errorf("parseExec(%q) = %+v; want %+v", tc.args, got, tc.want)
			}
		})
	}
}

// TestExecExitStatus checks the exit code for each kind of wait status.
func TestExecExitStatus(t *testing.T) {
	tests := []struct {
		name string
		ws   syscall.WaitStatus
		want int
	}{
		{"exit 0", 0 << 8, 0},
		{"exit 1", 1 << 8, 1},
		{"exit 42", 42 << 8, 42},
		{"exit 255", 255 << 8, 255},
		{"SIGKILL", syscall.WaitStatus(syscall.SIGKILL), 137},
		{"SIGTERM", syscall.WaitStatus(syscall.SIGTERM), 143},
		{"SIGSEGV with core", syscall.WaitStatus(syscall.SIGSEGV) | 0x80, 128 + 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitStatus(tc.ws); got != tc.want {
				t.Errorf("exitStatus(%#x) = %d; want %d", uint32(tc.ws), got, tc.want)
			}
		})
	}
}

// TestExecLookCommand checks the PATH search and its errors, and the exit
// code and message superd exec gives for each.
func TestExecLookCommand(t *testing.T) {
	dir := t.TempDir()
	bin, noexec, empty := filepath.Join(dir, "bin"), filepath.Join(dir, "noexec"), filepath.Join(dir, "empty")
	for _, d := range []string{bin, noexec, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bin, "tool"), 0o755)
	write(filepath.Join(noexec, "tool"), 0o644)
	write(filepath.Join(noexec, "only"), 0o644)
	if err := os.Mkdir(filepath.Join(bin, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		cmd      string
		path     string
		want     string // resolved path, when found
		wantCode int    // else the exit code
	}{
		{"found", "tool", empty + ":" + bin, bin + "/tool", 0},
		{"executable after a non-executable", "tool", noexec + ":" + bin, bin + "/tool", 0},
		{"missing directory skipped", "tool", dir + "/nope:" + bin, bin + "/tool", 0},
		{"not found", "nosuch", empty + ":" + bin, "", 127},
		{"only non-executable", "only", empty + ":" + noexec, "", 126},
		{"a directory in PATH", "adir", bin, "", 126},
		{"with a slash", bin + "/tool", "", bin + "/tool", 0},
		{"with a slash, missing", bin + "/nosuch", "", "", 127},
		{"with a slash, not executable", noexec + "/tool", "", "", 126},
		{"with a slash, a directory", bin, "", "", 126},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lookCommand(tc.cmd, tc.path)
			if tc.wantCode == 0 {
				if err != nil || got != tc.want {
					t.Fatalf("lookCommand(%q, %q) = %q, %v; want %q", tc.cmd, tc.path, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("lookCommand(%q, %q) = %q; want an error", tc.cmd, tc.path, got)
			}
			var stderr bytes.Buffer
			if code := exitCode(execFailure(tc.cmd, err), &stderr); code != tc.wantCode {
				t.Errorf("exit code for %v = %d; want %d", err, code, tc.wantCode)
			}
			wantMsg := "superd: exec " + tc.cmd + ": permission denied\n"
			if tc.wantCode == 127 {
				wantMsg = "superd: exec " + tc.cmd + ": no such file or directory\n"
			}
			if stderr.String() != wantMsg {
				t.Errorf("stderr = %q; want %q", stderr.String(), wantMsg)
			}
		})
	}
}

// TestExecFailureFromStart checks the mapping of errors from starting the
// process (as os.StartProcess returns them).
func TestExecFailureFromStart(t *testing.T) {
	tests := []struct {
		err  error
		code int
		msg  string
	}{
		{&os.PathError{Op: "fork/exec", Path: "/x", Err: syscall.ENOENT}, 127, "exec foo: no such file or directory"},
		{&os.PathError{Op: "fork/exec", Path: "/x", Err: syscall.EACCES}, 126, "exec foo: permission denied"},
		{&os.PathError{Op: "fork/exec", Path: "/x", Err: syscall.ENOEXEC}, 126, "exec foo: exec format error"},
	}
	for _, tc := range tests {
		err := execFailure("foo", tc.err)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != tc.code || err.Error() != tc.msg {
			t.Errorf("execFailure(foo, %v) = %v; want exit %d, %q", tc.err, err, tc.code, tc.msg)
		}
	}
}
