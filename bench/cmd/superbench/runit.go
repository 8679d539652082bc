package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// runitSys is runit (Debian's runit package): `runsvdir DIR` over a folder
// holding one service folder per program; runsvdir starts one runsv per
// service, which spawns ./run (and ./log/run, with a pipe between them).
// Its folder (/tmp/sbu-XXXX) holds sv/ and the loggers' folders in logs/.
type runitSys struct {
	daemon
	w  workload
	sv string
}

func newRunit(e *env) *runitSys {
	// runsvdir exits 111 after SIGHUP, its documented stop.
	return &runitSys{daemon: daemon{e: e, name: "runsvdir", okExits: []int{111}}}
}

// Configure writes the service folders: per program a `run` script, for a
// logged one a log/run running svlogd with a 64 KiB buffer (its manual:
// "for svlogd instances that process a lot of data in short time, the
// buffer size should be increased") and a config file (s = size, n = files
// kept), and for restart = never a `finish` that marks the service down.
func (r *runitSys) Configure(w workload) error {
	if err := r.makeDir("sbu-"); err != nil {
		return err
	}
	r.w = w
	r.sv = filepath.Join(r.dir, "sv")
	return writeServiceDirs(r.sv, filepath.Join(r.dir, "logs"), w, serviceDirs{
		logRun: func(p program, logDir string) string {
			return "exec svlogd -b 65536 " + shellQuote(logDir) + "\n"
		},
		logFiles: func(p program, logDir string) error {
			var cfg string
			if p.logMaxSize > 0 {
				cfg += "s" + strconv.FormatInt(p.logMaxSize, 10) + "\n"
			}
			if p.logMaxFiles > 0 {
				cfg += "n" + strconv.Itoa(p.logMaxFiles) + "\n"
			}
			return os.WriteFile(filepath.Join(logDir, "config"), []byte(cfg), 0o644)
		},
		finishNever: "exec sv down .\n",
	})
}

// Start launches runsvdir.
func (r *runitSys) Start(ctx context.Context) error {
	return r.start([]string{"runsvdir", r.sv})
}

// Procs returns runsvdir and its runsv and svlogd processes.
func (r *runitSys) Procs() ([]int, error) {
	return helperProcs(r.Pid(), "runsv", "svlogd")
}

// WaitAllRunning polls the status files.
func (r *runitSys) WaitAllRunning(ctx context.Context, every time.Duration) error {
	return waitAllRunning(ctx, &r.daemon, len(r.w.programs), every, r.Status)
}

// Status reads every service's supervise/status, the file sv reads (20
// bytes: TAI64N stamp, pid as little-endian uint32 at 12, paused, want
// 'u'/'d', term, state 0 down / 1 run / 2 finish).
func (r *runitSys) Status(ctx context.Context) ([]instance, error) {
	return readStatusFiles(r.sv, r.w, func(name string, b []byte) (instance, error) {
		if len(b) < 20 {
			return instance{}, fmt.Errorf("runit status of %s: %d bytes, want 20", name, len(b))
		}
		pid := int(binary.LittleEndian.Uint32(b[12:16]))
		in := instance{name: name, pid: pid, restarts: -1}
		switch {
		case b[19] == 1 && pid > 0:
			in.state = "running"
		case b[17] == 'd' && b[19] == 0:
			in.state = "exited"
		default:
			in.state = "starting" // finishing, or down and wanted up
		}
		return in, nil
	})
}

// CLIStatus runs `sv status DIR/*`: one sv for every service.
func (r *runitSys) CLIStatus(ctx context.Context) error {
	return runQuiet(ctx, "/bin/sh", "-c", `exec sv status "$1"/*`, "sh", r.sv)
}

// CLINoop: sv has no mode that does not read a service.
func (r *runitSys) CLINoop(ctx context.Context) error { return errNotApplicable }

// LogFiles returns svlogd's archived files, then current.
func (r *runitSys) LogFiles(program string) ([]string, error) {
	return archivedLogs(filepath.Join(r.dir, "logs", program))
}

// Stop is runit's shutdown: `sv down` every service (runsv sends it
// SIGTERM and SIGCONT), wait until every service is down (polling the
// status files every millisecond, as `sv -w` would every 420 ms), then
// SIGHUP to runsvdir, which passes SIGTERM to each runsv and exits 111;
// each runsv then exits at once. runsvdir's own SIGTERM would leave every
// service running; a SIGHUP sent while services are still stopping made
// runsv linger 1–3 s after its service was down here.
func (r *runitSys) Stop(ctx context.Context) error {
	if err := r.gone(); err != nil {
		return err
	}
	if err := runQuiet(ctx, "/bin/sh", "-c", `exec sv down "$1"/*`, "sh", r.sv); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, r.e.sizes.waitDeadline)
	defer cancel()
	if err := poll(wctx, time.Millisecond, func() (bool, error) {
		insts, err := r.Status(wctx)
		if err != nil {
			return false, err
		}
		for _, in := range insts {
			if in.state != "exited" {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return fmt.Errorf("runit: services not down: %w", err)
	}
	if err := r.signal(syscall.SIGHUP); err != nil {
		return err
	}
	return r.waitStopped(ctx)
}

// Kill SIGKILLs runsvdir's group (runsvdir, every runsv, and the services
// that share the group) and sweeps up the rest.
func (r *runitSys) Kill() { r.kill() }
