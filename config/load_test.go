package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the errors Load returns")

// testSystem is a machine with a fixed environment: euid as given,
// XDG_RUNTIME_DIR=/run/user/1000, a user and a group "www-data", and
// "sleep" in PATH as /usr/bin/sleep.
func testSystem(euid int) *system {
	return &system{
		euid: euid,
		getenv: func(k string) string {
			if k == "XDG_RUNTIME_DIR" {
				return "/run/user/1000"
			}
			return ""
		},
		lookupUser: func(name string) error {
			if name == "www-data" {
				return nil
			}
			return fmt.Errorf("unknown user %q", name)
		},
		lookupGroup: func(name string) error {
			if name == "www-data" {
				return nil
			}
			return fmt.Errorf("unknown group %q", name)
		},
		lookPath: func(file string) (string, error) {
			if file == "sleep" {
				return "/usr/bin/sleep", nil
			}
			return "", exec.ErrNotFound
		},
	}
}

// TestLoadErrors loads every testdata/*.toml, each of which is invalid, and
// compares the errors with testdata/*.golden. Files named root_* are loaded
// as root, the others as uid 1000. Run with -update to rewrite the goldens.
func TestLoadErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("Glob(testdata/*.toml) = %v, %v; want files", files, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".toml")
		t.Run(name, func(t *testing.T) {
			euid := 1000
			if strings.HasPrefix(name, "root_") {
				euid = 0
			}
			c, err := load(file, testSystem(euid))
			if c != nil {
				t.Errorf("load(%q) = %v, _; want nil", file, c)
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("load(%q) error = %v; want an *Errors", file, err)
			}
			checkPositions(t, *errs)
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".toml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file: %v (run go test ./config -update)", err)
			}
			if got != string(want) {
				t.Errorf("load(%q) errors:\n%s\nwant:\n%s", file, got, want)
			}
		})
	}
}

// checkPositions checks that every error points inside its file.
func checkPositions(t *testing.T, errs Errors) {
	t.Helper()
	for _, e := range errs {
		data, err := os.ReadFile(e.File)
		if err != nil {
			t.Errorf("error %q: read its file: %v", e, err)
			continue
		}
		lines := strings.Split(string(data), "\n")
		if e.Line < 1 || e.Line > len(lines) || e.Col < 1 || e.Col > len(lines[e.Line-1])+1 {
			t.Errorf("error %q points outside its file", e)
		}
	}
}

