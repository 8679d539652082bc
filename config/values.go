package config

import (
	"encoding"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The typed values of the configuration. Each one parses itself from a TOML
// string with UnmarshalText and names, with expected, what it wants, so the
// decoder can report a wrong type or a bad value at the value's position.

// textValue is a value written in the file as a string.
type textValue interface {
	encoding.TextUnmarshaler
	// expected describes the value for a type error: `a duration string like "10s"`.
	expected() string
}

// intValue is a textValue that also takes a TOML integer.
type intValue interface {
	unmarshalInt(n int64) error
}

// duration is a Go duration string that is not negative.
type duration time.Duration

// UnmarshalText parses a Go duration string like "1m30s".
func (d *duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (write it like \"1m30s\" or \"250ms\")", text)
	}
	if v < 0 {
		return fmt.Errorf("duration %q must not be negative", text)
	}
	*d = duration(v)
	return nil
}

func (*duration) expected() string { return `a duration string like "10s"` }

// size is a number of bytes, from an integer or a string with a unit.
type size int64

// UnmarshalText parses a size like "50MiB"; see ParseSize.
func (s *size) UnmarshalText(text []byte) error {
	n, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = size(n)
	return nil
}

func (s *size) unmarshalInt(n int64) error {
	if n < 0 {
		return fmt.Errorf("size %d must not be negative", n)
	}
	*s = size(n)
	return nil
}

func (*size) expected() string { return `a size like "50MiB" or an integer of bytes` }

// ParseSize parses a size: a non-negative number, optionally with a
// fraction, and a unit, case-insensitive: B, kB, MB, GB, TB (powers of
// 1000) or KiB, MiB, GiB, TiB (powers of 1024). A number without a unit is
// bytes. White space between number and unit is allowed. A fractional
// result is rounded down to whole bytes. The error says what is wrong with s.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult, ok := sizeUnit(unit)
	if num == "" || !ok {
		return 0, fmt.Errorf("invalid size %q (write it like \"50MiB\", \"10MB\" or \"512B\")", s)
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q (write it like \"50MiB\", \"10MB\" or \"512B\")", s)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}

// sizeUnit returns the multiplier of a size unit.
func sizeUnit(unit string) (int64, bool) {
	switch strings.ToLower(unit) {
	case "", "b":
		return 1, true
	case "kb":
		return 1000, true
	case "mb":
		return 1000 * 1000, true
	case "gb":
		return 1000 * 1000 * 1000, true
	case "tb":
		return 1000 * 1000 * 1000 * 1000, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	}
	return 0, false
}

// signal is a signal given by name or number.
type signal syscall.Signal

// UnmarshalText parses a signal; see ParseSignal.
func (s *signal) UnmarshalText(text []byte) error {
	sig, err := ParseSignal(string(text))
	if err != nil {
		return err
	}
	*s = signal(sig)
	return nil
}

func (s *signal) unmarshalInt(n int64) error {
	return s.UnmarshalText([]byte(strconv.FormatInt(n, 10)))
}

func (*signal) expected() string { return `a signal name like "TERM" or a number` }

// maxSignal is the highest signal number on Linux (SIGRTMAX).
const maxSignal = 64

