package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/superd/superd/ipc"
	"github.com/superd/superd/ipc/apitype"
)

// maxSocketPath is the longest path a Unix socket may have (sun_path
// holds 108 bytes with the NUL).
const maxSocketPath = 107

// superdSys is the system of this repository: superd from e.bin, driven
// through its socket with ipc.Client and through superctl. Its folder
// (/tmp/sb-XXXX) holds the config, the socket, the state, superd's own log
// (superd.log) and the programs' output (logs/).
type superdSys struct {
	e      *env
	w      workload
	dir    string
	cfg    string
	socket string
	client *ipc.Client

	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{} // closed once cmd.Wait returned; waitErr is then set
	waitErr error
}

func newSuperd(e *env) *superdSys { return &superdSys{e: e} }

// Configure writes superd.toml for w into a new folder under /tmp.
func (s *superdSys) Configure(w workload) error {
	dir, err := os.MkdirTemp("/tmp", "sb-")
	if err != nil {
		return fmt.Errorf("make superd's folder: %w", err)
	}
	s.dir, s.w = dir, w
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

// Start launches superd in its own process group, with Pdeathsig so that
// it dies with superbench, its output going to superd.log.
func (s *superdSys) Start(ctx context.Context) error {
	if s.cmd != nil {
		return errors.New("superd: started twice")
	}
	f, err := os.Create(filepath.Join(s.dir, "superd.log"))
	if err != nil {
		return fmt.Errorf("create superd's log: %w", err)
	}
	s.logFile = f
	cmd := exec.Command(filepath.Join(s.e.bin, "superd"), "-c", s.cfg)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start superd: %w", err)
	}
	s.cmd = cmd
	s.e.procs.add(cmd.Process.Pid, procKind{group: true, waited: true})
	s.exited = make(chan struct{})
	// exits when superd has exited (Stop or Kill makes sure it does); Kill
	// waits on s.exited
	go func() {
		s.waitErr = cmd.Wait()
		s.e.procs.forget(cmd.Process.Pid)
		close(s.exited)
	}()
	return nil
}

// Pid returns superd's pid.
func (s *superdSys) Pid() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// gone returns an error when superd has exited.
func (s *superdSys) gone() error {
	select {
	case <-s.exited:
		return fmt.Errorf("superd exited (%v); its log ends: %s", s.waitErr, s.logTail())
	default:
		return nil
	}
}

// logTail returns the end of superd's own log, for error messages.
func (s *superdSys) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "superd.log"))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	const keep = 1500
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return strings.TrimSpace(string(b))
}

// WaitAllRunning polls GET /v1/programs every interval until every program
// is running. Until superd listens, connection errors are retried.
func (s *superdSys) WaitAllRunning(ctx context.Context, every time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, s.e.sizes.waitDeadline)
	defer cancel()
	var last []instance
	err := poll(ctx, every, func() (bool, error) {
		if err := s.gone(); err != nil {
			return false, err
		}
		insts, err := s.Status(ctx)
		if errors.Is(err, ipc.ErrUnreachable) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		last = insts
		running := 0
		for _, in := range insts {
			switch in.state {
			case string(apitype.StateRunning):
				running++
			case string(apitype.StateFatal), string(apitype.StateExited):
				return false, fmt.Errorf("program %s is %s: %s", in.name, in.state, in.message)
			}
		}
		return running == len(s.w.programs) && len(insts) == len(s.w.programs), nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("not all %d programs running within %v (%s): %w", len(s.w.programs), s.e.sizes.waitDeadline, summarizeStates(last), err)
	}
	return err
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
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(s.e.bin, "superctl"), args...)
	cmd.Stdout = devnull
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("superctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// LogFiles returns the rotated files of log_dir/PROGRAM.log that exist,
// oldest first, then PROGRAM.log itself.
func (s *superdSys) LogFiles(program string) ([]string, error) {
	base := filepath.Join(s.dir, "logs", program+".log")
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
	if s.cmd == nil {
		return errors.New("superd: not started")
	}
	if err := s.gone(); err != nil {
		return err
	}
	if err := syscall.Kill(s.Pid(), syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM superd: %w", err)
	}
	return s.waitExit(ctx)
}

// waitExit waits for superd to exit after a Stop: exit status 0 or an error.
func (s *superdSys) waitExit(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.e.sizes.waitDeadline)
	defer cancel()
	select {
	case <-s.exited:
	case <-ctx.Done():
		return fmt.Errorf("superd did not exit after SIGTERM: %w", context.Cause(ctx))
	}
	if s.waitErr != nil {
		return fmt.Errorf("superd: %w; its log ends: %s", s.waitErr, s.logTail())
	}
	return nil
}

// Kill SIGKILLs superd's group, waits for superd, kills and reaps the
// processes it left (handed to superbench, a subreaper) and removes the
// folder.
func (s *superdSys) Kill() {
	if s.cmd != nil {
		pid := s.Pid()
		select {
		case <-s.exited:
		default:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			t := time.NewTimer(reapDeadline)
			select {
			case <-s.exited:
			case <-t.C:
				fmt.Fprintf(s.e.log, "superbench: superd (pid %d) did not die within %v of SIGKILL\n", pid, reapDeadline)
			}
			t.Stop()
		}
		if _, err := s.e.procs.sweepOrphans(); err != nil {
			fmt.Fprintf(s.e.log, "superbench: %v\n", err)
		}
	}
	if s.logFile != nil {
		s.logFile.Close()
		s.logFile = nil
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			fmt.Fprintf(s.e.log, "superbench: remove %s: %v\n", s.dir, err)
		}
		s.dir = ""
	}
}

// rotation returns N of a rotated log file NAME.log.N, or 0.
func rotation(path string) int {
	n, _ := strconv.Atoi(path[strings.LastIndexByte(path, '.')+1:])
	return n
}
