package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stormPoll is how often reaping samples the orphans.
const stormPoll = 250 * time.Microsecond

// reaper is one way of running the orphan helper under a subreaper: superd
// exec, superd with a config, tini -s.
type reaper struct {
	column string // the table column: superd or tini
	mode   string // "exec" (a single-command init) or "config" (a daemon)
	avail  func() error
	// start launches the helper argv under the subreaper and returns the
	// subreaper's pid and how to stop it and clean up.
	start func(ctx context.Context, e *env, argv []string) (pid int, stop func(context.Context) error, kill func(), err error)
}

func reapers() []reaper {
	initStart := func(prefix ...string) func(ctx context.Context, e *env, argv []string) (int, func(context.Context) error, func(), error) {
		return func(ctx context.Context, e *env, argv []string) (int, func(context.Context) error, func(), error) {
			d := &daemon{e: e, name: filepath.Base(prefix[0])}
			if err := d.makeDir("sbi-"); err != nil {
				return 0, nil, nil, err
			}
			if err := d.start(append(prefix, argv...)); err != nil {
				d.kill()
				return 0, nil, nil, err
			}
			stop := func(ctx context.Context) error {
				if err := d.signal(syscall.SIGTERM); err != nil {
					return err
				}
				return d.waitStopped(ctx)
			}
			return d.Pid(), stop, d.kill, nil
		}
	}
	return []reaper{
		{column: "superd", mode: "exec", avail: func() error { return nil },
			start: func(ctx context.Context, e *env, argv []string) (int, func(context.Context) error, func(), error) {
				return initStart(filepath.Join(e.bin, "superd"), "exec", "--")(ctx, e, argv)
			}},
		{column: "superd", mode: "config", avail: func() error { return nil },
			start: func(ctx context.Context, e *env, argv []string) (int, func(context.Context) error, func(), error) {
				s := newSuperd(e)
				if err := s.Configure(workload{programs: []program{{name: "orphans", argv: argv}}}); err != nil {
					s.Kill()
					return 0, nil, nil, err
				}
				if err := s.Start(ctx); err != nil {
					s.Kill()
					return 0, nil, nil, err
				}
				return s.Pid(), s.Stop, s.Kill, nil
			}},
		{column: "tini", mode: "exec", avail: func() error { _, err := exec.LookPath("tini"); return err },
			start: func(ctx context.Context, e *env, argv []string) (int, func(context.Context) error, func(), error) {
				return initStart("tini", "-s", "--")(ctx, e, argv)
			}},
	}
}

// runReaping has one program leave e.sizes.reapN orphans behind, which
// all exit together e.sizes.reapDelay after it started, and samples every
// stormPoll how many of them are zombies (exited, not yet reaped by the
// subreaper they were handed to): the peak, and the time from the last
// orphan's exit to none left. superd as a single-command init (superd exec,
// beside tini -s) and as a daemon with a config; median of e.sizes.rounds
// rounds, taking turns. supervisord, s6-svscan and runsvdir are not
// subreapers outside PID 1: the orphans of their programs go to init.
func runReaping(ctx context.Context, e *env) ([]row, error) {
	n := e.sizes.reapN
	var rs []reaper
	for _, r := range reapers() {
		if err := r.avail(); err != nil {
			e.progress("reaping: skipping %s %s: %v", r.column, r.mode, err)
			continue
		}
		rs = append(rs, r)
	}
	rows := map[string]*row{}
	for _, mode := range []string{"exec", "config"} {
		how := "superd exec, tini -s"
		if mode == "config" {
			how = "superd -c, a daemon"
		}
		peak := newRow("reap."+mode+".peak", "reaping", fmt.Sprintf("peak zombies, %d orphans, %s, median of %d", n, how, e.sizes.rounds))
		zero := newRow("reap."+mode+".zero", "reaping", fmt.Sprintf("last orphan's exit → no zombie left, %s", how))
		rows[peak.key], rows[zero.key] = &peak, &zero
	}
	peaks, zeros := map[string][]float64{}, map[string][]time.Duration{}
	for round := range e.sizes.rounds {
		for _, r := range rs {
			p, z, err := stormOnce(ctx, e, r)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", r.column, r.mode, err)
			}
			e.progress("reaping: %s %s: peak %d zombies, none left %s after the last exit (round %d of %d)", r.column, r.mode, p, fmtDur(z), round+1, e.sizes.rounds)
			k := r.mode + "/" + r.column
			peaks[k] = append(peaks[k], float64(p))
			zeros[k] = append(zeros[k], z)
		}
	}
	for _, r := range rs {
		k := r.mode + "/" + r.column
		p := median(peaks[k])
		rows["reap."+r.mode+".peak"].values[r.column] = numCell(strconv.FormatFloat(p, 'f', -1, 64), p)
		rows["reap."+r.mode+".zero"].values[r.column] = durCell(median(zeros[k]))
	}
	return []row{*rows["reap.exec.peak"], *rows["reap.exec.zero"], *rows["reap.config.peak"], *rows["reap.config.zero"]}, nil
}

