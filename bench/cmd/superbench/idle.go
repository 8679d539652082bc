package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runIdle starts e.sizes.idleN sleeping programs under every system, one
// system after the other, lets them all settle, and measures them over one
// window of e.sizes.idleWindow in which nothing is asked of any: CPU time,
// context switches, memory, processes and threads of each supervisor's own
// processes (s6-supervise and runsv included; the programs not). Idle
// supervisors do not compete, so one shared window is fairer than turns.
func runIdle(ctx context.Context, e *env) ([]row, error) {
	n, window := e.sizes.idleN, e.sizes.idleWindow
	what := fmt.Sprintf("%d programs, %v", n, window)
	rows := []row{
		newRow("idle.cpu", "idle", "CPU time (utime+stime), "+what),
		newRow("idle.oncpu", "idle", "on-CPU time (schedstat), "+what),
		newRow("idle.cs", "idle", "context switches (all threads), "+what),
		newRow("idle.rss", "idle", fmt.Sprintf("RSS, sum over the supervisor's processes, %d programs", n)),
		newRow("idle.pss", "idle", fmt.Sprintf("PSS, sum over the supervisor's processes, %d programs", n)),
		newRow("idle.procs", "idle", "processes (threads) of the supervisor"),
	}
	rows[5].noRatio = true
	type probe struct {
		def  systemDef
		sys  system
		pids []int
		st0  []procStat
		on0  time.Duration
		cs0  int64
	}
	var probes []*probe
	defer func() {
		for _, p := range probes {
			p.sys.Kill()
		}
	}()
	for _, def := range e.systems {
		sys := def.new(e)
		probes = append(probes, &probe{def: def, sys: sys})
		if err := sys.Configure(sleepers(n)); err != nil {
			return nil, fmt.Errorf("%s: %w", def.name, err)
		}
		if err := sys.Start(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", def.name, err)
		}
		if err := sys.WaitAllRunning(ctx, 20*time.Millisecond); err != nil {
			return nil, fmt.Errorf("%s: %w", def.name, err)
		}
	}
	if err := waitFor(ctx, e.sizes.idleSettle); err != nil {
		return nil, err
	}
	for _, p := range probes {
		pids, err := p.sys.Procs()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.def.name, err)
		}
		p.pids = pids
		if p.st0, p.on0, p.cs0, err = sample(pids); err != nil {
			return nil, fmt.Errorf("%s: %w", p.def.name, err)
		}
	}
	e.progress("idle: measuring %d systems at once for %v", len(probes), window)
	t0 := time.Now()
	if err := waitFor(ctx, window); err != nil {
		return nil, err
	}
	for _, p := range probes {
		st1, on1, cs1, err := sample(p.pids)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.def.name, err)
		}
		elapsed := time.Since(t0)
		var cpu time.Duration
		for i := range st1 {
			cpu += st1[i].cpu() - p.st0[i].cpu()
		}
		var mem memInfo
		for _, pid := range p.pids {
			m, err := readMem(pid)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.def.name, err)
			}
			mem.rssKiB += m.rssKiB
			mem.pssKiB += m.pssKiB
			mem.threads += m.threads
		}
		switches := cs1 - p.cs0
		name := p.def.name
		rows[0].values[name] = numCell(fmt.Sprintf("%d ms", cpu.Milliseconds()), cpu.Seconds())
		rows[1].values[name] = durCell(on1 - p.on0)
		rows[2].values[name] = numCell(fmt.Sprintf("%d (%s/s)", switches, sig3(float64(switches)/elapsed.Seconds())), float64(switches))
		rows[3].values[name] = numCell(mib(mem.rssKiB), float64(mem.rssKiB)/1024)
		rows[4].values[name] = numCell(mib(mem.pssKiB), float64(mem.pssKiB)/1024)
		rows[5].values[name] = numCell(fmt.Sprintf("%d (%d)", len(p.pids), mem.threads), float64(len(p.pids)))
	}
	for _, p := range probes {
		if err := p.sys.Stop(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", p.def.name, err)
		}
	}
	return rows, nil
}

// sample reads the CPU times, on-CPU time and context switches of pids.
func sample(pids []int) ([]procStat, time.Duration, int64, error) {
	var sts []procStat
	var on time.Duration
	var cs int64
	for _, pid := range pids {
		st, err := readStat(pid)
		if err != nil {
			return nil, 0, 0, err
		}
		o, err := onCPU(pid)
		if err != nil {
			return nil, 0, 0, err
		}
		c, err := contextSwitches(pid)
		if err != nil {
			return nil, 0, 0, err
		}
		sts = append(sts, st)
		on += o
		cs += c
	}
	return sts, on, cs, nil
}

// onCPU sums the time every live thread of pid has spent on a CPU
// (first field of /proc/PID/task/TID/schedstat, in ns).
func onCPU(pid int) (time.Duration, error) {
	files, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("pid %d has no threads: did it exit?", pid)
	}
	var sum time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // thread exited meanwhile
		}
		fs := strings.Fields(string(b))
		if len(fs) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// waitFor waits d, or less if ctx is done first.
func waitFor(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
