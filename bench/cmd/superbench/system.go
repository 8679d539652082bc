package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// system is one process supervisor under test. A value runs one supervisor
// once: Configure, Start, then any of the others, then Stop or Kill. It is
// used from one goroutine.
//
// The interface is what every scenario needs and nothing superd-specific:
// superd, supervisord, s6 and runit implement it (superd.go,
// supervisord.go, s6.go, runit.go).
type system interface {
	// Configure writes the supervisor's configuration for w into a fresh
	// temporary folder under /tmp. It starts nothing.
	Configure(w workload) error
	// Start launches the supervisor in its own process group and returns
	// at once; the caller's clock for "time to all running" starts right
	// before the call.
	Start(ctx context.Context) error
	// WaitAllRunning polls the supervisor's state every interval until
	// every program of the workload is running. A program that cannot run
	// (fatal), or the supervisor exiting, is an error.
	WaitAllRunning(ctx context.Context, every time.Duration) error
	// Status returns the state of every program, the cheapest way the
	// harness can read it: superd's API, supervisord's XML-RPC, the status
	// files of s6 and runit.
	Status(ctx context.Context) ([]instance, error)
	// CLIStatus runs the supervisor's own command-line status over every
	// program once, output discarded; an unsuccessful exit is an error.
	CLIStatus(ctx context.Context) error
	// CLINoop runs the same command-line tool once without contacting the
	// supervisor: the tool's own start-up cost. errNotApplicable when the
	// tool has no such mode.
	CLINoop(ctx context.Context) error
	// Pid returns the supervisor's main pid (valid after Start).
	Pid() int
	// Procs returns the pids of the supervisor's own processes, not its
	// programs: the main one, and for s6 and runit the per-service
	// supervisors and loggers.
	Procs() ([]int, error)
	// LogFiles returns the files that hold program's captured stdout: the
	// rotated ones, oldest first, then the current one last.
	LogFiles(program string) ([]string, error)
	// Stop asks the supervisor to drain gracefully the way its
	// documentation says (superd, supervisord, s6-svscan: SIGTERM; runit:
	// sv down, then SIGHUP to runsvdir) and returns once the supervisor
	// has exited cleanly and every process it started is gone.
	Stop(ctx context.Context) error
	// Kill SIGKILLs the supervisor's process group and every process it
	// left behind, and removes the temporary folder. It may be called at
	// any point, more than once, also after Stop.
	Kill()
}

// errNotApplicable is what a system returns for a measurement that does
// not exist for it; the table shows "-".
var errNotApplicable = errors.New("not applicable")

// systemDef names a system and makes fresh instances of it.
type systemDef struct {
	name string
	// bins are the programs it needs in $PATH (none: superd, from e.bin).
	bins []string
	new  func(e *env) system
	// superd is true for a build of superd (this one or --compare's): it
	// restarts at once, so restart measures it as many times as it likes.
	superd bool
}

// available reports whether every program d needs is installed.
func (d systemDef) available() error {
	for _, b := range d.bins {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
	}
	return nil
}

// systemDefs lists the systems measured, superd first: every scenario runs
// them in this order, round after round.
func systemDefs() []systemDef {
	return []systemDef{
		{name: "superd", superd: true, new: func(e *env) system { return newSuperd(e) }},
		{name: "supervisord", bins: []string{"supervisord", "supervisorctl"}, new: func(e *env) system { return newSupervisord(e) }},
		{name: "s6", bins: []string{"s6-svscan", "s6-supervise", "s6-svstat", "s6-log"}, new: func(e *env) system { return newS6(e) }},
		{name: "runit", bins: []string{"runsvdir", "runsv", "sv", "svlogd"}, new: func(e *env) system { return newRunit(e) }},
	}
}

// workload is what a supervisor is asked to run: programs, each a single
// process.
type workload struct {
	programs []program
}

// program is one supervised program. Anything not set here is the
// supervisor's default, except that a program counts as started as soon as
// it was exec'd and is restarted without delay where the supervisor lets
// that be configured.
type program struct {
	name        string
	argv        []string // absolute path first; no shell unless argv says so
	restart     restartPolicy
	stdoutFile  bool          // capture stdout (and stderr) in a log file rather than the default
	logMaxSize  int64         // rotation size of that file; 0: the default
	logMaxFiles int           // rotated files kept; 0: the default
	stopTimeout time.Duration // grace after the stop signal; 0: the default
	// notify: the program says when it is ready (bench/notify.c), and
	// counts as running only then: superd type = "notify" (READY=1 to
	// NOTIFY_SOCKET), s6 notification-fd 3 (NOTIFY_FD=3).
	notify bool
	// dependsOn names programs that must be running (and ready) before
	// this one starts: superd depends_on, s6 `s6-svwait -U` in the run
	// script.
	dependsOn []string
}

// restartPolicy is what happens when a program exits.
type restartPolicy int

const (
	restartOnFailure restartPolicy = iota
	restartAlways
	restartNever
)

// instance is one program's state as a supervisor reports it, in superd's
// words.
type instance struct {
	name     string
	state    string // running, starting, exited, fatal, ...
	pid      int    // 0 when not running
	restarts int    // -1: the supervisor does not count them
	message  string
}
