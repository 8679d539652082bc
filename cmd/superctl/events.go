package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/superd/superd/ipc/apitype"
)

// eventsCommand is `superctl events`.
func (a *app) eventsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "events",
		Short: "Stream state changes, one JSON object a line",
		Long: `Print every state change of every instance from now on, one JSON object a
line, as it happens (in both output formats):

  {"time":"2026-11-27T10:00:00Z","instance":"web:0","program":"web",
   "from":"running","to":"stopping","pid":4242,"exit_code":null,
   "exit_signal":null,"message":""}

exit_code or exit_signal describe the exit that caused the change, if any.
Runs until Ctrl-C (exit 0) or until superd shuts down (exit 0). A follower
that does not keep up (its output is not read) is cut off by superd; then
superctl exits 1.`,
		Example: `  superctl events
  superctl events | jq -r 'select(.to == "fatal") | .instance'`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			enc := json.NewEncoder(a.stdout)
			err := a.client().Events(cmd.Context(), func(ev apitype.Event) error {
				return enc.Encode(ev)
			})
			if errors.Is(err, context.Canceled) {
				return nil // Ctrl-C is how a follow ends
			}
			return err
		}),
	}
}
