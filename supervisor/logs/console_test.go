package logs

import (
	"bytes"
	"errors"
	"testing"
)

// countingWriter records each Write call separately.
type countingWriter struct{ writes []string }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestConsoleWriteLines(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		lines  string
		want   string // nothing written when empty
	}{
		{"one line", "web:1 | ", "listening\n", "web:1 | listening\n"},
		{"several lines", "web:1 | ", "a\nb\n\nc\n", "web:1 | a\nweb:1 | b\nweb:1 | \nweb:1 | c\n"},
		{"unterminated last line", "db | ", "a\nb", "db | a\ndb | b\n"},
		{"no prefix", "", "a\nb\n", "a\nb\n"},
		{"nothing", "web:1 | ", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w countingWriter
			c := NewConsole(&w)
			if err := c.WriteLines(tt.prefix, []byte(tt.lines)); err != nil {
				t.Fatalf("WriteLines(%q, %q) = %v; want nil", tt.prefix, tt.lines, err)
			}
			var want []string
			if tt.want != "" {
				want = []string{tt.want} // in one Write call
			}
			if len(w.writes) != len(want) || (len(want) == 1 && w.writes[0] != want[0]) {
				t.Errorf("WriteLines(%q, %q) wrote %q; want %q", tt.prefix, tt.lines, w.writes, want)
			}
		})
	}
}

// failOnce fails its first Write, then records the others.
type failOnce struct {
	failed bool
	bytes.Buffer
}

func (w *failOnce) Write(p []byte) (int, error) {
	if !w.failed {
		w.failed = true
		return 0, errors.New("console gone")
	}
	return w.Buffer.Write(p)
}

// TestConsoleWriteError checks that an error is returned, and that the
// next write carries only its own lines.
func TestConsoleWriteError(t *testing.T) {
	var w failOnce
	c := NewConsole(&w)
	if err := c.WriteLines("x | ", []byte("lost\n")); err == nil {
		t.Error("WriteLines() to a failing writer = nil; want its error")
	}
	if err := c.WriteLines("x | ", []byte("a\n")); err != nil {
		t.Fatalf("WriteLines() after the writer recovered = %v; want nil", err)
	}
	if got := w.String(); got != "x | a\n" {
		t.Errorf("console = %q; want %q", got, "x | a\n")
	}
}
