package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reapDeadline bounds how long cleanup waits for a SIGKILLed process.
const reapDeadline = 5 * time.Second

// procs remembers every process superbench started itself, so that cleanup
// can kill them all by pid whatever happened. It is safe for concurrent use.
//
// A supervisor is a child of superbench started with Setpgid (so its group
// is its pid) and Pdeathsig; its programs die with it (Pdeathsig, or the
// sweep below), and their own children, reparented to superbench, which is
// a subreaper, are found by sweepOrphans.
type procs struct {
	mu sync.Mutex // guards the field below
	// live maps a pid to how it is cleaned up.
	live map[int]procKind
}

// procKind says how a remembered process is killed and who reaps it.
type procKind struct {
	group  bool // SIGKILL the process group whose id is the pid
	waited bool // an exec.Cmd (or other owner) reaps it; cleanup must not
}

func newProcs() *procs { return &procs{live: map[int]procKind{}} }

// add remembers pid until forget.
func (p *procs) add(pid int, k procKind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live[pid] = k
}

// forget drops pid: it was reaped, and its number may be reused.
func (p *procs) forget(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.live, pid)
}

// owned reports whether pid is remembered and reaped by someone else.
func (p *procs) owned(pid int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live[pid].waited
}

// killAll sends SIGKILL to every remembered process (or its group).
func (p *procs) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pid, k := range p.live {
		if k.group {
			_ = unix.Kill(-pid, unix.SIGKILL)
		}
		_ = unix.Kill(pid, unix.SIGKILL)
	}
}

// cleanup kills every remembered process and every orphan, and reaps the
// ones nobody else reaps. It returns an error naming what was still alive,
// which is a harness bug when the scenarios all ended normally.
func (p *procs) cleanup() error {
	p.mu.Lock()
	var left []string
	for pid := range p.live {
		left = append(left, strconv.Itoa(pid))
	}
	p.mu.Unlock()
	p.killAll()
	n, err := p.sweepOrphans()
	if err != nil {
		return err
	}
	if len(left) > 0 || n > 0 {
		return fmt.Errorf("cleanup killed %d remembered processes (%s) and %d orphans", len(left), strings.Join(left, " "), n)
	}
	return nil
}

// sweepOrphans kills and reaps every child of superbench that no owner
// waits for: orphans reparented to it, processes of a floor measurement
// left behind. It repeats until a pass finds none, since each reaped orphan
// may hand its own children over. It returns how many it reaped.
func (p *procs) sweepOrphans() (int, error) {
	total := 0
	deadline := time.Now().Add(reapDeadline)
	for {
		kids, err := childrenOf(os.Getpid())
		if err != nil {
			return total, err
		}
		var orphans []int
		for _, pid := range kids {
			if !p.owned(pid) {
				orphans = append(orphans, pid)
			}
		}
		if len(orphans) == 0 {
			return total, nil
		}
		for _, pid := range orphans {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		for _, pid := range orphans {
			if err := reap(pid, deadline); err != nil {
				return total, err
			}
			p.forget(pid)
			total++
		}
	}
}

// reap waits for pid, a SIGKILLed child, until deadline.
func reap(pid int, deadline time.Time) error {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ECHILD) || got == pid {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reap %d: %w", pid, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d did not die within %v of SIGKILL", pid, reapDeadline)
		}
		waitBriefly()
	}
}

// waitBriefly blocks for a millisecond, for the few loops that poll the
// kernel for something no event announces.
func waitBriefly() {
	t := time.NewTimer(time.Millisecond)
	<-t.C
}

// childrenOf lists the pids whose parent is ppid, from /proc.
func childrenOf(ppid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	var kids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		if st.ppid == ppid {
			kids = append(kids, pid)
		}
	}
	return kids, nil
}

// killAndReap ends a floor measurement: it SIGKILLs each pid (a child of
// superbench) and reaps it.
func killAndReap(p *procs, pids []int) error {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(reapDeadline)
	for _, pid := range pids {
		if err := reap(pid, deadline); err != nil {
			return err
		}
		p.forget(pid)
	}
	return nil
}

// waitOrphans waits, reaping them as they exit, until no child of
// superbench is left but those an owner waits for: after a supervisor
// exited, the processes it left behind (handed to superbench, a subreaper)
// must end by themselves — s6-supervise and runsv finish bringing their
// service down after s6-svscan and runsvdir are gone.
func (p *procs) waitOrphans(ctx context.Context) error {
	for {
		kids, err := childrenOf(os.Getpid())
		if err != nil {
			return err
		}
		alive := 0
		for _, pid := range kids {
			if p.owned(pid) {
				continue
			}
			var ws unix.WaitStatus
			got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			switch {
			case errors.Is(err, unix.ECHILD) || got == pid:
				p.forget(pid)
			case err != nil && !errors.Is(err, unix.EINTR):
				return fmt.Errorf("reap %d: %w", pid, err)
			default:
				alive++
			}
		}
		if alive == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%d processes left behind still alive: %w", alive, context.Cause(ctx))
		}
		waitBriefly()
	}
}

// waitChild waits for the child pid to exit and reaps it, through EINTR.
func waitChild(pid int) error {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
