package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/superd/superd/ipc/apitype"
)

// reloadCommand is `superctl reload`.
func (a *app) reloadCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Re-read the config and apply the difference",
		Long: `Ask superd to re-read its config file (as SIGHUP does) and apply the
difference, program by program, on each program's effective config: added
programs are started (if autostart), removed ones are stopped and leave the
status, changed ones are restarted with the new config, and unchanged ones are
not touched (same pid). A change of instances alone adds or retires the
difference and keeps the other instances running.

The new config is validated in full first: when it is invalid, nothing changes,
its errors are printed one a line as FILE:LINE:COL: message, and superctl
exits 1.

Prints the difference as the lines "added:", "removed:", "changed:" and
"unchanged:" with the program names ("-" for none), and "restart required:"
with the [superd] settings that changed in the file but take effect only when
superd restarts (such as socket or state_dir), if any. With -o json, prints
the object {"added":[...],"removed":[...],"changed":[...],"unchanged":[...],
"restart_required":[...]}.`,
		Example: `  superctl reload
  superctl reload -o json | jq -r '.changed[]'`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			res, err := a.client().Reload(cmd.Context())
			if errors.Is(err, apitype.ErrBadRequest) {
				// The positioned errors as they are, one a line, like
				// `superd check`: editors can jump to them.
				fmt.Fprintln(a.stderr, "superctl: reload refused, nothing changed: the config is invalid:")
				fmt.Fprintln(a.stderr, strings.TrimRight(err.Error(), "\n"))
				return &exitError{code: exitFailed}
			}
			if err != nil {
				return err
			}
			if a.output == outputJSON {
				return json.NewEncoder(a.stdout).Encode(res)
			}
			return writeReload(a.stdout, res)
		}),
	}
}

// writeReload writes the difference of a reload as "added: a, b" lines.
func writeReload(w io.Writer, res apitype.ReloadResult) error {
	list := func(names []string) string {
		if len(names) == 0 {
			return "-"
		}
		return strings.Join(names, ", ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "added: %s\n", list(res.Added))
	fmt.Fprintf(&b, "removed: %s\n", list(res.Removed))
	fmt.Fprintf(&b, "changed: %s\n", list(res.Changed))
	fmt.Fprintf(&b, "unchanged: %s\n", list(res.Unchanged))
	if len(res.RestartRequired) > 0 {
		fmt.Fprintf(&b, "restart required: %s\n", list(res.RestartRequired))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
