package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Load reads the main file at path and every file its include globs name,
// validates everything and applies defaults.
//
// On invalid input it returns a nil *Config and a non-nil *Errors holding
// every problem found in every file, each positioned at the key or value it
// is about (a TOML syntax error stops the checks of its own file only). If
// the main file cannot be read at all, the error is not an *Errors: it
// wraps the error of os.ReadFile, so errors.Is(err, fs.ErrNotExist) works.
//
// Relative paths under [superd] and in include are taken from path's
// folder. An included file may hold [program.NAME] and [job.NAME] tables
// only; include is not recursive; a file that several patterns match, or
// the main file itself, is read once. Programs and jobs share one
// namespace. Load is safe to call from several goroutines.
func Load(path string) (*Config, error) {
	return load(path, hostSystem())
}

// file is one parsed TOML file.
type file struct {
	name string // display name, for errors
	abs  string // absolute path
	dir  string // absolute folder
	raw  map[string]any
	pos  *positions
}

// loader holds the state of one Load.
type loader struct {
	errs     errorList
	dec      decoder
	superd   superdFields
	defaults programFields
	programs []*programFields
	jobs     []*programFields
	defined  map[string]definition // program or job name → its first definition
	files    []string              // absolute paths, in load order
	parsed   []*file               // the files that parsed, in load order (tests check how they were scanned)
	// pending are the program and job tables of every file, in the order
	// they were defined, for checkTables.
	pending []pendingTable
	// procs is how many CPUs the Load may use: the goroutines of
	// parseTOML's pieces and of checkTables.
	procs int
	// checkedOn is how many goroutines checkTables used (tests check it).
	checkedOn int
}

func newLoader(sys *system) *loader {
	l := &loader{
		superd:   superdFields{src: newKeySource()},
		defaults: programFields{src: newKeySource()},
		defined:  map[string]definition{},
		procs:    runtime.GOMAXPROCS(0),
	}
	l.dec = decoder{errs: &l.errs, sys: sys, fields: newFieldIndexes()}
	return l
}

// definition is where a name was first defined, and as what. Programs and
// jobs share one namespace.
type definition struct {
	kind tableKind // kindProgram or kindJob
	at   pos
}

func load(path string, sys *system) (*Config, error) {
	return newLoader(sys).load(path)
}

func (l *loader) load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	main := l.parse(path, abs, data)
	if main != nil {
		l.topLevel(main, true)
		l.includes(main)
	}
	fillSuperdDefaults(l.dec.sys, &l.superd)
	l.checkTables()
	l.validateDependencies()
	if errs := l.errs.result(); errs != nil {
		return nil, errs
	}

	c := &Config{Path: abs, Superd: l.superd.build(), Files: l.files}
	for i, pat := range c.Superd.Include {
		c.Superd.Include[i] = absPattern(filepath.Dir(abs), pat)
	}
	for _, p := range l.programs {
		c.Programs = append(c.Programs, p.build())
	}
	slices.SortFunc(c.Programs, func(a, b *Program) int { return cmp.Compare(a.Name, b.Name) })
	for _, j := range l.jobs {
		c.Jobs = append(c.Jobs, j.buildJob())
	}
	slices.SortFunc(c.Jobs, func(a, b *Job) int { return cmp.Compare(a.Name, b.Name) })
	return c, nil
}

// parse parses data, the text of the file abs shown as name. On a syntax
// error it reports it and returns nil.
func (l *loader) parse(name, abs string, data []byte) (f *file) {
	l.files = append(l.files, abs)
	text := string(data)
	positions := scanPositions(name, text)
	if p := positions.tooDeep; p != (pos{}) {
		l.errs.errorf(p, "nested too deeply: tables, dotted keys, arrays and inline tables may nest %d levels at most", maxDepth)
		return nil
	}
	raw, err := parseTOML(text, l.procs)
	if err != nil {
		at, msg := syntaxError(name, err)
		l.errs.errorf(at, "syntax error: %s", msg)
		return nil
	}
	f = &file{name: name, abs: abs, dir: filepath.Dir(abs), raw: raw, pos: positions}
	l.parsed = append(l.parsed, f)
	return f
}

