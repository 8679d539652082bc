// Command superbench measures process supervisors on this machine: restart
// latency, start-up time, idle cost, status latency, drain time and log
// throughput (docs/BENCHMARKS.md says what each number means). It is run by
// bench/run, which builds it and the binaries it drives into bench/.bin:
//
//	bench/run [--quick] [SCENARIO...]
//
// Every scenario runs against each system (today superd alone; the
// comparison with supervisord, s6 and runit plugs in as more
// implementations of the system interface) and, where one makes sense,
// against a floor: the same work done by the simplest possible code.
//
// superbench kills every process it started, by pid, however it ends: each
// supervisor runs in its own process group with Pdeathsig, superbench is a
// subreaper, and on the way out it SIGKILLs every group it launched and
// every orphan that was handed to it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	code := 0
	if err != nil {
		fmt.Fprintf(os.Stderr, "superbench: %v\n", err)
		code = 1
		if errors.Is(err, context.Canceled) {
			code = 130
		}
	}
	os.Exit(code)
}

// scenario is one benchmark: it runs against every system of e and returns
// rows of the final table.
type scenario struct {
	name string
	what string // one line for -h
	run  func(ctx context.Context, e *env) ([]row, error)
}

func scenarios() []scenario {
	return []scenario{
		{"restart", "latency from a child's death to its replacement's exec", runRestart},
		{"start", "time from launch to N programs running", runStart},
		{"idle", "CPU, context switches and memory of the supervisor with idle programs", runIdle},
		{"status", "wall time of the CLI's status and of the API's list of programs", runStatus},
		{"drain", "time from SIGTERM to the supervisor's exit, programs taking 1 s to stop", runDrain},
		{"logs", "throughput of a child's stdout into a rotated log file", runLogs},
	}
}

// env is what every scenario gets: sizes, where the binaries are, the
// systems to measure and the registry of processes to clean up.
type env struct {
	bin     string // folder holding superd, superctl and stamp
	sizes   sizes
	procs   *procs
	systems []systemDef
	log     io.Writer // progress lines

	// warnings are what looked wrong in a system (not in the harness):
	// printed under the table. Appended from the scenario's goroutine only.
	warnings []string
}

// warn records something that looked wrong in a system under test, and
// prints it at once too.
func (e *env) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.warnings = append(e.warnings, msg)
	e.progress("WARNING: %s", msg)
}

// progress prints one progress line.
func (e *env) progress(format string, args ...any) {
	fmt.Fprintf(e.log, "superbench: "+format+"\n", args...)
}

// sizes are the knobs that --quick turns down.
type sizes struct {
	restarts     int             // kills (and as many exits) in restart
	startN       []int           // program counts of start
	startPolls   []time.Duration // API poll intervals of start
	reps         int             // runs of start, drain and logs; the median is reported
	idleN        int             // programs of idle
	idleSettle   time.Duration   // wait after all run, before the idle window
	idleWindow   time.Duration   // length of the idle window
	statusN      int             // programs of status
	statusRuns   int             // calls of each kind in status
	drainN       int             // programs of drain
	logBytes     int64           // bytes the child of logs writes
	logMaxSize   int64           // log_max_size of logs
	logMaxFiles  int             // log_max_files of logs
	waitDeadline time.Duration   // bound on any single wait for the supervisor
}

func fullSizes() sizes {
	return sizes{
		restarts: 200, startN: []int{100, 500}, startPolls: []time.Duration{apiPoll, 100 * time.Millisecond}, reps: 3,
		idleN: 100, idleSettle: 2 * time.Second, idleWindow: 60 * time.Second,
		statusN: 500, statusRuns: 20, drainN: 100,
		logBytes: 1 << 30, logMaxSize: 256 << 20, logMaxFiles: 5,
		waitDeadline: 2 * time.Minute,
	}
}

func quickSizes() sizes {
	return sizes{
		restarts: 20, startN: []int{20}, startPolls: []time.Duration{apiPoll}, reps: 1,
		idleN: 20, idleSettle: 200 * time.Millisecond, idleWindow: 3 * time.Second,
		statusN: 50, statusRuns: 5, drainN: 10,
		logBytes: 16 << 20, logMaxSize: 4 << 20, logMaxFiles: 5,
		waitDeadline: 30 * time.Second,
	}
}

