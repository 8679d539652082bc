package metrics

import (
	"bytes"
	"math"
	"strconv"
	"strings"
)

// contentType is the media type of the Prometheus text exposition format
// that textWriter writes.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// The metric types of a family's # TYPE line.
const (
	counter = "counter"
	gauge   = "gauge"
	summary = "summary"
)

var (
	// helpEscaper escapes the text of a # HELP line.
	helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	// labelEscaper escapes a label value.
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// textWriter writes metric families in the Prometheus text format 0.0.4:
// family declares one, and sample and suffixed write its samples. A
// family's # HELP and # TYPE lines are written with its first sample, so a
// family without samples is left out as client_golang did. The caller
// writes the samples of a family in a stable order.
type textWriter struct {
	buf      bytes.Buffer
	declared map[string]bool

	// The current family and whether its header is written yet.
	name, help, typ string
	labels          []string
	headed          bool
}

// family starts the family name with the given HELP text, type and label
// names; the samples written after it belong to it. Declaring a family
// twice, or a sample with the wrong number of label values, is a bug of
// the caller and panics.
func (w *textWriter) family(name, help, typ string, labels ...string) {
	if w.declared == nil {
		w.declared = make(map[string]bool)
	}
	if w.declared[name] {
		panic("metrics: family " + name + " declared twice")
	}
	w.declared[name] = true
	w.name, w.help, w.typ, w.labels, w.headed = name, help, typ, labels, false
}

// sample writes one sample of the current family: its value and the values
// of its labels, in the order family named them.
func (w *textWriter) sample(v float64, values ...string) {
	if len(values) != len(w.labels) {
		panic("metrics: " + w.name + " sample with " + strconv.Itoa(len(values)) +
			" label values, want " + strconv.Itoa(len(w.labels)))
	}
	w.line("", w.labels, values, v)
}

// suffixed writes a sample without labels whose name is the family's name
// and suffix, such as a summary's _sum and _count.
func (w *textWriter) suffixed(suffix string, v float64) {
	w.line(suffix, nil, nil, v)
}

// line writes one sample line, and the family's header before the first.
func (w *textWriter) line(suffix string, labels, values []string, v float64) {
	if !w.headed {
		w.headed = true
		w.buf.WriteString("# HELP " + w.name + " ")
		helpEscaper.WriteString(&w.buf, w.help)
		w.buf.WriteString("\n# TYPE " + w.name + " " + w.typ + "\n")
	}
	w.buf.WriteString(w.name)
	w.buf.WriteString(suffix)
	for i, l := range labels {
		if i == 0 {
			w.buf.WriteByte('{')
		} else {
			w.buf.WriteByte(',')
		}
		w.buf.WriteString(l + `="`)
		labelEscaper.WriteString(&w.buf, values[i])
		w.buf.WriteByte('"')
	}
	if len(labels) > 0 {
		w.buf.WriteByte('}')
	}
	w.buf.WriteByte(' ')
	w.buf.WriteString(formatFloat(v))
	w.buf.WriteByte('\n')
}

// formatFloat formats v as Prometheus does: the shortest representation,
// and +Inf, -Inf and NaN spelled so.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
