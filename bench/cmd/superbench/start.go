package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// sleepArgv is the program of idle and status: it does nothing for longer
// than any run.
func sleepArgv() []string { return []string{"/bin/sleep", "100000"} }

// sleepers returns n programs p000, p001, ... running sleepArgv.
func sleepers(n int) workload {
	var w workload
	for i := range n {
		w.programs = append(w.programs, program{name: fmt.Sprintf("p%03d", i), argv: sleepArgv()})
	}
	return w
}

// stampers returns n programs p000, p001, ... each running the stamp
// helper on file: each appends its pid and CLOCK_MONOTONIC at exec to file,
// then pauses.
func stampers(bin, file string, n int) workload {
	var w workload
	for i := range n {
		w.programs = append(w.programs, program{name: fmt.Sprintf("p%03d", i), argv: []string{filepath.Join(bin, "stamp"), file}})
	}
	return w
}

// runStart measures, for each N, the time from launching the supervisor to
// the exec of the last of N programs (each stamps the clock first thing in
// its main), median of e.sizes.startRounds rounds, the systems taking turns, and
// the on-CPU time of the supervisor's processes by then (schedstat: a
// steadier measure than the time on a busy VM); and two floors: the
// floor, forkfloor (a bare Go program doing N fork+execs of the same
// program) timed as a supervisor is, from its launch; and, on a row of its
// own, the same loop run inside superbench, timed from its first fork (no
// launch to pay). Each timed start waits for a quiet machine first
// (waitQuiet), and the systems' order rotates from round to round. Every
// supervisor must also report all N running afterwards (not timed).
func runStart(ctx context.Context, e *env) ([]row, error) {
	var rows []row
	for _, n := range e.sizes.startN {
		r := newRow("start."+strconv.Itoa(n), "start", fmt.Sprintf("%d programs → last one exec'd, median of %d", n, e.sizes.startRounds))
		r.floorIs = fmt.Sprintf("Go program: launch, ForkExec %d × the helper", n)
		rl := newRow("startloop."+strconv.Itoa(n), "start", fmt.Sprintf("%d programs → last one exec'd, the floor's loop alone (no launch), median of %d", n, e.sizes.startRounds))
		rl.floorIs = fmt.Sprintf("Go loop in superbench: ForkExec %d × the helper", n)
		rc := newRow("startcpu."+strconv.Itoa(n), "start", fmt.Sprintf("%d programs: supervisor CPU to the last exec, median of %d", n, e.sizes.startRounds))
		rp := newRow("startround."+strconv.Itoa(n), "start", fmt.Sprintf("%d programs: ÷ the floor of the same round, median of %d (lowest–highest)", n, e.sizes.startRounds))
		rp.noRatio = true
		ds := map[string][]time.Duration{}
		cpus := map[string][]time.Duration{}
		var fs, ls []time.Duration
		for round := range e.sizes.startRounds {
			e.waitQuiet(ctx, "start: floor")
			d, faults, err := launchedFloor(ctx, e, n)
			if err != nil {
				return nil, fmt.Errorf("floor, %d programs: %w", n, err)
			}
			fs = append(fs, d)
			e.progress("start: floor: %d programs exec'd after %s, %d major faults (round %d of %d)", n, fmtDur(d), faults, round+1, e.sizes.startRounds)
			e.waitQuiet(ctx, "start: the floor's loop alone")
			d, err = loopFloor(ctx, e, n)
			if err != nil {
				return nil, fmt.Errorf("floor's loop alone, %d programs: %w", n, err)
			}
			ls = append(ls, d)
			// Each round starts with another system, so that none is
			// always the one measured right after the floor.
			for _, def := range e.inTurn(round) {
				e.waitQuiet(ctx, "start: "+def.name)
				d, cpu, faults, err := startOnce(ctx, e, def, n)
				if err != nil {
					return nil, fmt.Errorf("%s, %d programs: %w", def.name, n, err)
				}
				e.progress("start: %s: %d programs exec'd after %s, %s of its CPU, %d major faults (round %d of %d)", def.name, n, fmtDur(d), fmtDur(cpu), faults, round+1, e.sizes.startRounds)
				ds[def.name] = append(ds[def.name], d)
				cpus[def.name] = append(cpus[def.name], cpu)
			}
		}
		for name, d := range ds {
			r.values[name] = durCell(median(d))
			rc.values[name] = durCell(median(cpus[name]))
			rp.values[name] = roundRatios(d, fs)
		}
		r.floor = durCell(median(fs))
		rl.floor = durCell(median(ls))
		rows = append(rows, r, rl, rc, rp)
	}
	return rows, nil
}

