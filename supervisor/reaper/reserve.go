package reaper

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ReserveFds makes room in superd's descriptor table for n descriptors,
// so that opening them later does not have to grow the table.
//
// The kernel grows a descriptor table that several threads share (every
// Go program's) by waiting for an RCU grace period (expand_fdtable calls
// synchronize_rcu): 4–28 ms each time on the benchmark machine, for
// whichever thread opened the first descriptor past the end, at 256, 512,
// 1024... descriptors (growing up to 256 slots took microseconds there).
// While it waits, any other thread that needs a descriptor past the old
// end waits too. In a start of 500 programs that thread was the
// supervisor's loop making a child's pipe, and the whole start waited
// with it (docs/BENCHMARKS.md, "Start, sixth round"). ReserveFds takes
// that wait itself, once for the size asked: it is meant to run on a
// goroutine of its own, before the descriptors are needed. It grows the
// table to quickFdTable slots first, so that other threads have those
// while it waits.
//
// It holds no descriptor when it returns. n is capped at RLIMIT_NOFILE's
// soft limit; a table never shrinks, and costs 8 bytes and 2 bits a slot.
func ReserveFds(n int) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("reserve descriptors: read RLIMIT_NOFILE: %w", err)
	}
	if uint64(n) > lim.Cur {
		n = int(lim.Cur)
	}
	if n <= minFdTable {
		return nil
	}
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("reserve %d descriptors: %w", n, err)
	}
	defer unix.Close(fd)
	for _, size := range []int{min(n, quickFdTable), n} {
		// F_DUPFD takes the lowest free descriptor at or above its
		// argument: unlike dup2, it never replaces one that is in use.
		high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, size-1)
		if err != nil {
			return fmt.Errorf("reserve %d descriptors: fcntl F_DUPFD: %w", size, err)
		}
		if err := unix.Close(high); err != nil {
			return fmt.Errorf("reserve %d descriptors: %w", size, err)
		}
	}
	return nil
}

const (
	// minFdTable is the table every process starts with (NR_OPEN_DEFAULT).
	minFdTable = 64
	// quickFdTable is the largest table the kernel grew to without a
	// grace period on the benchmark machine.
	quickFdTable = 256
)
