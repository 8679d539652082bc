package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/superd/superd/ipc"
	"github.com/superd/superd/ipc/apitype"
)

// controlFunc is (*ipc.Client).Start, Stop or Restart.
type controlFunc func(c *ipc.Client, ctx context.Context, target string, wait bool, timeout time.Duration) ([]apitype.Instance, error)

// controlCommand is `superctl start|stop|restart TARGET...`.
func (a *app) controlCommand(verb, short, long string, op controlFunc) *cobra.Command {
	var (
		noWait  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   verb + " TARGET...",
		Short: short,
		Long: long + `

The targets are handled in order; a failure of one does not keep the others
from being tried. --timeout bounds the wait for all of them together. The
instances are printed afterwards, as a table or with -o json as JSON.`,
		Example: fmt.Sprintf(`  superctl %[1]s web
  superctl %[1]s --timeout 2m db web:1
  superctl %[1]s --no-wait all`, verb),
		Args:              minArgs(1, "at least one TARGET"),
		ValidArgsFunction: a.completeTargets,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usagef("--timeout must be positive, not %v", timeout)
			}
			return a.control(cmd.Context(), verb, op, args, !noWait, timeout)
		}),
	}
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the request is accepted, without waiting for the instances to settle")
	cmd.Flags().DurationVar(&timeout, "timeout", ipc.DefaultWaitTimeout, "how long to wait for all targets to settle (e.g. 30s, 2m)")
	return cmd
}

// control runs op on each target in turn, prints the instances it returned,
// and returns the errors, joined.
func (a *app) control(ctx context.Context, verb string, op controlFunc, targets []string, wait bool, timeout time.Duration) error {
	c := a.client()
	deadline := time.Now().Add(timeout)
	var (
		insts []apitype.Instance
		index = map[string]int{} // name → position in insts
		errs  []error
	)
	for _, t := range targets {
		left := time.Until(deadline)
		if wait && left <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: --timeout %v ran out before it was sent: %w", verb, t, timeout, apitype.ErrTimeout))
			continue
		}
		got, err := op(c, ctx, t, wait, left)
		if err != nil {
			errs = append(errs, err)
			if fatalToAll(err) {
				break
			}
			continue
		}
		for _, in := range got {
			if i, ok := index[in.Name]; ok {
				insts[i] = in // a later target saw it later
				continue
			}
			index[in.Name] = len(insts)
			insts = append(insts, in)
		}
	}
	if len(insts) > 0 || len(errs) == 0 {
		if err := a.printInstances(insts); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fatalToAll reports whether err will fail every further request too, so
// the remaining targets are not tried.
func fatalToAll(err error) bool {
	return errors.Is(err, ipc.ErrUnreachable) || errors.Is(err, apitype.ErrForbidden) ||
		errors.Is(err, context.Canceled)
}

// signalCommand is `superctl signal SIG TARGET...`.
func (a *app) signalCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "signal SIG TARGET...",
		Short: "Send a signal to programs",
		Long: `Send the signal SIG to every running instance of each TARGET. SIG is a
name with or without the SIG prefix, in any case, or a number: TERM, SIGTERM
and 15 are the same. The signal goes to the instance's process as it is; use
stop to end a program.

Fails (exit 1) when a targeted instance is not running.`,
		Example: `  superctl signal HUP web
  superctl signal SIGUSR1 web:0 web:1`,
		Args: minArgs(2, "a signal and at least one TARGET"),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CONT", "STOP", "WINCH"},
					cobra.ShellCompDirectiveNoFileComp
			}
			return a.completeTargets(cmd, args, toComplete)
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			sig := args[0]
			if _, err := ipc.ParseSignal(sig); err != nil {
				return usagef("unknown signal %q", sig)
			}
			c := a.client()
			var errs []error
			for _, t := range args[1:] {
				if err := c.Signal(cmd.Context(), t, sig); err != nil {
					errs = append(errs, err)
					if fatalToAll(err) {
						break
					}
				}
			}
			return errors.Join(errs...)
		}),
	}
}

// shutdownCommand is `superctl shutdown`.
func (a *app) shutdownCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "shutdown",
		Short: "Stop every program and end superd",
		Long: `Ask superd to drain, as SIGTERM does: it stops every program in reverse
dependency order, bounded by shutdown_timeout, then exits. superctl returns
once the drain has begun, not when it has ended.`,
		Example: `  superctl shutdown`,
		Args:    noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return a.client().Shutdown(cmd.Context())
		}),
	}
}

// minArgs requires at least n positional arguments, naming them in the
// usage error.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s needs %s", cmd.Name(), what)
		}
		return nil
	}
}

// maxArgs allows at most n positional arguments.
func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("%s takes at most %d argument(s), got %d", cmd.Name(), n, len(args))
		}
		return nil
	}
}

// noArgs allows no positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	return maxArgs(0)(cmd, args)
}
