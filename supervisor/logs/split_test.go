package logs

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// splitModel returns what a pump passes on for stream: a '\n' inserted
// wherever a line would grow beyond MaxLine, before the byte that follows,
// and, at eof, a '\n' after a last line left open.
func splitModel(stream string, eof bool) string {
	var b strings.Builder
	lineLen := 0
	for i := range len(stream) {
		c := stream[i]
		switch {
		case c == '\n':
			lineLen = 0
		case lineLen == MaxLine:
			b.WriteByte('\n')
			lineLen = 1
		default:
			lineLen++
		}
		b.WriteByte(c)
	}
	if eof && lineLen > 0 {
		b.WriteByte('\n')
	}
	return b.String()
}

// wholeLines returns the lines of out that are ended, each with stamp
// before it.
func wholeLines(out, stamp string) string {
	out = out[:strings.LastIndexByte(out, '\n')+1]
	if stamp == "" {
		return out
	}
	return prefixed(stamp, out)
}

// TestPumpSplitReads feeds streams to a pump's read step in reads of given
// sizes and checks after every read what the file, the ring and the console
// hold: lines beyond MaxLine split at the same places whatever the reads,
// the file a copy of the stream as read (without timestamps), the ring and
// the console whole lines only.
func TestPumpSplitReads(t *testing.T) {
	const stamp = "2026-11-28T01:02:03.456Z "
	now := time.Date(2026, 11, 28, 1, 2, 3, 456000000, time.UTC)
	x := func(n int) string { return strings.Repeat("x", n) }
	var windows strings.Builder // '\n' around lastNewline's window edges
	for _, n := range []int{255, 256, 257, 511, 512, 1023, 4095, 4096, 4097, 9000} {
		windows.WriteString(x(n) + "\n")
	}
	streams := []struct {
		name   string
		stream string
	}{
		{"raw bytes", x(5*MaxLine + 123)},
		{"raw bytes of exactly MaxLine", x(MaxLine)},
		{"raw bytes of exactly 2*MaxLine", x(2 * MaxLine)},
		{"line of MaxLine, then raw bytes", x(MaxLine) + "\n" + x(3*MaxLine+7)},
		{"newline at every MaxLine", x(MaxLine) + "\n" + x(MaxLine) + "\n" + x(MaxLine) + "\n"},
		{"newline right after a split", x(MaxLine+1) + "\n" + x(2*MaxLine) + "\n" + "y\n"},
		{"newline one after a split", x(MaxLine+2) + "\n" + x(2*MaxLine+1) + "\nz"},
		{"short lines, then raw bytes", "a\nbb\n" + x(3*MaxLine) + "\nc\n"},
		{"lines across window edges", windows.String() + x(MaxLine+300)},
	}
	reads := []struct {
		name  string
		sizes []int // cycled; a read takes at most the room in the buffer
	}{
		{"64 KiB", []int{readSize}},
		{"64 KiB - 1", []int{readSize - 1}},
		{"8 KiB", []int{8 << 10}},
		{"4097", []int{4097}},
		{"mixed", []int{1, readSize, 3, 1000, MaxLine - 1, 2}},
	}
	for _, st := range streams {
		for _, rd := range reads {
			for _, timestamps := range []bool{false, true} {
				name := fmt.Sprintf("%s/reads=%s/timestamps=%v", st.name, rd.name, timestamps)
				t.Run(name, func(t *testing.T) {
					var console bytes.Buffer
					s := &Sink{
						Name:       "web:1",
						Timestamps: timestamps,
						Ring:       NewRing(RingCapacity),
						File:       openFile(t, 1<<40, 1),
						Console:    NewConsole(&console),
						Now:        func() time.Time { return now },
					}
					wantStamp := stamp
					if !timestamps {
						wantStamp = ""
					}
					p := newPump(s)
					check := func(sent string, eof bool) {
						t.Helper()
						out := splitModel(sent, eof)
						lines := wholeLines(out, wantStamp)
						wantFile := lines
						if !timestamps {
							wantFile = out // as read, an open line too
						}
						// The file may keep back less than bigAlign, until
						// the pump flushes, as it does when the pipe drains.
						if got := readString(t, s.File.Path()); !strings.HasPrefix(wantFile, got) || len(wantFile)-len(got) >= bigAlign {
							t.Fatalf("after %d bytes (eof %v), before a flush: file = %d bytes; want a prefix of the %d, short by less than %d", len(sent), eof, len(got), len(wantFile), bigAlign)
						}
						p.flush()
						if got := readString(t, s.File.Path()); got != wantFile {
							t.Fatalf("after %d bytes (eof %v): file = %d bytes; want %d", len(sent), eof, len(got), len(wantFile))
						}
						if got, want := string(s.Ring.Tail(0)), ringModel(lines, RingCapacity); got != want {
							t.Fatalf("after %d bytes (eof %v): ring = %d bytes %.20q...; want %d bytes %.20q...", len(sent), eof, len(got), got, len(want), want)
						}
						if got, want := console.String(), prefixed("web:1 | ", lines); got != want {
							t.Fatalf("after %d bytes (eof %v): console = %d bytes; want %d", len(sent), eof, len(got), len(want))
						}
					}
					sent := 0
					for i := 0; sent < len(st.stream); i++ {
						size := min(rd.sizes[i%len(rd.sizes)], len(p.buf)-p.hold, len(st.stream)-sent)
						p.read(copy(p.buf[p.hold:], st.stream[sent:sent+size]))
						sent += size
						check(st.stream[:sent], false)
					}
					p.finish()
					check(st.stream, true)
				})
			}
		}
	}
}

