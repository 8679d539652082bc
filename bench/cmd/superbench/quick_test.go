package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// quickBudget bounds the whole quick run of every scenario (about 10 s on a
// 2-CPU machine with superd alone, about 45 s with every peer installed,
// 55–70 s when other test suites load the machine: the peers' restarts
// take a second or more each; building the binaries comes first, outside
// this budget).
const quickBudget = 120 * time.Second

// buildBinaries builds superd, superctl, forkfloor and the C helpers into a
// temporary folder, as bench/run does into bench/.bin.
func buildBinaries(t *testing.T) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: the restart, reaping, notify and forward scenarios need it to build the C helpers in bench/")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	steps := [][]string{
		{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin + "/", "./cmd/superd", "./cmd/superctl", "./bench/cmd/forkfloor"},
		{gcc, "-O2", "-Wall", "-Wextra", "-o", filepath.Join(bin, "stamp"), "bench/stamp.c"},
		{gcc, "-O2", "-Wall", "-Wextra", "-o", filepath.Join(bin, "orphans"), "bench/orphans.c"},
		{gcc, "-O2", "-Wall", "-Wextra", "-o", filepath.Join(bin, "notify"), "bench/notify.c"},
		{gcc, "-O2", "-Wall", "-Wextra", "-o", filepath.Join(bin, "sigecho"), "bench/sigecho.c"},
	}
	for _, argv := range steps {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = root
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0") // as bench/run and the Dockerfile build superd
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	return bin
}

// TestQuick runs every scenario in --quick mode, so that the harness keeps
// working as superd changes: any harness error fails it. What looked wrong
// in a supervisor (WARNING lines) is logged, not failed on: the product's
// own tests judge superd. The peers (supervisord, s6, runit, tini) are
// measured too when installed, and left out when not: the test never
// installs anything.
func TestQuick(t *testing.T) {
	bin := buildBinaries(t)
	ctx, cancel := context.WithTimeout(t.Context(), quickBudget)
	defer cancel()
	for _, s := range scenarios() {
		t.Run(s.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			err := run(ctx, []string{"--quick", "--bin", bin, s.name}, &stdout, &stderr)
			t.Logf("%s in %v:\n%s%s", s.name, time.Since(start).Round(time.Millisecond), stderr.String(), stdout.String())
			if err != nil {
				t.Fatalf("run(--quick %s) = %v; want nil", s.name, err)
			}
			var rows int
			for line := range strings.SplitSeq(stdout.String(), "\n") {
				if strings.HasPrefix(line, s.name+" ") {
					rows++
					if strings.Contains(line, " 0 µs ") && s.name != "idle" {
						t.Errorf("row with a zero duration: %q", line)
					}
				}
			}
			if rows == 0 {
				t.Errorf("run(--quick %s) printed no row for %s:\n%s", s.name, s.name, stdout.String())
			}
			for line := range strings.SplitSeq(stdout.String(), "\n") {
				if strings.HasPrefix(line, "WARNING: ") {
					t.Logf("system under test: %s", line)
				}
			}
		})
	}
	// --compare measures a second build beside superd (here the same one):
	// its column and the ratio to it must be filled.
	t.Run("compare", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, []string{"--quick", "--bin", bin, "--compare", bin, "--systems", "superd", "start"}, &stdout, &stderr)
		t.Logf("%s%s", stderr.String(), stdout.String())
		if err != nil {
			t.Fatalf("run(--compare) = %v; want nil", err)
		}
		var header, row []string
		for line := range strings.SplitSeq(stdout.String(), "\n") {
			switch {
			case strings.HasPrefix(line, "SCENARIO "):
				header = strings.Fields(line)
			case strings.HasPrefix(line, "start ") && row == nil:
				row = strings.Fields(line)
			}
		}
		if !slices.Contains(header, baseName) || !slices.Contains(header, "superd/"+baseName) {
			t.Fatalf("table header %q; want columns %s and superd/%s", header, baseName, baseName)
		}
		if row == nil || strings.Contains(strings.Join(row, " "), " - ") {
			t.Errorf("start row %q; want every column filled", row)
		}
	})
	// --rounds sets the rounds of logs too, which has more by default
	// (as start has).
	t.Run("rounds of logs", func(t *testing.T) {
		if full := fullSizes(); full.logRounds <= full.rounds || full.startRounds <= full.rounds {
			t.Errorf("a full run has %d rounds of logs, %d of start and %d of the others; want more of logs and start", full.logRounds, full.startRounds, full.rounds)
		}
		var stdout, stderr bytes.Buffer
		err := run(ctx, []string{"--quick", "--rounds", "2", "--bin", bin, "--systems", "superd", "logs"}, &stdout, &stderr)
		t.Logf("%s%s", stderr.String(), stdout.String())
		if err != nil {
			t.Fatalf("run(--rounds 2 logs) = %v; want nil", err)
		}
		if got := strings.Count(stdout.String(), "median of 2"); got != 6 {
			t.Errorf("run(--rounds 2 logs) printed \"median of 2\" in %d rows; want the 6 rows of throughput and shares", got)
		}
		if got := strings.Count(stderr.String(), "logs: floors: "); got != 4 {
			t.Errorf("run(--rounds 2 logs) measured the floors %d times; want 2 rounds of 2 kinds", got)
		}
	})
	// --rounds sets how many rounds the medians are of.
	t.Run("rounds", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, []string{"--quick", "--rounds", "2", "--bin", bin, "--systems", "superd", "start"}, &stdout, &stderr)
		t.Logf("%s%s", stderr.String(), stdout.String())
		if err != nil {
			t.Fatalf("run(--rounds 2) = %v; want nil", err)
		}
		if !strings.Contains(stdout.String(), "median of 2") {
			t.Errorf("run(--rounds 2) printed no \"median of 2\"")
		}
		if got := strings.Count(stderr.String(), "(round 2 of 2)"); got == 0 {
			t.Errorf("run(--rounds 2) reported no second round")
		}
		// The start's CPU row, with superd's CPU in it.
		var cpuRow string
		for line := range strings.SplitSeq(stdout.String(), "\n") {
			if strings.Contains(line, "supervisor CPU to the last exec") {
				cpuRow = line
			}
		}
		_, cells, _ := strings.Cut(cpuRow, "median of 2")
		if f := strings.Fields(cells); len(f) < 2 || f[0] == "-" || !strings.HasSuffix(f[1], "s") {
			t.Errorf("start's CPU row = %q; want superd's CPU in it", cpuRow)
		}
		// Both floors: forkfloor launched, and the loop alone.
		for _, floorIs := range []string{"Go program: launch, ForkExec 20 × the helper", "Go loop in superbench: ForkExec 20 × the helper"} {
			if !regexp.MustCompile(floorBefore.String() + regexp.QuoteMeta(floorIs)).MatchString(stdout.String()) {
				t.Errorf("run(start) printed no floor duration before %q", floorIs)
			}
		}
	})
}

// floorBefore matches a duration in the FLOOR column, before FLOOR IS.
var floorBefore = regexp.MustCompile(`[0-9.]+ (ms|µs|s) +`)

func TestRoundsRefusesLessThanOne(t *testing.T) {
	for _, v := range []string{"0", "-1"} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"--quick", "--rounds", v, "start"}, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "--rounds must be at least 1") {
			t.Errorf("run(--rounds %s) = %v; want the error \"--rounds must be at least 1, ...\"", v, err)
		}
	}
}
