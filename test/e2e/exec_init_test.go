package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExecExitCodes runs commands to completion under superd exec and
// checks the exit code superd passes on, and its stderr.
func TestExecExitCodes(t *testing.T) {
	dir := execDir(t)
	noexec := dir + "/noexec"
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		want   int
		stderr string // the one line wanted on stderr; "" for none
	}{
		{"exit 0", []string{"--", "sh", "-c", "exit 0"}, 0, ""},
		{"exit 1", []string{"--", "sh", "-c", "exit 1"}, 1, ""},
		{"exit 42", []string{"--", "sh", "-c", "exit 42"}, 42, ""},
		{"exit 255", []string{"--", "sh", "-c", "exit 255"}, 255, ""},
		{"without --", []string{"sh", "-c", "exit 5"}, 5, ""},
		{"killed by SIGKILL", []string{"--", "sh", "-c", "kill -KILL $$"}, 128 + 9, ""},
		{"killed by SIGTERM", []string{"--", "sh", "-c", "kill -TERM $$"}, 128 + 15, ""},
		{"not found in PATH", []string{"--", "superd-no-such-command", "x"}, 127, "superd: exec superd-no-such-command: no such file or directory"},
		{"no such file", []string{"--", dir + "/missing"}, 127, "superd: exec " + dir + "/missing: no such file or directory"},
		{"not executable", []string{"--", noexec}, 126, "superd: exec " + noexec + ": permission denied"},
		{"a directory", []string{"--", dir}, 126, "superd: exec " + dir + ": permission denied"},
		{"no command", nil, 2, "superd: exec: no command (usage: superd exec [flags] -- CMD [ARG...])"},
		{"only --", []string{"--"}, 2, "superd: exec: no command (usage: superd exec [flags] -- CMD [ARG...])"},
		{"bad grace", []string{"--grace", "soon", "--", "true"}, 2, ""},
		{"negative grace", []string{"--grace=-1s", "--", "true"}, 2, ""},
		{"unknown flag", []string{"--no-such-flag", "--", "true"}, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runSuperd(t, dir, nil, append([]string{"exec"}, tc.args...)...)
			if code != tc.want {
				t.Fatalf("superd exec %q = exit %d; want %d (stderr: %q)", tc.args, code, tc.want, stderr)
			}
			switch {
			case tc.want == 2:
				if got := lines(stderr); len(got) != 1 || !strings.HasPrefix(got[0], "superd: exec: ") {
					t.Errorf("superd exec %q: stderr = %q; want one line starting %q", tc.args, stderr, "superd: exec: ")
				}
				if tc.stderr != "" && strings.TrimSpace(stderr) != tc.stderr {
					t.Errorf("superd exec %q: stderr = %q; want %q", tc.args, stderr, tc.stderr)
				}
			case tc.stderr != "" || stderr != "":
				if got := lines(stderr); len(got) != 1 || got[0] != tc.stderr {
					t.Errorf("superd exec %q: stderr = %q; want the one line %q", tc.args, stderr, tc.stderr)
				}
			}
		})
	}
}

// forwardScript traps TERM, HUP and USR1 (writing the signal's name to
// $D/child and exiting 7, 8 or 9), starts a grandchild in the same process
// group that records the same signals in $D/grand, and writes both pids
// once both traps are set. Both shells wait in the wait builtin, which a
// trapped signal interrupts at once; they fork, never vfork (dash blocks
// every signal of a shell that waits for a vforked child to exec).
const forwardScript = `D=$1
trap 'echo TERM >> $D/child; exit 7' TERM
trap 'echo HUP >> $D/child; exit 8' HUP
trap 'echo USR1 >> $D/child; exit 9' USR1
sh -c 'D=$0
trap "echo TERM >> $D/grand; exit 0" TERM
trap "echo HUP >> $D/grand; exit 0" HUP
trap "echo USR1 >> $D/grand; exit 0" USR1
echo $$ > $D/grand.pid
while :; do sleep 1000 & wait; done' "$D" &
echo $$ > $D/child.pid
while :; do sleep 1000 & wait; done
`

