package config

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// system is what Load asks of the machine. Tests replace it to load as root
// or not, with a fixed environment and fixed users.
type system struct {
	euid        int
	getenv      func(string) string
	lookupUser  func(name string) error // nil if the user exists
	lookupGroup func(name string) error // nil if the group exists
	lookPath    func(file string) (string, error)
}

// hostSystem returns the system superd runs on.
func hostSystem() *system {
	return &system{
		euid:        os.Geteuid(),
		getenv:      os.Getenv,
		lookupUser:  lookupUser,
		lookupGroup: lookupGroup,
		lookPath:    exec.LookPath,
	}
}

// lookupUser checks that a user, by name or numeric id, exists.
func lookupUser(name string) error {
	_, err := user.Lookup(name)
	if err != nil && isNumber(name) {
		_, err = user.LookupId(name)
	}
	var unknownName user.UnknownUserError
	var unknownID user.UnknownUserIdError
	if errors.As(err, &unknownName) || errors.As(err, &unknownID) {
		return fmt.Errorf("unknown user %q", name)
	}
	if err != nil {
		return fmt.Errorf("look up user %q: %w", name, err)
	}
	return nil
}

// lookupGroup checks that a group, by name or numeric id, exists.
func lookupGroup(name string) error {
	_, err := user.LookupGroup(name)
	if err != nil && isNumber(name) {
		_, err = user.LookupGroupId(name)
	}
	var unknownName user.UnknownGroupError
	var unknownID user.UnknownGroupIdError
	if errors.As(err, &unknownName) || errors.As(err, &unknownID) {
		return fmt.Errorf("unknown group %q", name)
	}
	if err != nil {
		return fmt.Errorf("look up group %q: %w", name, err)
	}
	return nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// DefaultSocket returns the control socket's path when neither the config
// nor a flag names one: /run/superd/superd.sock for root; otherwise
// $XDG_RUNTIME_DIR/superd/superd.sock, or /tmp/superd-UID/superd.sock when
// XDG_RUNTIME_DIR is unset or not absolute. superctl uses it to find superd.
func DefaultSocket() string {
	return defaultSocket(os.Geteuid(), os.Getenv)
}

func defaultSocket(euid int, getenv func(string) string) string {
	if euid == 0 {
		return "/run/superd/superd.sock"
	}
	if dir := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "superd", "superd.sock")
	}
	return filepath.Join("/tmp", "superd-"+strconv.Itoa(euid), "superd.sock")
}

// Resolve returns the path of the main config file, in the order of SPEC
// §1: flag if it is not empty, else $SUPERD_CONFIG if set and not empty,
// else "superd.toml" if that exists in the working folder, else
// /etc/superd/superd.toml. It does not check that the result exists.
func Resolve(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("SUPERD_CONFIG"); env != "" {
		return env
	}
	if _, err := os.Stat("superd.toml"); err == nil {
		return "superd.toml"
	}
	return "/etc/superd/superd.toml"
}

// fillSuperdDefaults gives every [superd] key that the file did not set
// its built-in default. With fillTableDefaults, it is the one place the
// defaults live.
func fillSuperdDefaults(sys *system, s *superdFields) {
	root := sys.euid == 0
	setDefault(&s.Socket, defaultSocket(sys.euid, sys.getenv))
	setDefault(&s.SocketMode, 0o600)
	setDefault(&s.StateDir, filepath.Dir(*s.Socket))
	if root {
		setDefault(&s.LogDir, "/var/log/superd")
	} else {
		setDefault(&s.LogDir, filepath.Join(*s.StateDir, "logs"))
	}
	setDefault(&s.LogFormat, "text")
	setDefault(&s.LogLevel, logLevel(0)) // slog.LevelInfo
	setDefault(&s.ShutdownTimeout, duration(90*time.Second))
	setDefault(&s.MaxParallelStarts, 16)
	setDefault(&s.Subreaper, true)
	setDefault(&s.Include, nil)
	setDefault(&s.SocketGroup, "")
	setDefault(&s.MetricsListen, "")
}

// fillTableDefaults gives every key of p, a program or a job with
// [defaults] already merged in, that no table set its built-in default.
func fillTableDefaults(p *programFields) {
	// The keys programs and jobs share. Command and shell have no
	// default: one of them is required.
	setDefault(&p.Directory, p.dir)
	setDefault(&p.User, "")
	setDefault(&p.Group, "")
	setDefault(&p.Umask, -1) // inherit superd's
	setDefault(&p.Environment, nil)
	setDefault(&p.EnvFiles, nil)
	setDefault(&p.InheritEnvironment, true)
	setDefault(&p.EnvExclude, nil)
	setDefault(&p.Credentials, nil)
	setDefault(&p.Limits, nil)
	setDefault(&p.StopSignal, signal(syscall.SIGTERM))
	setDefault(&p.StopTimeout, duration(10*time.Second))
	setDefault(&p.KillGroup, true)
	setDefault(&p.Stdout, OutputFile)
	setDefault(&p.Stderr, OutputStdout)
	setDefault(&p.LogMaxSize, 50<<20)
	setDefault(&p.LogMaxFiles, 5)
	setDefault(&p.Detach, false)
	if p.kind == kindJob {
		setDefault(&p.Timeout, 0) // no limit
		setDefault(&p.MaxConcurrent, 1)
		setDefault(&p.QueueMax, 16)
		setDefault(&p.Args, ArgsNone)
		setDefault(&p.KeepRuns, 20)
		return
	}
	setDefault(&p.Instances, 1)
	setDefault(&p.Autostart, true)
	setDefault(&p.Restart, RestartOnFailure)
	setDefault(&p.SuccessExitCodes, []int{0})
	setDefault(&p.StartSeconds, duration(time.Second))
	setDefault(&p.StartRetries, 3)
	setDefault(&p.BackoffInitial, duration(time.Second))
	setDefault(&p.BackoffMax, duration(60*time.Second))
	setDefault(&p.RestartDelay, 0)
	setDefault(&p.OnFatal, OnFatalNone)
	setDefault(&p.DependsOn, nil)
	setDefault(&p.Timestamps, false)
	setDefault(&p.Type, TypeSimple)
	setDefault(&p.Watchdog, 0)
	setDefault(&p.PidFile, "")
	// ready and health have no default; their keys do. A table from
	// [defaults] is shared by the programs that take it: copy it.
	if p.Ready != nil {
		r := *p.Ready
		setDefault(&r.Timeout, duration(30*time.Second))
		p.Ready = &r
	}
	if p.Health != nil {
		h := *p.Health
		setDefault(&h.Timeout, duration(2*time.Second))
		setDefault(&h.Interval, duration(10*time.Second))
		setDefault(&h.Failures, 3)
		p.Health = &h
	}
}

// setDefault points *field at v unless it is set.
func setDefault[T any](field **T, v T) {
	if *field == nil {
		*field = &v
	}
}
