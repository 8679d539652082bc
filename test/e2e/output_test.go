package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOutputFiles(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[defaults]
start_seconds = "0s"

[program.web]
shell = 'echo "out $SUPERD_INSTANCE"; echo "err $SUPERD_INSTANCE" >&2; exec /bin/sleep 1000'
instances = 2
stderr = "file"

[program.merged]
shell = 'echo to-stdout; echo to-stderr >&2; exec /bin/sleep 1000'
`)
	d.waitRunning(10*time.Second, "web:0", "web:1", "merged")
	tests := []struct {
		file, want string
	}{
		{"web-0.log", "out 0\n"},
		{"web-1.log", "out 1\n"},
		{"web-0.err.log", "err 0\n"},
		{"web-1.err.log", "err 1\n"},
	}
	for _, tt := range tests {
		path := filepath.Join(d.logDir, tt.file)
		if got := waitFileContains(t, 10*time.Second, path, "\n"); got != tt.want {
			t.Errorf("%s = %q; want %q", tt.file, got, tt.want)
		}
	}
	// stderr = "stdout" (the default) merges into NAME.log.
	got := waitFileContains(t, 10*time.Second, filepath.Join(d.logDir, "merged.log"), "to-stderr")
	if !strings.Contains(got, "to-stdout\n") {
		t.Errorf("merged.log = %q; want both streams", got)
	}
	if _, err := os.Stat(filepath.Join(d.logDir, "merged.err.log")); err == nil {
		t.Errorf("merged.err.log exists although stderr is merged into stdout")
	}
}

func TestOutputRotationLosesNoLine(t *testing.T) {
	t.Parallel()
	const n = 20000
	const maxSize = 16 << 10
	d := startDaemon(t, "", fmt.Sprintf(`
[program.counter]
shell = "/usr/bin/seq 1 %d; exec /bin/sleep 1000"
start_seconds = "0s"
log_max_size = "16KiB"
log_max_files = 100
`, n))
	d.waitRunning(10*time.Second, "counter")
	base := filepath.Join(d.logDir, "counter.log")
	var all []string
	var files []string
	waitFor(t, 30*time.Second, func() string {
		return fmt.Sprintf("%d lines across %d files (have %d)", n, len(files), len(all))
	}, func() bool {
		all, files = readRotated(t, base)
		return len(all) >= n
	})
	for i, l := range all {
		if l != strconv.Itoa(i+1) {
			t.Fatalf("line %d of the concatenated logs = %q; want %d (lost, duplicated, split or reordered)", i+1, l, i+1)
		}
	}
	if len(all) != n {
		t.Errorf("%d lines; want %d", len(all), n)
	}
	if len(files) < 6 {
		t.Errorf("%d files; want at least 6 (%d bytes in files of 16 KiB)", len(files), len(strings.Join(all, "\n")))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// A file may exceed log_max_size by the rest of the line being
		// written when it filled up; lines here are at most 6 bytes.
		if len(b) > maxSize+6 {
			l := lines(string(b))
			t.Errorf("%s is %d bytes (%d lines, %q ... %q); want at most log_max_size %d plus one line", f, len(b), len(l), l[:2], l[len(l)-2:], maxSize)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s does not end with a newline: a line was split by rotation", f)
		}
	}
}

// readRotated returns the lines of base.N ... base.1, base in that order
// (oldest first), and the files read.
func readRotated(t *testing.T, base string) (all []string, files []string) {
	t.Helper()
	var rotated []int
	matches, _ := filepath.Glob(base + ".*")
	for _, m := range matches {
		if i, err := strconv.Atoi(strings.TrimPrefix(m, base+".")); err == nil {
			rotated = append(rotated, i)
		}
	}
	for i := len(rotated); i >= 1; i-- {
		files = append(files, base+"."+strconv.Itoa(i))
	}
	files = append(files, base)
	for _, f := range files {
		all = append(all, lines(readFile(t, f))...)
	}
	return all, files
}

func TestOutputInheritPrefixesLines(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[defaults]
start_seconds = "0s"

[program.web]
shell = 'echo hello-inherit; echo second line; exec /bin/sleep 1000'
stdout = "inherit"

[program.multi]
shell = 'echo "multi says $SUPERD_INSTANCE"; echo "multi errs $SUPERD_INSTANCE" >&2; exec /bin/sleep 1000'
instances = 2
stdout = "inherit"
stderr = "inherit"
`)
	d.waitRunning(10*time.Second, "web", "multi:0", "multi:1")
	for _, want := range []string{"web | hello-inherit\n", "web | second line\n", "multi:1 | multi says 1\n", "multi:0 | multi says 0\n"} {
		waitForf(t, 10*time.Second, fmt.Sprintf("superd's stdout to hold %q", want), func() bool {
			return strings.Contains(d.stdout.String(), want)
		})
	}
	// stderr = "inherit" goes to superd's stderr.
	want := "multi:1 | multi errs 1\n"
	waitForf(t, 10*time.Second, fmt.Sprintf("superd's stderr to hold %q", want), func() bool {
		return strings.Contains(d.stderr.String(), want)
	})
	if _, err := os.Stat(filepath.Join(d.logDir, "web.log")); err == nil {
		t.Errorf("web.log exists although stdout = inherit")
	}
}

