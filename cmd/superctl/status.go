package main

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/superd/superd/ipc/apitype"
)

// statusCommand is `superctl status [TARGET...]`.
func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status [TARGET...]",
		Short: "Show the state of program instances",
		Long: `Show the state of the targeted instances, or of every instance when no
TARGET is given: a table with the columns NAME STATE PID UPTIME RESTARTS
MESSAGE, or with -o json the JSON array of instance objects of the control API.

Exits 3 when any targeted instance is not running, so scripts can test
"is it up" with the exit status alone.`,
		Example: `  superctl status
  superctl status web db:0
  superctl status -o json all`,
		ValidArgsFunction: a.completeTargets,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			insts, err := a.client().Status(cmd.Context(), args...)
			if err != nil {
				return err
			}
			if err := a.printInstances(insts); err != nil {
				return err
			}
			for _, in := range insts {
				if in.State != apitype.StateRunning {
					return &exitError{code: exitNotRunning}
				}
			}
			return nil
		}),
	}
}

// printInstances writes insts to stdout as -o says: a table, or the JSON
// array of the API.
func (a *app) printInstances(insts []apitype.Instance) error {
	if a.output == outputJSON {
		if insts == nil {
			insts = []apitype.Instance{}
		}
		// Exactly as the API encodes it, one line: pipe it to jq to read it.
		b, err := apitype.AppendInstances(nil, insts)
		if err != nil {
			return err
		}
		_, err = a.stdout.Write(append(b, '\n'))
		return err
	}
	return writeTable(a.stdout, insts)
}

// writeTable writes the status table of insts, columns aligned, without
// trailing blanks.
func writeTable(w io.Writer, insts []apitype.Instance) error {
	t := newTable(len(insts), "NAME", "STATE", "PID", "UPTIME", "RESTARTS", "MESSAGE")
	for _, in := range insts {
		pid := "-"
		if in.Pid != nil {
			pid = strconv.Itoa(*in.Pid)
		}
		t.row(in.Name, string(in.State), pid, uptime(in), strconv.Itoa(in.Restarts), oneLine(in.Message))
	}
	return t.write(w)
}

// uptime renders how long a running instance has been up, coarsely:
// "5s", "3m12s", "2h5m", "3d4h"; "-" when it is not running.
func uptime(in apitype.Instance) string {
	if in.State != apitype.StateRunning {
		return "-"
	}
	return humanDuration(time.Duration(in.UptimeSeconds * float64(time.Second)))
}

// humanDuration renders d with its two largest units, truncated.
func humanDuration(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	switch {
	case s < 60:
		return n(s) + "s"
	case s < 3600:
		return n(s/60) + "m" + n(s%60) + "s"
	case s < 86400:
		return n(s/3600) + "h" + n(s%3600/60) + "m"
	default:
		return n(s/86400) + "d" + n(s%86400/3600) + "h"
	}
}

// oneLine keeps a message on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// completeTargets completes TARGET arguments with the names superd knows:
// "all", every program and every instance.
func (a *app) completeTargets(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	insts, err := a.client().Status(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	out := []string{"all"}
	seen := map[string]bool{"all": true}
	for _, in := range insts {
		for _, n := range []string{in.Program, in.Name} {
			if n != "" && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
