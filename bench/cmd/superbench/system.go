package main

import (
	"context"
	"time"
)

// system is one process supervisor under test. A value runs one supervisor
// once: Configure, Start, then any of the others, then Stop or Kill. It is
// used from one goroutine.
//
// The interface is what every scenario needs and nothing superd-specific,
// so that supervisord, s6 and runit can implement it too.
type system interface {
	// Configure writes the supervisor's configuration for w into a fresh
	// temporary folder. It starts nothing.
	Configure(w workload) error
	// Start launches the supervisor and returns at once; the caller's clock
	// for "time to all running" starts right before the call.
	Start(ctx context.Context) error
	// WaitAllRunning polls the supervisor's API every interval until every
	// program of the workload is running. A program that cannot run
	// (fatal), or the supervisor exiting, is an error.
	WaitAllRunning(ctx context.Context, every time.Duration) error
	// Status returns the state of every program, from the API.
	Status(ctx context.Context) ([]instance, error)
	// CLIStatus runs the supervisor's own command-line status once, output
	// discarded; an unsuccessful exit is an error.
	CLIStatus(ctx context.Context) error
	// CLINoop runs the same command-line tool once without contacting the
	// supervisor (e.g. its version): the tool's own start-up cost.
	CLINoop(ctx context.Context) error
	// Pid returns the supervisor's pid (valid after Start).
	Pid() int
	// LogFiles returns the files that hold program's captured stdout: the
	// rotated ones, then the current one last.
	LogFiles(program string) ([]string, error)
	// Stop asks the supervisor to drain gracefully (SIGTERM) and waits for
	// it to exit; an exit status other than 0 is an error.
	Stop(ctx context.Context) error
	// Kill SIGKILLs the supervisor's process group and every process it
	// left behind, and removes the temporary folder. It may be called at
	// any point, more than once, also after Stop.
	Kill()
}

// systemDef names a system and makes fresh instances of it.
type systemDef struct {
	name string
	new  func(e *env) system
}

// systemDefs lists the systems measured.
func systemDefs() []systemDef {
	return []systemDef{
		{name: "superd", new: func(e *env) system { return newSuperd(e) }},
	}
}

// workload is what a supervisor is asked to run: programs, each a single
// process.
type workload struct {
	programs []program
}

// program is one supervised program. Anything not set here is the
// supervisor's default, except that a program counts as started as soon as
// it was exec'd and is restarted without delay.
type program struct {
	name        string
	argv        []string // absolute path first; no shell unless argv says so
	restart     restartPolicy
	stdoutFile  bool          // capture stdout (and stderr) in a log file rather than the default
	logMaxSize  int64         // rotation size of that file; 0: the default
	logMaxFiles int           // rotated files kept; 0: the default
	stopTimeout time.Duration // grace after the stop signal; 0: the default
}

// restartPolicy is what happens when a program exits.
type restartPolicy int

const (
	restartOnFailure restartPolicy = iota
	restartAlways
	restartNever
)

// instance is one program's state as a supervisor reports it.
type instance struct {
	name     string
	state    string // superd's words: running, starting, exited, fatal, ...
	pid      int    // 0 when not running
	restarts int
	message  string
}