// TestExecForwardsSignals sends signals to superd exec and checks that its
// command's whole process group got them, and that superd exited with the
// command's code.
func TestExecForwardsSignals(t *testing.T) {
	tests := []struct {
		sig  syscall.Signal
		name string
		want int
	}{
		{syscall.SIGTERM, "TERM", 7},
		{syscall.SIGHUP, "HUP", 8},
		{syscall.SIGUSR1, "USR1", 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := execDir(t)
			script := writeScript(t, dir, "fwd.sh", forwardScript)
			p := startExec(t, dir, "--", "sh", script, dir)
			child := p.waitPidFile(dir + "/child.pid")
			grand := p.waitPidFile(dir + "/grand.pid")
			if st, _ := readStat(grand); st.pgrp != child {
				t.Fatalf("grandchild %d is in group %d; want the child's %d", grand, st.pgrp, child)
			}
			if st, _ := readStat(child); st.pgrp != child || st.ppid != p.pid() {
				t.Fatalf("child %d: group %d, parent %d; want group %d (its own), parent %d (superd)", child, st.pgrp, st.ppid, child, p.pid())
			}
			p.signal(tc.sig)
			if code := p.waitExit(execExitTimeout); code != tc.want {
				t.Errorf("superd exec after SIG%s = exit %d; want %d", tc.name, code, tc.want)
			}
			if got := readFile(t, dir+"/child"); got != tc.name+"\n" {
				t.Errorf("the child recorded %q; want %q", got, tc.name+"\n")
			}
			// The grandchild may still be handling the signal when the
			// child has exited and superd sends SIGTERM to leftovers: it
			// may record a TERM after the forwarded signal.
			if got := readFile(t, dir+"/grand"); !strings.HasPrefix(got, tc.name+"\n") {
				t.Errorf("the grandchild recorded %q; want %q first (the signal went to the whole group)", got, tc.name+"\n")
			}
		})
	}
}

// TestExecNoGroupForwardsToChildOnly checks that with --no-group a signal
// reaches the child alone: the grandchild in its group does not get it (it
// gets the SIGTERM for leftovers when the child has exited).
func TestExecNoGroupForwardsToChildOnly(t *testing.T) {
	dir := execDir(t)
	script := writeScript(t, dir, "fwd.sh", forwardScript)
	p := startExec(t, dir, "--no-group", "--", "sh", script, dir)
	p.waitPidFile(dir + "/child.pid")
	grand := p.waitPidFile(dir + "/grand.pid")
	p.signal(syscall.SIGUSR1)
	if code := p.waitExit(execExitTimeout); code != 9 {
		t.Errorf("superd exec --no-group after SIGUSR1 = exit %d; want 9", code)
	}
	if got := readFile(t, dir+"/child"); got != "USR1\n" {
		t.Errorf("the child recorded %q; want %q", got, "USR1\n")
	}
	if got := readFile(t, dir+"/grand"); got != "TERM\n" {
		t.Errorf("the grandchild recorded %q; want %q (no USR1; SIGTERM as a leftover)", got, "TERM\n")
	}
	if !procGone(grand) {
		t.Errorf("grandchild %d still in /proc after superd exited", grand)
	}
}

// TestExecStopAndContinue checks that SIGTSTP stops the command's group
// but never superd, and SIGCONT resumes it.
func TestExecStopAndContinue(t *testing.T) {
	dir := execDir(t)
	// The command execs sleep: a shell that forks in a loop may be caught
	// by SIGTSTP in vfork, where it waits in state D for its stopped child.
	script := writeScript(t, dir, "stop.sh", "echo $$ > $1/child.pid\nexec sleep 1000\n")
	p := startExec(t, dir, "--", "sh", script, dir)
	child := p.waitPidFile(dir + "/child.pid")
	waitForf(t, execExitTimeout, "the command to exec sleep", func() bool {
		st, ok := readStat(child)
		return ok && st.comm == "sleep"
	})

	p.signal(syscall.SIGTSTP)
	waitStateOf(t, child, 'T', false)
	if st, ok := readStat(p.pid()); !ok || st.state == 'T' {
		t.Fatalf("superd state %q after SIGTSTP; want running or sleeping", st.state)
	}
	p.signal(syscall.SIGCONT)
	waitStateOf(t, child, 'T', true)

	p.signal(syscall.SIGTERM)
	if code := p.waitExit(execExitTimeout); code != 128+15 {
		t.Errorf("superd exec after SIGTERM = exit %d; want %d", code, 128+15)
	}
}

