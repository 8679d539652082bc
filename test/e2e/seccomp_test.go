package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompExec installs a seccomp filter on this thread that fails
// unshare(2) and pidfd_getfd(2) with EPERM, as Docker's default profile
// does for a container without CAP_SYS_ADMIN and CAP_SYS_PTRACE, and execs
// argv (the filter survives execve) with the environment minus wrapEnv.
// Only on amd64: the filter checks the architecture and the x86-64 system
// call numbers.
func seccompExec(argv []string) {
	runtime.LockOSThread()
	const (
		allow   = unix.SECCOMP_RET_ALLOW
		deny    = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		archOff = 4 // seccomp_data.arch
		nrOff   = 0 // seccomp_data.nr
	)
	denied := []uint32{unix.SYS_UNSHARE, unix.SYS_PIDFD_GETFD}
	if _, more, ok := strings.Cut(os.Getenv(wrapEnv), ":"); ok {
		for _, nr := range strings.Split(more, ",") {
			n, err := strconv.ParseUint(nr, 10, 32)
			if err != nil {
				fmt.Fprintf(os.Stderr, "e2e seccomp wrapper: bad system call number %q\n", nr)
				os.Exit(126)
			}
			denied = append(denied, uint32(n))
		}
	}
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: archOff},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: unix.AUDIT_ARCH_X86_64},
		{Code: unix.BPF_RET | unix.BPF_K, K: allow},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: nrOff},
	}
	for i, nr := range denied {
		// Jump over the rest of the checks and the allow to the deny.
		filter = append(filter, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: uint8(len(denied) - i), K: nr})
	}
	filter = append(filter,
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: allow},
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: deny},
	)
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "e2e seccomp wrapper: no_new_privs: %v\n", err)
		os.Exit(126)
	}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "e2e seccomp wrapper: seccomp: %v\n", err)
		os.Exit(126)
	}
	execUnwrapped("e2e seccomp wrapper", argv)
}

// TestReaperFailureStopsSuperd: when the reaper cannot start (here its
// poller set-up fails: pipe2 is refused), superd exits 1 saying why,
// instead of running on with every program fatal.
func TestReaperFailureStopsSuperd(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the test's seccomp filter is written for amd64")
	}
	t.Parallel()
	e := newEnv(t)
	e.writeConfig("", `
[program.web]
command = ["/bin/sleep", "1000"]
`)
	d := e.start(opts{seccomp: true, noWait: true,
		env: []string{fmt.Sprintf("%s=%s:%d", wrapEnv, wrapSeccomp, unix.SYS_PIPE2)}})
	if code := d.waitExit(15 * time.Second); code != 1 {
		t.Errorf("superd with pipe2 refused = exit %d; want 1", code)
	}
	if s := d.stderr.String(); !strings.Contains(s, "reaper: set up the poller") || !strings.Contains(s, "operation not permitted") {
		t.Errorf("superd's stderr = %q; want the reaper's error", tail(s, 1000))
	}
	if _, err := os.Stat(e.sock); err == nil {
		t.Error("the control socket is left behind")
	}
}

// TestUnderDockerSeccomp: under the restrictions of Docker's default
// seccomp profile (no unshare, no pidfd_getfd) superd still starts and
// supervises, its spawner forks from superd's own descriptor table, and a
// program's umask still applies to that program alone.
func TestUnderDockerSeccomp(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the test's seccomp filter is written for amd64")
	}
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(`log_level = "debug"`, fmt.Sprintf(`
[program.strict]
shell = "umask > %[1]s/strict.umask; : > %[1]s/strict.made; exec /bin/sleep 1000"
umask = "0077"
start_seconds = "0s"

[program.plain]
shell = "umask > %[1]s/plain.umask; exec /bin/sleep 1000"
start_seconds = "0s"
`, e.dir))
	d := e.start(opts{seccomp: true})
	d.waitRunning(10*time.Second, "strict", "plain")

	if got := strings.TrimSpace(waitFileContains(t, 10*time.Second, filepath.Join(e.dir, "strict.umask"), "\n")); got != "0077" {
		t.Errorf("umask of the program with umask = 0077: %s; want 0077", got)
	}
	made, err := os.Stat(filepath.Join(e.dir, "strict.made"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := made.Mode().Perm(); perm != 0o600 {
		t.Errorf("file made by the 0077 program: mode %v; want -rw-------", made.Mode())
	}
	// superd's umask is this process's, which it inherited.
	plain := strings.TrimSpace(waitFileContains(t, 10*time.Second, filepath.Join(e.dir, "plain.umask"), "\n"))
	if want := procStatus(t, d.pid())["Umask"]; plain != want {
		t.Errorf("umask of the program without one: %s; want superd's %s", plain, want)
	}
	s := d.stderr.String()
	for _, fallback := range []string{"forking from superd's own descriptor table", "a program's own umask is set by the shim"} {
		if !strings.Contains(s, fallback) {
			t.Errorf("superd's log does not say %q:\n%s", fallback, tail(s, 2000))
		}
	}
}
