package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// validateProgram checks what involves more than one key of a program or a
// job, once [defaults] and the built-in defaults are in. Each problem is
// reported where the key was written, in the program's or job's table or in
// [defaults].
func (c *checker) validateProgram(p *programFields) {
	hasCommand, hasShell := p.src.set["command"] != nil, p.src.set["shell"] != nil
	switch {
	case hasCommand && hasShell:
		c.errs.errorf(p.keyPos("shell"), "command and shell are exclusive; set one of them")
	case !hasCommand && !hasShell:
		c.errs.errorf(p.header, "%s %q needs a command or a shell", kindNoun(p.kind), p.name)
	}
	c.validateDetach(p)
	if p.kind == kindJob {
		// With a shell, appended arguments would reach /bin/sh as $0, $1, ...
		if !p.src.bad["args"] && *p.Args == ArgsAppend && hasShell && !hasCommand {
			c.errs.errorf(p.keyPos("args"), `args = "append" needs command, not shell: the arguments would go to /bin/sh`)
		}
		return
	}
	if !p.src.bad["backoff_initial"] && !p.src.bad["backoff_max"] && *p.BackoffInitial > *p.BackoffMax {
		at := "backoff_initial"
		if p.src.set[at] == nil {
			at = "backoff_max"
		}
		c.errs.errorf(p.valPos(at), "backoff_initial (%v) is greater than backoff_max (%v)",
			time.Duration(*p.BackoffInitial), time.Duration(*p.BackoffMax))
	}
	if !p.src.bad["type"] && !p.src.bad["watchdog"] && *p.Watchdog > 0 && *p.Type != TypeNotify {
		c.errs.errorf(p.keyPos("watchdog"), `watchdog needs type = "notify"`)
	}
	if !p.src.bad["type"] && !p.src.bad["pidfile"] {
		switch {
		case *p.Type == TypeForking && *p.PidFile == "":
			c.errs.errorf(p.keyPos("type"), `type = "forking" needs pidfile: where the daemon writes its pid`)
		case *p.Type != TypeForking && *p.PidFile != "":
			c.errs.errorf(p.keyPos("pidfile"), `pidfile needs type = "forking"`)
		case *p.Type == TypeForking && *p.Detach:
			c.errs.errorf(p.keyPos("detach"), `detach cannot be used with type = "forking"`)
		}
	}
}

// validateDetach checks that a detached program or job writes its output
// to files or nowhere: a detached process's output goes straight to its
// file, not through superd, so it cannot be inherited, prefixed with
// timestamps or matched by a ready log check.
func (c *checker) validateDetach(p *programFields) {
	if p.src.bad["detach"] || !*p.Detach {
		return
	}
	through := func(o Output) bool { return o == OutputInherit || o == OutputJournal }
	if (!p.src.bad["stdout"] && through(*p.Stdout)) || (!p.src.bad["stderr"] && through(*p.Stderr)) {
		c.errs.errorf(p.keyPos("detach"), `detach needs stdout and stderr to be "file" or "null"`)
	}
	if p.kind == kindJob {
		return
	}
	if !p.src.bad["timestamps"] && *p.Timestamps {
		c.errs.errorf(p.keyPos("timestamps"), "timestamps cannot be used with detach: a detached process writes straight to its file")
	}
	if !p.src.bad["ready"] && p.Ready != nil && p.Ready.Log != nil {
		c.errs.errorf(p.valPos("ready", "log"), "ready.log cannot be used with detach: a detached process's output does not pass through superd")
	}
}

// validateDependencies checks that every program named in depends_on
// exists, and that depends_on has no cycle.
func (l *loader) validateDependencies() {
	byName := map[string]*programFields{}
	var names []string
	for _, p := range l.programs {
		byName[p.name] = p
		names = append(names, p.name)
	}
	slices.Sort(names)
	deps := func(p *programFields) []string {
		if p.DependsOn == nil {
			return nil
		}
		return *p.DependsOn
	}
	for _, name := range names {
		p := byName[name]
		for i, dep := range deps(p) {
			if byName[dep] != nil {
				continue
			}
			msg := fmt.Sprintf("depends_on: unknown program %q", dep)
			if s := suggest(dep, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			l.errs.add(p.valPos("depends_on", elem(i)), msg)
		}
	}

	// Depth-first search; a dependency on a program still on the stack
	// closes a cycle, which is reported at the first edge of the cycle.
	const (
		unseen = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		state[name] = onStack
		stack = append(stack, name)
		for _, dep := range deps(byName[name]) {
			if byName[dep] == nil {
				continue
			}
			switch state[dep] {
			case unseen:
				visit(dep)
			case onStack:
				cycle := append(slices.Clone(stack[slices.Index(stack, dep):]), dep)
				first := byName[cycle[0]]
				at := slices.Index(deps(first), cycle[1])
				l.errs.errorf(first.valPos("depends_on", elem(at)), "dependency cycle: %s", strings.Join(cycle, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	for _, name := range names {
		if state[name] == unseen {
			visit(name)
		}
	}
}
