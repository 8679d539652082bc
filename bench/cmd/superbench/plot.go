package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"strings"
	"time"
)

// plotSeries is one bar of each group: a row of the table, by key.
type plotSeries struct {
	key, label, color string
}

// plotPanel is one chart: a group of bars per system (and the floor), on a
// logarithmic time axis.
type plotPanel struct {
	title  string
	series []plotSeries
}

// writePlot writes an SVG with two panels — restart latency (p50, p99)
// and start time (N = 100, 500) per system and for the floor — from the
// rows of this run. Panels whose rows were not measured are left out.
func writePlot(path string, rows []row, systems []string) error {
	panels := []plotPanel{
		{title: "Restart: SIGKILL → replacement exec'd (log scale)", series: []plotSeries{
			{"restart.kill.p50", "p50", "#4c78a8"},
			{"restart.kill.p99", "p99", "#f58518"},
		}},
		{title: "Start: launch → last of N programs exec'd (log scale)"},
	}
	colors := []string{"#54a24b", "#b279a2", "#e45756", "#72b7b2"}
	for _, r := range rows {
		if n, ok := strings.CutPrefix(r.key, "start."); ok {
			ser := plotSeries{key: r.key, label: "N = " + n, color: colors[len(panels[1].series)%len(colors)]}
			panels[1].series = append(panels[1].series, ser)
		}
	}
	svg := renderPlot(panels, rows, systems)
	if svg == "" {
		return fmt.Errorf("no restart or start rows to plot")
	}
	return os.WriteFile(path, []byte(svg), 0o644)
}

// renderPlot returns the SVG document, or "" when no panel has data.
func renderPlot(panels []plotPanel, rows []row, systems []string) string {
	const (
		width    = 900
		left     = 150 // room for the group labels
		right    = 90  // room for the value labels
		barH     = 14
		groupGap = 10
		panelTop = 50 // title and legend
		axisH    = 30
	)
	groups := append(append([]string{}, systems...), "floor")
	var b strings.Builder
	y := 40
	var body strings.Builder
	drawn := 0
	for _, p := range panels {
		// Collect the values: vals[g][s], 0 when missing.
		vals := make([][]float64, len(groups))
		lo, hi := math.Inf(1), math.Inf(-1)
		for g, name := range groups {
			vals[g] = make([]float64, len(p.series))
			for s, ser := range p.series {
				r, ok := findRow(rows, ser.key)
				if !ok {
					continue
				}
				c := r.values[name]
				if name == "floor" {
					c = r.floor
				}
				if c.has && c.num > 0 {
					vals[g][s] = c.num
					lo, hi = math.Min(lo, c.num), math.Max(hi, c.num)
				}
			}
		}
		if math.IsInf(lo, 1) {
			continue
		}
		drawn++
		d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if d1 == d0 {
			d1++
		}
		plotW := float64(width - left - right)
		xOf := func(v float64) float64 { return float64(left) + plotW*(math.Log10(v)-d0)/(d1-d0) }
		fmt.Fprintf(&body, `<text x="%d" y="%d" font-size="15" font-weight="bold">%s</text>`+"\n", 10, y, html.EscapeString(p.title))
		lx := left
		for _, ser := range p.series {
			fmt.Fprintf(&body, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" font-size="12">%s</text>`+"\n",
				lx, y+10, ser.color, lx+16, y+21, html.EscapeString(ser.label))
			lx += 100
		}
		top := y + panelTop - 20
		groupH := len(p.series)*barH + groupGap
		bottom := top + len(groups)*groupH
		// Decade grid lines and labels.
		for d := d0; d <= d1; d++ {
			x := xOf(math.Pow(10, d))
			fmt.Fprintf(&body, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top-4, x, bottom)
			fmt.Fprintf(&body, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#555">%s</text>`+"\n",
				x, bottom+14, html.EscapeString(fmtDur(time.Duration(math.Pow(10, d)*float64(time.Second)))))
		}
		for g, name := range groups {
			gy := top + g*groupH
			label := name
			if name == "floor" {
				label = "floor (bare Go loop)"
			}
			fmt.Fprintf(&body, `<text x="%d" y="%d" font-size="12" text-anchor="end">%s</text>`+"\n",
				left-8, gy+len(p.series)*barH/2+4, html.EscapeString(label))
			for s, ser := range p.series {
				v := vals[g][s]
				by := gy + s*barH
				if v == 0 {
					fmt.Fprintf(&body, `<text x="%d" y="%d" font-size="10" fill="#999">not measured</text>`+"\n", left+4, by+barH-3)
					continue
				}
				x := xOf(v)
				fmt.Fprintf(&body, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, by+1, math.Max(x-float64(left), 1), barH-2, ser.color)
				fmt.Fprintf(&body, `<text x="%.1f" y="%d" font-size="10">%s</text>`+"\n", x+4, by+barH-3,
					html.EscapeString(fmtDur(time.Duration(v*float64(time.Second)))))
			}
		}
		fmt.Fprintf(&body, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", left, top-4, left, bottom)
		y = bottom + axisH + 30
	}
	if drawn == 0 {
		return ""
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n", width, y, width, y)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="12" fill="#555">%s</text>`+"\n", html.EscapeString("superbench (bench/run): medians of one run on "+machine()))
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	return b.String()
}
