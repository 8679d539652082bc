package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// apiPoll is how often scenarios ask a supervisor's API for its state.
const apiPoll = 5 * time.Millisecond

// poll calls f at once and then every interval until f reports done or
// fails, or ctx is done.
func poll(ctx context.Context, interval time.Duration, f func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := f()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// pollPaced calls f at once and then again after each wait that f asks
// for, until f reports done or fails, or ctx is done.
func pollPaced(ctx context.Context, f func() (done bool, wait time.Duration, err error)) error {
	for {
		done, wait, err := f()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(wait): // an unreferenced timer is collected (Go 1.23+)
		}
	}
}

// monotonicNS reads CLOCK_MONOTONIC, the clock of the stamp helper, in ns.
func monotonicNS() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(fmt.Sprintf("clock_gettime(CLOCK_MONOTONIC): %v", err)) // cannot fail on Linux
	}
	return ts.Nano()
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; Linux fixes it
// at 100 on every architecture for user space.
const clockTicks = 100

// procStat is what superbench reads of /proc/PID/stat.
type procStat struct {
	state        byte
	ppid         int
	majflt       int64 // page faults that read from disk
	utime, stime int64 // clock ticks, summed over every thread
}

// cpu returns utime+stime.
func (s procStat) cpu() time.Duration {
	return time.Duration(s.utime+s.stime) * time.Second / clockTicks
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// fields are counted from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[9] field 12
	// (majflt), f[11] field 14 (utime), f[12] field 15 (stime).
	var st procStat
	st.state = f[0][0]
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: ppid: %w", pid, err)
	}
	if st.majflt, err = strconv.ParseInt(f[9], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: majflt: %w", pid, err)
	}
	if st.utime, err = strconv.ParseInt(f[11], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: utime: %w", pid, err)
	}
	if st.stime, err = strconv.ParseInt(f[12], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: stime: %w", pid, err)
	}
	return st, nil
}

// statusFields reads "Key: value ..." lines of a /proc status-like file
// and returns the first number of each of keys (0 when absent).
func statusFields(path string, keys ...string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !slices.Contains(keys, k) {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		out[k] = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// contextSwitches sums voluntary and involuntary context switches over
// every live thread of pid (/proc/PID/status counts the main thread only).
// Threads that exited are not counted.
func contextSwitches(pid int) (int64, error) {
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	if err != nil {
		return 0, err
	}
	if len(tasks) == 0 {
		return 0, fmt.Errorf("pid %d has no threads: did it exit?", pid)
	}
	var n int64
	for _, t := range tasks {
		m, err := statusFields(t, "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
		if err != nil {
			continue // thread exited meanwhile
		}
		n += m["voluntary_ctxt_switches"] + m["nonvoluntary_ctxt_switches"]
	}
	return n, nil
}

// memInfo is a process's memory and threads.
type memInfo struct {
	rssKiB, pssKiB int64
	threads        int64
}

func readMem(pid int) (memInfo, error) {
	p := "/proc/" + strconv.Itoa(pid)
	st, err := statusFields(p+"/status", "VmRSS", "Threads")
	if err != nil {
		return memInfo{}, err
	}
	sm, err := statusFields(p+"/smaps_rollup", "Pss")
	if err != nil {
		return memInfo{}, err
	}
	return memInfo{rssKiB: st["VmRSS"], pssKiB: sm["Pss"], threads: st["Threads"]}, nil
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// median returns the median of xs (the mean of the two middle values for
// an even count); 0 for none.
func median[T time.Duration | float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// fmtDur prints d with three significant digits in µs, ms or s.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + " ms"
	default:
		return sig3(d.Seconds()) + " s"
	}
}

// sig3 prints x with three significant digits, without an exponent.
func sig3(x float64) string {
	switch ax := math.Abs(x); {
	case ax >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case ax >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

// mib prints a size in KiB as MiB.
func mib(kib int64) string { return sig3(float64(kib)/1024) + " MiB" }

// timed runs f and returns how long it took.
func timed(f func() error) (time.Duration, error) {
	t := time.Now()
	err := f()
	return time.Since(t), err
}

// spread summarises ds for a progress line: count, min, p50, p90, p99,
// max.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("%d samples: min %s, p50 %s, p90 %s, p99 %s, max %s", len(ds),
		fmtDur(slices.Min(ds)), fmtDur(percentile(ds, 50)), fmtDur(percentile(ds, 90)),
		fmtDur(percentile(ds, 99)), fmtDur(slices.Max(ds)))
}
