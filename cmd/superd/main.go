// Command superd is the process supervisor daemon: `superd [-c PATH]` runs
// the programs of a TOML file; `superd check` validates one; `superd
// version` prints the version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/superd/superd/config"
	"github.com/superd/superd/supervisor/logs"
	"github.com/superd/superd/supervisor/reaper"
)

// exitError carries a process exit status out of run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErr is a usage error: exit status 2.
func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	if reaper.RunShim(os.Args) {
		return
	}
	if err := reaper.CloseInheritedFds(); err != nil {
		fmt.Fprintf(os.Stderr, "superd: mark inherited descriptors close-on-exec: %v\n", err)
		os.Exit(1)
	}
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err (one line, or the positioned config errors) and
// returns the exit status for it.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
	}
	var cerr *config.Errors
	if errors.As(err, &cerr) {
		fmt.Fprintln(stderr, cerr.Error())
		return code
	}
	fmt.Fprintf(stderr, "superd: %v\n", err)
	return code
}

const usage = `Usage:
  superd [-c PATH] [--socket PATH] [--log-format text|json] [--log-level LEVEL]
                                 run the supervisor in the foreground
  superd check [-c PATH]         validate the config and exit
  superd exec [--no-group] [--no-subreaper] [--grace D] -- CMD [ARG...]
                                 run CMD as a container init (tini-like);
                                 see superd exec --help
  superd version                 print version, commit and Go version

The config is -c PATH, else $SUPERD_CONFIG, else ./superd.toml if it
exists, else /etc/superd/superd.toml.
`

// run is superd's main: it returns nil after a graceful shutdown, or an
// error whose exit status exitCode finds.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return runCheck(args[1:], stdout, stderr)
		case "version":
			if len(args) > 1 {
				return usageErr("version takes no arguments")
			}
			fmt.Fprintln(stdout, versionString())
			return nil
		case "exec":
			return runExec(ctx, args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, usage)
			return nil
		}
	}
	return runDaemon(ctx, args, stdout, stderr)
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return &exitError{code: 0}
		}
		return usageErr("%v (see superd help)", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q (see superd help)", fs.Arg(0))
	}
	return nil
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	path := fs.String("c", "", "config file")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	file := config.Resolve(*path)
	cfg, err := config.Load(file)
	if err != nil {
		return err
	}
	if err := checkJournal(cfg); err != nil {
		return err
	}
	n := 0
	for _, p := range cfg.Programs {
		n += p.Instances
	}
	fmt.Fprintf(stdout, "%s: ok: %d programs, %d instances, %d jobs\n", cfg.Path, len(cfg.Programs), n, len(cfg.Jobs))
	return nil
}

// checkJournal refuses a config that sends output to journald when no
// journald listens: better said at start than found missing in the logs.
// journald is asked (a connect on its socket) only when some program or
// job sends output there.
func checkJournal(cfg *config.Config) error {
	var errs config.Errors
	refuse := func(kind, name, file string, line, col int, stdout, stderr config.Output) {
		for i, o := range []config.Output{stdout, stderr} {
			key := [...]string{"stdout", "stderr"}[i]
			if o == config.OutputJournal {
				errs = append(errs, &config.Error{File: file, Line: line, Col: col,
					Msg: fmt.Sprintf("%s %s: %s = \"journal\", but %v", kind, name, key, logs.ErrNoJournal)})
			}
		}
	}
	for _, p := range cfg.Programs {
		refuse("program", p.Name, p.File, p.Line, p.Col, p.Stdout, p.Stderr)
	}
	for _, j := range cfg.Jobs {
		refuse("job", j.Name, j.File, j.Line, j.Col, j.Stdout, j.Stderr)
	}
	if len(errs) == 0 || logs.JournalAvailable() {
		return nil
	}
	return &errs
}

func versionString() string {
	version, commit := "devel", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			}
		}
	}
	return fmt.Sprintf("superd %s (commit %s, %s)", version, commit, runtime.Version())
}
