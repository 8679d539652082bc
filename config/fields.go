package config

import (
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"syscall"
	"time"
)

// superdFields is the [superd] table as decoded: nil means not set. The
// check tags are run by decoder.check.
type superdFields struct {
	Socket            *string    `toml:"socket" check:"rel"`
	SocketMode        *mode      `toml:"socket_mode"`
	StateDir          *string    `toml:"state_dir" check:"rel"`
	LogDir            *string    `toml:"log_dir" check:"rel"`
	LogFormat         *logFormat `toml:"log_format"`
	LogLevel          *logLevel  `toml:"log_level"`
	ShutdownTimeout   *duration  `toml:"shutdown_timeout"`
	MaxParallelStarts *int       `toml:"max_parallel_starts" check:"min=1"`
	Subreaper         *bool      `toml:"subreaper"`
	Include           *[]string  `toml:"include" check:"glob"`
	SocketGroup       *string    `toml:"socket_group" check:"socketgroup"`
	MetricsListen     *string    `toml:"metrics_listen" check:"hostport"`

	src keySource
}

// programFields is a [program.NAME], a [job.NAME] or the [defaults] table
// as decoded: nil means not set. Programs and jobs share most keys; a key
// tagged for:"program" or for:"job" belongs to that kind of table alone
// (see keyFor), and [defaults] takes every key but the job-only ones.
type programFields struct {
	Command            *[]string          `toml:"command" check:"argv"`
	Shell              *string            `toml:"shell" check:"nonempty"`
	Directory          *string            `toml:"directory" check:"abs"`
	User               *string            `toml:"user" check:"user"`
	Group              *string            `toml:"group" check:"group"`
	Umask              *mode              `toml:"umask"`
	Environment        *map[string]string `toml:"environment" check:"envname"`
	EnvFiles           *[]string          `toml:"env_files" check:"abs"`
	InheritEnvironment *bool              `toml:"inherit_environment"`
	EnvExclude         *[]string          `toml:"env_exclude"`
	Instances          *int               `toml:"instances" check:"min=1,max=1024" for:"program"`
	Autostart          *bool              `toml:"autostart" for:"program"`
	Restart            *RestartPolicy     `toml:"restart" for:"program"`
	SuccessExitCodes   *[]int             `toml:"success_exit_codes" check:"nonempty,min=0,max=255" for:"program"`
	StartSeconds       *duration          `toml:"start_seconds" for:"program"`
	StartRetries       *int               `toml:"start_retries" check:"min=-1" for:"program"`
	BackoffInitial     *duration          `toml:"backoff_initial" for:"program"`
	BackoffMax         *duration          `toml:"backoff_max" for:"program"`
	RestartDelay       *duration          `toml:"restart_delay" for:"program"`
	OnFatal            *OnFatal           `toml:"on_fatal" for:"program"`
	StopSignal         *signal            `toml:"stop_signal"`
	StopTimeout        *duration          `toml:"stop_timeout"`
	KillGroup          *bool              `toml:"kill_group"`
	DependsOn          *[]string          `toml:"depends_on" for:"program"`
	Stdout             *Output            `toml:"stdout" check:"stderronly"`
	Stderr             *Output            `toml:"stderr"`
	LogMaxSize         *size              `toml:"log_max_size" check:"positive"`
	LogMaxFiles        *int               `toml:"log_max_files" check:"min=1"`
	Timestamps         *bool              `toml:"timestamps" for:"program"`
	Limits             *limits            `toml:"limits"`
	Ready              *readyCheck        `toml:"ready" for:"program"`
	Health             *healthCheck       `toml:"health" for:"program"`
	Type               *programType       `toml:"type" for:"program"`
	Watchdog           *duration          `toml:"watchdog" for:"program"`
	PidFile            *string            `toml:"pidfile" check:"abs" for:"program"`
	Credentials        *map[string]string `toml:"credentials" check:"credentials"`
	Detach             *bool              `toml:"detach"`
	Timeout            *duration          `toml:"timeout" for:"job"`
	MaxConcurrent      *int               `toml:"max_concurrent" check:"min=1,max=1024" for:"job"`
	QueueMax           *int               `toml:"queue_max" check:"min=0,max=65536" for:"job"`
	Args               *jobArgs           `toml:"args" for:"job"`
	KeepRuns           *int               `toml:"keep_runs" check:"min=1,max=10000" for:"job"`

	kind   tableKind // kindProgram, kindJob or kindDefaults
	name   string    // the program's or job's name; "" for [defaults]
	dir    string    // absolute folder of the defining file
	header pos       // the name in the table header
	src    keySource
}

// keySource says where the keys of a fields struct come from. A key that
// a table wrote is in set even when its value was invalid (and its field is
// nil); then it is in bad too, so that checks across keys skip it.
type keySource struct {
	set map[string]*table // the table that wrote each key
	bad map[string]bool   // keys whose value was invalid
}

func newKeySource() keySource {
	return keySource{set: map[string]*table{}, bad: map[string]bool{}}
}

