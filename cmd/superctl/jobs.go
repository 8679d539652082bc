package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/superd/superd/ipc"
	"github.com/superd/superd/ipc/apitype"
)

// Polling of a run that superctl waits for: the first look comes soon,
// later ones less often, so a long run costs superd little.
const (
	runPollFirst = 50 * time.Millisecond
	runPollMax   = time.Second
)

// jobsCommand is `superctl jobs`.
func (a *app) jobsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "jobs",
		Short: "List job runs, newest first",
		Long: `List the runs of every job that superd keeps (the live ones, the queued ones
and the last keep_runs finished ones of each job), newest first: a table with
the columns ID JOB STATE PID STARTED ENDED EXIT ARGS, or with -o json the JSON
array of run objects of the control API.

STATE is queued, running, succeeded, failed, timed_out, stopped, or lost (a
detached run that ended while superd was not running: its exit status is
unknown). EXIT is the exit code, or the signal that ended the run. Times are
RFC 3339, in UTC. An argument that holds blanks, quotes or other special
characters is shown quoted as a Go string ("two words"). Each run's output is
in log_dir/jobs/RUNID.log ("log" in the JSON).`,
		Example: `  superctl jobs
  superctl jobs -o json | jq -r '.[] | select(.state == "failed") | .log'`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			runs, err := a.client().Jobs(cmd.Context())
			if err != nil {
				return err
			}
			return a.printRuns(runs)
		}),
	}
}

// jobCommand is `superctl job run|stop`.
func (a *app) jobCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job run|stop ...",
		Short: "Run a job, or stop one of its runs",
		Long: `Start a run of a job ([job.NAME] in the config), or stop a run. See
"superctl job run --help" and "superctl job stop --help"; "superctl jobs" lists
the runs.`,
		Example: `  superctl job run backup
  superctl job run report -- --month 2026-11
  superctl job stop backup-7`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			return usagef("unknown job command %q; want run or stop", args[0])
		},
		RunE: func(*cobra.Command, []string) error {
			return usagef("job needs a command: run or stop")
		},
	}
	cmd.AddCommand(a.jobRunCommand(), a.jobStopCommand())
	return cmd
}

