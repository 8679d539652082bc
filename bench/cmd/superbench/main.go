// Command superbench measures process supervisors side by side on this
// machine — superd, supervisord, s6 and runit, and tini for reaping and
// signal forwarding:
// restart latency, start-up time, idle cost, status latency, drain time,
// log throughput, orphan reaping, readiness (READY=1 to a dependent's
// start) and signal forwarding, plus the machine's own floors
// (docs/BENCHMARKS.md says what each number means). It is run by
// bench/run, which installs the peers, builds it and the binaries it
// drives into bench/.bin:
//
//	bench/run [--quick] [SCENARIO...]
//
// Every scenario runs against each installed system, interleaved (superd,
// supervisord, s6, runit, then again), and, where one makes sense, against
// a floor: the same work done by the simplest possible code. The table
// gives medians and superd/peer ratios; the targets of issue 5 follow it.
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
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
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
		{"floors", "the machine: fork+exec rate, pipe and page-cache write throughput", runFloors},
		{"restart", "latency from a child's death to its replacement's exec", runRestart},
		{"start", "time from launch to N programs running", runStart},
		{"idle", "CPU, context switches and memory of the supervisor with idle programs", runIdle},
		{"status", "wall time of the CLI's status and of the API's list of programs", runStatus},
		{"drain", "time from SIGTERM to the last process gone, programs taking 1 s to stop", runDrain},
		{"logs", "throughput of a child's stdout into a rotated log file", runLogs},
		{"reaping", "zombies left by a child's 2,000 orphans, and time to none (superd beside tini)", runReaping},
		{"notify", "latency from a program's READY=1 to the exec of the program that depends on it", runNotify},
		{"forward", "latency of a signal through superd exec (beside tini) to the child", runForward},
	}
}

// env is what every scenario gets: sizes, where the binaries are, the
// systems to measure and the registry of processes to clean up.
type env struct {
	bin     string // folder holding superd, superctl and the C helpers
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
	rounds       int           // interleaved rounds of drain, reaping and the floors: the median is reported
	startRounds  int           // the same for start, whose rounds at 100 programs spread by ±20 % on a shared VM
	logRounds    int           // the same for logs, whose rounds spread the widest on a shared VM
	restartRuns  int           // interleaved rounds of restart; the restarts below are split among them
	restarts     int           // superd's SIGKILLs (and as many exits) in restart
	peerRestarts int           // the same for the peers, whose restarts take a second each
	upRestarts   int           // SIGKILLs after upFor of uptime, every system
	upFor        time.Duration // uptime before those
	startN       []int         // program counts of start
	idleN        int           // programs of idle
	idleSettle   time.Duration // wait after all run, before the idle window
	idleWindow   time.Duration // length of the idle window
	statusN      []int         // program counts of status
	statusRuns   int           // calls of each kind in status
	drainN       int           // programs of drain
	drainDelay   time.Duration // how long each takes to exit after SIGTERM
	logBytes     int64         // bytes the child of logs writes
	logMaxSize   int64         // rotation size in logs
	logMaxFiles  int           // rotated files kept in logs
	reapN        int           // orphans of reaping
	reapDelay    time.Duration // from the child's start to the orphans' exit
	floorForks   int           // fork+execs of /bin/true in floors
	floorPipe    int64         // bytes through dd | dd in floors
	floorWrite   int64         // bytes dd writes to a file in floors
	waitDeadline time.Duration // bound on any single wait for a supervisor
	quietMax     time.Duration // bound on the wait for a quiet machine before a timed start

	notifyN        int // fresh supervisors of notify: the first starts measured
	notifyRestarts int // `restart all` of superd in each of them
	forwards       int // signals to each target of forward, over restartRuns rounds
}

