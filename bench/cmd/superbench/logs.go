package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// logLine is the 79 characters that, with yes's newline, make each 80-byte
// line of the logs scenario.
func logLine() string { return strings.Repeat("superbench-log-line-", 4)[:79] }

// logKind is one output of the logs scenario.
type logKind struct {
	key   string // "lines" or "raw"
	what  string // for the metric
	lines bool   // 80-byte lines: rotation must not split one
	// size returns how many bytes the child writes, for e.sizes.logBytes.
	size func(n int64) int64
	// slack is how many of them may stay unwritten when the child is done:
	// s6-log and svlogd write a line only once it is ended (or at their
	// line limit), and never see the end of their input (s6-svscan and
	// runsv hold the pipe open), so raw bytes at the end stay buffered.
	slack int64
	// script returns the shell line that writes n bytes to stdout, then
	// redirect (e.g. "> FILE", "| cat > FILE").
	script func(n int64, redirect string) string
}

func logKinds() []logKind {
	return []logKind{
		// Whole lines only: a line-based logger keeps an unended last line.
		{key: "lines", what: "80-byte lines", lines: true, size: func(n int64) int64 { return n - n%80 }, script: func(n int64, redirect string) string {
			return fmt.Sprintf("/usr/bin/yes %s 2>/dev/null | /usr/bin/head -c %d %s", logLine(), n, redirect)
		}},
		{key: "raw", what: "raw zero bytes", size: func(n int64) int64 { return n }, slack: 64 << 10, script: func(n int64, redirect string) string {
			return fmt.Sprintf("/usr/bin/head -c %d /dev/zero %s", n, redirect)
		}},
	}
}

// runLogs has a single program write e.sizes.logBytes to stdout, in
// 80-byte lines and as raw zero bytes, captured to a rotated file, and
// measures the throughput from the supervisor's launch until every byte is
// on file and the program has exited, and the CPU time of the supervisor's
// processes (loggers included) per GiB; median of e.sizes.logRounds rounds
// (5 in a full run: its rounds spread the widest on a shared VM),
// the systems taking turns, each round starting with another one. The
// floors write the same bytes with the shell alone, straight into a file
// and through a pipe and cat, in the same folder, after the systems of
// each round; each system's throughput is also divided by that of
// `| cat` in the same round (the host's drift between rounds cancels out
// there). Every timed run waits for a quiet machine first (waitQuiet):
// the run before it leaves the kernel freeing its 512 MiB of page cache.
func runLogs(ctx context.Context, e *env) ([]row, error) {
	var rows []row
	for _, k := range logKinds() {
		n := k.size(e.sizes.logBytes)
		size := sizeText(n)
		rate := newRow("logs."+k.key+".rate", "logs", fmt.Sprintf("MiB/s, %s in %s, median of %d", size, k.what, e.sizes.logRounds))
		rate.floorIs = "child > file"
		pipe := newRow("logs."+k.key+".pipe", "logs", rate.metric)
		pipe.floorIs = "child | cat > file"
		cpu := newRow("logs."+k.key+".cpu", "logs", "supervisor CPU time per GiB, "+k.what)
		share := newRow("logsround."+k.key, "logs", fmt.Sprintf("%s: share of child | cat > file in the same round, median of %d (lowest–highest)", k.what, e.sizes.logRounds))
		share.noRatio = true
		rates, cpus := map[string][]float64{}, map[string][]float64{}
		var direct, piped []float64
		for round := range e.sizes.logRounds {
			for _, def := range e.inTurn(round) {
				e.waitQuiet(ctx, "logs: "+def.name)
				d, c, err := logsOnce(ctx, e, def, k)
				if err != nil {
					return nil, fmt.Errorf("%s, %s: %w", def.name, k.what, err)
				}
				r := float64(n) / (1 << 20) / d.Seconds()
				e.progress("logs: %s: %s of %s in %s = %s MiB/s, %s CPU (round %d of %d)", def.name, size, k.what, fmtDur(d), sig3(r), fmtDur(c), round+1, e.sizes.logRounds)
				rates[def.name] = append(rates[def.name], r)
				cpus[def.name] = append(cpus[def.name], c.Seconds()/(float64(n)/(1<<30)))
			}
			e.waitQuiet(ctx, "logs: floor")
			d1, err := logsFloor(ctx, k, n, "> ")
			if err != nil {
				return nil, err
			}
			e.waitQuiet(ctx, "logs: floor")
			d2, err := logsFloor(ctx, k, n, "| /bin/cat > ")
			if err != nil {
				return nil, err
			}
			direct = append(direct, float64(n)/(1<<20)/d1.Seconds())
			piped = append(piped, float64(n)/(1<<20)/d2.Seconds())
			e.progress("logs: floors: %s of %s, child > file %s MiB/s, child | cat > file %s MiB/s (round %d of %d)", size, k.what, sig3(direct[round]), sig3(piped[round]), round+1, e.sizes.logRounds)
		}
		for name, rs := range rates {
			m := median(rs)
			rate.values[name] = numCell(sig3(m), m)
			pipe.values[name] = rate.values[name]
			c := median(cpus[name])
			cpu.values[name] = numCell(sig3(c)+" s", c)
			share.values[name] = roundShares(rs, piped)
		}
		rate.floor = numCell(sig3(median(direct)), median(direct))
		pipe.floor = numCell(sig3(median(piped)), median(piped))
		rows = append(rows, rate, pipe, cpu, share)
	}
	return rows, nil
}

// roundShares divides each round's throughput by the floor's of the same
// round and returns their median in percent, with the lowest and highest:
// "88% (79–95%)".
func roundShares(rates, floors []float64) cell {
	return spreadCell(perRound(rates, floors), func(r float64) string { return fmt.Sprintf("%.0f", 100*r) }, "%")
}

