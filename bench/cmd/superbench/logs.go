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

// writerScript is the shell line that writes n bytes of 80-byte lines to
// stdout, then redirect (e.g. "> FILE", "| cat > FILE").
func writerScript(n int64, redirect string) string {
	return fmt.Sprintf("/usr/bin/yes %s | /usr/bin/head -c %d %s", logLine(), n, redirect)
}

// runLogs has a single program write e.sizes.logBytes to stdout, captured
// to a rotated file, and measures the throughput from the supervisor's
// launch until the program has exited and every byte is on file, and the
// supervisor's CPU time per GiB (median of e.sizes.reps runs). The floors
// write the same bytes with the shell alone, straight into a file and
// through a pipe and cat, in the same folder.
func runLogs(ctx context.Context, e *env) ([]row, error) {
	n := e.sizes.logBytes
	size := sizeText(n)
	rate := row{scenario: "logs", metric: fmt.Sprintf("MiB/s, %s in 80-byte lines, median of %d", size, e.sizes.reps),
		values: map[string]string{}, floorIs: "yes | head -c N > file"}
	ratePipe := row{scenario: "logs", metric: rate.metric, values: map[string]string{}, floorIs: "yes | head -c N | cat > file"}
	cpu := row{scenario: "logs", metric: "supervisor CPU time per GiB", values: map[string]string{}}
	for _, def := range e.systems {
		var rates, cpus []float64
		for i := range e.sizes.reps {
			d, c, err := logsOnce(ctx, e, def)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", def.name, err)
			}
			r := float64(n) / (1 << 20) / d.Seconds()
			e.progress("logs: %s: %s in %s = %s MiB/s, %s CPU (run %d of %d)", def.name, size, fmtDur(d), sig3(r), fmtDur(c), i+1, e.sizes.reps)
			rates = append(rates, r)
			cpus = append(cpus, c.Seconds()/(float64(n)/(1<<30)))
		}
		rate.values[def.name] = sig3(medianFloat(rates))
		ratePipe.values[def.name] = rate.values[def.name]
		cpu.values[def.name] = sig3(medianFloat(cpus)) + " s"
	}
	dir, err := os.MkdirTemp("/tmp", "sbl-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "floor.log")
	for _, f := range []struct {
		r        *row
		redirect string
	}{
		{&rate, "> " + file},
		{&ratePipe, "| /bin/cat > " + file},
	} {
		var rates []float64
		for range e.sizes.reps {
			d, err := timed(func() error {
				out, err := exec.CommandContext(ctx, "/bin/sh", "-c", writerScript(n, f.redirect)).CombinedOutput()
				if err != nil {
					return fmt.Errorf("floor %q: %w: %s", f.redirect, err, out)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			if fi, err := os.Stat(file); err != nil || fi.Size() != n {
				return nil, fmt.Errorf("floor %q: wrote %v bytes (%v); want %d", f.redirect, sizeOf(fi), err, n)
			}
			os.Remove(file)
			rates = append(rates, float64(n)/(1<<20)/d.Seconds())
		}
		f.r.floor = sig3(medianFloat(rates))
	}
	return []row{rate, ratePipe, cpu}, nil
}

func logsOnce(ctx context.Context, e *env, def systemDef) (time.Duration, time.Duration, error) {
	n := e.sizes.logBytes
	w := workload{programs: []program{{
		name:        "log",
		argv:        []string{"/bin/sh", "-c", writerScript(n, "")},
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
	err := poll(wctx, apiPoll, func() (bool, error) {
		if state != "exited" {
			insts, err := sys.Status(wctx)
			if err != nil {
				return false, nil // not listening yet
			}
			if len(insts) == 1 {
				state = insts[0].state
				if state == "fatal" || insts[0].restarts > 0 {
					return false, fmt.Errorf("the writer is %s after %d restarts: %s", state, insts[0].restarts, insts[0].message)
				}
			}
		}
		var err error
		files, err = sys.LogFiles("log")
		if err != nil {
			return false, err
		}
		total = 0
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				total += fi.Size()
			}
		}
		return state == "exited" && total >= n, nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("writer %s, %d of %d bytes on file: %w", state, total, n, err)
	}
	d := time.Since(t0)
	st, err := readStat(sys.Pid())
	if err != nil {
		return 0, 0, err
	}
	// head -c cuts the last line short; a supervisor may end it with '\n'.
	if total > n+1 {
		e.warn("logs: %s: %d bytes on file for %d written", def.name, total, n)
	}
	if err := checkRotation(files, n, e.sizes.logMaxSize); err != nil {
		e.warn("logs: %s: %v", def.name, err)
	}
	return d, st.cpu(), sys.Stop(ctx)
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
