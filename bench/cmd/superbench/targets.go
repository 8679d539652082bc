package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// target is one promise of issue 5, judged on one run's rows.
type target struct {
	what string // the promise
	got  string // what superd did, and what it was judged against
	met  bool
}

// evalTargets judges superd against every target of issue 5 that the rows
// allow; targets whose rows are missing are left out.
func evalTargets(rows []row) []target {
	var out []target
	sd := func(key string) (cell, bool) {
		r, ok := findRow(rows, key)
		if !ok {
			return cell{}, false
		}
		c, ok := r.values["superd"]
		return c, ok && c.has
	}
	peer := func(key, name string) (cell, bool) {
		r, ok := findRow(rows, key)
		if !ok {
			return cell{}, false
		}
		c, ok := r.values[name]
		return c, ok && c.has
	}
	add := func(what string, ok bool, met bool, got string) {
		if ok {
			out = append(out, target{what: what, got: got, met: met})
		}
	}

	if c, ok := sd("idle.cpu"); ok {
		add("idle: 0 CPU ms with no health checks", true, c.num == 0, c.text)
	}
	if c, ok := sd("idle.cs"); ok {
		add("idle: no wakeups (context switches)", true, c.num == 0, c.text)
	}
	if c, ok := sd("idle.rss"); ok {
		add("idle: at most 15 MiB RSS with 100 programs", true, c.num <= 15, c.text)
	}
	for _, n := range []string{"100", "500"} {
		r, ok := findRow(rows, "start."+n)
		c, ok2 := sd("start." + n)
		if ok && ok2 && r.floor.has {
			got := fmt.Sprintf("%s = %.2f× floor %s", c.text, c.num/r.floor.num, r.floor.text)
			// The loop alone, without the launch that superd pays too, is
			// shown beside it.
			if l, ok := findRow(rows, "startloop."+n); ok && l.floor.has {
				got += fmt.Sprintf(" (%.2f× the loop alone, %s)", c.num/l.floor.num, l.floor.text)
			}
			// Each round against its own floor, beside it: the host's
			// drift between rounds cancels out there.
			if p, ok := sd("startround." + n); ok {
				got += "; by round " + p.text
			}
			add("start: "+n+" programs within 1.3× the fork+exec floor", true, c.num <= 1.3*r.floor.num, got)
		}
		if s6, ok3 := peer("start."+n, "s6"); ok2 && ok3 {
			add("start: "+n+" programs at least 3× faster than s6", true, s6.num >= 3*c.num,
				fmt.Sprintf("%s vs s6 %s = %.1f×", c.text, s6.text, s6.num/c.num))
		}
	}
	for _, k := range []struct{ key, what string }{{"kill", "SIGKILL"}, {"exit", "exit 1"}} {
		if c, ok := sd("restart." + k.key + ".p50"); ok {
			add("restart ("+k.what+"): p50 ≤ 3 ms", true, c.num <= 0.003, c.text)
		}
		if c, ok := sd("restart." + k.key + ".p99"); ok {
			add("restart ("+k.what+"): p99 ≤ 10 ms", true, c.num <= 0.010, c.text)
		}
	}
	for _, k := range []string{"lines", "raw"} {
		rate, ok := sd("logs." + k + ".rate")
		if !ok {
			continue
		}
		if sv, ok := peer("logs."+k+".rate", "supervisord"); ok {
			add("logs ("+k+"): throughput ≥ supervisord's", true, rate.num >= sv.num,
				fmt.Sprintf("%s MiB/s vs %s", rate.text, sv.text))
		}
		cpu, ok1 := sd("logs." + k + ".cpu")
		if sv, ok := peer("logs."+k+".cpu", "supervisord"); ok && ok1 {
			add("logs ("+k+"): CPU per GiB < supervisord's", true, cpu.num < sv.num,
				fmt.Sprintf("%s vs %s", cpu.text, sv.text))
		}
		if r, ok := findRow(rows, "logs."+k+".pipe"); ok && r.floor.has {
			// One decimal: 79.7 % must not print as the 80 % it misses.
			got := fmt.Sprintf("%s MiB/s = %.1f%% of %s", rate.text, 100*rate.num/r.floor.num, r.floor.text)
			// Each round against its own floor, beside it, as for start.
			if p, ok := sd("logsround." + k); ok {
				got += "; by round " + p.text
			}
			add("logs ("+k+"): ≥ 80% of child | cat > file", true, rate.num >= 0.8*r.floor.num, got)
		}
	}
	if c, ok := sd("status.cli.500"); ok {
		if rn, ok := peer("status.cli.500", "runit"); ok {
			add("control: superctl status at 500 no slower than sv status", true, c.num <= rn.num,
				fmt.Sprintf("%s vs %s", c.text, rn.text))
		}
	}
	if c, ok := sd("drain.time"); ok {
		add("drain: 100 × 1 s programs gone within 1.3 s", true, c.num <= 1.3, c.text)
	}
	if c, ok := sd("drain.clean"); ok {
		a, b, _ := strings.Cut(c.text, "/")
		add("drain: all exiting cleanly", true, a == b, c.text)
	}
	for _, mode := range []string{"exec", "config"} {
		if c, ok := sd("reap." + mode + ".zero"); ok {
			add("reaping (superd "+mode+"): no zombie 50 ms after the last orphan exits", true, c.num <= 0.050, c.text)
		}
	}
	return out
}

// printTargets writes one line per target: met or MISSED, the promise,
// and the numbers.
func printTargets(w io.Writer, ts []target) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range ts {
		verdict := "met"
		if !t.met {
			verdict = "MISSED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", verdict, t.what, t.got)
	}
	tw.Flush()
}

// issue4 reports the two latencies issue 4 asks for, which have no
// numeric target: one line each of what, superd's p50/p99, and what it
// compares with in the same run. Rows that are missing are left out.
func issue4(rows []row) [][2]string {
	var out [][2]string
	pair := func(key string) (r50, r99 row, ok bool) {
		r50, ok1 := findRow(rows, key+".p50")
		r99, ok2 := findRow(rows, key+".p99")
		return r50, r99, ok1 && ok2 && r50.values["superd"].has && r99.values["superd"].has
	}
	both := func(r50, r99 row, col string) string {
		a, b := r50.values[col], r99.values[col]
		if col == "" {
			a, b = r50.floor, r99.floor
		}
		if !a.has || !b.has {
			return ""
		}
		return a.text + " / " + b.text
	}
	// line is superd's p50 / p99 of key, then peer's and the floor's.
	line := func(r50, r99 row, peer string) string {
		got := both(r50, r99, "superd")
		if p := both(r50, r99, peer); p != "" {
			got += "; " + peer + " " + p
		}
		if fl := both(r50, r99, ""); fl != "" {
			got += "; floor " + fl
		}
		return got
	}
	if r50, r99, ok := pair("notify.first"); ok {
		got := line(r50, r99, "s6")
		if a50, a99, ok := pair("notify.again"); ok {
			got += "; after restart all " + both(a50, a99, "superd")
		}
		out = append(out, [2]string{"notify: READY=1 → dependent's exec, p50 / p99", got})
	}
	if r50, r99, ok := pair("forward"); ok {
		out = append(out, [2]string{"forward: signal to superd exec → child, p50 / p99", line(r50, r99, "tini")})
	}
	return out
}

// printIssue4 writes the lines of issue4.
func printIssue4(w io.Writer, lines [][2]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range lines {
		fmt.Fprintf(tw, "report\t%s\t%s\n", l[0], l[1])
	}
	tw.Flush()
}
