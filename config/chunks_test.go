package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fleet returns the text of n programs p0, p1, ... after head.
func fleet(head string, n int) string {
	var b strings.Builder
	b.WriteString(head)
	for i := range n {
		fmt.Fprintf(&b, "\n[program.p%d]\ncommand = [\"/bin/sleep\", \"%d\"]\nenvironment = { N = \"%d\" }\n", i, i, i)
	}
	return b.String()
}

func TestParseChunked(t *testing.T) {
	base := fleet("[superd]\nsocket = \"s.sock\"\n[defaults]\nstop_timeout = \"5s\"\n", 6)
	tests := []struct {
		name    string
		text    string
		chunked bool // cut at every cut line, parseChunked takes it; otherwise it must refuse
	}{
		{"programs after superd", base, true},
		{"programs only", fleet("", 6), true},
		{"jobs and programs", base + "\n[job.j1]\ncommand = [\"/bin/true\"]\n[program.q]\ncommand = [\"/bin/true\"]\n", true},
		{"sub-tables of the cut line", base + "\n[program.sub]\ncommand = [\"/bin/true\"]\n[program.sub.environment]\nA = \"1\"\n[[program.sub.x]]\ny = 1\n", true},
		{"comment after a cut line", fleet("", 3) + "[program.c]   # the c\ncommand = [\"/bin/true\"]\n", true},
		{"crlf line ends", strings.ReplaceAll(base, "\n", "\r\n"), true},
		{"no cut line", "[superd]\nsocket = \"s.sock\"\n", false},
		{"quoted name is not a cut", "[program.\"a.b\"]\ncommand = [\"x\"]\n", false},
		{"a program defined twice", base + "\n[program.p1]\ncommand = [\"/bin/true\"]\n", false},
		{"program and job of one name", base + "\n[job.p1]\ncommand = [\"/bin/true\"]\n", true},
		{"superd after the programs", base + "\n[superd]\nsocket = \"t.sock\"\n", false},
		{"program table re-opened", base + "\n[program]\nx = {}\n", false},
		{"sub-table of an earlier program", base + "\n[program.p1.environment]\nA = \"1\"\n", false},
		{"inline program table first", "program = { a = { command = [\"x\"] } }\n" + fleet("", 3), false},
		{"dotted program key first", "program.a.command = [\"x\"]\n" + fleet("", 3), false},
		{"program header first", "[program]\n" + fleet("", 3), false},
		{"cut line inside a multi-line string", "[superd]\nx = \"\"\"\n[program.a]\ncommand = [\"x\"]\n\"\"\"\n" + fleet("", 3), false},
		{"cut line inside a literal string", fleet("", 2) + "y = '''\n[program.z]\n'''\n", false},
		{"cut line inside an array", "[superd]\nx = [\n[program.a]\n]\n" + fleet("", 2), false},
		{"syntax error in a piece", base + "\n[program.bad]\ncommand = [\n", false},
		{"array of tables at the top", "[[program]]\nx = 1\n" + fleet("", 2), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			whole, wholeErr := decodeTOML(tt.text)
			// n = len(text) cuts at every cut line; fewer runs group
			// the pieces, which may then take what single pieces refuse.
			for _, n := range []int{2, 3, len(tt.text)} {
				ok := checkChunked(t, tt.text, n, whole, wholeErr)
				if n == len(tt.text) && ok != tt.chunked {
					t.Errorf("parseChunked(text, %d) ok = %v; want %v (whole text: err %v)", n, ok, tt.chunked, wholeErr)
				}
			}
		})
	}
}

// checkChunked fails t if parseChunked(text, n) takes a text the library
// refuses (wholeErr) or parses it otherwise than whole; it returns whether
// parseChunked took it.
func checkChunked(t *testing.T, text string, n int, whole map[string]any, wholeErr error) bool {
	t.Helper()
	got, ok := parseChunked(text, n)
	switch {
	case !ok:
	case wholeErr != nil:
		t.Fatalf("parseChunked(text, %d) took a text the library refuses: %v", n, wholeErr)
	case !reflect.DeepEqual(got, whole):
		t.Fatalf("parseChunked(text, %d) = %v;\nwant %v", n, got, whole)
	}
	return ok
}

