package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// runFloors measures the machine itself, with no supervisor: how many
// fork+execs of /bin/true a Go loop does per second, the throughput of a
// pipe between two dd, and dd's write throughput into the page cache of
// /tmp; median of e.sizes.rounds runs each. They bound what any supervisor
// can do here: start (fork+exec), log capture (a pipe, then a file).
func runFloors(ctx context.Context, e *env) ([]row, error) {
	fork := newRow("floor.fork", "floors", fmt.Sprintf("fork+exec+wait of /bin/true per second, %d in a row, median of %d", e.sizes.floorForks, e.sizes.rounds))
	fork.floorIs = "Go loop: ForkExec, wait4"
	pipe := newRow("floor.pipe", "floors", fmt.Sprintf("pipe MiB/s, %s, median of %d", sizeText(e.sizes.floorPipe), e.sizes.rounds))
	pipe.floorIs = "dd if=/dev/zero bs=64k | dd of=/dev/null bs=64k"
	write := newRow("floor.write", "floors", fmt.Sprintf("page-cache write MiB/s, %s, median of %d", sizeText(e.sizes.floorWrite), e.sizes.rounds))
	write.floorIs = "dd if=/dev/zero of=/tmp/FILE bs=64k"
	var forks, pipes, writes []float64
	for range e.sizes.rounds {
		f, err := forkRate(e, e.sizes.floorForks)
		if err != nil {
			return nil, err
		}
		forks = append(forks, f)
		blocks := e.sizes.floorPipe / (64 << 10)
		d, err := timed(func() error {
			return shell(ctx, fmt.Sprintf("dd if=/dev/zero bs=64k count=%d status=none | dd of=/dev/null bs=64k status=none", blocks))
		})
		if err != nil {
			return nil, err
		}
		pipes = append(pipes, float64(e.sizes.floorPipe)/(1<<20)/d.Seconds())
		w, err := writeRate(ctx, e.sizes.floorWrite)
		if err != nil {
			return nil, err
		}
		writes = append(writes, w)
	}
	e.progress("floors: %.0f fork+exec/s, pipe %.0f MiB/s, page-cache write %.0f MiB/s", median(forks), median(pipes), median(writes))
	fork.floor = numCell(fmt.Sprintf("%.0f/s", median(forks)), median(forks))
	pipe.floor = numCell(sig3(median(pipes)), median(pipes))
	write.floor = numCell(sig3(median(writes)), median(writes))
	return []row{fork, pipe, write}, nil
}

// forkRate ForkExecs /bin/true n times in a row, waiting for each, on a
// locked thread, and returns the rate per second.
func forkRate(e *env, n int) (float64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	attr, closeNull := floorAttr(os.Environ())
	defer closeNull()
	argv := []string{"/bin/true"}
	t0 := time.Now()
	for range n {
		pid, err := syscall.ForkExec(argv[0], argv, attr)
		if err != nil {
			return 0, fmt.Errorf("fork/exec /bin/true: %w", err)
		}
		e.procs.add(pid, procKind{waited: true})
		err = waitChild(pid)
		e.procs.forget(pid)
		if err != nil {
			return 0, fmt.Errorf("wait4 %d: %w", pid, err)
		}
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

// writeRate times dd writing n bytes to a new file in /tmp, without
// fsync (the data stays in the page cache), and returns MiB/s.
func writeRate(ctx context.Context, n int64) (float64, error) {
	dir, err := os.MkdirTemp("/tmp", "sbm-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "write")
	d, err := timed(func() error {
		return shell(ctx, fmt.Sprintf("dd if=/dev/zero of=%s bs=64k count=%d status=none", file, n/(64<<10)))
	})
	if err != nil {
		return 0, err
	}
	return float64(n) / (1 << 20) / d.Seconds(), nil
}

// shell runs a /bin/sh command line; a failure carries its output.
func shell(ctx context.Context, line string) error {
	out, err := exec.CommandContext(ctx, "/bin/sh", "-c", line).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", line, err, out)
	}
	return nil
}
