package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: forkfloor N PROGRAM [ARG...]"},
		{[]string{"3"}, "usage: forkfloor N PROGRAM [ARG...]"},
		{[]string{"0", "/bin/true"}, `N must be a whole number of at least 1, not "0"`},
		{[]string{"x", "/bin/true"}, `N must be a whole number of at least 1, not "x"`},
		{[]string{"2", "/nonexistent/program"}, "fork/exec /nonexistent/program: no such file or directory"},
	} {
		if err := run(tc.args, strings.NewReader("")); err == nil || err.Error() != tc.want {
			t.Errorf("run(%q) = %v; want %q", tc.args, err, tc.want)
		}
	}
	assertNoChildren(t)
}

// TestRunStartsAndReaps starts 3 children that each append a line to a
// file and then would run for long; the end of run's input comes once the
// file holds 3 lines, and run must then kill and reap all 3.
func TestRunStartsAndReaps(t *testing.T) {
	file := filepath.Join(t.TempDir(), "started")
	input := &untilLines{t: t, file: file, n: 3, deadline: time.Now().Add(10 * time.Second)}
	if err := run([]string{"3", "/bin/sh", "-c", "echo started >> " + file + "; exec /bin/sleep 1000"}, input); err != nil {
		t.Fatalf("run = %v; want nil", err)
	}
	assertNoChildren(t)
}

// untilLines is an input that reaches end of file once file holds n lines
// (polled every 5 ms), or at deadline, failing the test then.
type untilLines struct {
	t        *testing.T
	file     string
	n        int
	deadline time.Time
}

func (u *untilLines) Read([]byte) (int, error) {
	for {
		b, _ := os.ReadFile(u.file)
		if got := strings.Count(string(b), "\n"); got >= u.n {
			return 0, io.EOF
		} else if time.Now().After(u.deadline) {
			u.t.Errorf("%s holds %d lines at the deadline; want %d: not every child started", u.file, got, u.n)
			return 0, io.EOF
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// assertNoChildren fails if the test process has a child left, running or
// a zombie.
func assertNoChildren(t *testing.T) {
	t.Helper()
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
	if !errors.Is(err, syscall.ECHILD) {
		t.Errorf("wait4(-1) = %d, %v; want ECHILD: a child is left", pid, err)
	}
}
