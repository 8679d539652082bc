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

// runIdle starts e.sizes.idleN sleeping programs, lets the supervisor
// settle, and measures it over a window of e.sizes.idleWindow in which
// nothing happens: CPU time, context switches, memory, threads.
func runIdle(ctx context.Context, e *env) ([]row, error) {
	n, window := e.sizes.idleN, e.sizes.idleWindow
	what := fmt.Sprintf("%d programs, %v", n, window)
	rows := []row{
		{scenario: "idle", metric: "CPU time (utime+stime), " + what},
		{scenario: "idle", metric: "on-CPU time (schedstat), " + what},
		{scenario: "idle", metric: "context switches (all threads), " + what},
		{scenario: "idle", metric: fmt.Sprintf("VmRSS, %d programs", n)},
		{scenario: "idle", metric: fmt.Sprintf("PSS, %d programs", n)},
		{scenario: "idle", metric: "threads"},
	}
	for i := range rows {
		rows[i].values = map[string]string{}
	}
	for _, def := range e.systems {
		vals, err := idleOnce(ctx, e, def)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", def.name, err)
		}
		for i, v := range vals {
			rows[i].values[def.name] = v
		}
	}
	return rows, nil
}

func idleOnce(ctx context.Context, e *env, def systemDef) ([]string, error) {
	sys := def.new(e)
	defer sys.Kill()
	if err := sys.Configure(sleepers(e.sizes.idleN)); err != nil {
		return nil, err
	}
	if err := sys.Start(ctx); err != nil {
		return nil, err
	}
	if err := sys.WaitAllRunning(ctx, apiPoll); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, e.sizes.idleSettle); err != nil {
		return nil, err
	}
	pid := sys.Pid()
	e.progress("idle: %s: measuring pid %d for %v", def.name, pid, e.sizes.idleWindow)
	st0, err := readStat(pid)
	if err != nil {
		return nil, err
	}
	on0, err := onCPU(pid)
	if err != nil {
		return nil, err
	}
	cs0, err := contextSwitches(pid)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := waitFor(ctx, e.sizes.idleWindow); err != nil {
		return nil, err
	}
	st1, err := readStat(pid)
	if err != nil {
		return nil, err
	}
	on1, err := onCPU(pid)
	if err != nil {
		return nil, err
	}
	cs1, err := contextSwitches(pid)
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(t0)
	mem, err := readMem(pid)
	if err != nil {
		return nil, err
	}
	if err := sys.Stop(ctx); err != nil {
		return nil, err
	}
	cpu := st1.cpu() - st0.cpu()
	switches := cs1 - cs0
	return []string{
		fmt.Sprintf("%d ms", cpu.Milliseconds()),
		fmtDur(on1 - on0),
		fmt.Sprintf("%d (%s/s)", switches, sig3(float64(switches)/elapsed.Seconds())),
		mib(mem.rssKiB),
		mib(mem.pssKiB),
		strconv.FormatInt(mem.threads, 10),
	}, nil
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