// utf16BOMs start a text in UTF-16, which TOML does not allow.
var utf16BOMs = []string{"\xff\xfe", "\xfe\xff"}

// errUTF16 is the syntax error of a file saved as UTF-16.
var errUTF16 = errors.New("the file is UTF-16 (it starts with a byte order mark); TOML files must be UTF-8")

// decodeTOML parses text into its tables. A UTF-8 byte order mark is
// skipped, as editors hide it (the scanner skips it too, so positions
// agree). It is safe on any text: a panic in the library becomes an
// error, so that no input makes Load panic.
func decodeTOML(text string) (raw map[string]any, err error) {
	for _, bom := range utf16BOMs {
		if strings.HasPrefix(text, bom) {
			return nil, errUTF16
		}
	}
	text = strings.TrimPrefix(text, "\xef\xbb\xbf")
	defer func() {
		if r := recover(); r != nil {
			raw, err = nil, fmt.Errorf("cannot parse: %v", r)
		}
	}()
	err = toml.Unmarshal([]byte(text), &raw)
	return raw, err
}

// syntaxError returns where the library found err (or the file's start
// when it did not say) and its message, with the table's whole name where
// the library gives only its last part ("table a already exists" says
// neither program nor job).
func syntaxError(name string, err error) (pos, string) {
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return pos{File: name, Line: 1, Col: 1}, err.Error()
	}
	line, col := de.Position()
	at := pos{File: name, Line: line, Col: col}
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	if strings.HasPrefix(msg, "table ") && strings.HasSuffix(msg, " already exists") && len(de.Key()) > 0 {
		msg = fmt.Sprintf("table [%s] is defined twice", strings.Join(de.Key(), "."))
	}
	return at, msg
}

// topTables lists the top-level tables a main file may hold.
func topTables() []string {
	return []string{"defaults", "job", "program", "superd"}
}

// topLevel decodes the top-level tables of f, the main file or an included
// one. Programs and jobs are defined in the order of their headers in f, so
// that a name defined twice is reported at its second definition.
func (l *loader) topLevel(f *file, main bool) {
	type named struct {
		kind tableKind
		name string
		at   pos
	}
	var defs []named
	for _, k := range sortedKeys(f.raw) {
		v := f.raw[k]
		m, isTable := v.(map[string]any)
		switch k {
		case "superd", "defaults":
			if !main {
				l.errs.errorf(f.pos.key(k), "only [program.*] and [job.*] tables are allowed in an included file")
				continue
			}
			if !isTable {
				l.errs.errorf(f.pos.val(k), "%s: expected a table [%s], got %s", k, k, typeName(v))
				continue
			}
			t := &table{raw: m, path: []string{k}, pos: f.pos, dir: f.dir, name: "[" + k + "]"}
			if k == "superd" {
				t.kind = kindSuperd
				l.dec.decode(t, &l.superd, &l.superd.src)
			} else {
				t.kind = kindDefaults
				l.dec.decode(t, &l.defaults, &l.defaults.src)
			}
		case "program", "job":
			if !isTable {
				l.errs.errorf(f.pos.val(k), "%s: expected [%s.NAME] tables, got %s", k, k, typeName(v))
				continue
			}
			kind := kindProgram
			if k == "job" {
				kind = kindJob
			}
			for _, name := range sortedKeys(m) {
				defs = append(defs, named{kind, name, f.pos.key(k, name)})
			}
		default:
			l.unknownTop(f, k, isTable)
		}
	}
	slices.SortStableFunc(defs, func(a, b named) int {
		return a.at.compare(b.at)
	})
	for _, d := range defs {
		k := kindNoun(d.kind)
		l.define(f, d.kind, d.name, f.raw[k].(map[string]any)[d.name])
	}
}

