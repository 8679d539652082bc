package reaper

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// catchIgnored installs a (discarding) handler for every signal superd
// inherited as ignored. exec resets caught signals to their default action
// but keeps ignored ones ignored, so without this a child of a superd
// started under nohup or by a careless parent would start with, say,
// SIGTTOU or SIGTERM ignored. Signals superd catches itself are not touched.
func catchIgnored() {
	var ignored []os.Signal
	for sig := syscall.Signal(1); sig < 32; sig++ {
		if sig == syscall.SIGKILL || sig == syscall.SIGSTOP {
			continue
		}
		if signal.Ignored(sig) {
			ignored = append(ignored, sig)
		}
	}
	if len(ignored) == 0 {
		return
	}
	// Never read: package signal drops what does not fit, never blocks.
	signal.Notify(make(chan os.Signal, 1), ignored...)
}

// CloseInheritedFds marks every descriptor above stderr close-on-exec, so
// no child inherits what superd's own parent leaked to it. Call it first
// thing in main.
func CloseInheritedFds() error {
	return unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}