// TestExecIgnoresTTINAndTTOU checks that superd neither stops for SIGTTIN
// and SIGTTOU nor forwards them, while a later signal still goes through.
func TestExecIgnoresTTINAndTTOU(t *testing.T) {
	dir := execDir(t)
	script := writeScript(t, dir, "tty.sh", `D=$1
trap 'echo TTIN >> $D/child' TTIN
trap 'echo TTOU >> $D/child' TTOU
trap 'echo WINCH >> $D/child; exit 5' WINCH
echo $$ > $D/child.pid
while :; do sleep 0.05; done
`)
	p := startExec(t, dir, "--", "sh", script, dir)
	p.waitPidFile(dir + "/child.pid")
	// Pending standard signals are delivered lowest number first, and
	// superd handles them one at a time in that order: by the time WINCH
	// (28) is forwarded, TTIN (21) and TTOU (22) have been dealt with.
	p.signal(syscall.SIGTTIN)
	p.signal(syscall.SIGTTOU)
	if st, ok := readStat(p.pid()); !ok || st.state == 'T' {
		t.Fatalf("superd state %q after SIGTTIN, SIGTTOU; want running or sleeping", st.state)
	}
	p.signal(syscall.SIGWINCH)
	if code := p.waitExit(execExitTimeout); code != 5 {
		t.Errorf("superd exec after SIGWINCH = exit %d; want 5", code)
	}
	if got := readFile(t, dir+"/child"); got != "WINCH\n" {
		t.Errorf("the child recorded %q; want only %q (SIGTTIN and SIGTTOU are not forwarded)", got, "WINCH\n")
	}
}

// TestExecTerminatesLeftovers checks that what the command leaves in its
// process group gets SIGTERM when it exits, and superd exits once they
// are gone, well before the grace period.
func TestExecTerminatesLeftovers(t *testing.T) {
	dir := execDir(t)
	script := writeScript(t, dir, "left.sh", `D=$1
sh -c 'trap "echo TERM > $0/left; exit 0" TERM; echo $$ > $0/left.pid; while :; do sleep 1000 & wait; done' "$D" &
while [ ! -s $D/left.pid ]; do sleep 0.01; done
exit 3
`)
	p := startExec(t, dir, "--grace", "30s", "--", "sh", script, dir)
	left := p.waitPidFile(dir + "/left.pid")
	if code := p.waitExit(execExitTimeout); code != 3 {
		t.Errorf("superd exec = exit %d; want 3", code)
	}
	if el := time.Since(p.start); el > 15*time.Second {
		t.Errorf("superd exec took %v; want far less than the 30s grace", el)
	}
	if got := readFile(t, dir+"/left"); got != "TERM\n" {
		t.Errorf("the leftover recorded %q; want %q", got, "TERM\n")
	}
	if !procGone(left) {
		t.Errorf("leftover %d still in /proc after superd exited", left)
	}
}

