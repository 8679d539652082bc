package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestScanPositions(t *testing.T) {
	const src = `# comment [not.a.table]
top = 1
[program.web]
command = ["/bin/a", # comment
    "b", [1, 2]]
shell = """
x = "not a key"
""" # after
dotted.key = 'v'
"quoted.key" = "v\"[x]"
env = { A = "1", "B C" = { D = 2 } }
date = 1979-05-27 07:32:00Z
after = 2
[[list.item]]
x = 1
 [ program . "sp ace" ]  # spaced header
y = { a = [
  1,
  2,
], }
z = '''
'a''' # ok
last = true
`
	tests := []struct {
		path []string
		key  string // "LINE:COL" of the key
		val  string // "LINE:COL" of the value
	}{
		{[]string{"top"}, "2:1", "2:7"},
		{[]string{"program"}, "3:2", "3:2"},
		{[]string{"program", "web"}, "3:10", "3:10"},
		{[]string{"program", "web", "command"}, "4:1", "4:11"},
		{[]string{"program", "web", "command", "[0]"}, "4:12", "4:12"},
		{[]string{"program", "web", "command", "[1]"}, "5:5", "5:5"},
		{[]string{"program", "web", "command", "[2]", "[1]"}, "5:14", "5:14"},
		{[]string{"program", "web", "shell"}, "6:1", "6:9"},
		{[]string{"program", "web", "dotted"}, "9:1", "9:1"},
		{[]string{"program", "web", "dotted", "key"}, "9:8", "9:14"},
		{[]string{"program", "web", "quoted.key"}, "10:1", "10:16"},
		{[]string{"program", "web", "env", "A"}, "11:9", "11:13"},
		{[]string{"program", "web", "env", "B C"}, "11:18", "11:26"},
		{[]string{"program", "web", "env", "B C", "D"}, "11:28", "11:32"},
		{[]string{"program", "web", "date"}, "12:1", "12:8"},
		{[]string{"program", "web", "after"}, "13:1", "13:9"},
		{[]string{"list", "item"}, "14:8", "14:8"},
		{[]string{"list", "item", "x"}, "15:1", "15:5"},
		{[]string{"program", "sp ace"}, "16:14", "16:14"},
		{[]string{"program", "sp ace", "y", "a", "[1]"}, "19:3", "19:3"},
		{[]string{"program", "sp ace", "z"}, "21:1", "21:5"},
		{[]string{"program", "sp ace", "last"}, "23:1", "23:8"},
		// Not recorded: falls back to the nearest ancestor.
		{[]string{"program", "web", "missing"}, "3:10", "3:10"},
		{[]string{"nothing"}, "1:1", "1:1"},
	}
	if _, err := decodeTOML(src); err != nil {
		t.Fatalf("the test's TOML does not parse: %v", err)
	}
	// One positions for every lookup (a long path scans everything once,
	// short ones are looked up before and after), and a fresh one for each
	// (a short path answered from the first scan alone).
	shared := scanPositions("f.toml", src)
	lc := func(p pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }
	for _, tt := range tests {
		t.Run(keyName(tt.path), func(t *testing.T) {
			for _, p := range []*positions{shared, scanPositions("f.toml", src)} {
				if got := lc(p.key(tt.path...)); got != tt.key {
					t.Errorf("key(%q) = %s; want %s (full scan done: %v)", tt.path, got, tt.key, p.all != nil)
				}
				if got := lc(p.val(tt.path...)); got != tt.val {
					t.Errorf("val(%q) = %s; want %s (full scan done: %v)", tt.path, got, tt.val, p.all != nil)
				}
			}
		})
	}
}

// TestValidConfigScansOnce checks that decoding a valid config looks up
// the places of tables only, so that its text is scanned once: the full
// scan is for reporting problems.
func TestValidConfigScansOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "superd.toml")
	if err := os.WriteFile(path, []byte(benchConfig(20)), 0o644); err != nil {
		t.Fatal(err)
	}
	l := newLoader(hostSystem())
	cfg, err := l.load(path)
	if err != nil {
		t.Fatalf("load(benchConfig) = _, %v; want no error", err)
	}
	if len(cfg.Programs) != 20 || len(l.parsed) != 1 {
		t.Fatalf("%d programs from %d files; want 20 from 1", len(cfg.Programs), len(l.parsed))
	}
	if l.parsed[0].pos.all != nil {
		t.Errorf("a valid config was scanned for every key; want its tables only")
	}
}

func TestUnescapeBasic(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`plain`, "plain"},
		{`a\"b`, `a"b`},
		{`tab\there`, "tab\there"},
		{`\u00e9t\u00E9`, "été"},
		{`\U0001F600`, "\U0001F600"},
		{`\x41`, "A"},
		{`\e`, "\x1b"},
		{`bad\q`, `bad\q`},
		{`short\u12`, `short\u12`},
		{`trailing\`, `trailing\`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := unescapeBasic(tt.in); got != tt.want {
				t.Errorf("unescapeBasic(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}
