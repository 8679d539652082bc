package reaper

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fdSize is FDSize of /proc/self/status: the slots of the process's
// descriptor table.
func fdSize(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "FDSize:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("FDSize %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatal("no FDSize in /proc/self/status")
	return 0
}

// openFds counts the process's open descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestReserveFds grows the test process's own table; the cases run in
// order of size, since a table never shrinks.
func TestReserveFds(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < 4096 {
		t.Fatalf("RLIMIT_NOFILE soft limit %d; the test needs 4096 (Go raises it to the hard limit)", lim.Cur)
	}
	for _, tc := range []struct {
		name    string
		n       int
		atLeast int // FDSize after
	}{
		{"within the first table: nothing to do", 10, 0},
		{"past 256", 300, 300},
		{"past 2048", 3000, 3000},
		{"beyond the soft limit: capped at it", int(lim.Cur) + 1000, int(lim.Cur)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, open := fdSize(t), openFds(t)
			if err := ReserveFds(tc.n); err != nil {
				t.Fatalf("ReserveFds(%d) = %v; want nil", tc.n, err)
			}
			got := fdSize(t)
			if got < max(tc.atLeast, before) {
				t.Errorf("after ReserveFds(%d): FDSize %d; want at least %d", tc.n, got, max(tc.atLeast, before))
			}
			if tc.atLeast == 0 && got != before {
				t.Errorf("after ReserveFds(%d): FDSize %d; want it unchanged at %d", tc.n, got, before)
			}
			if o := openFds(t); o != open {
				t.Errorf("after ReserveFds(%d): %d open descriptors; want %d, as before", tc.n, o, open)
			}
		})
	}
}

// A descriptor in use where ReserveFds reaches is not replaced.
func TestReserveFdsKeepsDescriptorsInUse(t *testing.T) {
	f, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	high, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 5000)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(high)
	if err := ReserveFds(high + 1); err != nil {
		t.Fatalf("ReserveFds(%d) = %v; want nil", high+1, err)
	}
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(high))
	if err != nil || target != "/dev/zero" {
		t.Errorf("descriptor %d after ReserveFds(%d) = %q, %v; want still /dev/zero", high, high+1, target, err)
	}
	if _, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(high+1)); err == nil {
		t.Errorf("descriptor %d left open by ReserveFds", high+1)
	}
}
