package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// quietWindow is how long the machine is watched at a time, and
// quietIdle the share of it that must be idle, before a timed start.
const (
	quietWindow = 50 * time.Millisecond
	quietIdle   = 0.9
)

// waitQuiet returns once the CPUs were at least quietIdle idle over one
// quietWindow, or after max (then it says so in a progress line). A start
// measured while the kernel still frees the 500 processes of the system
// before (or while that system's daemons wind down) is slowed by it:
// without this wait the system measured right after another one paid for
// it, more or less at random.
func (e *env) waitQuiet(ctx context.Context, what string) {
	deadline := time.Now().Add(e.sizes.quietMax)
	prev, err := readCPUTimes()
	if err != nil {
		return // nothing to watch: measure as before
	}
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(quietWindow):
		}
		cur, err := readCPUTimes()
		if err != nil {
			return
		}
		if cur.idleSince(prev) >= quietIdle {
			return
		}
		prev = cur
	}
	e.progress("%s: the machine was still busy after %s; measuring anyway", what, fmtDur(e.sizes.quietMax))
}

// cpuTimes are the summed times of all CPUs from /proc/stat, in ticks.
type cpuTimes struct {
	idle, total uint64 // idle counts iowait too
}

// idleSince returns the idle share of the CPU time from prev to t, or 0
// when no time passed.
func (t cpuTimes) idleSince(prev cpuTimes) float64 {
	if t.total <= prev.total {
		return 0
	}
	return float64(t.idle-prev.idle) / float64(t.total-prev.total)
}

func readCPUTimes() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseCPULine(line)
}

// parseCPULine parses the first line of /proc/stat: "cpu" and the times of
// user, nice, system, idle, iowait, irq, softirq, steal... (guest times are
// already counted in user and nice, so they are left out).
func parseCPULine(line string) (cpuTimes, error) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var t cpuTimes
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat: %q: %w", line, err)
		}
		t.total += v
		if i == 3 || i == 4 { // idle, iowait
			t.idle += v
		}
	}
	return t, nil
}
