package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
)

// defaultLogLines is the -n of `superctl logs`.
const defaultLogLines = 100

// logsCommand is `superctl logs [-f] [-n N] TARGET`.
func (a *app) logsCommand() *cobra.Command {
	var (
		follow bool
		lines  int
	)
	cmd := &cobra.Command{
		Use:   "logs [-f] [-n N] TARGET",
		Short: "Show the output of an instance",
		Long: `Show the last lines of an instance's output (stdout and stderr as superd
captured them), from the 64 KiB superd keeps in memory for every instance,
whatever its output mode. With -f, keep printing new output until the
instance is removed, superd shuts down, or Ctrl-C.

TARGET is an instance NAME:N, or the name of a single-instance program.`,
		Example: `  superctl logs web
  superctl logs -n 20 web:1
  superctl logs -f web`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := minArgs(1, "a TARGET")(cmd, args); err != nil {
				return err
			}
			return maxArgs(1)(cmd, args)
		},
		ValidArgsFunction: a.completeTargets,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if lines < 0 {
				return usagef("-n must be 0 (all) or more, not %d", lines)
			}
			err := a.client().Logs(cmd.Context(), args[0], lines, follow, a.stdout)
			if follow && errors.Is(err, context.Canceled) {
				return nil // Ctrl-C is how a follow ends
			}
			return err
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output as it comes")
	cmd.Flags().IntVarP(&lines, "lines", "n", defaultLogLines, "number of last lines to show (0: all that superd keeps)")
	return cmd
}