// TestExecKillsLeftoversAfterGrace checks that a leftover that ignores
// SIGTERM gets SIGKILL after --grace, and superd waits for it.
func TestExecKillsLeftoversAfterGrace(t *testing.T) {
	dir := execDir(t)
	script := writeScript(t, dir, "stubborn.sh", `D=$1
sh -c 'trap "" TERM; echo $$ > $0/left.pid; exec sleep 1000' "$D" &
while [ ! -s $D/left.pid ]; do sleep 0.01; done
exit 4
`)
	const grace = 300 * time.Millisecond
	p := startExec(t, dir, "--grace", grace.String(), "--", "sh", script, dir)
	left := p.waitPidFile(dir + "/left.pid")
	seen := time.Now()
	if code := p.waitExit(execExitTimeout); code != 4 {
		t.Errorf("superd exec = exit %d; want 4", code)
	}
	// The pid file was written before the child exited, at most a poll
	// before we saw it; superd waits the grace after the child's exit.
	if el := time.Since(seen); el < grace-2*pollInterval {
		t.Errorf("superd exited %v after the leftover started; want at least the grace %v", el, grace)
	}
	if el := time.Since(seen); el > grace+10*time.Second {
		t.Errorf("superd exited %v after the leftover started; want about the grace %v", el, grace)
	}
	if !procGone(left) {
		t.Errorf("leftover %d (ignores SIGTERM) still in /proc after superd exited", left)
	}
	if !strings.Contains(p.stderr.String(), "SIGKILL") {
		t.Errorf("superd's stderr does not mention the SIGKILL: %q", p.stderr.String())
	}
}

// TestExecReapsOrphans has the command leave 500 orphans, reparented to
// superd (a subreaper), kills them, and checks that superd reaped every one
// while it ran and counted them.
func TestExecReapsOrphans(t *testing.T) {
	const n = 500
	dir := execDir(t)
	if err := syscall.Mkfifo(dir+"/go", 0o600); err != nil {
		t.Fatal(err)
	}
	script := writeScript(t, dir, "orphans.sh", fmt.Sprintf(`D=$1
i=0
while [ $i -lt %d ]; do ( sleep 1000 & ); i=$((i+1)); done
echo $$ > $D/child.pid
read x < $D/go
exit 0
`, n))
	p := startExec(t, dir, "--log-level", "info", "--", "sh", script, dir)
	child := p.waitPidFile(dir + "/child.pid")

	// Every sleep's parent (a subshell) has exited: they are superd's now.
	var orphans []int
	waitFor(t, execExitTimeout, func() string {
		return fmt.Sprintf("%d orphans with superd (pid %d) as parent; have %d", n, p.pid(), len(orphans))
	}, func() bool {
		orphans = orphans[:0]
		for pid, st := range childrenOf(p.pid()) {
			if st.comm == "sleep" {
				orphans = append(orphans, pid)
			}
		}
		return len(orphans) == n
	})
	p.track(orphans...)
	for _, pid := range orphans {
		// Still unreaped children of superd: the pid cannot be recycled.
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill orphan %d: %v", pid, err)
		}
	}
	// Reaped, not zombies: superd's only child left is the command.
	var kids map[int]procStat
	waitFor(t, execExitTimeout, func() string {
		return fmt.Sprintf("superd's children to be only the command %d; have %d (%s)", child, len(kids), zombies(kids))
	}, func() bool {
		kids = childrenOf(p.pid())
		_, ok := kids[child]
		return len(kids) == 1 && ok
	})

	// Release the command: open the FIFO once it reads it.
	var f *os.File
	waitForf(t, execExitTimeout, "the command to open its FIFO", func() bool {
		var err error
		f, err = os.OpenFile(dir+"/go", os.O_WRONLY|syscall.O_NONBLOCK, 0)
		return err == nil
	})
	f.WriteString("go\n")
	f.Close()
	if code := p.waitExit(execExitTimeout); code != 0 {
		t.Fatalf("superd exec = exit %d; want 0", code)
	}
	m := regexp.MustCompile(`msg=exiting exit_code=0 orphans=(\d+)`).FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("superd's stderr has no exit line with the orphan count: %q", tail(p.stderr.String(), 2000))
	}
	if got, _ := strconv.Atoi(m[1]); got != n {
		t.Errorf("superd reaped %d orphans; want %d", got, n)
	}
}

