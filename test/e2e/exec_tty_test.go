package e2e

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExecTerminalForeground starts superd exec as the session leader of a
// pseudo-terminal and checks that its command's group becomes the
// terminal's foreground group (so ^Z and ^C reach it, not superd), and that
// superd takes the terminal back once the command has exited.
func TestExecTerminalForeground(t *testing.T) {
	master, slave := openPty(t)
	var out syncBuffer
	copied := make(chan struct{})
	// exits when master is closed (by the cleanup, which waits for it)
	go func() {
		defer close(copied)
		_, _ = io.Copy(&out, master)
	}()
	t.Cleanup(func() {
		master.Close()
		<-copied
	})

	dir := execDir(t)
	// The grandchild is an asynchronous list of a non-interactive shell:
	// it ignores SIGINT, so ^C leaves it behind for superd's SIGTERM, at
	// which it records the terminal's foreground group. Neither shell forks
	// after it is ready: a shell caught by ^Z in vfork waits in state D for
	// its stopped child instead of stopping.
	script := writeScript(t, dir, "tty.sh", `D=$1
sh -c 'trap "cut -d\" \" -f8 /proc/\$\$/stat > $0/tpgid; exit 0" TERM; sleep 1000 & echo $$ > $0/grand.pid; wait' "$D" &
while [ ! -s $D/grand.pid ]; do sleep 0.01; done
echo $$ > $D/child.pid
exec sleep 1000
`)
	attr := &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	p := startExecProc(t, dir, execOpts{sys: attr, files: []*os.File{slave, slave, slave}}, superdBin, "exec", "--", "sh", script, dir)
	slave.Close() // superd has its copies
	p.waitPidFile(dir + "/grand.pid")
	child := p.waitPidFile(dir + "/child.pid")
	waitForf(t, execExitTimeout, "the command to exec sleep", func() bool {
		st, ok := readStat(child)
		return ok && st.comm == "sleep"
	})

	if got := tpgidOf(t, p.pid()); got != child {
		t.Fatalf("the terminal's foreground group is %d; want the command's %d (superd is %d)", got, child, p.pid())
	}

	// ^Z: the terminal stops the foreground group, superd keeps running.
	writeMaster(t, master, "\x1a")
	waitStateOf(t, child, 'T', false)
	if st, ok := readStat(p.pid()); !ok || st.state == 'T' {
		t.Fatalf("superd state %q after ^Z; want running or sleeping", st.state)
	}
	p.signal(syscall.SIGCONT)
	waitStateOf(t, child, 'T', true)

	// ^C: SIGINT kills the command; 128+2.
	writeMaster(t, master, "\x03")
	if code := p.waitExit(execExitTimeout); code != 128+2 {
		t.Errorf("superd exec after ^C = exit %d; want %d", code, 128+2)
	}
	if got := strings.TrimSpace(readFile(t, dir+"/tpgid")); got != strconv.Itoa(p.pid()) {
		t.Errorf("at SIGTERM to leftovers the foreground group was %q; want superd's %d (taken back)", got, p.pid())
	}
	if s := out.String(); strings.Contains(s, "superd:") || strings.Contains(s, "level=WARN") {
		t.Errorf("superd wrote to the terminal: %q", s)
	}
}

// openPty opens a new pseudo-terminal pair; both are closed by cleanups
// (the slave's early close by the caller is harmless).
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr != nil {
			return
		}
		n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
	}); err != nil {
		t.Fatal(err)
	}
	if ioErr != nil {
		m.Close()
		t.Fatalf("unlock pty: %v", ioErr)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open /dev/pts/%d: %v", n, err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

func writeMaster(t *testing.T, master *os.File, s string) {
	t.Helper()
	if _, err := master.WriteString(s); err != nil {
		t.Fatalf("write %q to the terminal: %v", s, err)
	}
}

// tpgidOf returns the foreground process group of pid's terminal, field 8
// of /proc/PID/stat.
func tpgidOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	n, err := strconv.Atoi(f[5])
	if err != nil {
		t.Fatalf("/proc/%d/stat: tpgid %q: %v", pid, f[5], err)
	}
	return n
}
