package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// quickBudget bounds the whole quick run of every scenario (a quick run
// takes about 6 s on a 2-CPU machine; building the binaries comes first,
// outside this budget).
const quickBudget = 60 * time.Second

// buildBinaries builds superd, superctl and the stamp helper into a
// temporary folder, as bench/run does into bench/.bin.
func buildBinaries(t *testing.T) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: the restart scenario needs it to build bench/stamp.c")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	steps := [][]string{
		{"go", "build", "-o", bin + "/", "./cmd/superd", "./cmd/superctl"},
		{gcc, "-O2", "-Wall", "-Wextra", "-o", filepath.Join(bin, "stamp"), "bench/stamp.c"},
	}
	for _, argv := range steps {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	return bin
}

// TestQuick runs every scenario in --quick mode, so that the harness keeps
// working as superd changes: any harness error fails it. What looked wrong
// in superd itself (WARNING lines) is logged, not failed on: the product's
// own tests judge that.
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
					t.Logf("superd: %s", line)
				}
			}
		})
	}
}
