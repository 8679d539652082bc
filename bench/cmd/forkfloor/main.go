// Command forkfloor is the floor of the start scenario of
// bench/cmd/superbench: the least a program can do to start n programs.
// It is a bare Go program, launched by the harness as a supervisor is, so
// that it is timed the same way: from its launch to the last program's
// exec.
//
//	forkfloor N PROGRAM [ARG...]
//
// It fork+execs PROGRAM N times in a row (syscall.ForkExec: its own
// process group, forkfloor's environment, stdio on /dev/null, SIGKILL when
// forkfloor dies), then waits for standard input to reach end of file (the
// harness closes it, or dies). Then it kills its children by pid, waits
// for them, and exits 0.
//
// It imports only what it needs, so that its own start costs what a Go
// program's start must: an empty Go program's.
package main

import (
	"io"
	"os"
	"strconv"
	"syscall"
)

func main() {
	if err := run(os.Args[1:], os.Stdin); err != nil {
		os.Stderr.WriteString("forkfloor: " + err.Error() + "\n")
		os.Exit(1)
	}
}

// run starts the children, waits for end of file on stdin, then kills and
// reaps them.
func run(args []string, stdin io.Reader) error {
	if len(args) < 2 {
		return errorString("usage: forkfloor N PROGRAM [ARG...]")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return errorString("N must be a whole number of at least 1, not " + strconv.Quote(args[0]))
	}
	null, err := syscall.Open(os.DevNull, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	attr := &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(null)},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	argv := args[1:]
	pids := make([]int, 0, n)
	for range n {
		pid, err := syscall.ForkExec(argv[0], argv, attr)
		if err != nil {
			reap(pids)
			return errorString("fork/exec " + argv[0] + ": " + err.Error())
		}
		pids = append(pids, pid)
	}
	// Until end of file (or an error): the harness is done with the children.
	var buf [512]byte
	for {
		if _, err := stdin.Read(buf[:]); err != nil {
			break
		}
	}
	reap(pids)
	return nil
}

// reap kills each of pids and waits for it.
func reap(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range pids {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
