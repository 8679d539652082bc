package e2e

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hygieneDaemon starts superd the way a careless parent would: with
// signals blocked and ignored (through wrapExec), an inherited fd 3 without
// close-on-exec, and systemd's variables in its environment. Its programs
// must start clean anyway.
type hygieneDaemon struct {
	*daemon
	workDir string
}

func startHygieneDaemon(t *testing.T) *hygieneDaemon {
	t.Helper()
	e := newEnv(t)
	work := e.path("work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	env1 := e.writeFile("one.env", "# comment\n\nE2E_B=file1\nE2E_C=file1\nE2E_D=file1\n")
	env2 := e.writeFile("two.env", "E2E_C=file2\n")
	e.writeConfig("", fmt.Sprintf(`
[defaults]
start_seconds = "0s"

[program.plain]
command = ["/bin/sleep", "1000"]
directory = %q
umask = "027"

[program.limited]
command = ["/bin/sleep", "1000"]
limits = { nofile = [1000, 2000], core = 0, nproc = [500, 600] }

[program.envcheck]
command = ["/bin/sleep", "1000"]
instances = 2
env_files = [%q, %q]
environment = { E2E_D = "config", E2E_E = "config" }
env_exclude = ["E2E_SECRET"]

[program.noinherit]
command = ["/bin/sleep", "1000"]
inherit_environment = false
environment = { ONLY = "this" }

[program.nobody]
command = ["/bin/sleep", "1000"]
user = "nobody"
directory = "/"

[program.nobodyhome]
command = ["/bin/sleep", "1000"]
user = "nobody"
directory = "/"
environment = { HOME = "/custom" }

[program.shelled]
shell = "/bin/sleep 1001; true"

[program.argv]
command = ["/bin/echo", "$HOME", ";", "*", "$(id)"]
restart = "never"
`, work, env1, env2))

	// An inherited fd without close-on-exec, as a shell or systemd passes.
	leak, err := os.Open(e.path("one.env"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leak.Close() })
	// A NOTIFY_SOCKET that exists, so that superd may use it.
	notify := e.path("notify")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nl.Close() })

	d := e.start(opts{
		wrap:       true,
		extraFiles: []*os.File{leak},
		env: []string{
			"E2E_A=inherited", "E2E_B=inherited", "E2E_C=inherited", "E2E_SECRET=s3cret",
			"NOTIFY_SOCKET=" + notify, "WATCHDOG_USEC=60000000", "WATCHDOG_PID=1",
			"LISTEN_PID=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=leak",
			"SUPERD_SOCKET=/nonexistent/wrong.sock",
		},
	})
	// The wrapper worked: superd itself starts with the signals blocked.
	if blk := sigset(t, procStatus(t, d.pid())["SigBlk"]); blk&sigbit(syscall.SIGUSR2) == 0 {
		t.Fatalf("test setup: superd's SigBlk %#x lacks SIGUSR2; the wrapper did not block it", blk)
	}
	return &hygieneDaemon{daemon: d, workDir: work}
}

func sigbit(s syscall.Signal) uint64 { return 1 << (uint(s) - 1) }

func sigset(t *testing.T, hex string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		t.Fatalf("parse signal set %q: %v", hex, err)
	}
	return v
}

