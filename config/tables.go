package config

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
// l.procs goroutines (fanOut).
func (l *loader) checkTables() {
	n := len(l.pending)
	runs := tableRuns(n, l.procs)
	checkers := make([]checker, runs)
	size := (n + runs - 1) / runs
	fanOut(runs, func(i int) {
		c := &checkers[i]
		c.dec = decoder{errs: &c.errs, sys: l.dec.sys, fields: l.dec.fields}
		c.defaults = &l.defaults
		c.check(l.pending[min(n, i*size):min(n, (i+1)*size)])
	})
	for i := range checkers {
		l.errs.errs = append(l.errs.errs, checkers[i].errs.errs...)
	}
	l.pending, l.checkedOn = nil, runs
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