// jobRunCommand is `superctl job run NAME [-- ARG...]`.
func (a *app) jobRunCommand() *cobra.Command {
	var (
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run NAME [-- ARG...]",
		Short: "Start a run of a job and print its run id",
		Long: `Start a run of the job NAME and print its run id (NAME-N, counting up from 1
per job, kept across restarts of superd); with -o json, the run object. The
run starts at once, or waits in the job's queue while max_concurrent runs are
live; its output goes to log_dir/jobs/RUNID.log.

The arguments after -- are appended to the job's command, each as one
argument, exactly as given: they never go through a shell. A job with
args = "none" (the default) refuses any argument.

Fails (exit 1) when superd refuses the run: arguments refused, or the job's
queue is full (queue_max). Exit 4 when there is no such job.

With --wait, superctl then waits until the run has ended and exits 0 if it
succeeded, else 1 saying how it ended.`,
		Example: `  superctl job run backup
  superctl job run report -- --month 2026-11 '; this stays one argument'
  id=$(superctl job run backup) && superctl jobs -o json | jq ".[] | select(.id == \"$id\")"
  superctl job run --wait --timeout 2h backup`,
		Args: func(cmd *cobra.Command, args []string) error {
			before := len(args)
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				before = dash
			}
			switch {
			case before == 0:
				return usagef("job run needs the NAME of a job")
			case before > 1:
				return usagef("job run takes one NAME; arguments for the job go after --: superctl job run %s -- %s",
					args[0], strings.Join(args[1:before], " "))
			}
			return nil
		},
		ValidArgsFunction: a.completeJobs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if wait && timeout <= 0 {
				return usagef("--timeout must be positive, not %v", timeout)
			}
			name, jobArgs := args[0], args[1:]
			c := a.client()
			run, err := c.RunJob(cmd.Context(), name, jobArgs)
			if err != nil {
				return fmt.Errorf("job run %s: %w", name, err)
			}
			if !wait {
				return a.printRun(run, true)
			}
			if a.output != outputJSON {
				fmt.Fprintln(a.stdout, run.ID) // the id first, so a reader of the output has it at once
			}
			run, err = waitRun(cmd.Context(), c, run, timeout)
			if err != nil {
				return fmt.Errorf("job run %s: %w", name, err)
			}
			if a.output == outputJSON {
				if err := a.printRun(run, true); err != nil {
					return err
				}
			}
			if run.State != apitype.RunSucceeded {
				return &exitError{code: exitFailed, err: fmt.Errorf("run %s %s; its output is in %s", run.ID, howEnded(run), run.Log)}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the run has ended; exit 0 only if it succeeded")
	cmd.Flags().DurationVar(&timeout, "timeout", 24*time.Hour, "with --wait: how long to wait for the run to end")
	return cmd
}

// jobStopCommand is `superctl job stop RUNID`.
func (a *app) jobStopCommand() *cobra.Command {
	var (
		noWait  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "stop RUNID",
		Short: "Stop a job run and wait until it has ended",
		Long: `Stop the run RUNID (as "superctl jobs" lists it): a queued run is dropped;
a live one gets the job's stop_signal, then SIGKILL to its process group after
stop_timeout. superctl waits until the run has ended (state stopped), or
--timeout runs out (exit 1), and prints the run as "superctl jobs" does; with
-o json, the run object. Stopping a run that has already ended changes
nothing. Exit 4 when there is no such run.`,
		Example: `  superctl job stop backup-7
  superctl job stop --no-wait backup-7
  superctl job stop -o json backup-7 | jq -r .state`,
		Args:              exactArgs(1, "a RUNID"),
		ValidArgsFunction: a.completeLiveRuns,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usagef("--timeout must be positive, not %v", timeout)
			}
			id := args[0]
			c := a.client()
			run, err := c.StopRun(cmd.Context(), id)
			if err != nil {
				return fmt.Errorf("job stop %s: %w", id, err)
			}
			if !noWait {
				if run, err = waitRun(cmd.Context(), c, run, timeout); err != nil {
					return fmt.Errorf("job stop %s: %w", id, err)
				}
			}
			return a.printRun(run, false)
		}),
	}
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the stop is sent, without waiting for the run to end")
	cmd.Flags().DurationVar(&timeout, "timeout", ipc.DefaultWaitTimeout, "how long to wait for the run to end (e.g. 30s, 2m)")
	return cmd
}

