package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The daemontools family (s6, runit) is configured with a folder per
// program holding an executable `run`, and for a logged program a `log/`
// folder with its own `run` reading the program's stdout from a pipe the
// supervisor holds. This file writes those folders; s6.go and runit.go
// drive the two supervisors over them.

// serviceDirs is how one supervisor of the family wants its folders.
type serviceDirs struct {
	// logRun returns the body of log/run for a program that captures its
	// stdout into logDir (after "#!/bin/sh\n").
	logRun func(p program, logDir string) string
	// logFiles writes what else logDir needs (runit's config file).
	logFiles func(p program, logDir string) error
	// finishNever returns the body of `finish` that keeps a program that
	// exited down (restart = never).
	finishNever string
	// readiness: the supervisor takes a readiness notification on a
	// descriptor (s6's notification-fd) and has a command that waits for
	// another service to be ready (s6-svwait -U). Without it, programs
	// with notify or dependsOn are refused (runit has neither).
	readiness bool
}

// writeServiceDirs writes one folder per program of w into root, and each
// logged program's log folder as root/NAME/log with its files in
// logs/NAME. A program's `run` is `#!/bin/sh` and `exec ARGV`: the way both
// suites document a run script, at the cost of one /bin/sh start per
// spawn. on-failure is written as always: the programs that use it never
// exit on their own.
func writeServiceDirs(root, logs string, w workload, sd serviceDirs) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	for _, p := range w.programs {
		if len(p.argv) == 0 || !filepath.IsAbs(p.argv[0]) {
			return fmt.Errorf("program %s: argv must start with an absolute path, not %q", p.name, p.argv)
		}
		dir := filepath.Join(root, p.name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		var q []string
		for _, a := range p.argv {
			q = append(q, shellQuote(a))
		}
		if (p.notify || len(p.dependsOn) > 0) && !sd.readiness {
			return fmt.Errorf("program %s: no readiness notification or dependencies here", p.name)
		}
		run := "#!/bin/sh\n"
		if p.stdoutFile {
			run += "exec 2>&1\n" // one pipe, as superd's default stderr = "stdout"
		}
		// s6 without s6-rc has no dependencies: the run script waits until
		// each one is up and ready, then execs the program.
		for _, d := range p.dependsOn {
			run += "s6-svwait -U " + shellQuote(filepath.Join(root, d)) + " || exit 1\n"
		}
		if p.notify {
			// s6-supervise reads a newline on descriptor 3 as "ready".
			if err := os.WriteFile(filepath.Join(dir, "notification-fd"), []byte("3\n"), 0o644); err != nil {
				return err
			}
			run += "export NOTIFY_FD=3\n"
		}
		run += "exec " + strings.Join(q, " ") + "\n"
		if err := writeScript(filepath.Join(dir, "run"), run); err != nil {
			return err
		}
		if p.restart == restartNever {
			if err := writeScript(filepath.Join(dir, "finish"), "#!/bin/sh\n"+sd.finishNever); err != nil {
				return err
			}
		}
		if !p.stdoutFile {
			continue
		}
		logDir := filepath.Join(logs, p.name)
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(filepath.Join(dir, "log"), 0o755); err != nil {
			return err
		}
		if err := writeScript(filepath.Join(dir, "log", "run"), "#!/bin/sh\n"+sd.logRun(p, logDir)); err != nil {
			return err
		}
		if sd.logFiles != nil {
			if err := sd.logFiles(p, logDir); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeScript(path, text string) error {
	if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readStatusFiles reads root/NAME/supervise/status of every program of w
// and decodes each with decode; a status file not written yet means the
// program's supervisor has not started: "starting".
func readStatusFiles(root string, w workload, decode func(name string, b []byte) (instance, error)) ([]instance, error) {
	out := make([]instance, 0, len(w.programs))
	for _, p := range w.programs {
		b, err := os.ReadFile(filepath.Join(root, p.name, "supervise", "status"))
		if errors.Is(err, fs.ErrNotExist) {
			out = append(out, instance{name: p.name, state: "starting", restarts: -1})
			continue
		}
		if err != nil {
			return nil, err
		}
		in, err := decode(p.name, b)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// archivedLogs returns the files of a daemontools-style log folder: the
// archived @TAI64N.s/.u files, oldest first (their names sort by time),
// then `current`.
func archivedLogs(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "@*"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	cur := filepath.Join(dir, "current")
	if _, err := os.Stat(cur); err == nil {
		files = append(files, cur)
	}
	return files, nil
}
