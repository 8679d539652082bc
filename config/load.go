package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
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
// folder. An included file may hold [program.NAME] tables only; include is
// not recursive; a file that several patterns match, or the main file
// itself, is read once. Load is safe to call from several goroutines.
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
	defined  map[string]pos // program name → where it was first defined
	files    []string       // absolute paths, in load order
}

func load(path string, sys *system) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	l := &loader{
		superd:   superdFields{src: newKeySource()},
		defaults: programFields{src: newKeySource()},
		defined:  map[string]pos{},
	}
	l.dec = decoder{errs: &l.errs, sys: sys}
	main := l.parse(path, abs, data)
	if main != nil {
		l.topLevel(main, true)
		l.includes(main)
	}
	for _, p := range l.programs {
		mergeDefaults(p, &l.defaults)
	}
	fillDefaults(sys, &l.superd, l.programs)
	for _, p := range l.programs {
		l.validateProgram(p)
	}
	l.validateDependencies()
	if errs := l.errs.result(); errs != nil {
		return nil, errs
	}

	c := &Config{Path: abs, Superd: l.superd.build(), Files: l.files}
	for i, pat := range c.Superd.Include {
		if !filepath.IsAbs(pat) {
			c.Superd.Include[i] = filepath.Join(filepath.Dir(abs), pat)
		}
	}
	for _, p := range l.programs {
		c.Programs = append(c.Programs, p.build())
	}
	slices.SortFunc(c.Programs, func(a, b *Program) int { return cmp.Compare(a.Name, b.Name) })
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
	var raw map[string]any
	if err := decodeTOML(text, &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			l.errs.errorf(syntaxErrorPos(name, text, pe.Position), "syntax error: %s", lowerFirst(pe.Message))
		} else {
			l.errs.errorf(pos{File: name, Line: 1, Col: 1}, "syntax error: %v", err)
		}
		return nil
	}
	return &file{name: name, abs: abs, dir: filepath.Dir(abs), raw: raw, pos: positions}
}

// syntaxErrorPos returns the position of a syntax error. The library's
// byte offset is reliable, its line and column are not always (the column is
// sometimes missing, the line sometimes the next one), so the line and the
// column are computed from the offset, in the text as the library saw it:
// without a byte order mark.
func syntaxErrorPos(name, text string, p toml.Position) pos {
	for _, bom := range []string{"\xef\xbb\xbf", "\xff\xfe", "\xfe\xff"} {
		if strings.HasPrefix(text, bom) {
			text = text[len(bom):]
			break
		}
	}
	if p.Start < 0 || p.Start > len(text) {
		return pos{File: name, Line: p.Line, Col: 1}
	}
	before := text[:p.Start]
	line := strings.Count(before, "\n") + 1
	col := p.Start - (strings.LastIndexByte(before, '\n') + 1) + 1
	return pos{File: name, Line: line, Col: col}
}

// lowerFirst lowers the first letter of a message that starts with a
// capitalised word ("Invalid integer" but not "NULL bytes").
func lowerFirst(msg string) string {
	if len(msg) >= 2 && 'A' <= msg[0] && msg[0] <= 'Z' && 'a' <= msg[1] && msg[1] <= 'z' {
		return string(msg[0]+'a'-'A') + msg[1:]
	}
	return msg
}

// decodeTOML is toml.Decode, made safe: a panic in the library on odd input
// becomes an error, so that no input makes Load panic.
func decodeTOML(data string, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot parse: %v", r)
		}
	}()
	_, err = toml.Decode(data, v)
	return err
}

// topTables lists the top-level tables a main file may hold.
func topTables() []string {
	return []string{"defaults", "job", "program", "superd"}
}

// topLevel decodes the top-level tables of f, the main file or an included one.
func (l *loader) topLevel(f *file, main bool) {
	for _, k := range sortedKeys(f.raw) {
		v := f.raw[k]
		m, isTable := v.(map[string]any)
		switch k {
		case "superd", "defaults":
			if !main {
				l.errs.errorf(f.pos.key(k), "only [program.*] tables are allowed in an included file")
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
		case "program":
			if !isTable {
				l.errs.errorf(f.pos.val(k), "program: expected [program.NAME] tables, got %s", typeName(v))
				continue
			}
			for _, name := range sortedKeys(m) {
				l.program(f, name, m[name])
			}
		default:
			if msg := tableNotSupportedYet(k); msg != "" {
				l.refuseTable(f, k, msg)
				continue
			}
			l.unknownTop(f, k, isTable)
		}
	}
}

// refuseTable reports msg at every [k.NAME] table, or at k.
func (l *loader) refuseTable(f *file, k, msg string) {
	m, ok := f.raw[k].(map[string]any)
	if !ok || len(m) == 0 {
		l.errs.add(f.pos.key(k), msg)
		return
	}
	for _, name := range sortedKeys(m) {
		l.errs.add(f.pos.key(k, name), msg)
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
	switch {
	case slices.Contains(validKeys(reflect.TypeFor[superdFields](), kindSuperd), k):
		msg += "; it belongs in the [superd] table"
	case slices.Contains(validKeys(reflect.TypeFor[programFields](), kindProgram), k):
		msg += "; it belongs in a [program.NAME] or the [defaults] table"
	default:
		if s := suggest(k, topTables()); s != "" {
			msg += fmt.Sprintf("; did you mean [%s]?", s)
		}
	}
	l.errs.add(f.pos.key(k), msg)
}

// validName reports whether name is a valid program name (SPEC §2):
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

// program decodes [program.NAME] of f.
func (l *loader) program(f *file, name string, v any) {
	header := f.pos.key("program", name)
	m, ok := v.(map[string]any)
	if !ok {
		l.errs.errorf(f.pos.val("program", name), "program %q: expected a table [program.%s], got %s",
			name, keyName([]string{name}), typeName(v))
		return
	}
	p := &programFields{name: name, dir: f.dir, header: header, src: newKeySource()}
	keep := true
	if !validName(name) {
		l.errs.errorf(header, "invalid program name %q: a name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", name)
		keep = false
	} else if first, dup := l.defined[name]; dup {
		l.errs.errorf(header, "program %q is already defined at %s", name, first)
		keep = false
	} else {
		l.defined[name] = header
	}
	t := &table{raw: m, path: []string{"program", name}, pos: f.pos, dir: f.dir,
		name: "[program." + keyName([]string{name}) + "]", kind: kindProgram}
	l.dec.decode(t, p, &p.src) // even when not kept: report its problems too
	if keep {
		l.programs = append(l.programs, p)
	}
}

// includes loads the files that the include patterns of main match.
func (l *loader) includes(main *file) {
	if l.superd.Include == nil {
		return
	}
	t := l.superd.src.set["include"]
	seen := map[string]bool{main.abs: true}
	for i, pat := range *l.superd.Include {
		absPat := pat
		if !filepath.IsAbs(pat) {
			absPat = filepath.Join(main.dir, pat)
		}
		matches, err := filepath.Glob(absPat)
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