// keyPos returns where key was set for this program or job: in its own
// table, in [defaults], or (a built-in default) at its header.
func (p *programFields) keyPos(key string) pos {
	if t := p.src.set[key]; t != nil {
		return t.key(key)
	}
	return p.header
}

// valPos is like keyPos for the value of key, or of a part of it
// (valPos("depends_on", elem(1))).
func (p *programFields) valPos(key string, rest ...string) pos {
	if t := p.src.set[key]; t != nil {
		return t.val(append([]string{key}, rest...)...)
	}
	return p.header
}

// mergeDefaults gives p every key of def that p does not write and that
// p's kind of table takes (a job takes no program-only key). command and
// shell are one choice: a program or job that writes either takes neither
// from [defaults].
func mergeDefaults(xs fieldIndexes, p, def *programFields) {
	pv, dv := reflect.ValueOf(p).Elem(), reflect.ValueOf(def).Elem()
	ownsCommand := p.src.set["command"] != nil || p.src.set["shell"] != nil
	fields := xs.of(pv.Type())
	for _, k := range fields.keys {
		if p.src.set[k] != nil || def.src.set[k] == nil || !xs.takesKey(p.kind, k) {
			continue
		}
		if (k == "command" || k == "shell") && ownsCommand {
			continue
		}
		p.src.set[k] = def.src.set[k]
		if def.src.bad[k] {
			p.src.bad[k] = true
			continue
		}
		i := fields.field[k].index
		pv.Field(i).Set(dv.Field(i))
	}
}

// build returns the Superd of fully defaulted fields.
func (s *superdFields) build() Superd {
	return Superd{
		Socket:            *s.Socket,
		SocketMode:        os.FileMode(*s.SocketMode),
		StateDir:          *s.StateDir,
		LogDir:            *s.LogDir,
		LogFormat:         string(*s.LogFormat),
		LogLevel:          slog.Level(*s.LogLevel),
		ShutdownTimeout:   time.Duration(*s.ShutdownTimeout),
		MaxParallelStarts: *s.MaxParallelStarts,
		Subreaper:         *s.Subreaper,
		Include:           cloneSlice(*s.Include),
		SocketGroup:       *s.SocketGroup,
		MetricsListen:     *s.MetricsListen,
	}
}

// commandShell returns the command and the shell of a program or job, one
// of them empty: with a shell, the command is nil.
func (p *programFields) commandShell() (command []string, shell string) {
	if p.Shell != nil {
		shell = *p.Shell
	}
	if p.Command != nil && shell == "" {
		command = cloneSlice(*p.Command)
	}
	return command, shell
}

// build returns the Program of fully defaulted fields. Empty slices and
// maps are nil, so that Equal compares effective configs.
func (p *programFields) build() *Program {
	command, shell := p.commandShell()
	env := cloneMap(*p.Environment)
	var ready, health *Check
	if p.Ready != nil {
		ready = p.Ready.build()
	}
	if p.Health != nil {
		health = p.Health.build()
	}
	return &Program{
		Name:               p.name,
		File:               p.header.File,
		Line:               p.header.Line,
		Col:                p.header.Col,
		Command:            command,
		Shell:              shell,
		Directory:          *p.Directory,
		User:               *p.User,
		Group:              *p.Group,
		Umask:              int(*p.Umask),
		Environment:        env,
		EnvFiles:           cloneSlice(*p.EnvFiles),
		InheritEnvironment: *p.InheritEnvironment,
		EnvExclude:         cloneSlice(*p.EnvExclude),
		Instances:          *p.Instances,
		Autostart:          *p.Autostart,
		Restart:            *p.Restart,
		SuccessExitCodes:   cloneSlice(*p.SuccessExitCodes),
		StartSeconds:       time.Duration(*p.StartSeconds),
		StartRetries:       *p.StartRetries,
		BackoffInitial:     time.Duration(*p.BackoffInitial),
		BackoffMax:         time.Duration(*p.BackoffMax),
		RestartDelay:       time.Duration(*p.RestartDelay),
		OnFatal:            *p.OnFatal,
		StopSignal:         syscall.Signal(*p.StopSignal),
		StopTimeout:        time.Duration(*p.StopTimeout),
		KillGroup:          *p.KillGroup,
		DependsOn:          cloneSlice(*p.DependsOn),
		Stdout:             *p.Stdout,
		Stderr:             *p.Stderr,
		LogMaxSize:         int64(*p.LogMaxSize),
		LogMaxFiles:        *p.LogMaxFiles,
		Timestamps:         *p.Timestamps,
		Limits:             cloneSlice([]Rlimit(*p.Limits)),
		Ready:              ready,
		Health:             health,
		Type:               string(*p.Type),
		Watchdog:           time.Duration(*p.Watchdog),
		PidFile:            *p.PidFile,
		Credentials:        cloneMap(*p.Credentials),
		Detach:             *p.Detach,
	}
}

// cloneMap copies m; an empty m gives nil.
func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// cloneSlice copies s; an empty s gives nil.
func cloneSlice[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}
