package e2e

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The tests here run superd exec as PID 1 of a new PID namespace, as in a
// container: `unshare --pid --fork --mount-proc superd exec -- ...`. They
// need root (CAP_SYS_ADMIN); where unshare cannot do it they fail, they do
// not skip: PID 1 behaviour is what superd exec is for.

// unshareArgv returns the unshare command line that runs superd exec args
// as PID 1, with the namespace's own /proc; --kill-child makes a SIGKILL of
// unshare (the cleanup's last resort) end the namespace too.
func unshareArgv(t *testing.T, args ...string) []string {
	t.Helper()
	path, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("superd exec as PID 1 needs unshare (util-linux): %v", err)
	}
	if out, err := exec.Command(path, "--pid", "--fork", "--mount-proc", "true").CombinedOutput(); err != nil {
		t.Fatalf("unshare --pid --fork --mount-proc is not permitted here (%v: %s); these tests need root with CAP_SYS_ADMIN to run superd as PID 1 of a PID namespace", err, strings.TrimSpace(string(out)))
	}
	return append([]string{path, "--pid", "--fork", "--mount-proc", "--kill-child", superdBin, "exec"}, args...)
}

// pid1Script, run by superd exec as PID 1, leaves 50 orphans and a process
// in a session of its own, waits (10s at most) until no zombie is left in
// the namespace and writes how many there are, then sends `kill -TERM 1`
// and waits for the forwarded signal, at which it exits 9.
const pid1Script = `D=$1
trap 'echo TERM > $D/term; exit 9' TERM
i=0
while [ $i -lt 50 ]; do ( true & ); i=$((i+1)); done
setsid sh -c 'trap "echo TERM > $0/left; exit 0" TERM; echo $$ > $0/left.pid; while :; do sleep 0.05; done' "$D" &
while [ ! -s $D/left.pid ]; do sleep 0.01; done
n=1; k=0
while [ $k -lt 200 ]; do
	n=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)
	[ "$n" -eq 0 ] && break
	sleep 0.05; k=$((k+1))
done
echo $$ > $D/self
echo $n > $D/zombies
kill -TERM 1
while :; do sleep 0.05; done
`

// TestExecAsPID1 checks superd exec as PID 1: it reaps the orphans of the
// namespace, forwards `kill -TERM 1` from inside to its command, passes on
// the command's exit code, and at the end sends SIGTERM to every process
// left, also outside the command's group and session.
func TestExecAsPID1(t *testing.T) {
	dir := execDir(t)
	script := writeScript(t, dir, "pid1.sh", pid1Script)
	p := startExecProc(t, dir, execOpts{}, unshareArgv(t, "--log-level", "info", "--", "sh", script, dir)...)
	if code := p.waitExit(execExitTimeout); code != 9 {
		t.Fatalf("unshare … superd exec = exit %d; want 9 (the command's); stderr:\n%s", code, p.stderr.String())
	}
	if got := readFile(t, dir+"/zombies"); got != "0\n" {
		t.Errorf("zombies left in the namespace = %q; want 0 (superd as PID 1 reaps orphans)", got)
	}
	if got := readFile(t, dir+"/term"); got != "TERM\n" {
		t.Errorf("the command recorded %q; want %q (kill -TERM 1 is forwarded)", got, "TERM\n")
	}
	if got := readFile(t, dir+"/left"); got != "TERM\n" {
		t.Errorf("the process in its own session recorded %q; want %q (as PID 1 every leftover gets SIGTERM)", got, "TERM\n")
	}
	if got := strings.TrimSpace(readFile(t, dir+"/self")); got == "1" || got == "" {
		t.Errorf("the command's pid in the namespace = %q; want another than 1 (superd is 1)", got)
	}
	stderr := p.stderr.String()
	if !strings.Contains(stderr, "pid1=true") {
		t.Errorf("superd did not run as PID 1: stderr %q", stderr)
	}
	m := regexp.MustCompile(`msg=exiting exit_code=9 orphans=(\d+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no exit line with the orphan count in superd's stderr: %q", stderr)
	}
	if n, _ := strconv.Atoi(m[1]); n < 50 {
		t.Errorf("superd reaped %d orphans; want at least the 50 the command left", n)
	}
}

// TestExecAsPID1ExitCodes checks the exit code superd passes on as PID 1.
func TestExecAsPID1ExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   int
	}{
		{"exit 0", "exit 0", 0},
		{"exit 42", "exit 42", 42},
		{"killed by SIGKILL", "kill -KILL $$", 128 + 9},
		{"leftover in the group", "sleep 1000 & exit 3", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := execDir(t)
			p := startExecProc(t, dir, execOpts{}, unshareArgv(t, "--", "sh", "-c", tc.script)...)
			if code := p.waitExit(execExitTimeout); code != tc.want {
				t.Errorf("superd exec as PID 1 -- sh -c %q = exit %d; want %d; stderr: %q", tc.script, code, tc.want, p.stderr.String())
			}
		})
	}
}
