package config

import (
	"runtime"
	"sync"
)

// The steps that concern one [program.NAME] or [job.NAME] table alone
// (decoding it, merging [defaults] in, the built-in defaults, the checks
// of several of its keys) are about two thirds of a Load of 100 or 500
// programs (BenchmarkLoadScale). Load takes them last, once every file is
// read and [superd] and [defaults] are decoded, and shares the tables out
// among goroutines: superd loads its config before its first program
// starts, while its other CPUs are idle.
//
// Each goroutine reports to an error list of its own, and they are joined
// in table order; Load's result sorts every error by place anyway. What
// the goroutines share is read only: the field indexes (built up front),
// [defaults], the system's look-ups, and each file's positions (whose
// second scan, for a deep key's place, runs once under a sync.Once).

// pendingTable is a [program.NAME] or [job.NAME] table waiting for those
// steps.
type pendingTable struct {
	t *table
	p *programFields
	// keep is false for a table whose name is bad or taken: it is only
	// decoded, to report its problems too.
	keep bool
}

// minPerRun is the fewest tables worth a goroutine of their own: a table
// takes ~10–20 µs, starting and joining a goroutine a few.
const minPerRun = 32

// tableRuns is how many goroutines share n tables on procs CPUs.
func tableRuns(n, procs int) int {
	return max(1, min(procs, n/minPerRun))
}

// checker takes tables through their steps, reporting to its own list.
type checker struct {
	dec      decoder
	errs     errorList
	defaults *programFields
}

// checkTables takes every pending table through its steps, on up to
// l.procs goroutines.
func (l *loader) checkTables() {
	n := len(l.pending)
	runs := tableRuns(n, l.procs)
	checkers := make([]checker, runs)
	var wg sync.WaitGroup
	size := (n + runs - 1) / runs
	for i := range runs {
		c := &checkers[i]
		c.dec = decoder{errs: &c.errs, sys: l.dec.sys, fields: l.dec.fields}
		c.defaults = &l.defaults
		part := l.pending[min(n, i*size):min(n, (i+1)*size)]
		if i == runs-1 {
			c.check(part) // the last share on this goroutine
			continue
		}
		// exits when its share is checked; joined by wg.Wait below
		wg.Go(func() { c.check(part) })
	}
	wg.Wait()
	for i := range checkers {
		l.errs.errs = append(l.errs.errs, checkers[i].errs.errs...)
	}
	l.pending = nil
}

// check takes each table of part through its steps.
func (c *checker) check(part []pendingTable) {
	for _, pt := range part {
		c.dec.decode(pt.t, pt.p, &pt.p.src) // even when not kept: report its problems too
		if !pt.keep {
			continue
		}
		mergeDefaults(c.dec.fields, pt.p, c.defaults)
		fillTableDefaults(pt.p)
		c.validateProgram(pt.p)
	}
}

// defaultProcs is how many goroutines a Load may use.
func defaultProcs() int { return runtime.GOMAXPROCS(0) }
