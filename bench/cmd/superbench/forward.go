package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// forwardSignal is the signal forward sends: one that every init passes on
// and that none of them acts on itself.
const forwardSignal = syscall.SIGUSR1

// runForward measures how long a single-command init takes to pass a
// signal on to its child: `superd exec -- sigecho` beside `tini -s --
// sigecho`, and as the floor sigecho alone, signalled straight. The child
// (bench/sigecho.c) blocks SIGUSR1 and takes it with sigwaitinfo, then
// writes its CLOCK_MONOTONIC to a pipe the harness reads; latency = that
// stamp − the clock read right before kill(2). The three take turns, signal
// after signal, each waiting for the previous stamp; e.sizes.forwards
// signals each over e.sizes.restartRuns rounds, fresh processes each round.
func runForward(ctx context.Context, e *env) ([]row, error) {
	sigecho := filepath.Join(e.bin, "sigecho")
	kinds := []struct {
		column string // "" for the floor
		argv   []string
	}{
		{"superd", []string{filepath.Join(e.bin, "superd"), "exec", "--", sigecho}},
		{"tini", []string{"tini", "-s", "--", sigecho}},
		{"", []string{sigecho}},
	}
	if _, err := exec.LookPath("tini"); err != nil {
		e.progress("forward: skipping tini: %v", err)
		kinds = append(kinds[:1], kinds[2:]...)
	}
	n, runs := e.sizes.forwards, e.sizes.restartRuns
	what := fmt.Sprintf("%v to superd exec / tini -s → the child has it", unix.SignalName(forwardSignal))
	p50 := newRow("forward.p50", "forward", fmt.Sprintf("%s, p50 of %d", what, n))
	p99 := newRow("forward.p99", "forward", fmt.Sprintf("%s, p99 of %d", what, n))
	p50.floorIs = "kill(2) straight to the child"
	p99.floorIs = p50.floorIs
	lat := map[string][]time.Duration{}
	for round := range runs {
		k := share(n, runs, round)
		var ts []*echoTarget
		cleanup := func() {
			for _, t := range ts {
				t.close()
			}
		}
		for _, kd := range kinds {
			t, err := startEcho(ctx, e, kd.column, kd.argv)
			if err != nil {
				cleanup()
				return nil, err
			}
			ts = append(ts, t)
		}
		e.progress("forward: %d signals each to %d processes (round %d of %d)", k, len(ts), round+1, runs)
		for range k {
			for _, t := range ts {
				d, err := t.signal(ctx)
				if err != nil {
					cleanup()
					return nil, fmt.Errorf("%s: %w", t.name(), err)
				}
				lat[t.column] = append(lat[t.column], d)
			}
		}
		for _, t := range ts {
			if err := t.stop(ctx); err != nil {
				cleanup()
				return nil, fmt.Errorf("%s: %w", t.name(), err)
			}
		}
		cleanup()
	}
	for col, l := range lat {
		if col == "" {
			e.progress("forward: floor: %s", spread(l))
		} else {
			e.progress("forward: %s: %s", col, spread(l))
		}
		c50, c99 := durCell(percentile(l, 50)), durCell(percentile(l, 99))
		if col == "" {
			p50.floor, p99.floor = c50, c99
			continue
		}
		p50.values[col], p99.values[col] = c50, c99
	}
	return []row{p50, p99}, nil
}

// echoTarget is one running sigecho, under an init or alone, its stdout a
// pipe to the harness.
type echoTarget struct {
	column string // superd, tini; "" for sigecho alone (the floor)
	d      *daemon
	r      *os.File // the read end of sigecho's stdout
	br     *bufio.Reader
	child  int // sigecho's pid, from its first line
}

func (t *echoTarget) name() string {
	if t.column == "" {
		return "floor"
	}
	return t.column
}

// startEcho launches argv (an init running sigecho, or sigecho) with its
// stdout a pipe, and waits for sigecho's first line: it is set up.
func startEcho(ctx context.Context, e *env, column string, argv []string) (*echoTarget, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	t := &echoTarget{column: column, r: r, br: bufio.NewReader(r)}
	t.d = &daemon{e: e, name: filepath.Base(argv[0]), stdout: w, okExits: []int{128 + int(syscall.SIGTERM)}}
	if err := t.d.makeDir("sbi-"); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	err = t.d.start(argv)
	w.Close() // the child holds it now
	if err != nil {
		t.close()
		return nil, err
	}
	first, err := t.next(ctx)
	if err != nil {
		t.close()
		return nil, fmt.Errorf("%s: sigecho did not start: %w; its output ends: %s", t.name(), err, t.d.logTail())
	}
	t.child = first.pid
	if column == "" && t.child != t.d.Pid() {
		t.close()
		return nil, fmt.Errorf("floor: sigecho says pid %d, started as %d", t.child, t.d.Pid())
	}
	return t, nil
}

// next reads one line of sigecho, waiting at most stampWait.
func (t *echoTarget) next(ctx context.Context) (stamp, error) {
	if err := t.r.SetReadDeadline(time.Now().Add(stampWait)); err != nil {
		return stamp{}, err
	}
	// A cancelled ctx ends the read at once.
	stop := context.AfterFunc(ctx, func() { _ = t.r.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	line, err := t.br.ReadSlice('\n')
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			return stamp{}, cerr
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return stamp{}, fmt.Errorf("no line from sigecho within %v: %w", stampWait, err)
		}
		return stamp{}, fmt.Errorf("read sigecho's stdout: %w", err)
	}
	return parseStamp(line[:len(line)-1])
}

// signal reads the clock, sends forwardSignal to the init (or to sigecho
// itself for the floor) and returns the time until sigecho stamped it.
func (t *echoTarget) signal(ctx context.Context) (time.Duration, error) {
	if err := t.d.gone(); err != nil {
		return 0, err
	}
	t0 := monotonicNS()
	if err := unix.Kill(t.d.Pid(), forwardSignal); err != nil {
		return 0, fmt.Errorf("kill %d: %w", t.d.Pid(), err)
	}
	s, err := t.next(ctx)
	if err != nil {
		return 0, err
	}
	if s.pid != t.child {
		return 0, fmt.Errorf("a line from pid %d, want sigecho's %d", s.pid, t.child)
	}
	return time.Duration(s.ns - t0), nil
}

// stop ends the target: SIGTERM to the init, which passes it on, sigecho
// dies of it, and the init must exit 143 (128 + SIGTERM) having left
// nothing behind. sigecho alone is killed.
func (t *echoTarget) stop(ctx context.Context) error {
	if t.column == "" {
		t.d.kill()
		return nil
	}
	if err := t.d.signal(syscall.SIGTERM); err != nil {
		return err
	}
	return t.d.waitStopped(ctx)
}

// close kills whatever is left and closes the pipe; it may follow stop.
func (t *echoTarget) close() {
	t.d.kill()
	t.r.Close()
}