// unknownTop reports an unknown top-level table or key.
func (l *loader) unknownTop(f *file, k string, isTable bool) {
	if isTable {
		msg := fmt.Sprintf("unknown table [%s]", k)
		if s := suggest(k, topTables()); s != "" {
			msg += fmt.Sprintf("; did you mean [%s]?", s)
		}
		l.errs.add(f.pos.key(k), msg)
		return
	}
	msg := fmt.Sprintf("unknown top-level key %q", k)
	inProgram := slices.Contains(l.dec.fields.validKeys(reflect.TypeFor[programFields](), kindProgram), k)
	inJob := slices.Contains(l.dec.fields.validKeys(reflect.TypeFor[programFields](), kindJob), k)
	switch {
	case slices.Contains(l.dec.fields.validKeys(reflect.TypeFor[superdFields](), kindSuperd), k):
		msg += "; it belongs in the [superd] table"
	case inProgram && inJob:
		msg += "; it belongs in a [program.NAME], a [job.NAME] or the [defaults] table"
	case inProgram:
		msg += "; it belongs in a [program.NAME] or the [defaults] table"
	case inJob:
		msg += "; it belongs in a [job.NAME] table"
	default:
		if s := suggest(k, topTables()); s != "" {
			msg += fmt.Sprintf("; did you mean [%s]?", s)
		}
	}
	l.errs.add(f.pos.key(k), msg)
}

// validName reports whether name is a valid program or job name (SPEC §2):
// [A-Za-z0-9][A-Za-z0-9_.-]{0,63}.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := range len(name) {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// define defines [program.NAME] or [job.NAME] (as kind says) of f, and
// leaves its table to checkTables.
func (l *loader) define(f *file, kind tableKind, name string, v any) {
	noun := kindNoun(kind)
	header := f.pos.key(noun, name)
	m, ok := v.(map[string]any)
	if !ok {
		l.errs.errorf(f.pos.val(noun, name), "%s %q: expected a table [%s.%s], got %s",
			noun, name, noun, keyName([]string{name}), typeName(v))
		return
	}
	p := &programFields{kind: kind, name: name, dir: f.dir, header: header, src: newKeySource()}
	keep := true
	first, dup := l.defined[name]
	switch {
	case !validName(name):
		l.errs.errorf(header, "invalid %s name %q: a name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", noun, name)
		keep = false
	case dup && first.kind == kind:
		l.errs.errorf(header, "%s %q is already defined at %s", noun, name, first.at)
		keep = false
	case dup:
		l.errs.errorf(header, "%q is already defined as a %s at %s", name, kindNoun(first.kind), first.at)
		keep = false
	default:
		l.defined[name] = definition{kind: kind, at: header}
	}
	t := &table{raw: m, path: []string{noun, name}, pos: f.pos, dir: f.dir,
		name: "[" + noun + "." + keyName([]string{name}) + "]", kind: kind}
	l.pending = append(l.pending, pendingTable{t: t, p: p, keep: keep})
	if !keep {
		return
	}
	if kind == kindJob {
		l.jobs = append(l.jobs, p)
	} else {
		l.programs = append(l.programs, p)
	}
}

// absPattern returns the include pattern pat taken from folder dir.
func absPattern(dir, pat string) string {
	if filepath.IsAbs(pat) {
		return pat
	}
	return filepath.Join(dir, pat)
}

// includes loads the files that the include patterns of main match.
func (l *loader) includes(main *file) {
	if l.superd.Include == nil {
		return
	}
	t := l.superd.src.set["include"]
	seen := map[string]bool{main.abs: true}
	for i, pat := range *l.superd.Include {
		matches, err := filepath.Glob(absPattern(main.dir, pat))
		if err != nil { // checked when decoded; kept for safety
			l.errs.errorf(t.val("include", elem(i)), "include[%d]: bad pattern %q: %v", i, pat, err)
			continue
		}
		for _, m := range matches {
			if seen[m] {
				continue
			}
			seen[m] = true
			name := m
			if !filepath.IsAbs(pat) {
				if rel, err := filepath.Rel(main.dir, m); err == nil {
					name = filepath.Join(filepath.Dir(main.name), rel)
				}
			}
			data, err := os.ReadFile(m)
			if err != nil {
				l.errs.errorf(t.val("include", elem(i)), "include[%d]: %v", i, err)
				continue
			}
			if f := l.parse(name, m, data); f != nil {
				l.topLevel(f, false)
			}
		}
	}
}
