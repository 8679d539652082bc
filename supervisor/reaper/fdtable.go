package reaper

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// A fork copies the forking thread's descriptor table and the child's
// exec then closes every close-on-exec entry of the copy again, so each
// fork costs time in proportion to the descriptors superd holds: two pipe
// ends per running child. Starting N children that way is O(N²): at 500
// programs, close-on-exec alone took about a tenth of a start's CPU.
//
// So each spawner thread forks from a descriptor table of its own
// (unshare CLONE_FILES), which holds almost nothing: before each fork it
// takes a copy of just the child's descriptors from superd's table with
// pidfd_getfd(2) on superd's own pidfd, and closes them after the fork.
// Where that cannot work (a kernel before 5.6, a seccomp profile refusing
// pidfd_open or pidfd_getfd), the thread keeps sharing superd's table and
// forks from it as before.
//
// This relies on the Go runtime never running another goroutine on a
// locked thread, and never cloning a new thread from one: newm hands
// thread creation to its template thread when the current M is locked
// (runtime/proc.go), so no thread but a spawner's ever gets its table.
// On a spawner thread itself only the runtime's poller descriptors are
// used by code other than the spawner's own (netpollBreak may run there),
// and those stay open in its table.

// fdTable is the descriptor table a spawner thread forks from.
type fdTable struct {
	// self is superd's pidfd in the spawner's private table; -1 when the
	// table is shared with the rest of superd.
	self int
}

// private reports whether t is the spawner's own table.
func (t fdTable) private() bool { return t.self >= 0 }

// sharedTable is the fallback: the spawner forks from superd's table.
var sharedTable = fdTable{self: -1}

// errSharedByChoice is why a Reaper told to share its table does.
var errSharedByChoice = errors.New("told to share the table")

// privateTable gives the calling thread, which must be locked to its
// goroutine and must never run code that uses superd's descriptors, a
// private descriptor table, and returns it. The runtime's poller must be
// set up before (initPoller): the thread keeps the poller's descriptors,
// which the runtime may use from any thread, and closes every other one
// it inherited above stderr, so no listening socket or file of superd's
// stays open through it after superd closes its own copy. It fails, with
// nothing changed and sharedTable returned, when pidfd_getfd, unshare or
// /proc is unavailable. Once split, the table is private whatever happens:
// an error then says that closing the inherited copies failed, which
// leaves them open.
//
// shared is superd's pidfd in the shared table, where the split leaves a
// copy: the caller closes it from a thread that shares superd's table
// (-1 when there is none to close).
func privateTable() (t fdTable, shared int, err error) {
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return sharedTable, -1, fmt.Errorf("pidfd_open(self): %w", err)
	}
	// pidfd_getfd on the process's own pidfd reads the table of its
	// leader thread, which is superd's shared one.
	probe, err := unix.PidfdGetfd(self, self, 0)
	if err == nil {
		unix.Close(probe)
		err = unix.Access("/proc/thread-self/fd", unix.R_OK)
	}
	if err == nil {
		err = unix.Unshare(unix.CLONE_FILES)
	}
	if err != nil {
		unix.Close(self)
		return sharedTable, -1, fmt.Errorf("fork from a private descriptor table: %w", err)
	}
	// From here on the thread has its own table, holding self too.
	return fdTable{self: self}, self, closeInherited(self)
}

// closeInherited closes every descriptor above stderr in the calling
// thread's table except keep and the runtime poller's epoll and eventfd.
func closeInherited(keep int) error {
	dir, err := unix.Open("/proc/thread-self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("list the spawner's descriptors: %w", err)
	}
	defer unix.Close(dir)
	var fds []int
	buf := make([]byte, 4096)
	for {
		n, err := unix.ReadDirent(dir, buf)
		if err != nil {
			return fmt.Errorf("list the spawner's descriptors: %w", err)
		}
		if n == 0 {
			break
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil && fd > 2 && fd != dir && fd != keep {
				fds = append(fds, fd)
			}
		}
	}
	for _, fd := range fds {
		target, err := os.Readlink("/proc/thread-self/fd/" + strconv.Itoa(fd))
		if err == nil && (target == "anon_inode:[eventpoll]" || target == "anon_inode:[eventfd]") {
			continue
		}
		unix.Close(fd)
	}
	return nil
}

// initPoller makes sure the runtime's poller exists (its first pollable
// file sets it up) before the spawner's table is split off, so that the
// spawner's copy holds the poller's descriptors.
func initPoller() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("set up the poller: %w", err)
	}
	r.Close()
	w.Close()
	return nil
}

// take returns descriptors in t for fds, descriptors of superd's table,
// and a function that closes them again. In a shared table they are fds
// themselves. Entries of ^uintptr(0) become null, a descriptor in t (or
// stay ^uintptr(0), closed in the child, when null is -1); a descriptor
// named twice is taken once.
func (t fdTable) take(fds []uintptr, null int) ([]uintptr, func(), error) {
	local := make([]uintptr, len(fds))
	var taken []int
	release := func() {
		for _, fd := range taken {
			unix.Close(fd)
		}
	}
next:
	for i, fd := range fds {
		switch {
		case fd == ^uintptr(0):
			local[i] = uintptr(null) // -1 is ^uintptr(0)
			continue
		case !t.private():
			local[i] = fd
			continue
		}
		for j := range i {
			if fds[j] == fd {
				local[i] = local[j]
				continue next
			}
		}
		l, err := unix.PidfdGetfd(t.self, int(fd), 0)
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("take descriptor %d for the child: %w", fd, err)
		}
		taken = append(taken, l)
		local[i] = uintptr(l)
	}
	return local, release, nil
}
