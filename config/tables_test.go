package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

func TestTableRuns(t *testing.T) {
	tests := []struct {
		n, procs, want int
	}{
		{0, 2, 1},
		{1, 2, 1},
		{minPerRun*2 - 1, 2, 1}, // not enough for a second goroutine
		{minPerRun * 2, 2, 2},
		{100, 2, 2},
		{500, 2, 2},
		{500, 1, 1}, // one CPU: this goroutine alone
		{500, 8, 8},
		{100, 8, 3}, // no goroutine with fewer than minPerRun tables
		{5, 0, 1},
	}
	for _, tt := range tests {
		if got := tableRuns(tt.n, tt.procs); got != tt.want {
			t.Errorf("tableRuns(%d, %d) = %d; want %d", tt.n, tt.procs, got, tt.want)
		}
	}
}

// mixedTables returns the text of n programs and n/4 jobs; when bad, every
// seventh program has a problem of one of several kinds: deep keys (whose
// places need the second scan, from several goroutines at once), values
// of the wrong type, checks of several keys, names bad or taken (a job
// of a program's name, decoded only for its problems).
func mixedTables(n int, bad bool) string {
	var b strings.Builder
	b.WriteString("[superd]\nsocket = \"s.sock\"\n\n[defaults]\nstop_timeout = \"5s\"\nenvironment = { FROM = \"defaults\" }\n")
	problems := []string{
		"command = [\"/bin/true\"]\nready = { tcp = \"127.0.0.1:1\", nonsense = 1 }\n",
		"command = [\"/bin/true\"]\nstart_retries = \"three\"\n",
		"command = [\"/bin/true\"]\nshell = \"true\"\n",
		"command = [\"relative\"]\n",
		"command = [\"/bin/true\"]\nbackoff_initial = \"2m\"\nbackoff_max = \"1m\"\n",
		"command = [\"/bin/true\"]\nenvironment = { A = 1 }\n",
		"command = [\"/bin/true\"]\nunknown_key = true\n",
	}
	for i := range n {
		name := fmt.Sprintf("p%03d", i)
		body := fmt.Sprintf("command = [\"/bin/sleep\", \"%d\"]\nstart_seconds = \"0s\"\n", i)
		if bad && i%7 == 3 {
			body = problems[(i/7)%len(problems)]
			switch (i / 7) % 5 {
			case 1:
				name = "-bad" + name
			case 2: // a job of a program's name: decoded, not kept
				fmt.Fprintf(&b, "\n[job.p%03d]\ncommand = [\"/bin/true\"]\ntimeout = 5\n", i-1)
			}
		}
		fmt.Fprintf(&b, "\n[program.%s]\n%s", name, body)
		if i%4 == 0 {
			fmt.Fprintf(&b, "\n[job.j%03d]\ncommand = [\"/bin/echo\"]\nargs = \"append\"\n", i)
		}
	}
	return b.String()
}

// TestLoadSameOnManyGoroutines checks that sharing the tables out among
// goroutines (checkTables) gives what one goroutine gives: the same
// config, or the same errors in the same order. Under -race it also checks
// that the goroutines share nothing they write.
func TestLoadSameOnManyGoroutines(t *testing.T) {
	const n = 200
	for _, bad := range []bool{false, true} {
		t.Run(fmt.Sprintf("bad=%v", bad), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "superd.toml")
			if err := os.WriteFile(path, []byte(mixedTables(n, bad)), 0o644); err != nil {
				t.Fatal(err)
			}
			// load loads on procs CPUs and checks that the tables were
			// shared out among that many goroutines: were they not, the
			// comparisons below would compare one goroutine with itself.
			load := func(procs int) (*Config, error) {
				l := newLoader(hostSystem())
				l.procs = procs
				cfg, err := l.load(path)
				if l.checkedOn != procs {
					t.Fatalf("load on %d CPUs checked the tables on %d goroutines; want %d", procs, l.checkedOn, procs)
				}
				return cfg, err
			}
			one, errOne := load(1)
			for _, procs := range []int{2, 4} {
				many, errMany := load(procs)
				if bad {
					var es *Errors
					if !errors.As(errOne, &es) || len(*es) < n/7 {
						t.Fatalf("load on 1 goroutine = %v; want at least %d positioned errors", errOne, n/7)
					}
					if errMany == nil || errMany.Error() != errOne.Error() {
						t.Errorf("load on %d goroutines gave errors\n%v\nwant (as on 1)\n%v", procs, errMany, errOne)
					}
					continue
				}
				if errOne != nil || errMany != nil {
					t.Fatalf("load on 1 and %d goroutines = %v, %v; want no errors", procs, errOne, errMany)
				}
				if len(one.Programs) != n || len(one.Jobs) != n/4 {
					t.Fatalf("load on 1 goroutine: %d programs, %d jobs; want %d, %d", len(one.Programs), len(one.Jobs), n, n/4)
				}
				if !reflect.DeepEqual(many, one) {
					t.Errorf("load on %d goroutines gave another config than on 1", procs)
				}
			}
		})
	}
}

func TestFanOut(t *testing.T) {
	for _, n := range []int{0, 1, 2, 5} {
		runs := make([]atomic.Int32, n)
		fanOut(n, func(i int) { runs[i].Add(1) })
		for i := range runs {
			if got := runs[i].Load(); got != 1 {
				t.Errorf("fanOut(%d): f(%d) ran %d times; want once", n, i, got)
			}
		}
	}
}
