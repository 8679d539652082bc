package main

import (
	"errors"
	"strings"
	"syscall"
	"testing"
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

// TestRunStartsAndReaps starts 3 children that would run for long, and
// ends them at once (stdin is at end of file already).
func TestRunStartsAndReaps(t *testing.T) {
	if err := run([]string{"3", "/bin/sleep", "1000"}, strings.NewReader("")); err != nil {
		t.Fatalf("run = %v; want nil", err)
	}
	assertNoChildren(t)
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
