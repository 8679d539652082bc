package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// sleepArgv is the program of start, idle and status: it does nothing for
// longer than any run.
func sleepArgv() []string { return []string{"/bin/sleep", "100000"} }

// sleepers returns n programs p000, p001, ... running sleepArgv.
func sleepers(n int) workload {
	var w workload
	for i := range n {
		w.programs = append(w.programs, program{name: fmt.Sprintf("p%03d", i), argv: sleepArgv()})
	}
	return w
}

// runStart measures, for each N, the time from launching the supervisor to
// all N programs reported running, median of e.sizes.reps runs, with the
// API polled every 5 ms (which itself costs the supervisor CPU time) and
// again more lightly; and the floor: N fork+execs of the same program from
// a bare Go loop.
func runStart(ctx context.Context, e *env) ([]row, error) {
	var rows []row
	for _, n := range e.sizes.startN {
		var fs []time.Duration
		for range e.sizes.reps {
			d, err := forkFloor(e, n)
			if err != nil {
				return nil, fmt.Errorf("floor, %d programs: %w", n, err)
			}
			fs = append(fs, d)
		}
		polls := e.sizes.startPolls
		byPoll := make([]row, len(polls))
		for j, every := range polls {
			byPoll[j] = row{scenario: "start", metric: fmt.Sprintf("%d programs → all running, poll %v, median of %d", n, every, e.sizes.reps),
				values: map[string]string{}, floor: fmtDur(median(fs)), floorIs: fmt.Sprintf("Go loop: ForkExec %d × /bin/sleep", n)}
		}
		for _, def := range e.systems {
			ds := make([][]time.Duration, len(polls))
			// The poll intervals take turns, so that a machine drifting
			// during the runs weighs on each alike.
			for i := range e.sizes.reps {
				for j, every := range polls {
					d, err := startOnce(ctx, e, def, n, every)
					if err != nil {
						return nil, fmt.Errorf("%s, %d programs: %w", def.name, n, err)
					}
					e.progress("start: %s: %d programs running after %s, polled every %v (run %d of %d)", def.name, n, fmtDur(d), every, i+1, e.sizes.reps)
					ds[j] = append(ds[j], d)
				}
			}
			for j := range polls {
				byPoll[j].values[def.name] = fmtDur(median(ds[j]))
			}
		}
		rows = append(rows, byPoll...)
	}
	return rows, nil
}

func startOnce(ctx context.Context, e *env, def systemDef, n int, every time.Duration) (time.Duration, error) {
	sys := def.new(e)
	defer sys.Kill()
	if err := sys.Configure(sleepers(n)); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := sys.Start(ctx); err != nil {
		return 0, err
	}
	if err := sys.WaitAllRunning(ctx, every); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	return d, sys.Stop(ctx)
}

// forkFloor times n ForkExecs of sleepArgv (own process group, superbench's
// environment, stdio on /dev/null, as a supervisor would), then kills and
// reaps them.
func forkFloor(e *env, n int) (time.Duration, error) {
	attr := &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{devNullFd(), devNullFd(), devNullFd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	defer closeFds(attr.Files)
	argv := sleepArgv()
	pids := make([]int, 0, n)
	t0 := time.Now()
	for range n {
		pid, err := syscall.ForkExec(argv[0], argv, attr)
		if err != nil {
			killAndReap(e.procs, pids)
			return 0, fmt.Errorf("fork/exec %s: %w", argv[0], err)
		}
		e.procs.add(pid, procKind{})
		pids = append(pids, pid)
	}
	d := time.Since(t0)
	return d, killAndReap(e.procs, pids)
}