func TestLookupAccounts(t *testing.T) {
	tests := []struct {
		name    string
		lookup  func(string) error
		in      string
		wantErr bool
	}{
		{"user by name", lookupUser, "root", false},
		{"user by id", lookupUser, "0", false},
		{"unknown user", lookupUser, "no-such-user-superd", true},
		{"unknown user id", lookupUser, "4294967", true},
		{"group by name", lookupGroup, "root", false},
		{"group by id", lookupGroup, "0", false},
		{"unknown group", lookupGroup, "no-such-group-superd", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.lookup(tt.in); (err != nil) != tt.wantErr {
				t.Errorf("lookup(%q) = %v; want error %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

// TestSyntaxErrors checks what Load says of text that is not TOML, and of
// text that is only unusual: the first error's place and message.
func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // the first error, without the file name; "" for none
	}{
		{"valid", "[program.a]\ncommand = [\"/bin/true\"]\n", ""},
		{"UTF-8 byte order mark skipped", "\xef\xbb\xbf[program.a]\ncommand = [\"/bin/true\"]\n", ""},
		{"UTF-8 byte order mark not counted in columns", "\xef\xbb\xbf[program.a]\ncommand = [\"true\"]\n", `2:12: command[0]: "true" is not an absolute path`},
		{"UTF-16 little-endian", "\xff\xfe[\x00p\x00]\x00", "1:1: syntax error: the file is UTF-16 (it starts with a byte order mark); TOML files must be UTF-8"},
		{"UTF-16 big-endian", "\xfe\xff\x00[\x00p\x00]", "1:1: syntax error: the file is UTF-16 (it starts with a byte order mark); TOML files must be UTF-8"},
		{"array not closed", "[program.a]\ncommand = [\"/bin/true\"\nrestart = \"always\"\n", "3:1: syntax error: expected ',' or ']' after array value"},
		{"table defined twice", "[program.a]\ncommand = [\"/bin/true\"]\n[program.a]\ncommand = [\"/bin/false\"]\n", "3:2: syntax error: table [program.a] is defined twice"},
		{"job table defined twice", "[job.a]\ncommand = [\"/bin/true\"]\n\n[job.a]\n", "4:2: syntax error: table [job.a] is defined twice"},
		{"key defined twice", "[program.a]\ncommand = [\"/bin/true\"]\ncommand = [\"/bin/false\"]\n", "3:1: syntax error: key command is already defined"},
		{"bare word value", "[program.a]\ncommand = [\"/bin/true\"]\nrestart = always\n", "3:11: syntax error: unexpected character U+0061 'a' at start of value"},
		{"NUL byte", "[program.a]\ncommand = [\"/bin/true\"]\n\x00\n", "3:1: syntax error: invalid character at start of key: U+0000"},
		{"string not closed", "[program.a]\ncommand = \"/bin/true\n", "2:21: syntax error: basic strings cannot have new lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "superd.toml")
			if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := load(path, testSystem(1000))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("load(%q) = _, %v; want no error", tt.text, err)
				}
				return
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("load(%q) error = %v; want an *Errors", tt.text, err)
			}
			checkPositions(t, *errs)
			if got := strings.TrimPrefix((*errs)[0].Error(), path+":"); got != tt.want {
				t.Errorf("load(%q) first error = %q; want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestTypeName(t *testing.T) {
	tests := []struct {
		text string // a TOML value
		want string
	}{
		{`"s"`, "string"},
		{`1`, "integer"},
		{`1.5`, "float"},
		{`true`, "boolean"},
		{`1979-05-27T07:32:00Z`, "datetime"},
		{`1979-05-27T07:32:00`, "datetime"},
		{`1979-05-27`, "datetime"},
		{`07:32:00`, "datetime"},
		{`[1, 2]`, "array"},
		{`[]`, "array"},
		{`[{a = 1}, 2]`, "array"},
		{`[{a = 1}, {b = 2}]`, "array of tables"},
		{`{a = 1}`, "table"},
	}
	for _, tt := range tests {
		raw, err := decodeTOML("v = " + tt.text)
		if err != nil {
			t.Fatalf("decodeTOML(v = %s) = _, %v", tt.text, err)
		}
		if got := typeName(raw["v"]); got != tt.want {
			t.Errorf("typeName(%s) = %q; want %q", tt.text, got, tt.want)
		}
	}
}

// TestSyntaxErrorInInclude checks that a syntax error in an included file
// stops the checks of that file only: the other files' problems are
// reported in the same run.
func TestSyntaxErrorInInclude(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"superd.toml":   "[superd]\ninclude = [\"conf.d/*.toml\"]\n\n[program.main]\ncommand = [\"relative\"]\n",
		"conf.d/a.toml": "[program.a]\ncommand = [\"/bin/true\"\n",
		"conf.d/b.toml": "[program.b]\ncommand = [\"also-relative\"]\n",
	}
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := load(filepath.Join(dir, "superd.toml"), testSystem(1000))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("load() error = %v; want an *Errors", err)
	}
	got := strings.ReplaceAll(err.Error(), dir+"/", "")
	for _, want := range []string{
		`superd.toml:5:12: command[0]: "relative" is not an absolute path`,
		"conf.d/a.toml:2:23: syntax error: array is incomplete",
		`conf.d/b.toml:2:12: command[0]: "also-relative" is not an absolute path`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("load() errors:\n%s\nwant one starting %q", got, want)
		}
	}
}