// roundRatios divides each round's time by the floor's of the same round
// (taken seconds before it, so the host's drift from round to round
// cancels out) and returns their median, with the lowest and highest in
// its text: "1.27× (1.10–1.45×)".
func roundRatios(ds, floors []time.Duration) cell {
	return spreadCell(perRound(ds, floors), func(r float64) string { return fmt.Sprintf("%.2f", r) }, "×")
}

// perRound divides each round's value by the floor of the same round, for
// the rounds that have a floor above 0.
func perRound[T ~int64 | ~float64](vs, floors []T) []float64 {
	var rs []float64
	for i, v := range vs {
		if i < len(floors) && floors[i] > 0 {
			rs = append(rs, float64(v)/float64(floors[i]))
		}
	}
	return rs
}

// spreadCell returns the median of rs, with the lowest and highest in its
// text, each printed by format, then unit: "1.27× (1.10–1.45×)". No rs, no
// cell.
func spreadCell(rs []float64, format func(float64) string, unit string) cell {
	if len(rs) == 0 {
		return cell{}
	}
	m := median(rs)
	return numCell(fmt.Sprintf("%s%s (%s–%s%s)", format(m), unit, format(slices.Min(rs)), format(slices.Max(rs)), unit), m)
}

// startOnce starts n programs under def and returns the time to the last
// one's exec, and the on-CPU time and the major page faults (reads from
// disk: a binary or library the host's reclaim paged out) of the
// supervisor's processes (Procs) when the harness saw that exec, within
// 2 ms of it.
func startOnce(ctx context.Context, e *env, def systemDef, n int) (took, cpu time.Duration, faults int64, err error) {
	file, cleanup, err := stampsFile()
	if err != nil {
		return 0, 0, 0, err
	}
	defer cleanup()
	sys := def.new(e)
	defer sys.Kill()
	if err := sys.Configure(stampers(e.bin, file, n)); err != nil {
		return 0, 0, 0, err
	}
	t0 := monotonicNS()
	if err := sys.Start(ctx); err != nil {
		return 0, 0, 0, err
	}
	var gone func() error
	if d, ok := sys.(interface{ gone() error }); ok {
		gone = d.gone
	}
	last, err := waitStamps(ctx, e, file, n, gone)
	if err != nil {
		return 0, 0, 0, err
	}
	pids, err := sys.Procs()
	if err != nil {
		return 0, 0, 0, err
	}
	for _, pid := range pids {
		c, err := onCPU(pid)
		if err != nil {
			return 0, 0, 0, err
		}
		cpu += c
		st, err := readStat(pid)
		if err != nil {
			return 0, 0, 0, err
		}
		faults += st.majflt
	}
	if err := sys.WaitAllRunning(ctx, 20*time.Millisecond); err != nil {
		return 0, 0, 0, err
	}
	return time.Duration(last - t0), cpu, faults, sys.Stop(ctx)
}

// stampsFile returns the path of a stamps file in a new folder under /tmp,
// and a function that removes the folder.
func stampsFile() (file string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("/tmp", "sbt-")
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "stamps"), func() { os.RemoveAll(dir) }, nil
}

