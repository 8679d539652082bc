// Package config turns superd's TOML files into a validated, defaulted
// *Config. Everything the supervisor reads from the configuration is here,
// already typed: durations, sizes, signals, modes and enums are parsed when
// the file is decoded, so their errors carry a line and a column.
package config

import (
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"syscall"
	"time"
)

// Config is one loaded and validated configuration: the main file and
// everything it includes. A *Config is never modified after Load returns, so
// it may be shared between goroutines.
type Config struct {
	// Path is the absolute path of the main file.
	Path string
	// Files holds the absolute path of every file read: the main file
	// first, then the included ones in the order they were read.
	Files []string
	// Superd holds the [superd] table, defaulted.
	Superd Superd
	// Programs holds every [program.NAME], defaults applied, sorted by name.
	Programs []*Program
	// Jobs holds every [job.NAME], defaults applied, sorted by name. No job
	// has the name of a program: they share one namespace.
	Jobs []*Job
}

// Program returns the program called name, or nil.
func (c *Config) Program(name string) *Program {
	for _, p := range c.Programs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Job returns the job called name, or nil.
func (c *Config) Job(name string) *Job {
	for _, j := range c.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// Superd is the [superd] table. Every path in it is absolute after Load;
// Include holds the include patterns made absolute.
type Superd struct {
	Socket            string
	SocketMode        os.FileMode
	StateDir          string
	LogDir            string
	LogFormat         string // "text" or "json"
	LogLevel          slog.Level
	ShutdownTimeout   time.Duration
	MaxParallelStarts int
	Subreaper         bool
	Include           []string
	// SocketGroup is the group (name or gid) the socket file is given to and
	// whose members may call superd; "" for none.
	SocketGroup string
	// MetricsListen is a host:port where /metrics is also served over TCP;
	// "" for none.
	MetricsListen string
}

// RestartPolicy says when an instance that had been running is restarted.
type RestartPolicy string

// The restart policies.
const (
	RestartAlways    RestartPolicy = "always"
	RestartOnFailure RestartPolicy = "on-failure"
	RestartNever     RestartPolicy = "never"
)

// OnFatal says what superd does when an instance goes fatal.
type OnFatal string

// The on_fatal values.
const (
	OnFatalNone     OnFatal = "none"
	OnFatalShutdown OnFatal = "shutdown"
)

// Output is where one of a program's output streams goes.
type Output string

// The output destinations. OutputStdout is valid for stderr only: it merges
// stderr into stdout.
const (
	OutputFile    Output = "file"
	OutputInherit Output = "inherit"
	OutputNull    Output = "null"
	OutputJournal Output = "journal" // journald, SYSLOG_IDENTIFIER = the instance name
	OutputStdout  Output = "stdout"
)

// Rlimit is one resource limit of a program.
type Rlimit struct {
	Name     string // the config key: "nofile", "nproc", "core", ...
	Resource int    // unix.RLIMIT_*
	Soft     uint64
	Hard     uint64
}

// The program types (Program.Type).
const (
	// TypeSimple: the process superd starts is the service.
	TypeSimple = "simple"
	// TypeNotify: like simple, and the service says READY=1 (and pings
	// WATCHDOG=1) on the NOTIFY_SOCKET superd gives it.
	TypeNotify = "notify"
	// TypeForking: the command forks a daemon and exits 0; superd then
	// supervises the pid the daemon wrote to PidFile.
	TypeForking = "forking"
)

// Check is a readiness or health check: exactly one of TCP, HTTP, Exec and Log (Log: ready only) is set.
type Check struct {
	TCP      string         // "host:port": a TCP connect succeeds
	HTTP     string         // "http://..." URL: a GET answers 2xx
	Exec     []string       // argv (absolute argv[0]): exits 0
	Log      *regexp.Regexp // ready only: an output line matches
	Timeout  time.Duration  // ready: how long the instance has to become ready (default 30s); health: one attempt's bound (default 2s)
	Interval time.Duration  // health: between attempts (default 10s); ready: unused (0)
	Failures int            // health: consecutive failures that make it unhealthy (default 3, >= 1)
}

// Equal reports whether c and d are the same check. Log compares by its
// source text, not by pointer. A nil *Check equals only nil.
func (c *Check) Equal(d *Check) bool {
	if c == nil || d == nil {
		return c == d
	}
	a, b := *c, *d
	if (a.Log == nil) != (b.Log == nil) || (a.Log != nil && a.Log.String() != b.Log.String()) {
		return false
	}
	a.Log, b.Log = nil, nil
	return reflect.DeepEqual(a, b)
}

// Program is one [program.NAME] with [defaults] and built-in defaults
// applied. Every path is absolute.
type Program struct {
	Name string
	// File is the file that defines the program.
	File string
	// Line and Col locate the program's table header in File.
	Line, Col int

	Command            []string // argv; empty when Shell is set
	Shell              string   // run through /bin/sh -c when non-empty
	Directory          string
	User               string
	Group              string
	Umask              int // -1: inherit superd's
	Environment        map[string]string
	EnvFiles           []string
	InheritEnvironment bool
	EnvExclude         []string
	Instances          int
	Autostart          bool
	Restart            RestartPolicy
	SuccessExitCodes   []int
	StartSeconds       time.Duration
	StartRetries       int // -1: never give up
	BackoffInitial     time.Duration
	BackoffMax         time.Duration
	RestartDelay       time.Duration
	OnFatal            OnFatal
	StopSignal         syscall.Signal
	StopTimeout        time.Duration
	KillGroup          bool
	DependsOn          []string
	Stdout             Output // file | inherit | null
	Stderr             Output // stdout | file | inherit | null
	LogMaxSize         int64
	LogMaxFiles        int
	Timestamps         bool
	Limits             []Rlimit
	Ready              *Check        // nil: no readiness check
	Health             *Check        // nil: no health check
	Type               string        // "simple" (default) or "notify"
	Watchdog           time.Duration // notify: restart when WATCHDOG=1 pings stop for this long; 0 = off
	PidFile            string        // type = "forking": where the daemon writes its pid
	// Credentials maps a credential's name (a file name in
	// $CREDENTIALS_DIRECTORY) to the absolute path of its source file, which
	// Load does not check exists; nil for none.
	Credentials map[string]string
	// Detach starts each instance in its own session, its output straight
	// to its file, tracked by a pidfile; it outlives superd. Stdout is then
	// file or null, and Stderr stdout, file or null.
	Detach bool
}

// Argv returns the argv the program runs: Command, or /bin/sh -c Shell.
func (p *Program) Argv() []string {
	return argv(p.Command, p.Shell)
}

// argv returns command, or /bin/sh -c shell when shell is not empty.
func argv(command []string, shell string) []string {
	if shell != "" {
		return []string{"/bin/sh", "-c", shell}
	}
	return command
}

// The values of Job.Args.
const (
	// ArgsNone: a run takes no arguments; any is refused.
	ArgsNone = "none"
	// ArgsAppend: a run's arguments are appended to Argv as separate
	// elements, never through a shell.
	ArgsAppend = "append"
)

// Job is one [job.NAME] with [defaults] and built-in defaults applied: a
// command run on demand (superctl job run NAME). Every path is absolute.
// The keys it shares with Program mean the same; Stdout and Stderr go to
// the run's own file, log_dir/jobs/RUNID.log.
type Job struct {
	Name string
	// File is the file that defines the job.
	File string
	// Line and Col locate the job's table header in File.
	Line, Col int

	Command            []string // argv; empty when Shell is set
	Shell              string   // run through /bin/sh -c when non-empty
	Directory          string
	User, Group        string
	Umask              int // -1: inherit superd's
	Environment        map[string]string
	EnvFiles           []string
	InheritEnvironment bool
	EnvExclude         []string
	Credentials        map[string]string // name -> absolute source path; nil for none
	Limits             []Rlimit
	Stdout             Output // file (default) | inherit | null
	Stderr             Output // stdout (default) | file | inherit | null
	LogMaxSize         int64
	LogMaxFiles        int
	StopSignal         syscall.Signal
	StopTimeout        time.Duration
	KillGroup          bool
	Timeout            time.Duration // a run is stopped after this long; 0: no limit
	MaxConcurrent      int           // live runs at most (default 1, >= 1)
	QueueMax           int           // runs waiting at most; beyond, a run is refused (default 16, >= 0)
	Args               string        // ArgsNone (default) or ArgsAppend; ArgsAppend only with Command
	Detach             bool          // like Program.Detach; Stdout, Stderr then file or null (Stderr also stdout)
	KeepRuns           int           // finished runs kept for superctl jobs (default 20, >= 1)
}

// Argv returns the argv a run starts from: Command, or /bin/sh -c Shell.
// The caller must not modify it; with Args == ArgsAppend it appends the
// run's arguments to a copy.
func (j *Job) Argv() []string {
	return argv(j.Command, j.Shell)
}

// Equal reports whether j and k have the same effective configuration.
// Where a job is defined (File, Line, Col) does not count. A nil *Job
// equals only nil.
func (j *Job) Equal(k *Job) bool {
	if j == nil || k == nil {
		return j == k
	}
	a, b := *j, *k
	a.File, a.Line, a.Col = "", 0, 0
	b.File, b.Line, b.Col = "", 0, 0
	return reflect.DeepEqual(a, b)
}

// IsSuccess reports whether exit code code counts as a success.
func (p *Program) IsSuccess(code int) bool {
	for _, c := range p.SuccessExitCodes {
		if c == code {
			return true
		}
	}
	return false
}

// Equal reports whether p and q have the same effective configuration, so
// that a reload may leave the program alone. Where a program is defined
// (File, Line, Col) does not count. A nil *Program equals only nil.
func (p *Program) Equal(q *Program) bool {
	if p == nil || q == nil {
		return p == q
	}
	a, b := *p, *q
	a.File, a.Line, a.Col = "", 0, 0
	b.File, b.Line, b.Col = "", 0, 0
	// A *regexp.Regexp compares by pointer under DeepEqual: Check.Equal
	// compares it by its text.
	if !a.Ready.Equal(b.Ready) || !a.Health.Equal(b.Health) {
		return false
	}
	a.Ready, a.Health = nil, nil
	b.Ready, b.Health = nil, nil
	return reflect.DeepEqual(a, b)
}
