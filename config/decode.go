package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// The decoder turns one raw TOML table (as the toml library parsed it into
// map[string]any) into a fields struct: superdFields or programFields, whose
// fields are pointers, nil when the table does not set the key. The struct
// tags name the key (toml:"...") and the checks on its value (check:"...").
// Every problem is reported at the key or value it is about, and decoding
// goes on, so that one Load reports everything.

// decoder decodes tables, reporting problems to errs.
type decoder struct {
	errs   *errorList
	sys    *system
	fields fieldIndexes
}

// table is one TOML table of one file.
type table struct {
	raw  map[string]any
	path []string // the table's key path in its file: ["program", "web"]
	pos  *positions
	dir  string // absolute folder of the file
	name string // for messages: "[program.web]"
	kind tableKind
}

// key returns where key path k (relative to the table) is.
func (t *table) key(k ...string) pos {
	return t.pos.key(slices.Concat(t.path, k)...)
}

// val returns where the value of key path k (relative to the table) starts.
func (t *table) val(k ...string) pos {
	return t.pos.val(slices.Concat(t.path, k)...)
}

// customValue is a value that decodes itself from the raw TOML value,
// reporting its own errors; it returns false if there were any.
type customValue interface {
	decodeTOML(d *decoder, t *table, path []string, v any) bool
}

// decode decodes t into dst, a pointer to a fields struct, and records in
// src which keys t wrote and which of them were invalid.
func (d *decoder) decode(t *table, dst any, src *keySource) {
	rv := reflect.ValueOf(dst).Elem()
	rt := rv.Type()
	fields := d.fields.of(rt)
	for _, k := range sortedKeys(t.raw) {
		if msg := d.fields.foreignKey(t.kind, k); msg != "" {
			d.errs.add(t.key(k), msg)
			continue
		}
		if keyNotSupportedYet(t.kind, k) {
			d.errs.errorf(t.key(k), "%s is not supported yet", k)
			continue
		}
		f, ok := fields.field[k]
		if !ok {
			d.unknownKey(t, k, d.fields.validKeys(rt, t.kind))
			continue
		}
		ptr := reflect.New(f.typ)
		src.set[k] = t
		if !d.value(t, []string{k}, t.raw[k], ptr.Elem()) || !d.check(t, k, f.check, ptr.Elem()) {
			src.bad[k] = true
			continue
		}
		rv.Field(f.index).Set(ptr)
	}
}

// validKeys returns every key a kind of table knows, sorted: the keys of
// rt that the kind takes, and the keys it refuses as not supported yet.
func (xs fieldIndexes) validKeys(rt reflect.Type, kind tableKind) []string {
	var keys []string
	for _, k := range xs.of(rt).keys {
		if xs.takesKey(kind, k) {
			keys = append(keys, k)
		}
	}
	keys = append(keys, keysNotSupportedYet(kind)...)
	slices.Sort(keys)
	return keys
}

func (d *decoder) unknownKey(t *table, k string, valid []string) {
	msg := fmt.Sprintf("unknown key %q in %s", k, t.name)
	if s := suggest(k, valid); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	d.errs.add(t.key(k), msg)
}

// value decodes raw value v at path into dst. It returns false, having
// reported why, if v does not fit.
func (d *decoder) value(t *table, path []string, v any, dst reflect.Value) bool {
	if c, ok := dst.Addr().Interface().(customValue); ok {
		return c.decodeTOML(d, t, path, v)
	}
	if tv, ok := dst.Addr().Interface().(textValue); ok {
		var err error
		switch x := v.(type) {
		case string:
			err = tv.UnmarshalText([]byte(x))
		case int64:
			iv, ok := tv.(intValue)
			if !ok {
				return d.typeError(t, path, tv.expected(), v)
			}
			err = iv.unmarshalInt(x)
		default:
			return d.typeError(t, path, tv.expected(), v)
		}
		if err != nil {
			d.errs.errorf(t.val(path...), "%s: %v", keyName(path), err)
			return false
		}
		return true
	}
	switch dst.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return d.typeError(t, path, describe(dst.Type()), v)
		}
		dst.SetString(s)
		return true
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return d.typeError(t, path, describe(dst.Type()), v)
		}
		dst.SetBool(b)
		return true
	case reflect.Int:
		n, ok := v.(int64)
		if !ok {
			return d.typeError(t, path, describe(dst.Type()), v)
		}
		dst.SetInt(n)
		return true
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return d.typeError(t, path, describe(dst.Type()), v)
		}
		out := reflect.MakeSlice(dst.Type(), len(arr), len(arr))
		good := true
		for i, e := range arr {
			good = d.value(t, sub(path, elem(i)), e, out.Index(i)) && good
		}
		if good {
			dst.Set(out)
		}
		return good
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return d.typeError(t, path, describe(dst.Type()), v)
		}
		out := reflect.MakeMapWithSize(dst.Type(), len(m))
		good := true
		for _, k := range sortedKeys(m) {
			e := reflect.New(dst.Type().Elem()).Elem()
			if d.value(t, sub(path, k), m[k], e) {
				out.SetMapIndex(reflect.ValueOf(k), e)
			} else {
				good = false
			}
		}
		if good {
			dst.Set(out)
		}
		return good
	}
	// Not reached: every fields struct uses the kinds above.
	d.errs.errorf(t.val(path...), "%s: cannot decode a %s", keyName(path), typeName(v))
	return false
}