// TestRingWriteLarge writes single chunks larger than RingCapacity, as a
// pump does with long lines, and compares the ring with ringModel.
func TestRingWriteLarge(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	var lines strings.Builder
	for i := 0; lines.Len() < 2*RingCapacity; i++ {
		fmt.Fprintf(&lines, "%08d %s\n", i, x(70))
	}
	tests := []struct {
		name  string
		write string
	}{
		{"piece of MaxLine and its newline", x(MaxLine) + "\n"},
		{"piece without its newline", x(MaxLine)},
		{"long line after a short one", "a\n" + x(100<<10) + "\n"},
		{"long line after a line ending 5000 bytes back", x(5000) + "\n" + x(70000) + "\n"},
		{"long line after a line ending 300 bytes back", x(300) + "\n" + x(RingCapacity) + "\n"},
		{"long line, then short lines", x(70000) + "\n" + x(300) + "\nb\n"},
		{"unterminated long line", x(3 * RingCapacity)},
		{"128 KiB of lines", lines.String()},
		{"lines, then an unterminated long line", lines.String() + x(RingCapacity+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRing(RingCapacity)
			r.Write([]byte("before\n"))
			ch, cancel := r.Subscribe(1)
			defer cancel()
			r.Write([]byte(tt.write))
			want := tt.write
			if !strings.HasSuffix(want, "\n") {
				want += "\n"
			}
			if got, want := string(r.Tail(0)), ringModel("before\n"+want, RingCapacity); got != want {
				t.Errorf("Tail(0) = %d bytes %.20q...; want %d bytes %.20q...", len(got), got, len(want), want)
			}
			if got := string(<-ch); got != want {
				t.Errorf("follower got %d bytes; want the whole write, %d bytes", len(got), len(want))
			}
		})
	}
}

func TestLastNewline(t *testing.T) {
	var tests []struct {
		name string
		b    []byte
	}
	for _, size := range []int{0, 1, 255, 256, 257, 4096, 10000} {
		tests = append(tests, struct {
			name string
			b    []byte
		}{fmt.Sprintf("none in %d", size), make([]byte, size)})
		for _, at := range []int{0, 1, 255, 256, 257, 767, 768, 4095, 4096, 5000, size - 257, size - 256, size - 1} {
			if at < 0 || at >= size {
				continue
			}
			for _, also := range []int{-1, 0, at / 2} { // an earlier '\n' too
				b := make([]byte, size)
				if also >= 0 && also < at {
					b[also] = '\n'
				}
				b[at] = '\n'
				tests = append(tests, struct {
					name string
					b    []byte
				}{fmt.Sprintf("at %d (also %d) in %d", at, also, size), b})
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := lastNewline(tt.b), bytes.LastIndexByte(tt.b, '\n'); got != want {
				t.Errorf("lastNewline(%d bytes) = %d; want %d", len(tt.b), got, want)
			}
		})
	}
}
