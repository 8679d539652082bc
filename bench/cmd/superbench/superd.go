package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/superd/superd/ipc"
)

// maxSocketPath is the longest path a Unix socket may have (sun_path
// holds 108 bytes with the NUL).
const maxSocketPath = 107

// superdSys is the system of this repository: superd from e.bin (or, as
// superd-base, from --compare's folder), driven through its socket with
// ipc.Client and through superctl. Its folder (/tmp/sb-XXXX) holds the
// config, the socket, the state, superd's own log (superd.out) and the
// programs' output (logs/).
type superdSys struct {
	daemon
	bin    string // folder of this superd and its superctl
	w      workload
	cfg    string
	socket string
	client *ipc.Client
}

func newSuperd(e *env) *superdSys { return newSuperdAt(e, "superd", e.bin) }

// newSuperdAt is superd named name, its binaries in bin.
func newSuperdAt(e *env, name, bin string) *superdSys {
	return &superdSys{daemon: daemon{e: e, name: name}, bin: bin}
}

// Configure writes superd.toml for w into a new folder under /tmp.
func (s *superdSys) Configure(w workload) error {
	if err := s.makeDir("sb-"); err != nil {
		return err
	}
	dir := s.dir
	s.w = w
	s.cfg = filepath.Join(dir, "superd.toml")
	s.socket = filepath.Join(dir, "superd.sock")
	if len(s.socket) > maxSocketPath {
		return fmt.Errorf("socket path %s is longer than %d bytes", s.socket, maxSocketPath)
	}
	s.client = ipc.NewClient(s.socket)
	text, err := superdConfig(dir, s.socket, w)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.cfg, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", s.cfg, err)
	}
	return nil
}

// superdConfig renders w as superd's TOML. Programs start as soon as they
// were exec'd (start_seconds = "0s") and restart without delay.
func superdConfig(dir, socket string, w workload) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "[superd]\nsocket = %s\nstate_dir = %s\nlog_dir = %s\nshutdown_timeout = \"120s\"\n",
		tomlString(socket), tomlString(dir), tomlString(filepath.Join(dir, "logs")))
	for _, p := range w.programs {
		if len(p.argv) == 0 || !filepath.IsAbs(p.argv[0]) {
			return "", fmt.Errorf("program %s: argv must start with an absolute path, not %q", p.name, p.argv)
		}
		fmt.Fprintf(&b, "\n[program.%s]\ncommand = [", p.name)
		for i, a := range p.argv {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(tomlString(a))
		}
		b.WriteString("]\n")
		switch p.restart {
		case restartAlways:
			b.WriteString("restart = \"always\"\n")
		case restartNever:
			b.WriteString("restart = \"never\"\n")
		case restartOnFailure:
			b.WriteString("restart = \"on-failure\"\n")
		}
		b.WriteString("start_seconds = \"0s\"\nrestart_delay = \"0s\"\n")
		if p.stdoutFile {
			b.WriteString("stdout = \"file\"\nstderr = \"stdout\"\n")
		}
		if p.logMaxSize > 0 {
			fmt.Fprintf(&b, "log_max_size = %d\n", p.logMaxSize)
		}
		if p.logMaxFiles > 0 {
			fmt.Fprintf(&b, "log_max_files = %d\n", p.logMaxFiles)
		}
		if p.stopTimeout > 0 {
			fmt.Fprintf(&b, "stop_timeout = %s\n", tomlString(p.stopTimeout.String()))
		}
		if p.notify {
			b.WriteString("type = \"notify\"\n")
		}
		if len(p.dependsOn) > 0 {
			b.WriteString("depends_on = [")
			for i, d := range p.dependsOn {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(tomlString(d))
			}
			b.WriteString("]\n")
		}
	}
	return b.String(), nil
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Start launches superd -c CONFIG.
func (s *superdSys) Start(ctx context.Context) error {
	return s.start([]string{filepath.Join(s.bin, "superd"), "-c", s.cfg})
}

// Procs returns superd's pid: it has no helper processes.
func (s *superdSys) Procs() ([]int, error) { return []int{s.Pid()}, nil }

// WaitAllRunning polls GET /v1/programs every interval until every program
// is running. Until superd listens, connection errors are retried.
func (s *superdSys) WaitAllRunning(ctx context.Context, every time.Duration) error {
	return waitAllRunning(ctx, &s.daemon, len(s.w.programs), every, func(ctx context.Context) ([]instance, error) {
		insts, err := s.Status(ctx)
		if errors.Is(err, ipc.ErrUnreachable) {
			return nil, errNotYet
		}
		return insts, err
	})
}

// summarizeStates counts instances by state: "running: 3, starting: 1".
func summarizeStates(insts []instance) string {
	counts := map[string]int{}
	var order []string
	for _, in := range insts {
		if counts[in.state] == 0 {
			order = append(order, in.state)
		}
		counts[in.state]++
	}
	var parts []string
	for _, st := range order {
		parts = append(parts, st+": "+strconv.Itoa(counts[st]))
	}
	if len(parts) == 0 {
		return "no answer yet"
	}
	return strings.Join(parts, ", ")
}

// Status asks GET /v1/programs.
func (s *superdSys) Status(ctx context.Context) ([]instance, error) {
	insts, err := s.client.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]instance, 0, len(insts))
	for _, in := range insts {
		pid := 0
		if in.Pid != nil {
			pid = *in.Pid
		}
		out = append(out, instance{name: in.Name, state: string(in.State), pid: pid, restarts: in.Restarts, message: in.Message})
	}
	return out, nil
}

// CLIStatus runs `superctl -s SOCKET status`, its output to /dev/null.
func (s *superdSys) CLIStatus(ctx context.Context) error {
	return s.superctl(ctx, "-s", s.socket, "status")
}

// CLINoop runs `superctl version`, which does not contact superd.
func (s *superdSys) CLINoop(ctx context.Context) error {
	return s.superctl(ctx, "version")
}

// superctl runs superctl with args, its output to /dev/null.
func (s *superdSys) superctl(ctx context.Context, args ...string) error {
	return runQuiet(ctx, append([]string{filepath.Join(s.bin, "superctl")}, args...)...)
}

// LogFiles returns the rotated files of log_dir/PROGRAM.log that exist,
// oldest first, then PROGRAM.log itself.
func (s *superdSys) LogFiles(program string) ([]string, error) {
	return rotatedLogs(filepath.Join(s.dir, "logs", program+".log"))
}

// rotatedLogs returns the files BASE.N that exist, highest N (oldest)
// first, then BASE itself if it exists: the naming superd and supervisord
// share.
func rotatedLogs(base string) ([]string, error) {
	files, err := filepath.Glob(base + ".*")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b string) int { return cmp.Compare(rotation(b), rotation(a)) })
	if _, err := os.Stat(base); err == nil {
		files = append(files, base)
	}
	return files, nil
}

// Stop sends SIGTERM and waits for superd to exit, which it does once
// every program is down.
func (s *superdSys) Stop(ctx context.Context) error {
	if err := s.signal(syscall.SIGTERM); err != nil {
		return err
	}
	return s.waitStopped(ctx)
}

// Kill SIGKILLs superd's group and cleans up after it.
func (s *superdSys) Kill() { s.kill() }

// rotation returns N of a rotated log file NAME.log.N, or 0.
func rotation(path string) int {
	n, _ := strconv.Atoi(path[strings.LastIndexByte(path, '.')+1:])
	return n
}
