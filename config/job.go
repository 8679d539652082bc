package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"syscall"
	"time"
)

// Jobs ([job.NAME]) are decoded into the same programFields as programs:
// most keys are shared. The keys that one kind of table takes alone are
// tagged for:"program" or for:"job" in programFields; a key written in the
// wrong kind of table is refused with a message naming its kind. Credential
// names and the job-only values are checked here too.

// keyFor returns the kind of table that alone takes key: kindProgram,
// kindJob, or kindDefaults for a key both take (or no key at all).
func (xs fieldIndexes) keyFor(key string) tableKind {
	if f, ok := xs.of(reflect.TypeFor[programFields]()).field[key]; ok {
		return f.only
	}
	return kindDefaults
}

// takesKey reports whether a kind of table may hold key (if key is a key at
// all): a program takes no job-only key, a job no program-only key, and
// [defaults] takes the keys of programs.
func (xs fieldIndexes) takesKey(kind tableKind, key string) bool {
	switch kind {
	case kindProgram, kindDefaults:
		return xs.keyFor(key) != kindJob
	case kindJob:
		return xs.keyFor(key) != kindProgram
	}
	return true
}

// foreignKey returns why a kind of table refuses key, a key of the other
// kind of table, or "" if it does not.
func (xs fieldIndexes) foreignKey(kind tableKind, key string) string {
	if xs.takesKey(kind, key) {
		return ""
	}
	switch kind {
	case kindJob:
		return fmt.Sprintf("%s is a program key; jobs do not take it", key)
	case kindDefaults:
		return fmt.Sprintf("%s is a job key; [defaults] does not take it", key)
	}
	return fmt.Sprintf("%s is a job key; programs do not take it", key)
}

// kindNoun names a kind of named table in messages: "program" or "job".
func kindNoun(kind tableKind) string {
	if kind == kindJob {
		return "job"
	}
	return "program"
}

// jobArgs is a job's args: ArgsNone or ArgsAppend.
type jobArgs string

// UnmarshalText accepts "none" or "append".
func (a *jobArgs) UnmarshalText(text []byte) error {
	switch s := string(text); s {
	case ArgsNone, ArgsAppend:
		*a = jobArgs(s)
		return nil
	}
	return enumError(string(text), []string{ArgsNone, ArgsAppend})
}

func (*jobArgs) expected() string { return `"none" or "append"` }

// validCredentialName reports whether name may name a credential, a file in
// $CREDENTIALS_DIRECTORY: 1 to 64 of [A-Za-z0-9_.-], and not "." or "..".
func validCredentialName(name string) bool {
	if len(name) == 0 || len(name) > 64 || name == "." || name == ".." {
		return false
	}
	for i := range len(name) {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '.' || c == '-':
		default:
			return false
		}
	}
	return true
}

// checkCredentials checks a decoded credentials table: valid names, each
// reported at its key, and absolute source paths, each reported at its
// value. Whether a source exists is checked at every start, not here.
func (d *decoder) checkCredentials(t *table, key string, creds map[string]string) bool {
	good := true
	for _, name := range sortedKeys(creds) {
		if !validCredentialName(name) {
			good = d.fail(t.key(key, name), `%s: invalid credential name %q: a name is 1 to 64 letters, digits, '_', '.' or '-', other than "." and ".."`, key, name)
		}
		p := []string{key, name}
		switch src := creds[name]; {
		case src == "":
			good = d.fail(t.val(p...), "%s: must not be empty", keyName(p))
		case !filepath.IsAbs(src):
			good = d.fail(t.val(p...), "%s: %q is not an absolute path", keyName(p), src)
		}
	}
	return good
}

// buildJob returns the Job of fully defaulted fields. Empty slices and maps
// are nil, so that Equal compares effective configs.
func (p *programFields) buildJob() *Job {
	command, shell := p.commandShell()
	return &Job{
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
		Environment:        cloneMap(*p.Environment),
		EnvFiles:           cloneSlice(*p.EnvFiles),
		InheritEnvironment: *p.InheritEnvironment,
		EnvExclude:         cloneSlice(*p.EnvExclude),
		Credentials:        cloneMap(*p.Credentials),
		Limits:             cloneSlice([]Rlimit(*p.Limits)),
		Stdout:             *p.Stdout,
		Stderr:             *p.Stderr,
		LogMaxSize:         int64(*p.LogMaxSize),
		LogMaxFiles:        *p.LogMaxFiles,
		StopSignal:         syscall.Signal(*p.StopSignal),
		StopTimeout:        time.Duration(*p.StopTimeout),
		KillGroup:          *p.KillGroup,
		Timeout:            time.Duration(*p.Timeout),
		MaxConcurrent:      *p.MaxConcurrent,
		QueueMax:           *p.QueueMax,
		Args:               string(*p.Args),
		Detach:             *p.Detach,
		KeepRuns:           *p.KeepRuns,
	}
}
