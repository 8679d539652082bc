package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The ready and health tables: inline tables like
// { tcp = "127.0.0.1:8080", timeout = "30s" }. Each one is a single value of
// its program key: a program that sets ready takes nothing of the ready of
// [defaults]. Their keys are decoded and checked here, each problem
// reported at the key or value inside the table.

// checkTable is a ready or health table as decoded: nil means not set.
// Timeout, Interval and Failures get their defaults in fillDefaults.
type checkTable struct {
	TCP      *string   `toml:"tcp"`
	HTTP     *string   `toml:"http"`
	Exec     *[]string `toml:"exec"`
	Log      *pattern  `toml:"log"`
	Timeout  *duration `toml:"timeout"`
	Interval *duration `toml:"interval"`
	Failures *int      `toml:"failures"`
}

// readyCheck is the ready table.
type readyCheck struct{ checkTable }

// healthCheck is the health table.
type healthCheck struct{ checkTable }

func (c *readyCheck) decodeTOML(d *decoder, t *table, path []string, v any) bool {
	return c.decode(d, t, path, v, false)
}

func (c *healthCheck) decodeTOML(d *decoder, t *table, path []string, v any) bool {
	return c.decode(d, t, path, v, true)
}

// checkKeys returns the probe keys (exactly one of them is set) and the
// other keys of a ready or a health table, and the keys that belong to the
// other kind of table only.
func checkKeys(health bool) (probes, settings, foreign []string) {
	if health {
		return []string{"tcp", "http", "exec"}, []string{"interval", "timeout", "failures"}, []string{"log"}
	}
	return []string{"tcp", "http", "exec", "log"}, []string{"timeout"}, []string{"interval", "failures"}
}

// decode decodes the table v at path of t into c, reporting every problem;
// it returns false if there was any.
func (c *checkTable) decode(d *decoder, t *table, path []string, v any, health bool) bool {
	name := keyName(path)
	probes, settings, foreign := checkKeys(health)
	m, ok := v.(map[string]any)
	if !ok {
		return d.fail(t.val(path...), "%s: expected a table like { %s = %q }, got %s",
			name, probes[0], "127.0.0.1:8080", typeName(v))
	}
	other := "health"
	if health {
		other = "ready"
	}
	rv := reflect.ValueOf(c).Elem()
	fields := d.fields.of(rv.Type())
	good := true
	var set [][]string // the probe keys written, valid or not
	for _, k := range sortedKeys(m) {
		p := sub(path, k)
		switch {
		case slices.Contains(foreign, k):
			good = d.fail(t.key(p...), "%s: %s is only for %s", name, k, other)
			continue
		case slices.Contains(probes, k):
			set = append(set, p)
		case !slices.Contains(settings, k):
			msg := fmt.Sprintf("%s: unknown key %q", name, k)
			if s := suggest(k, slices.Concat(probes, settings)); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errs.add(t.key(p...), msg)
			good = false
			continue
		}
		f := fields.field[k]
		ptr := reflect.New(f.typ)
		if !d.value(t, p, m[k], ptr.Elem()) || !d.checkProbeValue(t, p, ptr.Elem().Interface()) {
			good = false
			continue
		}
		rv.Field(f.index).Set(ptr)
	}
	if len(set) != 1 {
		msg := fmt.Sprintf("%s: set exactly one of %s", name, strings.Join(probes, ", "))
		if len(set) == 0 {
			d.errs.add(t.key(path...), msg)
		}
		// Report at each probe key after the first one written.
		slices.SortFunc(set, func(a, b []string) int {
			return t.key(a...).compare(t.key(b...))
		})
		for _, p := range set[min(1, len(set)):] {
			d.errs.add(t.key(p...), msg)
		}
		good = false
	}
	return good
}

// checkProbeValue checks the decoded value v of the key at path of a
// ready or health table.
func (d *decoder) checkProbeValue(t *table, path []string, v any) bool {
	name := keyName(path)
	// The value's place is looked up only for a problem (see positions).
	fail := func(format string, args ...any) bool {
		return d.fail(t.val(path...), "%s: "+format, append([]any{name}, args...)...)
	}
	switch x := v.(type) {
	case string:
		if path[len(path)-1] == "tcp" {
			if err := checkHostPort(x); err != nil { // hostport.go
				return fail("%v", err)
			}
			return true
		}
		if msg := checkHTTPURL(x); msg != "" {
			return fail("%s", msg)
		}
	case []string:
		return d.checkArgv(t, path, x)
	case duration:
		if x <= 0 {
			return fail("must be greater than 0")
		}
	case int:
		if x < 1 {
			return fail("must be at least 1, got %d", x)
		}
	}
	return true
}

// checkHTTPURL checks an http:// or https:// URL with a host; it returns
// what is wrong, or "".
func checkHTTPURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Sprintf("invalid URL %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%q is not an http:// or https:// URL", raw)
	}
	if u.Host == "" {
		return fmt.Sprintf("URL %q has no host", raw)
	}
	return ""
}

// build returns the Check of a fully defaulted table.
func (c *checkTable) build() *Check {
	out := &Check{Timeout: time.Duration(*c.Timeout)}
	if c.TCP != nil {
		out.TCP = *c.TCP
	}
	if c.HTTP != nil {
		out.HTTP = *c.HTTP
	}
	if c.Exec != nil {
		out.Exec = cloneSlice(*c.Exec)
	}
	if c.Log != nil {
		out.Log = c.Log.re
	}
	if c.Interval != nil {
		out.Interval = time.Duration(*c.Interval)
	}
	if c.Failures != nil {
		out.Failures = *c.Failures
	}
	return out
}

// pattern is a Go regular expression (package regexp's syntax).
type pattern struct {
	re *regexp.Regexp
}

// UnmarshalText compiles a non-empty regular expression.
func (p *pattern) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		return errors.New("must not be empty")
	}
	re, err := regexp.Compile(string(text))
	if err != nil {
		return err
	}
	p.re = re
	return nil
}

func (*pattern) expected() string { return `a regular expression string like "listening on"` }

// programType is a program's type: TypeSimple, TypeNotify or TypeForking.
type programType string

// UnmarshalText accepts "simple", "notify" or "forking".
func (pt *programType) UnmarshalText(text []byte) error {
	switch s := string(text); s {
	case TypeSimple, TypeNotify, TypeForking:
		*pt = programType(s)
		return nil
	}
	return enumError(string(text), []string{TypeSimple, TypeNotify, TypeForking})
}

func (*programType) expected() string { return `"simple", "notify" or "forking"` }
