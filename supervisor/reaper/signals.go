package reaper

import (
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// catchIgnored installs a (discarding) handler for every signal superd
// inherited as ignored. exec resets caught signals to their default action
// but keeps ignored ones ignored, so without this a child of a superd
// started under nohup or by a careless parent would start with, say,
// SIGTTOU or SIGTERM ignored. Signals superd catches itself are not touched.
func catchIgnored() {
	// signal.Ignored knows only what this program ignored itself (and
	// SIGHUP/SIGINT): the inherited mask is in /proc/self/status.
	var ignored []os.Signal
	mask := ignoredMask()
	for sig := syscall.Signal(1); sig < 64; sig++ {
		if sig == syscall.SIGKILL || sig == syscall.SIGSTOP || mask&(1<<(sig-1)) == 0 {
			continue
		}
		ignored = append(ignored, sig)
	}
	if len(ignored) == 0 {
		return
	}
	// Never read: package signal drops what does not fit, never blocks.
	signal.Notify(make(chan os.Signal, 1), ignored...)
}

// ignoredMask is the SigIgn mask of this process.
func ignoredMask() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err == nil {
				return m
			}
		}
	}
	return 0
}

// CloseInheritedFds marks every descriptor above stderr close-on-exec, so
// no child inherits what superd's own parent leaked to it. Call it first
// thing in main.
func CloseInheritedFds() error {
	return unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}
