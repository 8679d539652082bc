package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stampPoll is how often the restart scenario looks for a new stamp.
const stampPoll = 200 * time.Microsecond

// stampWait bounds the wait for one replacement to stamp.
const stampWait = 10 * time.Second

// runRestart measures the time from the death of a child to the exec of
// its replacement: killed by SIGKILL, exiting 1 by itself (on SIGUSR1),
// and killed by SIGKILL after it has run e.sizes.upFor (s6 and runit
// throttle a service that dies young). Latency is the replacement's own
// CLOCK_MONOTONIC stamp (first thing in its main) minus the time read right
// before kill(2). The systems take turns, e.sizes.restartRuns rounds (each
// round starting with another system), a fresh supervisor each time.
func runRestart(ctx context.Context, e *env) ([]row, error) {
	const floorIs = "Go loop: wait4, ForkExec the helper"
	counts := func(what string, superd, peers int) string {
		if len(e.systems) == 1 {
			return fmt.Sprintf("%s of %d", what, superd)
		}
		return fmt.Sprintf("%s of %d (peers: %d)", what, superd, peers)
	}
	rs, ps := e.sizes.restarts, e.sizes.peerRestarts
	rows := []row{
		newRow("restart.kill.p50", "restart", counts("SIGKILL → next exec, p50", rs, ps)),
		newRow("restart.kill.p99", "restart", counts("SIGKILL → next exec, p99", rs, ps)),
		newRow("restart.exit.p50", "restart", counts("exit 1 → next exec, p50", rs, ps)),
		newRow("restart.exit.p99", "restart", counts("exit 1 → next exec, p99", rs, ps)),
	}
	for i := range rows {
		rows[i].floorIs = floorIs
	}
	if e.sizes.upRestarts > 0 {
		up := fmt.Sprintf("SIGKILL after %v up → next exec", e.sizes.upFor)
		rows = append(rows,
			newRow("restart.up.p50", "restart", fmt.Sprintf("%s, p50 of %d", up, e.sizes.upRestarts)),
			newRow("restart.up.max", "restart", fmt.Sprintf("%s, max of %d", up, e.sizes.upRestarts)))
	}
	type lats struct{ kill, exit, up []time.Duration }
	got := map[string]*lats{}
	var floor lats
	runs := e.sizes.restartRuns
	for round := range runs {
		// Each round starts with another system, as start's do: with a
		// fixed order the first system of every round came out ~10 %
		// slower on SIGKILL than an identical build measured second.
		for _, def := range e.inTurn(round) {
			n := e.sizes.peerRestarts
			if def.superd {
				n = e.sizes.restarts
			}
			kill, exit, up, err := restartSystem(ctx, e, def, share(n, runs, round), share(e.sizes.upRestarts, runs, round))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", def.name, err)
			}
			l := got[def.name]
			if l == nil {
				l = &lats{}
				got[def.name] = l
			}
			l.kill, l.exit, l.up = append(l.kill, kill...), append(l.exit, exit...), append(l.up, up...)
		}
		kill, exit, err := restartFloor(ctx, e, share(e.sizes.restarts, runs, round))
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		floor.kill, floor.exit = append(floor.kill, kill...), append(floor.exit, exit...)
	}
	set := func(put func(r *row, c cell), l *lats) {
		put(&rows[0], durCell(percentile(l.kill, 50)))
		put(&rows[1], durCell(percentile(l.kill, 99)))
		put(&rows[2], durCell(percentile(l.exit, 50)))
		put(&rows[3], durCell(percentile(l.exit, 99)))
		if len(rows) > 4 && len(l.up) > 0 {
			put(&rows[4], durCell(percentile(l.up, 50)))
			put(&rows[5], durCell(percentile(l.up, 100)))
		}
	}
	for name, l := range got {
		set(func(r *row, c cell) { r.values[name] = c }, l)
	}
	set(func(r *row, c cell) { r.floor = c }, &floor)
	return rows, nil
}

// share returns round's part of n spread over rounds (the first rounds
// take the remainder).
func share(n, rounds, round int) int {
	k := n / rounds
	if round < n%rounds {
		k++
	}
	return k
}

