package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runNotify measures the time from a program's readiness notification to
// the exec of the program that depends on it. Program a (bench/notify.c)
// is `type = "notify"`; program b, the stamp helper, has `depends_on =
// ["a"]`. Once a runs and superd has b waiting for it, the harness sends a
// SIGUSR1, on which a reads CLOCK_MONOTONIC and sends READY=1 to its
// NOTIFY_SOCKET; latency = b's exec stamp − that time.
//
// Each of e.sizes.notifyN iterations runs a fresh superd: its first start
// (b's first spawn, which also creates b's log file), then
// e.sizes.notifyRestarts `restart all` through the API (steady state: a
// and b are stopped, a is spawned again, b waits for it again). s6, where
// installed, does the same first start with s6's own readiness: a's
// notification-fd, and b's run script waiting in `s6-svwait -U` (s6 has
// no dependencies without s6-rc, and restarts are throttled to one a
// second). supervisord and runit have no readiness notification. The
// floor is a Go loop that receives the datagram on an abstract socket and
// ForkExecs b.
func runNotify(ctx context.Context, e *env) ([]row, error) {
	n, k := e.sizes.notifyN, e.sizes.notifyRestarts
	first := newRow("notify.first.p50", "notify", fmt.Sprintf("READY=1 → dependent's exec, first start, p50 of %d", n))
	first99 := newRow("notify.first.p99", "notify", fmt.Sprintf("READY=1 → dependent's exec, first start, p99 of %d", n))
	again := newRow("notify.again.p50", "notify", fmt.Sprintf("READY=1 → dependent's exec, after restart all, p50 of %d", n*k))
	again99 := newRow("notify.again.p99", "notify", fmt.Sprintf("READY=1 → dependent's exec, after restart all, p99 of %d", n*k))
	rows := []row{first, first99}
	if k > 0 {
		rows = append(rows, again, again99)
	}
	for i := range rows {
		rows[i].floorIs = "Go: recv READY=1, ForkExec the helper"
	}
	withS6 := false
	for _, d := range e.systems {
		if d.name == "s6" {
			if _, err := exec.LookPath("s6-svwait"); err != nil {
				e.progress("notify: skipping s6: %v", err)
				break
			}
			withS6 = true
		}
	}
	var sdFirst, sdAgain, s6First, floor []time.Duration
	for i := range n {
		if i%10 == 0 {
			e.progress("notify: iteration %d of %d (s6 too: %v)", i+1, n, withS6)
		}
		f, a, err := notifySuperd(ctx, e, k)
		if err != nil {
			return nil, fmt.Errorf("superd: %w", err)
		}
		sdFirst, sdAgain = append(sdFirst, f), append(sdAgain, a...)
		if withS6 {
			d, err := notifyS6(ctx, e)
			if err != nil {
				return nil, fmt.Errorf("s6: %w", err)
			}
			s6First = append(s6First, d)
		}
		d, err := notifyFloor(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		floor = append(floor, d)
	}
	e.progress("notify: superd, first start: %s", spread(sdFirst))
	e.progress("notify: superd, after restart all: %s", spread(sdAgain))
	if withS6 {
		e.progress("notify: s6, first start: %s", spread(s6First))
	}
	e.progress("notify: floor: %s", spread(floor))
	for i, p := range []float64{50, 99} {
		rows[i].values["superd"] = durCell(percentile(sdFirst, p))
		rows[i].floor = durCell(percentile(floor, p))
		if withS6 {
			rows[i].values["s6"] = durCell(percentile(s6First, p))
		}
		if k > 0 {
			rows[2+i].values["superd"] = durCell(percentile(sdAgain, p))
			rows[2+i].floor = rows[i].floor
		}
	}
	return rows, nil
}

// notifyFiles are the helpers' files of one measurement, in a fresh
// folder dir under /tmp: a's start and ready stamps, b's exec stamps.
type notifyFiles struct {
	dir             string
	start, ready, b *stampReader
}

// newNotifyFiles makes the folder; close removes it.
func newNotifyFiles() (notifyFiles, error) {
	dir, err := os.MkdirTemp("/tmp", "sbn-")
	if err != nil {
		return notifyFiles{}, err
	}
	return notifyFiles{
		dir:   dir,
		start: &stampReader{path: filepath.Join(dir, "a-start")},
		ready: &stampReader{path: filepath.Join(dir, "a-ready")},
		b:     &stampReader{path: filepath.Join(dir, "b")},
	}, nil
}

func (f notifyFiles) close() {
	f.start.close()
	f.ready.close()
	f.b.close()
	os.RemoveAll(f.dir)
}

// workload is a (notify, depended on) and b (the stamp helper, depending
// on a).
func (f notifyFiles) workload(e *env) workload {
	return workload{programs: []program{
		{name: "a", argv: []string{filepath.Join(e.bin, "notify"), f.start.path, f.ready.path}, notify: true},
		{name: "b", argv: []string{filepath.Join(e.bin, "stamp"), f.b.path}, dependsOn: []string{"a"}},
	}}
}

// measure has a (started as pid aPid, and everything set for b to wait)
// send READY=1, and returns the time from then to b's exec. b must not
// have stamped before.
func (f notifyFiles) measure(ctx context.Context, e *env, who string, aPid int) (time.Duration, error) {
	if s, ok, err := f.b.try(); err != nil {
		return 0, err
	} else if ok {
		e.warn("notify: %s: b (pid %d) was exec'd before a said READY=1", who, s.pid)
	}
	if err := unix.Kill(aPid, syscall.SIGUSR1); err != nil {
		return 0, fmt.Errorf("kill %d: %w", aPid, err)
	}
	r, err := f.ready.next(ctx)
	if err != nil {
		return 0, fmt.Errorf("a's READY=1: %w", err)
	}
	if r.pid != aPid {
		return 0, fmt.Errorf("a's ready stamp from pid %d, want %d", r.pid, aPid)
	}
	b, err := f.b.next(ctx)
	if err != nil {
		return 0, fmt.Errorf("b's exec after a's READY=1: %w", err)
	}
	return time.Duration(b.ns - r.ns), nil
}

// notifySuperd runs a fresh superd with a and b: b's first start, then
// restarts of both; it returns the latencies.
func notifySuperd(ctx context.Context, e *env, restarts int) (first time.Duration, again []time.Duration, err error) {
	f, err := newNotifyFiles()
	if err != nil {
		return 0, nil, err
	}
	defer f.close()
	s := newSuperd(e)
	defer s.Kill()
	if err := s.Configure(f.workload(e)); err != nil {
		return 0, nil, err
	}
	if err := s.Start(ctx); err != nil {
		return 0, nil, err
	}
	once := func() (time.Duration, error) {
		a, err := f.start.next(ctx)
		if err != nil {
			return 0, fmt.Errorf("a's start: %w", err)
		}
		if err := waitNotifyStates(ctx, s, a.pid); err != nil {
			return 0, err
		}
		return f.measure(ctx, e, "superd", a.pid)
	}
	if first, err = once(); err != nil {
		return 0, nil, err
	}
	for range restarts {
		if _, err := s.client.Restart(ctx, "all", false, 0); err != nil {
			return 0, nil, fmt.Errorf("restart all: %w", err)
		}
		d, err := once()
		if err != nil {
			return 0, nil, fmt.Errorf("after restart all: %w", err)
		}
		again = append(again, d)
	}
	return first, again, s.Stop(ctx)
}

// waitNotifyStates polls superd's API until a is starting as aPid (not
// yet ready) and b is starting without a process (waiting for a): what
// READY=1 should find.
func waitNotifyStates(ctx context.Context, s *superdSys, aPid int) error {
	ctx, cancel := context.WithTimeout(ctx, stampWait)
	defer cancel()
	var last []instance
	err := poll(ctx, time.Millisecond, func() (bool, error) {
		if err := s.gone(); err != nil {
			return false, err
		}
		insts, err := s.Status(ctx)
		if err != nil {
			return false, err
		}
		last = insts
		ok := 0
		for _, in := range insts {
			switch {
			case in.name == "a" && in.state == "starting" && in.pid == aPid:
				ok++
			case in.name == "b" && in.state == "starting" && in.pid == 0:
				ok++
			}
		}
		return ok == 2, nil
	})
	if err != nil {
		var got []string
		for _, in := range last {
			got = append(got, fmt.Sprintf("%s %s pid %d %q", in.name, in.state, in.pid, in.message))
		}
		return fmt.Errorf("want a starting as pid %d and b waiting, have %s: %w", aPid, strings.Join(got, "; "), err)
	}
	return nil
}

// notifyS6 runs a fresh s6-svscan with a and b and returns b's latency:
// a's run script exports NOTIFY_FD=3 (notification-fd), b's waits in
// s6-svwait -U until a is up and ready.
func notifyS6(ctx context.Context, e *env) (time.Duration, error) {
	f, err := newNotifyFiles()
	if err != nil {
		return 0, err
	}
	defer f.close()
	s := newS6(e)
	defer s.Kill()
	if err := s.Configure(f.workload(e)); err != nil {
		return 0, err
	}
	if err := s.Start(ctx); err != nil {
		return 0, err
	}
	a, err := f.start.next(ctx)
	if err != nil {
		return 0, fmt.Errorf("a's start: %w", err)
	}
	// s6-svwait has subscribed once its s6-ftrigrd made a fifo in a's
	// event folder.
	events := filepath.Join(s.scan, "a", "event")
	wctx, cancel := context.WithTimeout(ctx, stampWait)
	defer cancel()
	if err := poll(wctx, time.Millisecond, func() (bool, error) {
		if err := s.gone(); err != nil {
			return false, err
		}
		ents, err := os.ReadDir(events)
		return err == nil && len(ents) > 0, nil
	}); err != nil {
		return 0, fmt.Errorf("b's s6-svwait never subscribed to %s: %w", events, err)
	}
	d, err := f.measure(ctx, e, "s6", a.pid)
	if err != nil {
		return 0, err
	}
	return d, s.Stop(ctx)
}

// notifyFloor is the least a supervisor can do: a Go loop that binds an
// abstract datagram socket, ForkExecs a with NOTIFY_SOCKET=@NAME, and on
// the datagram ForkExecs b. It runs on a locked thread, so that the
// children's Pdeathsig fires only when superbench dies.
func notifyFloor(ctx context.Context, e *env) (lat time.Duration, err error) {
	f, err := newNotifyFiles()
	if err != nil {
		return 0, err
	}
	defer f.close()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	name := "@superbench-" + filepath.Base(f.dir)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err != nil {
		return 0, fmt.Errorf("bind %s: %w", name, err)
	}
	tv := unix.NsecToTimeval(stampWait.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, fmt.Errorf("SO_RCVTIMEO: %w", err)
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "NOTIFY_FD=") {
			env = append(env, kv)
		}
	}
	attr, closeNull := floorAttr(append(env, "NOTIFY_SOCKET="+name))
	defer closeNull()
	w := f.workload(e).programs
	var pids []int
	defer func() {
		if kerr := killAndReap(e.procs, pids); kerr != nil && err == nil {
			err = kerr
		}
	}()
	aPid, err := syscall.ForkExec(w[0].argv[0], w[0].argv, attr)
	if err != nil {
		return 0, fmt.Errorf("fork/exec %s: %w", w[0].argv[0], err)
	}
	e.procs.add(aPid, procKind{})
	pids = append(pids, aPid)
	if _, err := f.start.next(ctx); err != nil {
		return 0, fmt.Errorf("a's start: %w", err)
	}
	if err := unix.Kill(aPid, syscall.SIGUSR1); err != nil {
		return 0, fmt.Errorf("kill %d: %w", aPid, err)
	}
	buf := make([]byte, 64)
	var n int
	for {
		n, _, err = unix.Recvfrom(fd, buf, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("recv on %s: %w", name, err)
	}
	if string(buf[:n]) != "READY=1" {
		return 0, fmt.Errorf("recv on %s: %q, want READY=1", name, buf[:n])
	}
	bPid, err := syscall.ForkExec(w[1].argv[0], w[1].argv, attr)
	if err != nil {
		return 0, fmt.Errorf("fork/exec %s: %w", w[1].argv[0], err)
	}
	e.procs.add(bPid, procKind{})
	pids = append(pids, bPid)
	r, err := f.ready.next(ctx)
	if err != nil {
		return 0, fmt.Errorf("a's READY=1: %w", err)
	}
	b, err := f.b.next(ctx)
	if err != nil {
		return 0, fmt.Errorf("b's exec: %w", err)
	}
	return time.Duration(b.ns - r.ns), nil
}
