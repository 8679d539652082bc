// Command superctl controls a running superd over its Unix socket (SPEC §1):
// it shows status, starts, stops, restarts and signals programs, shows their
// output, reloads the config, runs jobs and stops their runs, streams
// events, and asks superd to shut down.
//
// Exit status: 0 success; 1 the operation failed; 2 usage error; 3 status or
// pid found a targeted instance not running; 4 unknown name; 5 superd not
// reachable; 6 permission denied; 130 interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/superd/superd/ipc"
	"github.com/superd/superd/ipc/apitype"
)

// Exit codes of SPEC §1.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitNotRunning  = 3
	exitNotFound    = 4
	exitUnreachable = 5
	exitForbidden   = 6
	exitInterrupted = 130 // 128 + SIGINT, as a shell reports it
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs superctl with args (without the program name) and returns its
// exit code. Errors go to stderr as one line each, "superctl: ...".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, output: outputTable}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if msg := errorText(err); msg != "" {
		for line := range strings.SplitSeq(msg, "\n") {
			fmt.Fprintf(stderr, "superctl: %s\n", line)
		}
	}
	if code == exitUsage {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// app is one invocation of superctl: its global flags and output streams.
type app struct {
	stdout, stderr io.Writer
	socket         string       // -s; "" until resolved by socketPath
	output         outputFormat // -o
}

// socketPath returns the socket to use: -s, else $SUPERD_SOCKET, else the
// default superd uses too.
func (a *app) socketPath() string {
	if a.socket != "" {
		return a.socket
	}
	if s := os.Getenv("SUPERD_SOCKET"); s != "" {
		return s
	}
	return ipc.DefaultSocket()
}

// client returns a client for the socket.
func (a *app) client() *ipc.Client { return ipc.NewClient(a.socketPath()) }

// rootCommand builds the command tree.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "superctl",
		Short: "Control a running superd",
		Long: `superctl controls a running superd over its Unix socket: it shows the state
of programs, starts, stops, restarts and signals them, shows their output,
reloads the config, runs jobs and stops their runs, streams state changes and
asks superd to shut down.

A TARGET is a program name (all its instances), an instance NAME:N, or "all".

Exit status: 0 success; 1 the operation failed; 2 usage error; 3 status or
pid found a targeted instance not running; 4 unknown name; 5 superd not
reachable; 6 permission denied.`,
		Example: `  superctl status
  superctl restart web
  superctl job run backup -- --full
  superctl -s /run/superd/superd.sock logs -f web:0`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf("; did you mean %q?", s[0])
			}
			return usagef("unknown command %q%s", args[0], hint)
		},
		RunE: func(*cobra.Command, []string) error {
			return usagef("missing command")
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVarP(&a.socket, "socket", "s", "",
		"path of superd's control socket (default $SUPERD_SOCKET, else "+ipc.DefaultSocket()+")")
	root.PersistentFlags().VarP(&a.output, "output", "o", "output format: table or json")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{outputTable, outputJSON}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(
		a.statusCommand(),
		a.controlCommand("start", "Start programs and wait until they run",
			`Start the targeted instances and wait until each is running. An instance
that goes fatal instead fails the command (exit 1), as does one that has not
settled when --timeout runs out. Starting a running instance changes nothing.`,
			(*ipc.Client).Start),
		a.controlCommand("stop", "Stop programs and wait until they are stopped",
			`Stop the targeted instances (stop_signal, then SIGKILL after stop_timeout)
and wait until each is stopped. Stopping a stopped instance changes nothing. An
instance stopped by hand stays stopped across restarts of superd until it is
started by hand.`,
			(*ipc.Client).Stop),
		a.controlCommand("restart", "Restart programs and wait until they run",
			`Stop, then start the targeted instances and wait until each is running.`,
			(*ipc.Client).Restart),
		a.signalCommand(),
		a.logsCommand(),
		a.pidCommand(),
		a.reloadCommand(),
		a.jobsCommand(),
		a.jobCommand(),
		a.eventsCommand(),
		a.shutdownCommand(),
		a.versionCommand(),
		a.completionCommand(root),
	)
	return root
}

// runE wraps a verb's RunE so that exitCode can tell the verb's own failures
// from cobra's argument and flag errors.
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		if err == nil {
			return nil
		}
		if _, ok := errors.AsType[usageError](err); ok {
			return err
		}
		if _, ok := errors.AsType[*exitError](err); ok {
			return err
		}
		return runError{err}
	}
}

// usageError is a mistake in the command line: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// runError is a failure of a verb after its command line was accepted; its
// exit code follows from the sentinel it wraps.
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// exitError ends superctl with code, printing err if it is not nil.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode maps the error of a run to superctl's exit status (SPEC §1).
// Errors that did not come out of a verb (cobra's flag, argument and
// unknown-command errors) are usage errors.
func exitCode(err error) int {
	if e, ok := errors.AsType[*exitError](err); ok {
		return e.code
	}
	if _, ok := errors.AsType[usageError](err); ok {
		return exitUsage
	}
	if _, ok := errors.AsType[runError](err); !ok {
		return exitUsage
	}
	switch {
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, apitype.ErrForbidden), errors.Is(err, os.ErrPermission):
		// os.ErrPermission: the socket file itself refused the connection.
		return exitForbidden
	case errors.Is(err, ipc.ErrUnreachable):
		return exitUnreachable
	case errors.Is(err, apitype.ErrNotFound):
		return exitNotFound
	default:
		return exitFailed
	}
}

// errorText is the message to print for err; an interrupted run says so.
func errorText(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	return err.Error()
}

// Output formats of -o.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// outputFormat is the value of -o: table or json. A bad value is a flag
// error, so a usage error.
type outputFormat string

func (o *outputFormat) String() string { return string(*o) }

// Set accepts table or json.
func (o *outputFormat) Set(s string) error {
	switch s {
	case outputTable, outputJSON:
		*o = outputFormat(s)
		return nil
	}
	return fmt.Errorf("must be %s or %s", outputTable, outputJSON)
}

// Type names the value in help text.
func (o *outputFormat) Type() string { return "format" }