// waitStamps polls file every 2 ms until it holds n stamps, and returns the
// latest. gone, if not nil, reports the starter's exit, which ends the
// wait with its error.
func waitStamps(ctx context.Context, e *env, file string, n int, gone func() error) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, e.sizes.waitDeadline)
	defer cancel()
	var last int64
	got := 0
	err := poll(ctx, 2*time.Millisecond, func() (bool, error) {
		if gone != nil {
			if err := gone(); err != nil {
				return false, err
			}
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return false, nil // no program started yet
		}
		if bytes.Count(b, []byte{'\n'}) < n {
			return false, nil
		}
		got, last = 0, 0
		for line := range bytes.SplitSeq(bytes.TrimSpace(b), []byte{'\n'}) {
			_, ns, ok := bytes.Cut(line, []byte{' '})
			v, err := strconv.ParseInt(string(ns), 10, 64)
			if !ok || err != nil {
				return false, fmt.Errorf("%s: bad stamp %q", file, line)
			}
			last = max(last, v)
			got++
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("%d of %d programs started: %w", got, n, err)
	}
	if got != n {
		return 0, fmt.Errorf("%d programs started; want %d", got, n)
	}
	return last, nil
}

// launchedFloor launches forkfloor to start n stamp helpers, and returns
// the time from before its launch to the last one's stamp, as startOnce
// times a supervisor, and forkfloor's major page faults by then (0 if it
// could not be read). Then it closes forkfloor's standard input, on which
// forkfloor kills and reaps its children, and waits for it to exit.
func launchedFloor(ctx context.Context, e *env, n int) (time.Duration, int64, error) {
	file, cleanup, err := stampsFile()
	if err != nil {
		return 0, 0, err
	}
	defer cleanup()
	cmd := exec.Command(filepath.Join(e.bin, "forkfloor"), strconv.Itoa(n), filepath.Join(e.bin, "stamp"), file)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, 0, err
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	// Its children die with it (Pdeathsig), should it be killed before it
	// could kill them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	t0 := monotonicNS()
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("start forkfloor: %w", err)
	}
	e.procs.add(cmd.Process.Pid, procKind{waited: true})
	defer e.procs.forget(cmd.Process.Pid)
	exited := make(chan struct{})
	var waitErr error
	// exits when forkfloor does; waited on below through exited
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	gone := func() error {
		select {
		case <-exited:
			return fmt.Errorf("forkfloor exited early (%v): %s", waitErr, bytes.TrimSpace(errOut.Bytes()))
		default:
			return nil
		}
	}
	last, err := waitStamps(ctx, e, file, n, gone)
	var faults int64
	if st, serr := readStat(cmd.Process.Pid); serr == nil {
		faults = st.majflt
	}
	// The end of its input: forkfloor kills and reaps its children, and
	// exits.
	stdin.Close()
	select {
	case <-exited:
		if err == nil && waitErr != nil {
			err = fmt.Errorf("forkfloor: %w: %s", waitErr, bytes.TrimSpace(errOut.Bytes()))
		}
	case <-time.After(reapDeadline):
		_ = cmd.Process.Kill()
		<-exited
		if err == nil {
			err = fmt.Errorf("forkfloor did not exit within %s of the end of its input", reapDeadline)
		}
	}
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(last - t0), faults, nil
}

// loopFloor times n ForkExecs of the stamp helper (own process group,
// superbench's environment, stdio on /dev/null, as a supervisor would)
// from inside superbench, from before the first to the last one's stamp,
// then kills and reaps them.
func loopFloor(ctx context.Context, e *env, n int) (time.Duration, error) {
	file, cleanup, err := stampsFile()
	if err != nil {
		return 0, err
	}
	defer cleanup()
	attr, closeNull := floorAttr(os.Environ())
	defer closeNull()
	argv := []string{filepath.Join(e.bin, "stamp"), file}
	pids := make([]int, 0, n)
	defer func() { _ = killAndReap(e.procs, pids) }()
	t0 := monotonicNS()
	for range n {
		pid, err := syscall.ForkExec(argv[0], argv, attr)
		if err != nil {
			return 0, fmt.Errorf("fork/exec %s: %w", argv[0], err)
		}
		e.procs.add(pid, procKind{})
		pids = append(pids, pid)
	}
	last, err := waitStamps(ctx, e, file, n, nil)
	if err != nil {
		return 0, err
	}
	return time.Duration(last - t0), nil
}
