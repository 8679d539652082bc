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

// programFields is a [program.NAME] or the [defaults] table as decoded: nil
// means not set.
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
	Instances          *int               `toml:"instances" check:"min=1,max=1024"`
	Autostart          *bool              `toml:"autostart"`
	Restart            *RestartPolicy     `toml:"restart"`
	SuccessExitCodes   *[]int             `toml:"success_exit_codes" check:"nonempty,min=0,max=255"`
	StartSeconds       *duration          `toml:"start_seconds"`
	StartRetries       *int               `toml:"start_retries" check:"min=-1"`
	BackoffInitial     *duration          `toml:"backoff_initial"`
	BackoffMax         *duration          `toml:"backoff_max"`
	RestartDelay       *duration          `toml:"restart_delay"`
	OnFatal            *OnFatal           `toml:"on_fatal"`
	StopSignal         *signal            `toml:"stop_signal"`
	StopTimeout        *duration          `toml:"stop_timeout"`
	KillGroup          *bool              `toml:"kill_group"`
	DependsOn          *[]string          `toml:"depends_on"`
	Stdout             *Output            `toml:"stdout" check:"stderronly"`
	Stderr             *Output            `toml:"stderr"`
	LogMaxSize         *size              `toml:"log_max_size" check:"positive"`
	LogMaxFiles        *int               `toml:"log_max_files" check:"min=1"`
	Timestamps         *bool              `toml:"timestamps"`
	Limits             *limits            `toml:"limits"`
	Ready              *readyCheck        `toml:"ready"`
	Health             *healthCheck       `toml:"health"`
	Type               *programType       `toml:"type"`
	Watchdog           *duration          `toml:"watchdog"`

	name   string // the program's name; "" for [defaults]
	dir    string // absolute folder of the defining file
	header pos    // the name in the program's table header
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

// keyPos returns where key was set for this program: in its own table, in
// [defaults], or (a built-in default) at the program's header.
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

// mergeDefaults gives p every key of def that p does not write. command
// and shell are one choice: a program that writes either takes neither from
// [defaults].
func mergeDefaults(p, def *programFields) {
	pv, dv := reflect.ValueOf(p).Elem(), reflect.ValueOf(def).Elem()
	ownsCommand := p.src.set["command"] != nil || p.src.set["shell"] != nil
	for k, i := range fieldIndex(pv.Type()) {
		if p.src.set[k] != nil || def.src.set[k] == nil {
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

// build returns the Program of fully defaulted fields. Empty slices and
// maps are nil, so that Equal compares effective configs.
func (p *programFields) build() *Program {
	var shell string
	if p.Shell != nil {
		shell = *p.Shell
	}
	var command []string
	if p.Command != nil && shell == "" {
		command = cloneSlice(*p.Command)
	}
	env := maps.Clone(*p.Environment)
	if len(env) == 0 {
		env = nil
	}
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
	}
}

// cloneSlice copies s; an empty s gives nil.
func cloneSlice[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}
