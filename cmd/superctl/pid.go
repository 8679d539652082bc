package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/superd/superd/ipc/apitype"
)

// pidCommand is `superctl pid [TARGET]`.
func (a *app) pidCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pid [TARGET]",
		Short: "Print the pid of superd or of a program's instances",
		Long: `Without a TARGET, print superd's own pid. With one, print the pid of each
running instance of TARGET, one a line; when a targeted instance is not
running, say which on stderr and exit 3.`,
		Example: `  superctl pid
  kill -USR1 "$(superctl pid web:0)"`,
		Args:              maxArgs(1),
		ValidArgsFunction: a.completeTargets,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			c := a.client()
			if len(args) == 0 {
				h, err := c.Health(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, h.Pid)
				return nil
			}
			insts, err := c.Status(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var down []string
			for _, in := range insts {
				if in.State != apitype.StateRunning || in.Pid == nil {
					down = append(down, fmt.Sprintf("%s (%s)", in.Name, in.State))
					continue
				}
				fmt.Fprintln(a.stdout, *in.Pid)
			}
			if len(down) > 0 {
				return &exitError{code: exitNotRunning, err: fmt.Errorf("not running: %s", strings.Join(down, ", "))}
			}
			return nil
		}),
	}
}
