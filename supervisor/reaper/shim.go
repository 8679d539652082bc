package reaper

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// shimArg is argv[1] of superd's binary when it runs as the rlimit shim.
//
// Resource limits are per process on Linux and Go's fork gives no hook
// between fork and exec, so a child with limits is started as
// `superd __superd_shim RES:SOFT:HARD... [umask=OCTAL] -- ARGV...`: the
// shim sets the limits (and the umask, where the spawner thread cannot) on
// itself and execs ARGV, keeping pid, process group and fds.
const shimArg = "__superd_shim"

func shimArgv(self string, limits []Rlimit, umask int, argv []string) []string {
	out := []string{self, shimArg}
	for _, l := range limits {
		out = append(out, fmt.Sprintf("%d:%d:%d", l.Resource, l.Soft, l.Hard))
	}
	if umask >= 0 {
		out = append(out, umaskArg+strconv.FormatInt(int64(umask), 8))
	}
	out = append(out, "--")
	return append(out, argv...)
}

// RunShim acts as the rlimit shim when args (os.Args) says so: it applies
// the limits and execs the real command, never returning on success. It
// returns false at once when args is not a shim invocation. superd's main
// calls it first thing.
func RunShim(args []string) bool {
	if len(args) < 2 || args[1] != shimArg {
		return false
	}
	rest := args[2:]
	for len(rest) > 0 && rest[0] != "--" {
		if err := applyArg(rest[0]); err != nil {
			fmt.Fprintf(os.Stderr, "superd: %v\n", err)
			os.Exit(126)
		}
		rest = rest[1:]
	}
	if len(rest) < 2 {
		fmt.Fprintln(os.Stderr, "superd: shim: no command")
		os.Exit(126)
	}
	argv := rest[1:]
	err := syscall.Exec(argv[0], argv, os.Environ())
	fmt.Fprintf(os.Stderr, "superd: exec %s: %v\n", argv[0], err)
	if err == syscall.ENOENT {
		os.Exit(127)
	}
	os.Exit(126)
	return true
}

// umaskArg prefixes the shim's argument that sets the umask (in octal),
// for a child whose umask the spawner thread cannot set itself.
const umaskArg = "umask="

// applyArg applies one of the shim's arguments: a umask or a limit.
func applyArg(s string) error {
	if v, ok := strings.CutPrefix(s, umaskArg); ok {
		mask, err := strconv.ParseUint(v, 8, 32)
		if err != nil || mask > 0o777 {
			return fmt.Errorf("shim: bad umask %q", s)
		}
		syscall.Umask(int(mask))
		return nil
	}
	return applyLimit(s)
}

func applyLimit(s string) error {
	f := strings.Split(s, ":")
	if len(f) != 3 {
		return fmt.Errorf("shim: bad limit %q", s)
	}
	res, err1 := strconv.Atoi(f[0])
	soft, err2 := strconv.ParseUint(f[1], 10, 64)
	hard, err3 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return fmt.Errorf("shim: bad limit %q", s)
	}
	// syscall.Setrlimit (not x/sys) also tells the runtime not to restore
	// its saved RLIMIT_NOFILE at exec.
	if err := syscall.Setrlimit(res, &syscall.Rlimit{Cur: soft, Max: hard}); err != nil {
		return fmt.Errorf("setrlimit %d to %d/%d: %w", res, soft, hard, err)
	}
	return nil
}