// run parses args, runs the chosen scenarios (all when none is named) and
// prints the table on stdout. It kills everything it started before
// returning, also when ctx is cancelled (a signal).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	all := scenarios()
	fs := flag.NewFlagSet("superbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "tiny sizes and short windows: the whole run takes seconds")
	bin := fs.String("bin", "", "folder of superd, superctl and stamp (default: superbench's own folder)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: superbench [--quick] [--bin DIR] [SCENARIO...]\n\nScenarios (all when none is named):\n")
		for _, s := range all {
			fmt.Fprintf(stderr, "  %-8s %s\n", s.name, s.what)
		}
		fmt.Fprintf(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var chosen []scenario
	for _, name := range fs.Args() {
		i := slices.IndexFunc(all, func(s scenario) bool { return s.name == name })
		if i < 0 {
			return fmt.Errorf("unknown scenario %q (want one of %s)", name, scenarioNames(all))
		}
		chosen = append(chosen, all[i])
	}
	if len(chosen) == 0 {
		chosen = all
	}

	e := &env{bin: *bin, sizes: fullSizes(), procs: newProcs(), systems: systemDefs(), log: stderr}
	if *quick {
		e.sizes = quickSizes()
	}
	if e.bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find superbench's folder: %w", err)
		}
		e.bin = filepath.Dir(exe)
	}
	if e.bin, err = filepath.Abs(e.bin); err != nil {
		return fmt.Errorf("find the binaries: %w", err)
	}
	for _, b := range []string{"superd", "superctl", "stamp"} {
		if _, err := os.Stat(filepath.Join(e.bin, b)); err != nil {
			return fmt.Errorf("binary %s missing (bench/run builds it): %w", b, err)
		}
	}

	// Orphans of the supervisors (a program's children, once the program
	// died with its supervisor) are handed to us, so that procs can kill
	// and reap them instead of leaving them to init.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a subreaper: %w", err)
	}
	defer func() {
		if left := e.procs.cleanup(); left != nil && err == nil {
			err = left
		}
	}()

	start := time.Now()
	load0 := loadAvg()
	var rows []row
	for _, s := range chosen {
		if err := ctx.Err(); err != nil {
			return err
		}
		e.progress("%s: %s", s.name, s.what)
		t := time.Now()
		r, err := s.run(ctx, e)
		if err != nil {
			if cerr := context.Cause(ctx); cerr != nil {
				return fmt.Errorf("%s: %w", s.name, cerr)
			}
			return fmt.Errorf("%s: %w", s.name, err)
		}
		e.progress("%s: done in %.1fs", s.name, time.Since(t).Seconds())
		rows = append(rows, r...)
	}
	e.progress("all done in %.1fs", time.Since(start).Seconds())
	fmt.Fprintf(stdout, "machine: %s\nload average (1 min) before: %s, after: %s\n\n", machine(), load0, loadAvg())
	printTable(stdout, e.systemNames(), rows)
	for _, w := range e.warnings {
		fmt.Fprintf(stdout, "WARNING: %s\n", w)
	}
	return nil
}

func scenarioNames(all []scenario) string {
	var names []string
	for _, s := range all {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

func (e *env) systemNames() []string {
	var names []string
	for _, d := range e.systems {
		names = append(names, d.name)
	}
	return names
}

// row is one line of the final table: a metric, its value for each system
// (by name), and the floor with what the floor is.
type row struct {
	scenario string
	metric   string
	values   map[string]string
	floor    string
	floorIs  string
}

// printTable writes the rows as an aligned table, one column per system.
func printTable(w io.Writer, systems []string, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"SCENARIO", "METRIC"}
	head = append(head, systems...)
	head = append(head, "FLOOR", "FLOOR IS")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		cells := []string{r.scenario, r.metric}
		for _, s := range systems {
			cells = append(cells, orDash(r.values[s]))
		}
		cells = append(cells, orDash(r.floor), orDash(r.floorIs))
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// machine describes this machine in one line: CPUs, CPU model, kernel, and
// the Go that built superbench (and, through bench/run, superd).
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown kernel"
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	return fmt.Sprintf("%d CPUs (%s), %s, %s", runtime.NumCPU(), model, kernel, runtime.Version())
}

// loadAvg returns the 1-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
