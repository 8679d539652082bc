package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// drainProgram is a program that, on SIGTERM, takes delay to exit 0
// and appends its name to clean just before. It appends its name to ready
// once its trap is set. `wait` is interrupted by the trapped signal, then
// the trap runs; the trap kills the background sleep itself, so that no
// process outlives the program whether the supervisor signals the program
// alone (s6, runit) or its whole process group (superd, supervisord with
// stopasgroup).
func drainProgram(name, ready, clean string, delay time.Duration) program {
	script := fmt.Sprintf("trap 'kill $! 2>/dev/null; /bin/sleep %g; echo %s >> %s; exit 0' TERM; echo %s >> %s; /bin/sleep 100000 & wait",
		delay.Seconds(), name, clean, name, ready)
	return program{name: name, argv: []string{"/bin/sh", "-c", script}, stopTimeout: 30 * time.Second}
}

// runDrain starts e.sizes.drainN programs that each take e.sizes.drainDelay
// (1 s; --quick: 300 ms) to exit
// after SIGTERM, and times the stop request to the supervisor → the
// supervisor exited and every process it started gone (median of
// e.sizes.rounds rounds, the systems taking turns); it counts the programs
// that exited cleanly.
func runDrain(ctx context.Context, e *env) ([]row, error) {
	n := e.sizes.drainN
	t := newRow("drain.time", "drain", fmt.Sprintf("stop → last process gone, %d programs taking %v, median of %d", n, e.sizes.drainDelay, e.sizes.rounds))
	t.floorIs = "Go loop: SIGTERM each group, wait4 all"
	c := newRow("drain.clean", "drain", fmt.Sprintf("programs that exited 0, worst of %d", e.sizes.rounds))
	c.noRatio = true
	ds := map[string][]time.Duration{}
	worst := map[string]int{}
	var fs []time.Duration
	fworst := n
	for round := range e.sizes.rounds {
		for _, def := range e.systems {
			d, clean, err := drainOnce(ctx, e, def)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", def.name, err)
			}
			e.progress("drain: %s: %s, %d of %d clean (round %d of %d)", def.name, fmtDur(d), clean, n, round+1, e.sizes.rounds)
			if clean < n {
				e.warn("drain: %s: only %d of %d programs exited cleanly", def.name, clean, n)
			}
			ds[def.name] = append(ds[def.name], d)
			if w, ok := worst[def.name]; !ok || clean < w {
				worst[def.name] = clean
			}
		}
		d, clean, err := drainFloor(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		fs = append(fs, d)
		fworst = min(fworst, clean)
	}
	for name, d := range ds {
		t.values[name] = durCell(median(d))
		c.values[name] = numCell(fmt.Sprintf("%d/%d", worst[name], n), float64(worst[name]))
	}
	t.floor = durCell(median(fs))
	c.floor = numCell(fmt.Sprintf("%d/%d", fworst, n), float64(fworst))
	return []row{t, c}, nil
}

// drainFloor runs the same programs from a bare Go loop, each in its own
// process group, and times SIGTERM (and SIGCONT) to every group → all
// reaped: what the programs' own exit costs on this machine.
func drainFloor(ctx context.Context, e *env) (time.Duration, int, error) {
	dir, err := os.MkdirTemp("/tmp", "sbd-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	ready, clean := filepath.Join(dir, "ready"), filepath.Join(dir, "clean")
	n := e.sizes.drainN
	attr, closeNull := floorAttr(os.Environ())
	defer closeNull()
	var pids []int
	defer func() {
		// On failure: kill what is left of every group, reap the leaders,
		// then whatever the dead shells handed over to superbench.
		for _, pid := range pids {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		_ = killAndReap(e.procs, pids)
		_, _ = e.procs.sweepOrphans()
	}()
	for i := range n {
		p := drainProgram(fmt.Sprintf("d%03d", i), ready, clean, e.sizes.drainDelay)
		pid, err := syscall.ForkExec(p.argv[0], p.argv, attr)
		if err != nil {
			return 0, 0, fmt.Errorf("fork/exec %s: %w", p.argv[0], err)
		}
		e.procs.add(pid, procKind{group: true})
		pids = append(pids, pid)
	}
	wctx, cancel := context.WithTimeout(ctx, e.sizes.waitDeadline)
	defer cancel()
	if err := poll(wctx, apiPoll, func() (bool, error) {
		got, err := countLines(ready)
		return got >= n, err
	}); err != nil {
		return 0, 0, fmt.Errorf("waiting for %d programs to set their trap: %w", n, err)
	}
	t0 := time.Now()
	for _, pid := range pids {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		_ = syscall.Kill(-pid, syscall.SIGCONT)
	}
	for len(pids) > 0 {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-pids[0], &ws, 0, nil) // any member of the group; the leader is the only child
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("wait4 %d: %w", pids[0], err)
		}
		e.procs.forget(pid)
		pids = pids[1:]
	}
	d := time.Since(t0)
	got, err := countLines(clean)
	return d, got, err
}

func drainOnce(ctx context.Context, e *env, def systemDef) (time.Duration, int, error) {
	dir, err := os.MkdirTemp("/tmp", "sbd-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	ready, clean := filepath.Join(dir, "ready"), filepath.Join(dir, "clean")
	n := e.sizes.drainN
	var w workload
	for i := range n {
		w.programs = append(w.programs, drainProgram(fmt.Sprintf("d%03d", i), ready, clean, e.sizes.drainDelay))
	}
	sys := def.new(e)
	defer sys.Kill()
	if err := sys.Configure(w); err != nil {
		return 0, 0, err
	}
	if err := sys.Start(ctx); err != nil {
		return 0, 0, err
	}
	if err := sys.WaitAllRunning(ctx, 20*time.Millisecond); err != nil {
		return 0, 0, err
	}
	// Running is not enough: each shell must have set its trap.
	wctx, cancel := context.WithTimeout(ctx, e.sizes.waitDeadline)
	defer cancel()
	if err := poll(wctx, apiPoll, func() (bool, error) {
		got, err := countLines(ready)
		return got >= n, err
	}); err != nil {
		return 0, 0, fmt.Errorf("waiting for %d programs to set their trap: %w", n, err)
	}
	d, err := timed(func() error { return sys.Stop(ctx) })
	if err != nil {
		return 0, 0, err
	}
	got, err := countLines(clean)
	return d, got, err
}

// countLines counts the lines of path; a missing file has none.
func countLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	return bytes.Count(b, []byte{'\n'}), err
}
