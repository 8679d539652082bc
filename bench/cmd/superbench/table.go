package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the final table: a metric, its value for each system
// (by name), and the floor with what the floor is.
type row struct {
	// key names the row for the targets and the plot ("restart.kill.p50");
	// it is not printed.
	key      string
	scenario string
	metric   string
	values   map[string]cell
	floor    cell
	floorIs  string
	// noRatio leaves the superd/peer columns empty (counts, not measures).
	noRatio bool
}

// newRow returns a row with an empty value map.
func newRow(key, scenario, metric string) row {
	return row{key: key, scenario: scenario, metric: metric, values: map[string]cell{}}
}

// cell is one value of the table: its text, and the number behind it (in
// the metric's unit: seconds for durations) for ratios and the plot.
type cell struct {
	text string
	num  float64
	has  bool // num is set
}

func durCell(d time.Duration) cell { return cell{text: fmtDur(d), num: d.Seconds(), has: true} }

func numCell(text string, v float64) cell { return cell{text: text, num: v, has: true} }

func textCell(s string) cell { return cell{text: s} }

// columns returns the system columns of rows: systems in their order, then
// any other name a row holds (tini), in order of appearance.
func columns(systems []string, rows []row) []string {
	cols := slices.Clone(systems)
	for _, r := range rows {
		var extra []string
		for name := range r.values {
			if !slices.Contains(cols, name) && !slices.Contains(extra, name) {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		cols = append(cols, extra...)
	}
	return cols
}

// printTable writes the rows as an aligned table: one column per system,
// then superd/peer for every peer (a value under 1 means superd needs less
// of it: time, CPU, memory; over 1 means more: throughput, or worse), then
// the floor.
func printTable(w io.Writer, systems []string, rows []row) {
	cols := columns(systems, rows)
	var peers []string
	for _, c := range cols {
		if c != "superd" {
			peers = append(peers, c)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"SCENARIO", "METRIC"}
	head = append(head, cols...)
	for _, p := range peers {
		head = append(head, "superd/"+p)
	}
	head = append(head, "FLOOR", "FLOOR IS")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		cells := []string{r.scenario, r.metric}
		for _, s := range cols {
			cells = append(cells, orDash(r.values[s].text))
		}
		for _, p := range peers {
			cells = append(cells, orDash(ratio(r, p)))
		}
		cells = append(cells, orDash(r.floor.text), orDash(r.floorIs))
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// ratio returns superd's value over peer's in r, or "" when either is
// missing or the ratio means nothing.
func ratio(r row, peer string) string {
	s, p := r.values["superd"], r.values[peer]
	if r.noRatio || !s.has || !p.has {
		return ""
	}
	if p.num == 0 {
		if s.num == 0 {
			return "="
		}
		return ""
	}
	return fmtRatio(s.num / p.num)
}

// fmtRatio prints r with two significant digits, without an exponent.
func fmtRatio(r float64) string {
	switch {
	case r == 0:
		return "0"
	case r >= 10:
		return strconv.FormatFloat(r, 'f', 0, 64)
	case r >= 1:
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	digits := 1 - int(math.Floor(math.Log10(r)))
	return strconv.FormatFloat(r, 'f', min(digits, 6), 64)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// findRow returns the row with key, if any.
func findRow(rows []row, key string) (row, bool) {
	i := slices.IndexFunc(rows, func(r row) bool { return r.key == key })
	if i < 0 {
		return row{}, false
	}
	return rows[i], true
}