// logsFloor times the shell writing n bytes of kind k with redirect (then
// a file name) in a fresh folder.
func logsFloor(ctx context.Context, k logKind, n int64, redirect string) (time.Duration, error) {
	dir, err := os.MkdirTemp("/tmp", "sbl-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "floor.log")
	d, err := timed(func() error {
		out, err := exec.CommandContext(ctx, "/bin/sh", "-c", k.script(n, redirect+file)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("floor %q: %w: %s", redirect, err, out)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() != n {
		return 0, fmt.Errorf("floor %q: wrote %v bytes (%v); want %d", redirect, sizeOf(fi), err, n)
	}
	return d, nil
}

// logsPollMax is the longest wait between two looks at a copy's progress.
const logsPollMax = 50 * time.Millisecond

// logsPollWait returns how long to wait before looking again at a copy
// that has put done of want bytes on file in elapsed: half the time the
// rest takes at the rate so far, between apiPoll and logsPollMax. So the
// harness looks about 20 times a second while the bytes flow, and every
// apiPoll near the end, which it cannot overshoot by more than apiPoll
// unless the copy speeds up to twice its rate so far.
func logsPollWait(done, want int64, elapsed time.Duration) time.Duration {
	if done <= 0 || elapsed <= 0 {
		return apiPoll
	}
	rest := time.Duration(float64(want-done) / float64(done) * float64(elapsed) / 2)
	return min(max(rest, apiPoll), logsPollMax)
}

// writerExited reads the logs writer's state from a status of the
// supervisor: done once it exited, an error if it failed or restarted,
// and not done, to be asked again, while it runs or is not listed yet.
func writerExited(insts []instance) (state string, done bool, err error) {
	if len(insts) != 1 {
		return "", false, nil
	}
	in := insts[0]
	if in.state == "fatal" || in.restarts > 0 {
		return in.state, false, fmt.Errorf("the writer is %s after %d restarts: %s", in.state, in.restarts, in.message)
	}
	return in.state, in.state == "exited", nil
}

func logsOnce(ctx context.Context, e *env, def systemDef, k logKind) (time.Duration, time.Duration, error) {
	n := k.size(e.sizes.logBytes)
	w := workload{programs: []program{{
		name:        "log",
		argv:        []string{"/bin/sh", "-c", k.script(n, "")},
		restart:     restartNever,
		stdoutFile:  true,
		logMaxSize:  e.sizes.logMaxSize,
		logMaxFiles: e.sizes.logMaxFiles,
	}}}
	sys := def.new(e)
	defer sys.Kill()
	if err := sys.Configure(w); err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	if err := sys.Start(ctx); err != nil {
		return 0, 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, e.sizes.waitDeadline)
	defer cancel()
	var state string
	var total int64
	var files []string
	// Bytes on file first (a stat per file): the supervisor is asked for
	// the program's state only once they are all there, so that the
	// polling costs it nothing while it copies. The looks are paced by
	// the copy's progress (logsPollWait): every 5 ms they cost the
	// harness 30–60 ms of CPU per run, taken from the pipeline on 2 CPUs
	// (the floors, timed by wait(2), pay nothing of the kind).
	err := pollPaced(wctx, func() (bool, time.Duration, error) {
		var err error
		files, err = sys.LogFiles("log")
		if err != nil {
			return false, 0, err
		}
		total = 0
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				total += fi.Size()
			}
		}
		if total < n-k.slack {
			return false, logsPollWait(total, n-k.slack, time.Since(t0)), nil
		}
		insts, err := sys.Status(wctx)
		if err != nil {
			return false, 0, err
		}
		var done bool
		state, done, err = writerExited(insts)
		return done, apiPoll, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("writer %s, %d of %d bytes on file: %w", state, total, n, err)
	}
	d := time.Since(t0)
	pids, err := sys.Procs()
	if err != nil {
		return 0, 0, err
	}
	var cpu time.Duration
	for _, pid := range pids {
		st, err := readStat(pid)
		if err != nil {
			return 0, 0, err
		}
		cpu += st.cpu()
	}
	if k.lines {
		if total != n {
			e.warn("logs: %s: %d bytes on file for %d written", def.name, total, n)
		}
		if err := checkRotation(files, n, e.sizes.logMaxSize); err != nil {
			e.warn("logs: %s: %v", def.name, err)
		}
	}
	return d, cpu, sys.Stop(ctx)
}

// checkRotation checks what SPEC §9 promises of rotated files, given that
// every line is lineLen bytes but the last, cut short by head -c: no line is
// split across files (every file but the current one holds whole lines, the
// current one whole lines and the short one) and no file holds more than
// maxSize bytes plus the rest of a line that was being written.
func checkRotation(files []string, n, maxSize int64) error {
	const lineLen = 80
	short := n % lineLen
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return err
		}
		size, current := fi.Size(), i == len(files)-1
		if size > maxSize+lineLen-1 {
			return fmt.Errorf("%s holds %d bytes, beyond log_max_size %d and a line", f, size, maxSize)
		}
		rem := size % lineLen
		if !current && rem != 0 || current && rem != short && rem != (short+1)%lineLen {
			return fmt.Errorf("%s holds %d bytes: a line is split across files (%d bytes over whole lines)", f, size, rem)
		}
	}
	return nil
}

// sizeText prints a byte count in GiB or MiB.
func sizeText(n int64) string {
	if n >= 1<<30 {
		return sig3(float64(n)/(1<<30)) + " GiB"
	}
	return sig3(float64(n)/(1<<20)) + " MiB"
}

func sizeOf(fi os.FileInfo) any {
	if fi == nil {
		return "no"
	}
	return fi.Size()
}
