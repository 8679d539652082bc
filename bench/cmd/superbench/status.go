package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// runStatus starts, for each N of e.sizes.statusN, N sleeping programs
// under every system (all at once, idle), then times e.sizes.statusRuns
// times, the systems taking turns: the supervisor's command-line status
// over all programs (exec'd, output to /dev/null), the tool's start-up
// alone, and the cheapest programmatic read of every program's state
// (superd's API through the Go client, supervisord's XML-RPC, the status
// files of s6 and runit). Medians. The floor of the CLI is the exec of
// /bin/true.
func runStatus(ctx context.Context, e *env) ([]row, error) {
	runs := e.sizes.statusRuns
	var floor []time.Duration
	for range runs {
		d, err := timed(func() error { return exec.CommandContext(ctx, "/bin/true").Run() })
		if err != nil {
			return nil, fmt.Errorf("floor: /bin/true: %w", err)
		}
		floor = append(floor, d)
	}
	var rows []row
	for i, n := range e.sizes.statusN {
		cli := newRow("status.cli."+strconv.Itoa(n), "status", fmt.Sprintf("CLI status of all, %d programs, median of %d", n, runs))
		cli.floor, cli.floorIs = durCell(median(floor)), "exec /bin/true"
		api := newRow("status.api."+strconv.Itoa(n), "status", fmt.Sprintf("API/status files, all %d programs, median of %d", n, runs))
		noop := newRow("status.noop", "status", fmt.Sprintf("CLI start-up alone (no call), median of %d", runs))
		noop.floor, noop.floorIs = cli.floor, cli.floorIs
		if err := statusAll(ctx, e, n, cli, noop, api); err != nil {
			return nil, err
		}
		rows = append(rows, cli, api)
		if i == 0 {
			rows = append(rows, noop)
		}
	}
	return rows, nil
}

// statusAll runs n sleepers under every system and fills the rows.
func statusAll(ctx context.Context, e *env, n int, cli, noop, api row) error {
	var syss []system
	defer func() {
		for _, s := range syss {
			s.Kill()
		}
	}()
	for _, def := range e.systems {
		sys := def.new(e)
		syss = append(syss, sys)
		if err := sys.Configure(sleepers(n)); err != nil {
			return fmt.Errorf("%s: %w", def.name, err)
		}
		if err := sys.Start(ctx); err != nil {
			return fmt.Errorf("%s: %w", def.name, err)
		}
		if err := sys.WaitAllRunning(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("%s: %w", def.name, err)
		}
	}
	e.progress("status: %d programs under each of %d systems", n, len(syss))
	cs := make([][]time.Duration, len(syss))
	ns := make([][]time.Duration, len(syss))
	as := make([][]time.Duration, len(syss))
	for range e.sizes.statusRuns {
		for i, sys := range syss {
			name := e.systems[i].name
			d, err := timed(func() error { return sys.CLIStatus(ctx) })
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			cs[i] = append(cs[i], d)
			d, err = timed(func() error { return sys.CLINoop(ctx) })
			switch {
			case errors.Is(err, errNotApplicable):
			case err != nil:
				return fmt.Errorf("%s: %w", name, err)
			default:
				ns[i] = append(ns[i], d)
			}
			var insts []instance
			d, err = timed(func() (err error) {
				insts, err = sys.Status(ctx)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if len(insts) != n {
				return fmt.Errorf("%s: status lists %d programs; want %d", name, len(insts), n)
			}
			as[i] = append(as[i], d)
		}
	}
	for i, sys := range syss {
		name := e.systems[i].name
		cli.values[name] = durCell(median(cs[i]))
		api.values[name] = durCell(median(as[i]))
		if len(ns[i]) > 0 {
			noop.values[name] = durCell(median(ns[i]))
		}
		if err := sys.Stop(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