func fullSizes() sizes {
	return sizes{
		rounds: 3, startRounds: 5, logRounds: 5, restartRuns: 2, restarts: 200, peerRestarts: 50, upRestarts: 8, upFor: 1200 * time.Millisecond,
		startN: []int{100, 500},
		idleN:  100, idleSettle: 2 * time.Second, idleWindow: 30 * time.Second,
		statusN: []int{100, 500}, statusRuns: 10, drainN: 100, drainDelay: time.Second,
		logBytes: 512 << 20, logMaxSize: 128 << 20, logMaxFiles: 5,
		reapN: 2000, reapDelay: time.Second,
		floorForks: 2000, floorPipe: 1 << 30, floorWrite: 512 << 20,
		waitDeadline: 2 * time.Minute, quietMax: 3 * time.Second,
		notifyN: 100, notifyRestarts: 2, forwards: 300,
	}
}

func quickSizes() sizes {
	return sizes{
		rounds: 1, startRounds: 1, logRounds: 1, restartRuns: 1, restarts: 20, peerRestarts: 1, upRestarts: 0, upFor: time.Second,
		startN: []int{20},
		idleN:  20, idleSettle: 200 * time.Millisecond, idleWindow: time.Second,
		statusN: []int{20}, statusRuns: 3, drainN: 10, drainDelay: 300 * time.Millisecond,
		logBytes: 4 << 20, logMaxSize: 1 << 20, logMaxFiles: 5,
		reapN: 200, reapDelay: 300 * time.Millisecond,
		floorForks: 100, floorPipe: 16 << 20, floorWrite: 16 << 20,
		waitDeadline: 30 * time.Second, quietMax: 200 * time.Millisecond,
		notifyN: 2, notifyRestarts: 1, forwards: 10,
	}
}

// run parses args, runs the chosen scenarios (all when none is named),
// prints the table and the targets on stdout and, with --plot, writes the
// SVG plot. It kills everything it started before returning, also when ctx
// is cancelled (a signal).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	all := scenarios()
	fs := flag.NewFlagSet("superbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "tiny sizes and short windows: the whole run takes seconds")
	bin := fs.String("bin", "", "folder of superd, superctl, forkfloor and the C helpers (default: superbench's own folder)")
	plot := fs.String("plot", "", "write the SVG plot of restart and start times to this file")
	only := fs.String("systems", "", "comma-separated systems to measure (default: every one installed)")
	compare := fs.String("compare", "", "folder of another build of superd and superctl, measured beside this one as the system "+baseName+" (a before/after comparison; the table gives superd/"+baseName+")")
	rounds := fs.Int("rounds", 0, "interleaved rounds of start, drain, logs, reaping and the floors, of which the median is reported (default: 3, start and logs 5, --quick 1)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: superbench [--quick] [--rounds N] [--bin DIR] [--compare DIR] [--plot FILE] [--systems LIST] [SCENARIO...]\n\nScenarios (all when none is named):\n")
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

	e := &env{bin: *bin, sizes: fullSizes(), procs: newProcs(), log: stderr}
	if *quick {
		e.sizes = quickSizes()
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "rounds" && *rounds < 1 {
			err = fmt.Errorf("--rounds must be at least 1, not %d", *rounds)
		}
	})
	if err != nil {
		return err
	}
	if *rounds > 0 {
		e.sizes.rounds, e.sizes.startRounds, e.sizes.logRounds = *rounds, *rounds, *rounds
	}
	if e.systems, err = pickSystems(e, *only); err != nil {
		return err
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
	if err := checkBinaries(e.bin, "superd", "superctl", "forkfloor", "stamp", "orphans", "notify", "sigecho"); err != nil {
		return fmt.Errorf("%w (bench/run builds it)", err)
	}
	if *compare != "" {
		def, err := baseSystem(*compare)
		if err != nil {
			return err
		}
		e.systems = slices.Insert(e.systems, min(1, len(e.systems)), def)
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
	fmt.Fprintf(stdout, "machine: %s\nload average (1 min) before: %s, after: %s\nsystems: %s\n\n", machine(), load0, loadAvg(), e.versions())
	printTable(stdout, e.systemNames(), rows)
	for _, w := range e.warnings {
		fmt.Fprintf(stdout, "WARNING: %s\n", w)
	}
	if t := evalTargets(rows); len(t) > 0 {
		fmt.Fprintf(stdout, "\nTargets of issue 5 (superd, same run):\n")
		printTargets(stdout, t)
	}
	if l := issue4(rows); len(l) > 0 {
		fmt.Fprintf(stdout, "\nIssue 4, no numeric targets (superd, same run):\n")
		printIssue4(stdout, l)
	}
	// A run without restart or start (bench/run notify forward) has nothing
	// to plot, and must not overwrite the plot of a full run.
	hasPlot := slices.ContainsFunc(rows, func(r row) bool {
		return strings.HasPrefix(r.key, "restart.") || strings.HasPrefix(r.key, "start.")
	})
	if *plot != "" && !hasPlot {
		e.progress("no restart or start rows: %s left as it was", *plot)
	}
	if *plot != "" && hasPlot {
		if err := writePlot(*plot, rows, e.systemNames()); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		e.progress("plot written to %s", *plot)
	}
	return nil
}

// baseName is the system of --compare: another build of superd.
const baseName = "superd-base"

// baseSystem is superd and superctl from the folder dir, as baseName.
func baseSystem(dir string) (systemDef, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return systemDef{}, fmt.Errorf("--compare: %w", err)
	}
	if err := checkBinaries(dir, "superd", "superctl"); err != nil {
		return systemDef{}, fmt.Errorf("--compare: %w", err)
	}
	return systemDef{name: baseName, superd: true, new: func(e *env) system { return newSuperdAt(e, baseName, dir) }}, nil
}

