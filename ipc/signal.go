package ipc

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/ipc/apitype"
)

// maxSignal is the highest signal number Linux knows (SIGRTMAX).
const maxSignal = 64

// ParseSignal parses a signal as the API and superctl accept it: a name with
// or without the SIG prefix, in any case ("HUP", "SIGHUP", "hup"), or a
// number from 1 to 64 ("1"). An unknown signal is an error wrapping
// apitype.ErrBadRequest.
func ParseSignal(s string) (syscall.Signal, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.Atoi(t); err == nil {
		if n < 1 || n > maxSignal {
			return 0, fmt.Errorf("signal number %d out of range 1-%d: %w", n, maxSignal, apitype.ErrBadRequest)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(t)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q: %w", s, apitype.ErrBadRequest)
}
