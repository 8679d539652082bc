package main

import (
	"io"
	"unicode/utf8"
)

// table is a text table: a header row and rows of cells, written with its
// columns aligned as text/tabwriter would align them with padding 2 (each
// column as wide as its widest cell in runes, plus two blanks), the last
// column not padded, and no line ending in blanks. Cells must not hold
// tabs or line breaks.
type table struct {
	ncol  int
	cells []string // row by row, ncol a row, the header first
}

// newTable returns a table with the columns of header, with room for
// rows rows.
func newTable(rows int, header ...string) *table {
	cells := make([]string, 0, (rows+1)*len(header))
	return &table{ncol: len(header), cells: append(cells, header...)}
}

// row adds a row; it must have a cell for each column.
func (t *table) row(cells ...string) {
	t.cells = append(t.cells, cells...)
}

// write writes the table to w in one write.
func (t *table) write(w io.Writer) error {
	widths := make([]int, t.ncol-1)
	size := 0
	for i, c := range t.cells {
		if j := i % t.ncol; j < len(widths) {
			widths[j] = max(widths[j], utf8.RuneCountInString(c))
		} else {
			size += len(c) + 1
		}
	}
	for _, wd := range widths {
		size += (wd + 2) * (len(t.cells) / t.ncol)
	}
	out := make([]byte, 0, size)
	for i, c := range t.cells {
		out = append(out, c...)
		if j := i % t.ncol; j < len(widths) {
			for range widths[j] + 2 - utf8.RuneCountInString(c) {
				out = append(out, ' ')
			}
			continue
		}
		for len(out) > 0 && out[len(out)-1] == ' ' {
			out = out[:len(out)-1]
		}
		out = append(out, '\n')
	}
	_, err := w.Write(out)
	return err
}