// TestOutputInheritToClosedStderrCountsDrops: with stderr = "inherit" and
// superd's stderr a pipe nobody reads any more, the program's lines are
// counted as dropped (superd's own log goes through a Batcher that drops
// write errors; inherited output must not).
func TestOutputInheritToClosedStderrCountsDrops(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // every write to w now fails with EPIPE
	defer w.Close()
	e := newEnv(t)
	e.writeConfig("", `
[defaults]
start_seconds = "0s"

[program.errs]
shell = 'while :; do echo "to stderr" >&2; sleep 0.05; done'
stderr = "inherit"
`)
	d := e.start(opts{stderr: w})
	d.waitRunning(10*time.Second, "errs")
	sock := c3HTTP(d.sock)
	const prefix = `superd_log_bytes_dropped_total{instance="errs",program="errs"} `
	var body string
	waitForf(t, 10*time.Second, "a positive "+prefix+"in /metrics", func() bool {
		var code int
		code, body = c3Get(t, sock, "GET", "http://superd/metrics")
		if code != http.StatusOK {
			return false
		}
		for line := range strings.SplitSeq(body, "\n") {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				return v != "0"
			}
		}
		return false
	})
}

// stamped is a line with the timestamp of SPEC §2 (RFC 3339, UTC, ms).
var stamped = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (.*)$`)

func TestOutputTimestamps(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[defaults]
start_seconds = "0s"
timestamps = true

[program.file]
shell = 'echo stamped-line; exec /bin/sleep 1000'

[program.console]
shell = 'echo console-line; exec /bin/sleep 1000'
stdout = "inherit"
`)
	before := time.Now().Add(-time.Second)
	d.waitRunning(10*time.Second, "file", "console")
	check := func(what, line, wantText string) {
		t.Helper()
		m := stamped.FindStringSubmatch(line)
		if m == nil || m[2] != wantText {
			t.Errorf("%s line = %q; want \"YYYY-MM-DDTHH:MM:SS.mmmZ %s\"", what, line, wantText)
			return
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Errorf("%s timestamp %q: %v", what, m[1], err)
			return
		}
		if ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
			t.Errorf("%s timestamp %v is not the time the line was written (around %v)", what, ts, before)
		}
	}
	got := waitFileContains(t, 10*time.Second, filepath.Join(d.logDir, "file.log"), "\n")
	check("file.log", strings.TrimSuffix(got, "\n"), "stamped-line")

	var line string
	waitForf(t, 10*time.Second, "a console line on superd's stdout", func() bool {
		for _, l := range lines(d.stdout.String()) {
			if rest, ok := strings.CutPrefix(l, "console | "); ok {
				line = rest
				return true
			}
		}
		return false
	})
	check("inherit (after \"console | \")", line, "console-line")
	// superctl logs shows the stamped lines too.
	out := d.mustCtl("logs", "-n", "1", "file")
	check("superctl logs", strings.TrimSuffix(out, "\n"), "stamped-line")
}

