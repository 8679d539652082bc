package main

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// runStatus starts e.sizes.statusN sleeping programs and times, median of
// e.sizes.statusRuns each, the supervisor's command-line status (exec'd,
// output to /dev/null) and its API's list of programs through the Go
// client; and the CLI's start-up alone (a command that does not call the
// supervisor). The floor of the CLI is the exec of /bin/true.
func runStatus(ctx context.Context, e *env) ([]row, error) {
	n, runs := e.sizes.statusN, e.sizes.statusRuns
	cli := row{scenario: "status", metric: fmt.Sprintf("CLI status, %d programs, median of %d", n, runs),
		values: map[string]string{}, floorIs: "exec /bin/true"}
	noop := row{scenario: "status", metric: fmt.Sprintf("CLI start-up alone (no call), median of %d", runs),
		values: map[string]string{}, floorIs: "exec /bin/true"}
	api := row{scenario: "status", metric: fmt.Sprintf("API list (Go client), %d programs, median of %d", n, runs),
		values: map[string]string{}}
	for _, def := range e.systems {
		c, o, a, err := statusOnce(ctx, e, def)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", def.name, err)
		}
		cli.values[def.name], noop.values[def.name], api.values[def.name] = fmtDur(c), fmtDur(o), fmtDur(a)
	}
	var floor []time.Duration
	for range runs {
		d, err := timed(func() error { return exec.CommandContext(ctx, "/bin/true").Run() })
		if err != nil {
			return nil, fmt.Errorf("floor: /bin/true: %w", err)
		}
		floor = append(floor, d)
	}
	cli.floor = fmtDur(median(floor))
	noop.floor = cli.floor
	return []row{cli, noop, api}, nil
}

func statusOnce(ctx context.Context, e *env, def systemDef) (cli, noop, api time.Duration, err error) {
	sys := def.new(e)
	defer sys.Kill()
	if err := sys.Configure(sleepers(e.sizes.statusN)); err != nil {
		return 0, 0, 0, err
	}
	if err := sys.Start(ctx); err != nil {
		return 0, 0, 0, err
	}
	if err := sys.WaitAllRunning(ctx, apiPoll); err != nil {
		return 0, 0, 0, err
	}
	var cs, ns, as []time.Duration
	for range e.sizes.statusRuns {
		d, err := timed(func() error { return sys.CLIStatus(ctx) })
		if err != nil {
			return 0, 0, 0, err
		}
		cs = append(cs, d)
		d, err = timed(func() error { return sys.CLINoop(ctx) })
		if err != nil {
			return 0, 0, 0, err
		}
		ns = append(ns, d)
	}
	for range e.sizes.statusRuns {
		var insts []instance
		d, err := timed(func() (err error) {
			insts, err = sys.Status(ctx)
			return err
		})
		if err != nil {
			return 0, 0, 0, err
		}
		if len(insts) != e.sizes.statusN {
			return 0, 0, 0, fmt.Errorf("status lists %d programs; want %d", len(insts), e.sizes.statusN)
		}
		as = append(as, d)
	}
	return median(cs), median(ns), median(as), sys.Stop(ctx)
}