// stormOnce runs the orphans helper once under r and returns the peak
// number of zombies sampled and the time from the last orphan's exit to the
// first sample that found every orphan reaped.
func stormOnce(ctx context.Context, e *env, r reaper) (peak int, zero time.Duration, err error) {
	dir, err := os.MkdirTemp("/tmp", "sbo-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "storm")
	n := e.sizes.reapN
	argv := []string{filepath.Join(e.bin, "orphans"), file, strconv.Itoa(n), strconv.FormatInt(e.sizes.reapDelay.Milliseconds(), 10)}
	pid, stop, kill, err := r.start(ctx, e, argv)
	if err != nil {
		return 0, 0, err
	}
	defer kill()
	wctx, cancel := context.WithTimeout(ctx, e.sizes.waitDeadline)
	defer cancel()
	var m []int64
	defer func() {
		if m != nil {
			_ = unix.Munmap(int64Bytes(m))
		}
	}()
	// The file is there and every orphan forked.
	if err := poll(wctx, time.Millisecond, func() (bool, error) {
		if m == nil {
			b, err := mapStorm(file, n)
			if err != nil {
				return false, nil // not written yet
			}
			m = b
		}
		return atomic.LoadInt64(&m[2]) == int64(n), nil
	}); err != nil {
		return 0, 0, fmt.Errorf("waiting for %d orphans to be forked: %w", n, err)
	}
	release := atomic.LoadInt64(&m[1])
	if monotonicNS() > release {
		return 0, 0, fmt.Errorf("forking %d orphans took longer than %v: raise the delay", n, e.sizes.reapDelay)
	}
	// They are the subreaper's now (the middle process exited).
	if err := poll(wctx, time.Millisecond, func() (bool, error) {
		st, err := readStat(int(atomic.LoadInt64(&m[3])))
		if err != nil {
			return false, err
		}
		return st.ppid == pid, nil
	}); err != nil {
		return 0, 0, fmt.Errorf("orphans not handed to pid %d: %w", pid, err)
	}
	reaped := make([]bool, n)
	left := n
	var tZero, lastExit int64
	err = poll(wctx, stormPoll, func() (bool, error) {
		zombies := 0
		for i := range n {
			if reaped[i] {
				continue
			}
			exitNS := atomic.LoadInt64(&m[3+2*i+1])
			if exitNS == 0 {
				continue // still running
			}
			// Pids are allocated cyclically (pid_max, 32768 here, before
			// one is reused): a pid that is gone is this orphan reaped.
			if err := unix.Kill(int(atomic.LoadInt64(&m[3+2*i])), 0); errors.Is(err, unix.ESRCH) {
				reaped[i] = true
				left--
				lastExit = max(lastExit, exitNS)
				continue
			}
			zombies++
		}
		peak = max(peak, zombies)
		if left == 0 {
			tZero = monotonicNS()
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("%d of %d orphans not reaped: %w", left, n, err)
	}
	return peak, time.Duration(tZero - lastExit), stop(ctx)
}

// mapStorm maps the helper's file once it has its full size.
func mapStorm(file string, n int) ([]int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := (3 + 2*n) * 8
	if fi, err := f.Stat(); err != nil || fi.Size() < int64(size) {
		return nil, fmt.Errorf("%s: not written yet", file)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", file, err)
	}
	return unsafe.Slice((*int64)(unsafe.Pointer(&b[0])), len(b)/8), nil
}

// int64Bytes returns the bytes under m, for Munmap.
func int64Bytes(m []int64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&m[0])), len(m)*8)
}