func TestLogsLastLinesInEveryMode(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[defaults]
start_seconds = "0s"
shell = "/usr/bin/seq 1 10; exec /bin/sleep 1000"

[program.tofile]
stdout = "file"

[program.tonull]
stdout = "null"

[program.toconsole]
stdout = "inherit"

[program.errnull]
shell = "/usr/bin/seq 1 10 >&2; exec /bin/sleep 1000"
stdout = "null"
stderr = "null"
`)
	names := []string{"tofile", "tonull", "toconsole", "errnull"}
	d.waitRunning(10*time.Second, names...)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			d := d.withT(t)
			var out string
			waitFor(t, 10*time.Second, func() string { return "superctl logs -n 5 " + n + " to show lines 6..10; got " + strconv.Quote(out) }, func() bool {
				out = d.mustCtl("logs", "-n", "5", n)
				return out == "6\n7\n8\n9\n10\n"
			})
			// The default is 100 lines, more than there are.
			if all := d.mustCtl("logs", n); len(lines(all)) != 10 {
				t.Errorf("superctl logs %s = %q; want the 10 lines", n, all)
			}
		})
	}
	if _, errOut, code := d.ctl("logs", "nosuch"); code != 4 {
		t.Errorf("superctl logs nosuch = exit %d (stderr %q); want 4", code, errOut)
	}
}

func TestSigusr1ReopensLogFiles(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[program.ticker]
shell = 'i=0; while :; do i=$((i+1)); echo "tick $i"; /bin/sleep 0.02; done'
start_seconds = "0s"
`)
	d.waitRunning(10*time.Second, "ticker")
	path := filepath.Join(d.logDir, "ticker.log")
	moved := filepath.Join(d.logDir, "ticker.log.moved")
	waitFileContains(t, 10*time.Second, path, "tick 3\n")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	// Until SIGUSR1, superd keeps writing to the moved file.
	waitFileContains(t, 10*time.Second, moved, "tick 10\n")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat %s before SIGUSR1 = %v; want it absent (superd reopens only when told)", path, err)
	}
	d.signal(syscall.SIGUSR1)
	got := waitFileContains(t, 10*time.Second, path, "tick")
	first := strings.Fields(lines(got)[0])
	if len(first) != 2 || first[0] != "tick" {
		t.Fatalf("reopened ticker.log starts with %q", lines(got)[0])
	}
	// Nothing lost between the two files.
	n, _ := strconv.Atoi(first[1])
	old := lines(readFile(t, moved))
	if last := old[len(old)-1]; last != "tick "+strconv.Itoa(n-1) {
		t.Errorf("moved file ends with %q and the new one starts with \"tick %d\": lines lost or duplicated", last, n)
	}
}

func TestUnwritableLogDoesNotBlockChild(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	marker := e.path("wrote-all")
	if err := os.MkdirAll(e.logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Every write to full.log fails with ENOSPC.
	if err := os.Symlink("/dev/full", filepath.Join(e.logDir, "full.log")); err != nil {
		t.Fatal(err)
	}
	// About 1 MiB, far more than a pipe holds: the child finishes only if
	// superd keeps reading although it cannot write.
	e.writeConfig("", `
[program.full]
shell = "/usr/bin/seq -f '%08g padding-padding-padding-padding-padding' 1 20000; touch `+marker+`; exec /bin/sleep 1000"
start_seconds = "0s"
`)
	d := e.start(opts{})
	d.waitRunning(10*time.Second, "full")
	waitForf(t, 30*time.Second, "the child to write all its output (it is blocked if superd stopped reading)", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	waitForf(t, 10*time.Second, `superd's log to say "output dropped"`, func() bool {
		return strings.Contains(d.stderr.String(), "output dropped")
	})
	var out string
	waitFor(t, 10*time.Second, func() string { return "superctl logs to show the last line; got " + strconv.Quote(out) }, func() bool {
		out = d.mustCtl("logs", "-n", "1", "full")
		return out == "00020000 padding-padding-padding-padding-padding\n"
	})
	if in := d.inst("full"); in.State != "running" {
		t.Errorf("full: %s; want running", describe(in))
	}
}

// TestOutputReloadAppliesLogLimits: a reload that lowers log_max_size
// restarts the program and its log file rotates at the new size from then
// on; no line is lost.
func TestOutputReloadAppliesLogLimits(t *testing.T) {
	t.Parallel()
	const n = 2000 // 8,893 bytes of output per start
	body := func(size string) string {
		return fmt.Sprintf(`
[program.counter]
shell = "/usr/bin/seq 1 %d; exec /bin/sleep 1000"
start_seconds = "0s"
log_max_size = %q
log_max_files = 100
`, n, size)
	}
	d := startDaemon(t, "", body("1MiB"))
	base := filepath.Join(d.logDir, "counter.log")
	waitFileContains(t, 10*time.Second, base, "\n2000\n")
	if _, files := readRotated(t, base); len(files) != 1 {
		t.Fatalf("files under log_max_size = 1MiB: %v; want counter.log alone", files)
	}

	d.writeConfig("", body("4KiB"))
	d.mustCtl("reload")
	var all, files []string
	waitFor(t, 30*time.Second, func() string {
		return fmt.Sprintf("%d lines in the logs after the reload (have %d in %v)", 2*n, len(all), files)
	}, func() bool {
		all, files = readRotated(t, base)
		return len(all) >= 2*n
	})
	if len(all) != 2*n {
		t.Errorf("%d lines in the logs; want %d, each start's seq once", len(all), 2*n)
	}
	// The oldest file holds the first start's output, written under 1MiB;
	// every later one was written under 4KiB.
	if len(files) < 3 {
		t.Fatalf("files after the reload = %v; want rotations at 4 KiB", files)
	}
	for _, f := range files[1:] {
		if b := readFile(t, f); len(b) > 4096+5 {
			t.Errorf("%s is %d bytes; want at most log_max_size 4096 plus one line", f, len(b))
		}
	}
}
