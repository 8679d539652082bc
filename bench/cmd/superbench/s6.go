package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// s6Sys is s6 (Debian's s6 package): `s6-svscan SCANDIR` over a scan
// folder holding one service folder per program; s6-svscan starts one
// s6-supervise per service (and per logger), which spawns ./run. Its
// folder (/tmp/sb6-XXXX) holds scan/ and the loggers' folders in logs/.
type s6Sys struct {
	daemon
	w    workload
	scan string
}

func newS6(e *env) *s6Sys { return &s6Sys{daemon: daemon{e: e, name: "s6-svscan"}} }

// Configure writes the scan folder: per program a `run` script, for a
// logged one a log/run running s6-log (n = files kept, s = size), and for
// restart = never a `finish` exiting 125 (s6: do not restart).
func (s *s6Sys) Configure(w workload) error {
	if err := s.makeDir("sb6-"); err != nil {
		return err
	}
	s.w = w
	s.scan = filepath.Join(s.dir, "scan")
	return writeServiceDirs(s.scan, filepath.Join(s.dir, "logs"), w, serviceDirs{
		logRun: func(p program, logDir string) string {
			script := "exec s6-log"
			if p.logMaxFiles > 0 {
				script += " n" + strconv.Itoa(p.logMaxFiles)
			}
			if p.logMaxSize > 0 {
				script += " s" + strconv.FormatInt(p.logMaxSize, 10)
			}
			return script + " " + shellQuote(logDir) + "\n"
		},
		finishNever: "exit 125\n",
		readiness:   true,
	})
}

// Start launches s6-svscan, allowed twice as many services as programs
// (each logger is one more).
func (s *s6Sys) Start(ctx context.Context) error {
	return s.start([]string{"s6-svscan", "-c", strconv.Itoa(2*len(s.w.programs) + 10), s.scan})
}

// Procs returns s6-svscan and its s6-supervise and s6-log processes.
func (s *s6Sys) Procs() ([]int, error) {
	return helperProcs(s.Pid(), "s6-supervise", "s6-log")
}

// WaitAllRunning polls the status files.
func (s *s6Sys) WaitAllRunning(ctx context.Context, every time.Duration) error {
	return waitAllRunning(ctx, &s.daemon, len(s.w.programs), every, s.Status)
}

// Status reads every service's supervise/status, the file s6-svstat reads
// (s6 2.11: 35 bytes; the pid is a big-endian uint64 at 24, the flags at
// 34: 1 paused, 2 finishing, 4 want up, 8 ready).
func (s *s6Sys) Status(ctx context.Context) ([]instance, error) {
	return readStatusFiles(s.scan, s.w, func(name string, b []byte) (instance, error) {
		if len(b) < 35 {
			return instance{}, fmt.Errorf("s6 status of %s: %d bytes, want 35", name, len(b))
		}
		pid := int(binary.BigEndian.Uint64(b[24:32]))
		flags := b[34]
		in := instance{name: name, pid: pid, restarts: -1}
		switch {
		case pid > 0 && flags&2 == 0:
			in.state = "running"
		case flags&4 != 0:
			in.state = "starting" // down, will be restarted
		default:
			in.state = "exited"
		}
		return in, nil
	})
}

// CLIStatus runs s6-svstat once per service, from a shell loop: s6-svstat
// takes one service folder.
func (s *s6Sys) CLIStatus(ctx context.Context) error {
	return runQuiet(ctx, "/bin/sh", "-c", `for s in "$1"/*; do s6-svstat "$s" || exit; done`, "sh", s.scan)
}

// CLINoop: s6-svstat has no mode that does not read a service.
func (s *s6Sys) CLINoop(ctx context.Context) error { return errNotApplicable }

// LogFiles returns s6-log's archived files, then current.
func (s *s6Sys) LogFiles(program string) ([]string, error) {
	return archivedLogs(filepath.Join(s.dir, "logs", program))
}

// Stop sends SIGTERM to s6-svscan, which has every s6-supervise bring its
// service down and exit, and exits itself.
func (s *s6Sys) Stop(ctx context.Context) error {
	if err := s.signal(syscall.SIGTERM); err != nil {
		return err
	}
	return s.waitStopped(ctx)
}

// Kill SIGKILLs s6-svscan's group (s6-svscan and the s6-supervise
// processes; the services run in sessions of their own and are swept up
// once orphaned).
func (s *s6Sys) Kill() { s.kill() }