// restartSystem runs two programs under a fresh supervisor, both the stamp
// helper with restart = always: one is SIGKILLed n times, then nUp times
// after upFor of uptime; the other told to exit 1 n times.
func restartSystem(ctx context.Context, e *env, def systemDef, n, nUp int) (kill, exit, up []time.Duration, err error) {
	dir, err := os.MkdirTemp("/tmp", "sbr-")
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.RemoveAll(dir)
	stamp := filepath.Join(e.bin, "stamp")
	killFile, exitFile := filepath.Join(dir, "kill"), filepath.Join(dir, "exit")
	w := workload{programs: []program{
		{name: "kill", argv: []string{stamp, killFile}, restart: restartAlways},
		{name: "exit", argv: []string{stamp, exitFile, "exit"}, restart: restartAlways},
	}}
	sys := def.new(e)
	defer sys.Kill()
	if err := sys.Configure(w); err != nil {
		return nil, nil, nil, err
	}
	if err := sys.Start(ctx); err != nil {
		return nil, nil, nil, err
	}
	if err := sys.WaitAllRunning(ctx, apiPoll); err != nil {
		return nil, nil, nil, err
	}
	e.progress("restart: %s: %d SIGKILLs, %d exits, %d SIGKILLs after %v up", def.name, n, n, nUp, e.sizes.upFor)
	sr := &stampReader{path: killFile}
	defer sr.close()
	kill, err = measureRestarts(ctx, sr, syscall.SIGKILL, n, 0, runningAs(sys, "kill"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("SIGKILL: %w", err)
	}
	up, err = measureRestarts(ctx, sr, syscall.SIGKILL, nUp, e.sizes.upFor, runningAs(sys, "kill"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("SIGKILL after %v up: %w", e.sizes.upFor, err)
	}
	se := &stampReader{path: exitFile}
	defer se.close()
	exit, err = measureRestarts(ctx, se, syscall.SIGUSR1, n, 0, runningAs(sys, "exit"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("exit 1: %w", err)
	}
	insts, err := sys.Status(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	want := map[string]int{"kill": n + nUp, "exit": n}
	for _, in := range insts {
		if in.restarts >= 0 && in.restarts != want[in.name] {
			e.warn("restart: %s: %s counts %d restarts after %d", def.name, in.name, in.restarts, want[in.name])
		}
	}
	return kill, exit, up, sys.Stop(ctx)
}

// runningAs returns a check that the supervisor reports program running
// with pid, polled until it does: so that every kill hits a child the
// supervisor has fully taken in, as in steady state.
func runningAs(sys system, program string) func(ctx context.Context, pid int) error {
	return func(ctx context.Context, pid int) error {
		ctx, cancel := context.WithTimeout(ctx, stampWait)
		defer cancel()
		var last instance
		err := poll(ctx, time.Millisecond, func() (bool, error) {
			insts, err := sys.Status(ctx)
			if err != nil {
				return false, err
			}
			for _, in := range insts {
				if in.name == program {
					last = in
					return in.state == "running" && in.pid == pid, nil
				}
			}
			return false, fmt.Errorf("no program %s in the status", program)
		})
		if err != nil {
			return fmt.Errorf("%s never reported running as pid %d (last: %s, pid %d, %q): %w", program, pid, last.state, last.pid, last.message, err)
		}
		return nil
	}
}

// measureRestarts takes the last stamp of sr (waiting for the first one
// if there is none yet), then n times: waits until that child has run
// minUp, checks that ready (if not nil) accepts its pid, reads the clock,
// sends sig to it, and waits for the next stamp. It returns the latencies.
func measureRestarts(ctx context.Context, sr *stampReader, sig syscall.Signal, n int, minUp time.Duration, ready func(context.Context, int) error) ([]time.Duration, error) {
	if n == 0 {
		return nil, nil
	}
	cur := sr.last
	if cur.pid == 0 {
		var err error
		if cur, err = sr.next(ctx); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		if minUp > 0 {
			if err := waitFor(ctx, time.Duration(cur.ns+int64(minUp)-monotonicNS())); err != nil {
				return nil, err
			}
		}
		if ready != nil {
			if err := ready(ctx, cur.pid); err != nil {
				return nil, err
			}
		}
		t0 := monotonicNS()
		if err := unix.Kill(cur.pid, sig); err != nil {
			return nil, fmt.Errorf("kill %d: %w", cur.pid, err)
		}
		nxt, err := sr.next(ctx)
		if err != nil {
			return nil, err
		}
		if nxt.pid == cur.pid {
			return nil, fmt.Errorf("pid %d stamped twice", cur.pid)
		}
		lat = append(lat, time.Duration(nxt.ns-t0))
		cur = nxt
	}
	return lat, nil
}

// stamp is one line of the helper: its pid and when it started.
type stamp struct {
	pid int
	ns  int64 // CLOCK_MONOTONIC
}

// stampReader reads the lines the helper appends to a file, in order.
type stampReader struct {
	path string
	f    *os.File // nil until the file exists
	off  int64
	buf  []byte
	last stamp // the last stamp read; zero before the first
}

func (r *stampReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}

// next waits (polling every stampPoll, at most stampWait) for the next line.
func (r *stampReader) next(ctx context.Context) (stamp, error) {
	ctx, cancel := context.WithTimeout(ctx, stampWait)
	defer cancel()
	var s stamp
	err := poll(ctx, stampPoll, func() (bool, error) {
		var ok bool
		var err error
		s, ok, err = r.try()
		return ok, err
	})
	if err != nil && ctx.Err() != nil {
		return stamp{}, fmt.Errorf("no new stamp in %s within %v: %w", r.path, stampWait, err)
	}
	return s, err
}

// try reads a complete line, if one is there.
func (r *stampReader) try() (stamp, bool, error) {
	if r.f == nil {
		f, err := os.Open(r.path)
		if errors.Is(err, os.ErrNotExist) {
			return stamp{}, false, nil
		}
		if err != nil {
			return stamp{}, false, err
		}
		r.f = f
	}
	if r.buf == nil {
		r.buf = make([]byte, 256)
	}
	n, err := r.f.ReadAt(r.buf, r.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return stamp{}, false, err
	}
	line, _, ok := bytes.Cut(r.buf[:n], []byte{'\n'})
	if !ok {
		return stamp{}, false, nil
	}
	r.off += int64(len(line)) + 1
	s, err := parseStamp(line)
	if err != nil {
		return stamp{}, false, fmt.Errorf("%s: %w", r.path, err)
	}
	r.last = s
	return s, true, nil
}

// parseStamp reads one line of a helper, "PID NS", without the newline.
func parseStamp(line []byte) (stamp, error) {
	var s stamp
	pid, ns, ok := bytes.Cut(line, []byte{' '})
	var err error
	if ok {
		s.pid, err = strconv.Atoi(string(pid))
		if err == nil {
			s.ns, err = strconv.ParseInt(string(ns), 10, 64)
		}
	}
	if !ok || err != nil || s.pid <= 0 {
		return stamp{}, fmt.Errorf("bad stamp %q", line)
	}
	return s, nil
}

// restartFloor measures the same two restarts with the simplest supervisor
// there is: a Go loop that ForkExecs the helper and waits for it.
func restartFloor(ctx context.Context, e *env, n int) (kill, exit []time.Duration, err error) {
	dir, err := os.MkdirTemp("/tmp", "sbf-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	e.progress("restart: floor: %d SIGKILLs and %d exits", n, n)
	stamp := filepath.Join(e.bin, "stamp")
	for _, mode := range []struct {
		sig  syscall.Signal
		argv []string
		out  *[]time.Duration
	}{
		{syscall.SIGKILL, []string{stamp, filepath.Join(dir, "kill")}, &kill},
		{syscall.SIGUSR1, []string{stamp, filepath.Join(dir, "exit"), "exit"}, &exit},
	} {
		l := &loopSupervisor{procs: e.procs, argv: mode.argv}
		done := make(chan error, 1)
		// exits once l.stop was called and the last child is reaped;
		// waited on right below
		go func() { done <- l.run() }()
		sr := &stampReader{path: mode.argv[1]}
		lat, merr := measureRestarts(ctx, sr, mode.sig, n, 0, nil)
		sr.close()
		l.stop()
		if err := <-done; err != nil {
			return nil, nil, err
		}
		if merr != nil {
			return nil, nil, merr
		}
		*mode.out = lat
	}
	return kill, exit, nil
}

// loopSupervisor restarts one command forever, with nothing in between but
// wait and fork+exec.
type loopSupervisor struct {
	procs *procs
	argv  []string

	mu      sync.Mutex // guards the fields below
	stopped bool
	cur     int // the live (or unreaped) child, 0 between children
}

// run forks the command, waits for it to exit, and again, until stop. It
// runs on a locked thread, which is never left to die, so that the
// children's Pdeathsig fires only when superbench dies.
func (l *loopSupervisor) run() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	attr, closeNull := floorAttr(os.Environ())
	defer closeNull()
	for {
		l.mu.Lock()
		if l.stopped {
			l.mu.Unlock()
			return nil
		}
		pid, err := syscall.ForkExec(l.argv[0], l.argv, attr)
		if err != nil {
			l.mu.Unlock()
			return fmt.Errorf("fork/exec %s: %w", l.argv[0], err)
		}
		l.cur = pid
		l.procs.add(pid, procKind{waited: true})
		l.mu.Unlock()

		// Wait without reaping, so that the pid cannot be reused while
		// stop may still signal it.
		var info unix.Siginfo
		for {
			err = unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("waitid %d: %w", pid, err)
		}
		l.mu.Lock()
		l.cur = 0
		l.mu.Unlock()
		err = waitChild(pid)
		l.procs.forget(pid)
		if err != nil {
			return fmt.Errorf("wait4 %d: %w", pid, err)
		}
	}
}

// stop makes run return: no new child, and the current one SIGKILLed.
func (l *loopSupervisor) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if l.cur != 0 {
		_ = syscall.Kill(l.cur, syscall.SIGKILL)
	}
}

// floorAttr is how a floor loop starts its children, as a supervisor
// would: each in its own process group, killed when the thread that
// forked it dies (Pdeathsig), with env and stdio on one /dev/null (closed
// in the child if it cannot be opened). Call done after the last fork.
func floorAttr(env []string) (attr *syscall.ProcAttr, done func()) {
	null := ^uintptr(0)
	if fd, err := syscall.Open(os.DevNull, syscall.O_RDWR|syscall.O_CLOEXEC, 0); err == nil {
		null = uintptr(fd)
	}
	attr = &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{null, null, null},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	return attr, func() {
		if null != ^uintptr(0) {
			syscall.Close(int(null))
		}
	}
}