// zombies describes the zombies among procs.
func zombies(procs map[int]procStat) string {
	var z []string
	for pid, st := range procs {
		if st.state == 'Z' {
			z = append(z, strconv.Itoa(pid))
		}
	}
	return fmt.Sprintf("%d zombies: %s", len(z), strings.Join(z, " "))
}

// TestExecNoSubreaperWarns checks that --no-subreaper says once that
// orphans then depend on PID 1, and that superd is not a subreaper: an
// orphan of the command is not reparented to it.
func TestExecNoSubreaperWarns(t *testing.T) {
	dir := execDir(t)
	// The subshell runs in the foreground: by the time child.pid is
	// written, it has exited and the sleep has its final parent.
	script := writeScript(t, dir, "orphan.sh", `D=$1
( sh -c 'echo $$ > $0/orphan.pid; exec sleep 1000' "$D" & )
while [ ! -s $D/orphan.pid ]; do sleep 0.01; done
echo $$ > $D/child.pid
while :; do sleep 0.05; done
`)
	p := startExec(t, dir, "--no-subreaper", "--", "sh", script, dir)
	orphan := p.waitPidFile(dir + "/orphan.pid")
	child := p.waitPidFile(dir + "/child.pid")
	st, ok := readStat(orphan)
	if !ok {
		t.Fatalf("orphan %d is gone", orphan)
	}
	if st.ppid == p.pid() || st.ppid == child {
		t.Errorf("orphan %d has parent %d (superd %d, command %d); want neither with --no-subreaper", orphan, st.ppid, p.pid(), child)
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(execExitTimeout); code != 128+15 {
		t.Errorf("superd exec = exit %d; want %d", code, 128+15)
	}
	warn := 0
	for _, l := range lines(p.stderr.String()) {
		if strings.Contains(l, "--no-subreaper") && strings.Contains(l, "PID 1") {
			warn++
		}
	}
	if warn != 1 {
		t.Errorf("superd's stderr has %d --no-subreaper warnings; want 1: %q", warn, p.stderr.String())
	}
}

// TestExecChildSignalHygiene starts superd exec with signals blocked and
// ignored (through the harness's wrapper, as a careless parent would) and
// checks that its command starts with an empty signal mask and no ignored
// signal, while superd itself keeps running.
func TestExecChildSignalHygiene(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := execDir(t)
	p := startExecProc(t, dir, execOpts{env: []string{wrapEnv + "=1"}},
		self, superdBin, "exec", "--", "sh", "-c", `echo $$ > "$0/child.pid"; exec sleep 1000`, dir)
	child := p.waitPidFile(dir + "/child.pid")
	// Threads of superd other than the one that serves signal.Notify keep
	// the mask superd started with.
	if !anyThreadBlocks(t, p.pid(), syscall.SIGUSR2) {
		t.Fatalf("test setup: no thread of superd blocks SIGUSR2; the wrapper did not block it")
	}
	var st map[string]string
	waitForf(t, execExitTimeout, "the command to exec sleep", func() bool {
		s, ok := readStat(child)
		return ok && s.comm == "sleep"
	})
	st = procStatus(t, child)
	for _, field := range []string{"SigBlk", "SigIgn"} {
		if v, err := strconv.ParseUint(st[field], 16, 64); err != nil || v != 0 {
			t.Errorf("the command's %s = %s; want 0 (superd started with SIGUSR2, SIGWINCH blocked and SIGPIPE, SIGHUP, SIGTTOU ignored)", field, st[field])
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(execExitTimeout); code != 128+15 {
		t.Errorf("superd exec after SIGTERM = exit %d; want %d", code, 128+15)
	}
}

// anyThreadBlocks reports whether a thread of pid has sig blocked.
func anyThreadBlocks(t *testing.T, pid int, sig syscall.Signal) bool {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if err != nil {
			continue // the thread has exited
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "SigBlk:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && m&(1<<(uint(sig)-1)) != 0 {
					return true
				}
			}
		}
	}
	return false
}
