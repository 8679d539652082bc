package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"
)

// tabwriterTable is what table.write replaced: text/tabwriter with padding
// 2, then every line without its trailing blanks.
func tabwriterTable(rows [][]string) string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	var out strings.Builder
	for line := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	return out.String()
}

func TestTable(t *testing.T) {
	tests := []struct {
		name string
		rows [][]string // the header first
	}{
		{"header only", [][]string{{"NAME", "STATE", "MESSAGE"}}},
		{"one column", [][]string{{"ID"}, {"a"}, {""}, {"bcd"}}},
		{"empty message", [][]string{{"NAME", "STATE", "MESSAGE"}, {"web:0", "running", ""}, {"db", "stopped", ""}}},
		{"messages", [][]string{{"NAME", "STATE", "MESSAGE"}, {"a", "fatal", "exec /x: no such file"}, {"bb", "", "x"}}},
		{"wide cells", [][]string{{"N", "S", "M"}, {"a-very-long-program-name:12", "backoff", "m"}, {"b", "x", ""}}},
		{"runes", [][]string{{"NAME", "ARGS"}, {"é☃", "\"naïve\" ☃"}, {"abc", "-"}}},
		{"empty cells", [][]string{{"A", "", "C", ""}, {"", "", "", ""}, {"a", "b", "", "d"}}},
		{"blanks in cells", [][]string{{"A", "B"}, {"a b", "c d "}, {" x", " "}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable(len(tt.rows)-1, tt.rows[0]...)
			for _, r := range tt.rows[1:] {
				tb.row(r...)
			}
			var got bytes.Buffer
			if err := tb.write(&got); err != nil {
				t.Fatal(err)
			}
			if want := tabwriterTable(tt.rows); got.String() != want {
				t.Errorf("table(%q) =\n%q; want\n%q", tt.rows, got.String(), want)
			}
		})
	}
}