// waitRun polls superd until run has ended and returns it as it ended. It
// gives up after timeout (apitype.ErrTimeout) or when ctx is done.
func waitRun(ctx context.Context, c *ipc.Client, run apitype.JobRun, timeout time.Duration) (apitype.JobRun, error) {
	deadline := time.Now().Add(timeout)
	pause := runPollFirst
	for !run.State.Done() {
		if time.Now().After(deadline) {
			return run, fmt.Errorf("run %s still %s after %v: %w", run.ID, run.State, timeout, apitype.ErrTimeout)
		}
		t := time.NewTimer(min(pause, time.Until(deadline)+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return run, context.Cause(ctx)
		case <-t.C:
		}
		pause = min(2*pause, runPollMax)
		runs, err := c.Jobs(ctx)
		if err != nil {
			return run, err
		}
		i := slices.IndexFunc(runs, func(r apitype.JobRun) bool { return r.ID == run.ID })
		if i < 0 {
			// Trimmed by keep_runs, or the job was removed by a reload.
			return run, fmt.Errorf("run %s is no longer listed by superd; how it ended is unknown", run.ID)
		}
		run = runs[i]
	}
	return run, nil
}

// howEnded says how a run that is not succeeded ended, for an error line.
func howEnded(r apitype.JobRun) string {
	switch {
	case r.ExitSignal != nil:
		return fmt.Sprintf("%s (killed by %s)", r.State, *r.ExitSignal)
	case r.ExitCode != nil:
		return fmt.Sprintf("%s (exit code %d)", r.State, *r.ExitCode)
	}
	return string(r.State)
}

// printRun writes one run: with -o json its object as superd sent it (the
// server makes args an array, never null); else, when idOnly, its id alone,
// or the jobs table of it.
func (a *app) printRun(r apitype.JobRun, idOnly bool) error {
	if a.output == outputJSON {
		return json.NewEncoder(a.stdout).Encode(r)
	}
	if idOnly {
		_, err := fmt.Fprintln(a.stdout, r.ID)
		return err
	}
	return writeRunTable(a.stdout, []apitype.JobRun{r})
}

// printRuns writes runs as -o says: the jobs table, or the JSON array of
// the API as superd sent it.
func (a *app) printRuns(runs []apitype.JobRun) error {
	if a.output == outputJSON {
		return json.NewEncoder(a.stdout).Encode(runs)
	}
	return writeRunTable(a.stdout, runs)
}

// writeRunTable writes the jobs table, columns aligned, without trailing
// blanks.
func writeRunTable(w io.Writer, runs []apitype.JobRun) error {
	t := newTable(len(runs), "ID", "JOB", "STATE", "PID", "STARTED", "ENDED", "EXIT", "ARGS")
	for _, r := range runs {
		pid := "-"
		if r.Pid != nil {
			pid = strconv.Itoa(*r.Pid)
		}
		exit := "-"
		switch {
		case r.ExitSignal != nil:
			exit = *r.ExitSignal
		case r.ExitCode != nil:
			exit = strconv.Itoa(*r.ExitCode)
		}
		t.row(r.ID, r.Job, string(r.State), pid, tableTime(r.StartedAt), tableTime(r.EndedAt), exit, quoteArgs(r.Args))
	}
	return t.write(w)
}

// tableTime renders a time of the jobs table: RFC 3339 in UTC, "-" for
// none.
func tableTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// quoteArgs renders a run's arguments on one table row: plain ones as they
// are, any other (blanks, quotes, shell metacharacters, control
// characters, empty) as a Go string, so each one reads back unambiguously;
// "-" for none.
func quoteArgs(args []string) string {
	if len(args) == 0 {
		return "-"
	}
	out := make([]string, len(args))
	for i, s := range args {
		if plainArg(s) {
			out[i] = s
		} else {
			out[i] = strconv.Quote(s)
		}
	}
	return strings.Join(out, " ")
}

// plainArg reports whether s reads the same unquoted: non-empty, and only
// letters, digits and - _ . , / : = + @ %.
func plainArg(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.ContainsRune("-_.,/:=+@%", c):
		default:
			return false
		}
	}
	return true
}

// completeJobs completes a job NAME with the jobs that have runs superd
// keeps (the API lists runs, not the jobs of the config).
func (a *app) completeJobs(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	var out []string
	for _, r := range a.completionRuns(cmd) {
		if !slices.Contains(out, r.Job) {
			out = append(out, r.Job)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeLiveRuns completes a RUNID with the runs that are queued or
// running.
func (a *app) completeLiveRuns(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, r := range a.completionRuns(cmd) {
		if !r.State.Done() {
			out = append(out, r.ID)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completionRuns asks superd for its runs, briefly; none when it cannot.
func (a *app) completionRuns(cmd *cobra.Command) []apitype.JobRun {
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	runs, err := a.client().Jobs(ctx)
	if err != nil {
		return nil
	}
	return runs
}

// exactArgs requires exactly n positional arguments, naming them in the
// usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %s, got %d argument(s)", cmd.Name(), what, len(args))
		}
		return nil
	}
}