func TestGroupCuts(t *testing.T) {
	tests := []struct {
		name   string
		starts []int
		end, n int
		want   [][2]int
	}{
		{"one piece", []int{10}, 50, 4, [][2]int{{10, 50}}},
		{"even pieces in two", []int{0, 10, 20, 30}, 40, 2, [][2]int{{0, 20}, {20, 40}}},
		{"more runs than pieces", []int{5, 6}, 100, 8, [][2]int{{5, 6}, {6, 100}}},
		{"one long piece first", []int{0, 90, 95}, 100, 2, [][2]int{{0, 90}, {90, 100}}},
		{"one long piece last", []int{0, 5, 10}, 100, 3, [][2]int{{0, 10}, {10, 100}}},
		{"uneven pieces in three", []int{0, 10, 20, 30, 60, 70, 80}, 100, 3, [][2]int{{0, 30}, {30, 70}, {70, 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := groupCuts(tt.starts, tt.end, tt.n)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("groupCuts(%v, %d, %d) = %v; want %v", tt.starts, tt.end, tt.n, got, tt.want)
			}
		})
	}
}

func TestRunsFor(t *testing.T) {
	tests := []struct {
		cuts, procs, want int
	}{
		{0, 2, 1},
		{100, 2, 1},
		{minCuts, 2, 1},
		{minCuts + 1, 2, 5},
		{minCuts + 1, 8, 8},
		{500, 2, 8},
		{500, 1, 8},
		{5000, 4, 79},
	}
	for _, tt := range tests {
		if got := runsFor(tt.cuts, tt.procs); got != tt.want {
			t.Errorf("runsFor(%d, %d) = %d; want %d", tt.cuts, tt.procs, got, tt.want)
		}
	}
}

// parseChunked is parsePieces of text cut at its cut lines into at most n
// runs, or false when text breaks a rule.
func parseChunked(text string, n int) (map[string]any, bool) {
	starts, ok := cutPoints(text)
	if !ok {
		return nil, false
	}
	return parsePieces(text, starts, n)
}

// FuzzParseChunked checks that parseChunked never takes a text the
// library refuses, and that what it takes, it parses as the library does.
func FuzzParseChunked(f *testing.F) {
	f.Add(fleet("[superd]\nsocket = \"s\"\n", 4))
	f.Add(fleet("", 3) + "[program.p1]\nx = 1\n")
	f.Add(fleet("", 3) + "[program.p2.env]\nA = \"1\"\n")
	f.Add("[superd]\nx = '''\n[program.a]\n'''\n" + fleet("", 2))
	f.Add("program = {}\n" + fleet("", 2))
	f.Add(fleet("", 2) + "[program]\nz = {}\n")
	f.Fuzz(func(t *testing.T, text string) {
		whole, wholeErr := decodeTOML(text)
		for _, n := range []int{3, len(text)} {
			checkChunked(t, text, n, whole, wholeErr)
		}
	})
}

// TestLoadSameInPieces checks that a file of more than minCuts tables
// (benchConfig(minCuts+40)) is cut on 1 CPU and on 2, that its tables are
// then the same as parsed whole, and that it loads.
func TestLoadSameInPieces(t *testing.T) {
	text := benchConfig(minCuts + 40)
	path := filepath.Join(t.TempDir(), "superd.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	whole, err := decodeTOML(text)
	if err != nil {
		t.Fatalf("benchConfig does not parse: %v", err)
	}
	starts, ok := cutPoints(text)
	if !ok {
		t.Fatalf("benchConfig(%d): cutPoints refused it", minCuts+40)
	}
	for _, procs := range []int{1, 2} {
		n := runsFor(len(starts), procs)
		if n < 2 {
			t.Fatalf("benchConfig(%d) on %d CPUs: %d runs; want it cut", minCuts+40, procs, n)
		}
		// The pieces themselves, not parseTOML alone, which would give
		// the whole text's tables had it fallen back.
		if raw, taken := parsePieces(text, starts, n); !taken || !reflect.DeepEqual(raw, whole) {
			t.Errorf("parsePieces(%d runs) on %d CPUs: taken %v; want taken and the whole text's tables", n, procs, taken)
		}
		raw, err := parseTOML(text, procs)
		if err != nil || !reflect.DeepEqual(raw, whole) {
			t.Errorf("parseTOML on %d CPUs = _, %v, not the whole text's tables", procs, err)
		}
		l := newLoader(hostSystem())
		l.procs = procs
		if _, err := l.load(path); err != nil {
			t.Errorf("Load on %d CPUs: %v", procs, err)
		}
	}
}