func TestChildHygiene(t *testing.T) {
	t.Parallel()
	d := startHygieneDaemon(t)
	names := []string{"plain", "limited", "envcheck:0", "envcheck:1", "noinherit", "nobody", "nobodyhome", "shelled"}
	pids := map[string]int{}
	for i, p := range d.waitRunning(15*time.Second, names...) {
		pids[names[i]] = p
	}

	t.Run("own process group", func(t *testing.T) {
		for _, n := range names {
			st, ok := readStat(pids[n])
			if !ok {
				t.Fatalf("%s (pid %d) is gone", n, pids[n])
			}
			if st.pgrp != pids[n] {
				t.Errorf("%s: pgid = %d; want its own pid %d", n, st.pgrp, pids[n])
			}
			if st.ppid != d.pid() {
				t.Errorf("%s: ppid = %d; want superd %d", n, st.ppid, d.pid())
			}
		}
	})

	t.Run("only fds 0 1 2, stdin on /dev/null", func(t *testing.T) {
		for _, n := range names {
			ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pids[n]))
			if err != nil {
				t.Fatal(err)
			}
			var fds []string
			for _, e := range ents {
				fds = append(fds, e.Name())
			}
			slices.SortFunc(fds, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
			if !slices.Equal(fds, []string{"0", "1", "2"}) {
				var targets []string
				for _, fd := range fds {
					l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pids[n], fd))
					targets = append(targets, fd+"->"+l)
				}
				t.Errorf("%s: open fds %v; want only 0, 1, 2", n, targets)
			}
			if in, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", pids[n])); in != os.DevNull {
				t.Errorf("%s: stdin is %q; want %s", n, in, os.DevNull)
			}
		}
	})

	t.Run("empty signal mask and default dispositions", func(t *testing.T) {
		for _, n := range names {
			st := procStatus(t, pids[n])
			if blk := sigset(t, st["SigBlk"]); blk != 0 {
				t.Errorf("%s: SigBlk = %s; want 0 (superd started with SIGUSR2, SIGWINCH blocked)", n, st["SigBlk"])
			}
			if n == "shelled" {
				continue // /bin/sh sets its own dispositions
			}
			if ign := sigset(t, st["SigIgn"]); ign != 0 {
				t.Errorf("%s: SigIgn = %s; want 0 (superd started with SIGPIPE, SIGHUP, SIGTTOU ignored)", n, st["SigIgn"])
			}
		}
	})

	t.Run("umask", func(t *testing.T) {
		if got := procStatus(t, pids["plain"])["Umask"]; got != "0027" {
			t.Errorf("plain (umask = \"027\"): Umask = %s; want 0027", got)
		}
		// Without umask, superd's own.
		want := procStatus(t, d.pid())["Umask"]
		if got := procStatus(t, pids["limited"])["Umask"]; got != want {
			t.Errorf("limited (no umask): Umask = %s; want superd's %s", got, want)
		}
	})

	t.Run("directory", func(t *testing.T) {
		if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pids["plain"])); cwd != d.workDir {
			t.Errorf("plain: cwd = %q; want %q", cwd, d.workDir)
		}
		// Default: the folder of the config file.
		if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pids["limited"])); cwd != d.dir {
			t.Errorf("limited: cwd = %q; want the config's folder %q", cwd, d.dir)
		}
	})

	t.Run("rlimits", func(t *testing.T) {
		lim := procLimits(t, pids["limited"])
		tests := []struct{ name, soft, hard string }{
			{"Max open files", "1000", "2000"},
			{"Max core file size", "0", "0"},
			{"Max processes", "500", "600"},
		}
		for _, tt := range tests {
			if got := lim[tt.name]; got != [2]string{tt.soft, tt.hard} {
				t.Errorf("limited: %s = %v; want [%s %s]", tt.name, got, tt.soft, tt.hard)
			}
		}
		if cmd := procCmdline(t, pids["limited"]); !slices.Equal(cmd, []string{"/bin/sleep", "1000"}) {
			t.Errorf("limited: cmdline = %q; want [/bin/sleep 1000] (the command itself, not a shim)", cmd)
		}
	})

	t.Run("environment", func(t *testing.T) {
		for i, n := range []string{"envcheck:0", "envcheck:1"} {
			env := procEnviron(t, pids[n])
			m := envMap(env)
			want := map[string]string{
				"E2E_A":           "inherited",
				"E2E_B":           "file1",
				"E2E_C":           "file2",
				"E2E_D":           "config",
				"E2E_E":           "config",
				"SUPERD_PROGRAM":  "envcheck",
				"SUPERD_INSTANCE": strconv.Itoa(i),
				"SUPERD_SOCKET":   d.sock,
			}
			for k, v := range want {
				if got, ok := m[k]; !ok || got != v {
					t.Errorf("%s: %s = %q (set: %v); want %q", n, k, got, ok, v)
				}
			}
			for _, k := range []string{"E2E_SECRET", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
				if v, ok := m[k]; ok {
					t.Errorf("%s: %s=%q is set; want it absent", n, k, v)
				}
			}
			if m["PATH"] == "" {
				t.Errorf("%s: PATH is not inherited", n)
			}
			if len(m) != len(env) {
				t.Errorf("%s: environment has duplicate keys: %q", n, env)
			}
		}
		m := envMap(procEnviron(t, pids["noinherit"]))
		if m["ONLY"] != "this" || m["SUPERD_PROGRAM"] != "noinherit" {
			t.Errorf("noinherit: environment %v; want ONLY=this and SUPERD_PROGRAM=noinherit", m)
		}
		for _, k := range []string{"E2E_A", "PATH"} {
			if _, ok := m[k]; ok {
				t.Errorf("noinherit (inherit_environment = false): %s is set", k)
			}
		}
	})

	t.Run("user nobody", func(t *testing.T) {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("look up nobody: %v", err)
		}
		gids, err := u.GroupIds()
		if err != nil {
			t.Fatal(err)
		}
		st := procStatus(t, pids["nobody"])
		want4 := func(id string) string { return strings.Join([]string{id, id, id, id}, "\t") }
		if st["Uid"] != want4(u.Uid) {
			t.Errorf("nobody: Uid = %q; want %q", st["Uid"], want4(u.Uid))
		}
		if st["Gid"] != want4(u.Gid) {
			t.Errorf("nobody: Gid = %q; want %q", st["Gid"], want4(u.Gid))
		}
		groups := strings.Fields(st["Groups"])
		slices.Sort(groups)
		slices.Sort(gids)
		if !slices.Equal(groups, slices.Compact(gids)) {
			t.Errorf("nobody: Groups = %q; want %q (nobody's, not root's)", groups, gids)
		}
		if st["CapEff"] != "0000000000000000" {
			t.Errorf("nobody: CapEff = %s; want no capabilities", st["CapEff"])
		}
		shell := passwdShell(t, "nobody")
		env := envMap(procEnviron(t, pids["nobody"]))
		for k, v := range map[string]string{"HOME": u.HomeDir, "USER": "nobody", "LOGNAME": "nobody", "SHELL": shell} {
			if env[k] != v {
				t.Errorf("nobody: %s = %q; want %q", k, env[k], v)
			}
		}
		if h := envMap(procEnviron(t, pids["nobodyhome"]))["HOME"]; h != "/custom" {
			t.Errorf("nobodyhome (environment HOME = /custom): HOME = %q; want /custom", h)
		}
	})

	t.Run("shell only when asked", func(t *testing.T) {
		if cmd := procCmdline(t, pids["shelled"]); len(cmd) < 3 || cmd[0] != "/bin/sh" || cmd[1] != "-c" || cmd[2] != "/bin/sleep 1001; true" {
			t.Errorf("shelled: cmdline = %q; want /bin/sh -c \"/bin/sleep 1001; true\"", cmd)
		}
		if cmd := procCmdline(t, pids["plain"]); !slices.Equal(cmd, []string{"/bin/sleep", "1000"}) {
			t.Errorf("plain: cmdline = %q; want [/bin/sleep 1000]", cmd)
		}
		d.waitState("argv", "exited", 10*time.Second)
		logFile := filepath.Join(d.logDir, "argv.log")
		want := "$HOME ; * $(id)\n"
		if got := waitFileContains(t, 10*time.Second, logFile, "\n"); got != want {
			t.Errorf("argv (command = [echo $HOME ; * $(id)]) wrote %q; want %q, untouched by a shell", got, want)
		}
	})
}

// procLimits parses /proc/PID/limits into soft and hard values by name.
func procLimits(t *testing.T, pid int) map[string][2]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][2]string{}
	for _, line := range lines(string(b))[1:] {
		if len(line) < 26 {
			continue
		}
		name := strings.TrimSpace(line[:26])
		f := strings.Fields(line[26:])
		if len(f) >= 2 {
			m[name] = [2]string{f[0], f[1]}
		}
	}
	return m
}

// passwdShell returns the login shell of name from /etc/passwd.
func passwdShell(t *testing.T, name string) string {
	t.Helper()
	for _, line := range lines(readFile(t, "/etc/passwd")) {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[0] == name {
			return f[6]
		}
	}
	t.Fatalf("%s is not in /etc/passwd", name)
	return ""
}