// checkBinaries returns an error naming the first of names missing in dir.
func checkBinaries(dir string, names ...string) error {
	for _, b := range names {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return fmt.Errorf("binary %s missing: %w", b, err)
		}
	}
	return nil
}

// inTurn returns the systems in the order of round: each round starts with
// the next one, so that none is always measured first (or right after a
// floor). start, restart and logs take their turns so.
func (e *env) inTurn(round int) []systemDef {
	n := len(e.systems)
	out := make([]systemDef, 0, n)
	for i := range n {
		out = append(out, e.systems[(i+round)%n])
	}
	return out
}

// pickSystems returns the systems to measure: those named in only (comma
// separated; every one must be installed), or every one installed.
func pickSystems(e *env, only string) ([]systemDef, error) {
	var out []systemDef
	var names []string
	if only != "" {
		names = strings.Split(only, ",")
	}
	for _, d := range systemDefs() {
		if names != nil && !slices.Contains(names, d.name) {
			continue
		}
		if err := d.available(); err != nil {
			if names != nil {
				return nil, fmt.Errorf("system %s is not installed: %w", d.name, err)
			}
			e.progress("skipping %s: not installed (%v); bench/run installs it", d.name, err)
			continue
		}
		out = append(out, d)
	}
	for _, n := range names {
		if !slices.ContainsFunc(out, func(d systemDef) bool { return d.name == n }) {
			return nil, fmt.Errorf("unknown system %q", n)
		}
	}
	return out, nil
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

// versions names the measured systems with their Debian package versions.
func (e *env) versions() string {
	pkgs := map[string]string{"supervisord": "supervisor", "s6": "s6", "runit": "runit"}
	var out []string
	for _, d := range e.systems {
		v := d.name
		if pkg, ok := pkgs[d.name]; ok {
			if b, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output(); err == nil {
				v += " " + string(b)
			}
		}
		out = append(out, v)
	}
	if _, err := exec.LookPath("tini"); err == nil {
		v := "tini"
		if b, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "tini").Output(); err == nil {
			v += " " + string(b)
		}
		out = append(out, v)
	}
	return strings.Join(out, ", ")
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