// ParseSignal parses a signal as superd's config and superctl take it: a
// name with or without "SIG" in any case ("TERM", "SIGTERM", "term"), or a
// number from 1 to 64 ("15"). The error says what is wrong with s.
func ParseSignal(s string) (syscall.Signal, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.Atoi(t); err == nil {
		if n < 1 || n > maxSignal {
			return 0, fmt.Errorf("signal number %d is out of range (1 to %d)", n, maxSignal)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(t)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// mode is a file mode or umask written as an octal string.
type mode int

// UnmarshalText parses an octal string like "0660" or "022", at most "0777".
func (m *mode) UnmarshalText(text []byte) error {
	t := strings.TrimPrefix(string(text), "0o")
	if t == "" || strings.Trim(t, "01234567") != "" || len(t) > 4 {
		return fmt.Errorf("invalid mode %q (write it as an octal string like \"0660\")", text)
	}
	v, err := strconv.ParseUint(t, 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("mode %q is out of range (at most \"0777\")", text)
	}
	*m = mode(v)
	return nil
}

func (*mode) expected() string { return `an octal mode string like "0660"` }

// logLevel is superd's own log level.
type logLevel slog.Level

// UnmarshalText parses a level; see ParseLogLevel.
func (l *logLevel) UnmarshalText(text []byte) error {
	v, err := ParseLogLevel(string(text))
	if err != nil {
		return err
	}
	*l = logLevel(v)
	return nil
}

func (*logLevel) expected() string { return `a log level like "info"` }

// ParseLogLevel parses a log level as superd's config and --log-level take
// it: debug, info, warn or error, in any case.
func ParseLogLevel(s string) (slog.Level, error) {
	levels := []string{"debug", "info", "warn", "error"}
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, enumError(s, levels)
}

// logFormat is the format of superd's own log.
type logFormat string

// UnmarshalText accepts "text" or "json".
func (f *logFormat) UnmarshalText(text []byte) error {
	switch s := string(text); s {
	case "text", "json":
		*f = logFormat(s)
		return nil
	}
	return enumError(string(text), []string{"text", "json"})
}

func (*logFormat) expected() string { return `"text" or "json"` }

// UnmarshalText accepts "always", "on-failure" or "never".
func (r *RestartPolicy) UnmarshalText(text []byte) error {
	switch v := RestartPolicy(text); v {
	case RestartAlways, RestartOnFailure, RestartNever:
		*r = v
		return nil
	}
	return enumError(string(text), []string{"always", "on-failure", "never"})
}

func (*RestartPolicy) expected() string { return `"always", "on-failure" or "never"` }

// UnmarshalText accepts "none" or "shutdown".
func (o *OnFatal) UnmarshalText(text []byte) error {
	switch v := OnFatal(text); v {
	case OnFatalNone, OnFatalShutdown:
		*o = v
		return nil
	}
	return enumError(string(text), []string{"none", "shutdown"})
}

func (*OnFatal) expected() string { return `"none" or "shutdown"` }

// UnmarshalText accepts "file", "inherit", "journal", "null" or "stdout". Whether
// "stdout" is allowed depends on the key; the loader checks that.
func (o *Output) UnmarshalText(text []byte) error {
	v := Output(text)
	switch v {
	case OutputFile, OutputInherit, OutputJournal, OutputNull, OutputStdout:
		*o = v
		return nil
	}
	return enumError(string(text), []string{"file", "inherit", "journal", "null", "stdout"})
}

func (*Output) expected() string { return `"file", "inherit", "journal", "null" or "stdout"` }

// enumError says that got is none of valid, suggesting the nearest one.
func enumError(got string, valid []string) error {
	if s := suggest(got, valid); s != "" {
		return fmt.Errorf("invalid value %q; did you mean %q?", got, s)
	}
	quoted := make([]string, len(valid))
	for i, v := range valid {
		quoted[i] = strconv.Quote(v)
	}
	return fmt.Errorf("invalid value %q (want %s)", got, strings.Join(quoted, ", "))
}

// rlimitResource returns the unix.RLIMIT_* of a limits key.
func rlimitResource(name string) (int, bool) {
	switch name {
	case "nofile":
		return unix.RLIMIT_NOFILE, true
	case "nproc":
		return unix.RLIMIT_NPROC, true
	case "core":
		return unix.RLIMIT_CORE, true
	case "memlock":
		return unix.RLIMIT_MEMLOCK, true
	case "stack":
		return unix.RLIMIT_STACK, true
	case "data":
		return unix.RLIMIT_DATA, true
	case "fsize":
		return unix.RLIMIT_FSIZE, true
	case "as":
		return unix.RLIMIT_AS, true
	case "cpu":
		return unix.RLIMIT_CPU, true
	case "rss":
		return unix.RLIMIT_RSS, true
	case "msgqueue":
		return unix.RLIMIT_MSGQUEUE, true
	case "nice":
		return unix.RLIMIT_NICE, true
	case "rtprio":
		return unix.RLIMIT_RTPRIO, true
	case "sigpending":
		return unix.RLIMIT_SIGPENDING, true
	}
	return 0, false
}

// rlimitNames lists the keys rlimitResource knows, for suggestions.
func rlimitNames() []string {
	return []string{"as", "core", "cpu", "data", "fsize", "memlock", "msgqueue",
		"nice", "nofile", "nproc", "rss", "rtprio", "sigpending", "stack"}
}

// limits is the limits table: resource name to an integer (soft = hard),
// "infinity" or [soft, hard].
type limits []Rlimit

// decodeTOML decodes the limits table v at path of t. It reports its own
// errors and returns false if there were any.
func (l *limits) decodeTOML(d *decoder, t *table, path []string, v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		d.errs.errorf(t.val(path...), "%s: expected a table like { nofile = 65536 }, got %s", keyName(path), typeName(v))
		return false
	}
	good := true
	var out limits
	for _, name := range sortedKeys(m) {
		p := sub(path, name)
		res, ok := rlimitResource(name)
		if !ok {
			msg := fmt.Sprintf("%s: unknown limit %q", keyName(path), name)
			if s := suggest(name, rlimitNames()); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errs.add(t.key(p...), msg)
			good = false
			continue
		}
		soft, hard, ok := d.rlimitValue(t, p, m[name])
		if !ok {
			good = false
			continue
		}
		out = append(out, Rlimit{Name: name, Resource: res, Soft: soft, Hard: hard})
	}
	*l = out
	return good
}

// rlimitValue decodes one limit: N, "infinity" or [soft, hard].
func (d *decoder) rlimitValue(t *table, path []string, v any) (soft, hard uint64, ok bool) {
	if arr, isArr := v.([]any); isArr {
		if len(arr) != 2 {
			d.errs.errorf(t.val(path...), "%s: expected [soft, hard], got an array of %d", keyName(path), len(arr))
			return 0, 0, false
		}
		soft, ok1 := d.rlimitNumber(t, sub(path, elem(0)), arr[0])
		hard, ok2 := d.rlimitNumber(t, sub(path, elem(1)), arr[1])
		if !ok1 || !ok2 {
			return 0, 0, false
		}
		if soft > hard {
			d.errs.errorf(t.val(path...), "%s: soft limit %s is greater than hard limit %s",
				keyName(path), rlimitString(soft), rlimitString(hard))
			return 0, 0, false
		}
		return soft, hard, true
	}
	n, ok := d.rlimitNumber(t, path, v)
	return n, n, ok
}

// rlimitNumber decodes a non-negative integer or "infinity"/"unlimited".
func (d *decoder) rlimitNumber(t *table, path []string, v any) (uint64, bool) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			d.errs.errorf(t.val(path...), "%s: limit %d must not be negative", keyName(path), x)
			return 0, false
		}
		return uint64(x), true
	case string:
		if x == "infinity" || x == "unlimited" {
			return unix.RLIM_INFINITY, true
		}
		d.errs.errorf(t.val(path...), "%s: invalid limit %q (want an integer or \"infinity\")", keyName(path), x)
		return 0, false
	}
	d.errs.errorf(t.val(path...), "%s: expected an integer, \"infinity\" or [soft, hard], got %s", keyName(path), typeName(v))
	return 0, false
}

func rlimitString(n uint64) string {
	if n == unix.RLIM_INFINITY {
		return "infinity"
	}
	return strconv.FormatUint(n, 10)
}