func (d *decoder) typeError(t *table, path []string, want string, v any) bool {
	d.errs.errorf(t.val(path...), "%s: expected %s, got %s", keyName(path), want, typeName(v))
	return false
}

// describe says what a value of type rt is written like, for type errors.
func describe(rt reflect.Type) string {
	switch rt.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	case reflect.Slice:
		switch rt.Elem().Kind() {
		case reflect.String:
			return "an array of strings"
		case reflect.Int:
			return "an array of integers"
		}
	case reflect.Map:
		return `a table of strings like { KEY = "value" }`
	}
	return rt.String()
}

// typeName names the TOML type of a raw value.
func typeName(v any) string {
	switch v := v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time, toml.LocalDateTime, toml.LocalDate, toml.LocalTime:
		return "datetime"
	case []any:
		if isTables(v) {
			return "array of tables"
		}
		return "array"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

// isTables reports whether a is a non-empty array of tables.
func isTables(a []any) bool {
	for _, e := range a {
		if _, ok := e.(map[string]any); !ok {
			return false
		}
	}
	return len(a) > 0
}

// check runs the checks named in a field's check tag on its decoded value
// v. It returns false, having reported why, if any fails. Checks may
// rewrite v (a relative path under [superd] becomes absolute).
func (d *decoder) check(t *table, key string, tag string, v reflect.Value) bool {
	good := true
	for c := range strings.SplitSeq(tag, ",") {
		name, arg, _ := strings.Cut(c, "=")
		switch name {
		case "":
		case "abs":
			for p, s := range stringsOf(key, v) {
				if s == "" {
					good = d.fail(t.val(p...), "%s: must not be empty", keyName(p))
				} else if !filepath.IsAbs(s) {
					good = d.fail(t.val(p...), "%s: %q is not an absolute path", keyName(p), s)
				}
			}
		case "rel":
			if v.String() == "" {
				good = d.fail(t.val(key), "%s: must not be empty", key)
			} else if !filepath.IsAbs(v.String()) {
				v.SetString(filepath.Join(t.dir, v.String()))
			} else {
				v.SetString(filepath.Clean(v.String()))
			}
		case "glob":
			for p, s := range stringsOf(key, v) {
				if s == "" {
					good = d.fail(t.val(p...), "%s: must not be empty", keyName(p))
				} else if _, err := filepath.Match(s, ""); err != nil {
					good = d.fail(t.val(p...), "%s: bad pattern %q: %v", keyName(p), s, err)
				}
			}
		case "argv":
			good = d.checkArgv(t, []string{key}, v.Interface().([]string)) && good
		case "nonempty":
			if v.Len() == 0 {
				good = d.fail(t.val(key), "%s: must not be empty", key)
			}
		case "min", "max":
			limit, _ := strconv.Atoi(arg)
			for p, n := range intsOf(key, v) {
				if name == "min" && n < limit {
					good = d.fail(t.val(p...), "%s: must be at least %d, got %d", keyName(p), limit, n)
				}
				if name == "max" && n > limit {
					good = d.fail(t.val(p...), "%s: must be at most %d, got %d", keyName(p), limit, n)
				}
			}
		case "positive":
			if v.Int() <= 0 {
				good = d.fail(t.val(key), "%s: must be greater than 0", key)
			}
		case "user", "group":
			good = d.checkAccount(t, key, v.String()) && good
		case "socketgroup":
			// Unlike a program's group, any superd may name one: it needs
			// only to be a member to give its socket to that group.
			if name := v.String(); name != "" {
				if err := d.sys.lookupGroup(name); err != nil {
					good = d.fail(t.val(key), "%s: %v", key, err)
				}
			}
		case "hostport":
			if s := v.String(); s != "" {
				if err := checkHostPort(s); err != nil {
					good = d.fail(t.val(key), "%s: %v", key, err)
				}
			}
		case "envname":
			for _, k := range sortedKeys(v.Interface().(map[string]string)) {
				if k == "" || strings.ContainsAny(k, "=\x00") {
					good = d.fail(t.key(key, k), "%s: invalid variable name %q", key, k)
				}
				if strings.Contains(v.MapIndex(reflect.ValueOf(k)).String(), "\x00") {
					good = d.fail(t.val(key, k), "%s: value contains a NUL byte", keyName([]string{key, k}))
				}
			}
		case "credentials":
			good = d.checkCredentials(t, key, v.Interface().(map[string]string)) && good
		case "stderronly":
			if Output(v.String()) == OutputStdout {
				good = d.fail(t.val(key), "%s: %q is valid for stderr only", key, v.String())
			}
		}
	}
	return good
}

// fail reports an error and returns false.
func (d *decoder) fail(p pos, format string, args ...any) bool {
	d.errs.errorf(p, format, args...)
	return false
}

// checkArgv checks a command at key path path (["command"],
// ["ready", "exec"]): not empty, and argv[0] an absolute path.
func (d *decoder) checkArgv(t *table, path []string, argv []string) bool {
	if len(argv) == 0 {
		return d.fail(t.val(path...), "%s: must not be empty", keyName(path))
	}
	p := sub(path, elem(0))
	switch {
	case argv[0] == "":
		return d.fail(t.val(p...), "%s: must not be empty", keyName(p))
	case !filepath.IsAbs(argv[0]):
		msg := fmt.Sprintf("%s: %q is not an absolute path", keyName(p), argv[0])
		if found, err := d.sys.lookPath(argv[0]); err == nil && filepath.IsAbs(found) {
			msg += fmt.Sprintf("; did you mean %q?", found)
		}
		return d.fail(t.val(p...), "%s", msg)
	}
	return true
}

// checkAccount checks a user or group: only root may set one, and it must
// exist.
func (d *decoder) checkAccount(t *table, key, name string) bool {
	if name == "" {
		return true
	}
	if d.sys.euid != 0 {
		return d.fail(t.key(key), "%s requires superd to run as root", key)
	}
	lookup := d.sys.lookupUser
	if key == "group" {
		lookup = d.sys.lookupGroup
	}
	if err := lookup(name); err != nil {
		return d.fail(t.val(key), "%s: %v", key, err)
	}
	return true
}

// stringsOf yields the path and value of a string, or of each element of a
// []string.
func stringsOf(key string, v reflect.Value) func(yield func([]string, string) bool) {
	return func(yield func([]string, string) bool) {
		if v.Kind() == reflect.String {
			yield([]string{key}, v.String())
			return
		}
		for i := range v.Len() {
			if !yield([]string{key, elem(i)}, v.Index(i).String()) {
				return
			}
		}
	}
}

// intsOf yields the path and value of an int, or of each element of an []int.
func intsOf(key string, v reflect.Value) func(yield func([]string, int) bool) {
	return func(yield func([]string, int) bool) {
		if v.Kind() == reflect.Int {
			yield([]string{key}, int(v.Int()))
			return
		}
		for i := range v.Len() {
			if !yield([]string{key, elem(i)}, int(v.Index(i).Int())) {
				return
			}
		}
	}
}

// sub returns path extended by k, sharing nothing with path.
func sub(path []string, k string) []string {
	p := make([]string, len(path)+1)
	copy(p, path)
	p[len(path)] = k
	return p
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// keyName writes a relative key path for messages: "command[0]",
// "environment.APP_ENV", `environment."A B"`, "limits.nofile[1]".
func keyName(path []string) string {
	var b strings.Builder
	for i, k := range path {
		if strings.HasPrefix(k, "[") {
			b.WriteString(k)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		if k != "" && strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" {
			b.WriteString(k)
		} else {
			b.WriteString(strconv.Quote(k))
		}
	}
	return b.String()
}

// suggest returns the candidate nearest to got by edit distance, if it is
// close enough to be a likely misspelling, or "". Close enough is one edit
// for words of up to three letters, else two, or a third of the word's
// length for longer words. Case does not count. Ties go to the first
// candidate.
func suggest(got string, candidates []string) string {
	limit := max(2, len(got)/3)
	if len(got) <= 3 {
		limit = 1
	}
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if dist := editDistance(strings.ToLower(got), strings.ToLower(c)); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 256 || len(b) > 256 { // no misspelling is that long
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
