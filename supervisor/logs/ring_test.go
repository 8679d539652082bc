package logs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// ringModel returns what a Ring of capacity c holds after all of out was
// written: the longest suffix of whole lines that fits, or, when the last
// line alone is too long, its head and a '\n'.
func ringModel(out string, c int) string {
	if out == "" {
		return ""
	}
	lines := strings.SplitAfter(out, "\n")
	lines = lines[:len(lines)-1] // out ends in '\n'
	kept, size := 0, 0
	for i := len(lines) - 1; i >= 0 && size+len(lines[i]) <= c; i-- {
		size += len(lines[i])
		kept++
	}
	if kept == 0 {
		return lines[len(lines)-1][:c-1] + "\n"
	}
	return strings.Join(lines[len(lines)-kept:], "")
}

func TestRingWrite(t *testing.T) {
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("line %02d\n", i))
	}
	tests := []struct {
		name     string
		capacity int
		writes   []string
		want     string
	}{
		{"empty", 10, nil, ""},
		{"fits", 100, []string{"a\n", "b\n"}, "a\nb\n"},
		{"exactly full", 10, []string{"aaaa\nbbbb\n"}, "aaaa\nbbbb\n"},
		{"oldest whole lines dropped", 10, []string{"aaaa\n", "bbbb\n", "cc\n"}, "bbbb\ncc\n"},
		{"drop several lines for one", 10, []string{"a\n", "b\n", "c\n", "ddddddd\n"}, "c\nddddddd\n"},
		{"one write larger than capacity keeps newest lines", 10, []string{"a\nbb\nccc\ndddd\n"}, "ccc\ndddd\n"},
		{"oversized single line keeps its head", 8, []string{"0123456789\n"}, "0123456\n"},
		{"oversized line replaces older lines", 8, []string{"ab\n", "0123456789abc\n"}, "0123456\n"},
		{"oversized last line of a write", 8, []string{"a\n0123456789\n"}, "0123456\n"},
		{"line after an oversized one", 8, []string{"0123456789\n", "x\n"}, "x\n"},
		{"unterminated write gets a newline", 10, []string{"abc"}, "abc\n"},
		{"unterminated oversized write", 4, []string{"a\nbcdefg"}, "bcd\n"},
		{"many writes wrap and compact", 16, many, "line 98\nline 99\n"},
		{"capacity below 1 is 1", 0, []string{"abc\n", "\n"}, "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRing(tt.capacity)
			for _, w := range tt.writes {
				r.Write([]byte(w))
				if got := r.Tail(0); len(got) > r.Cap() {
					t.Fatalf("after Write(%q): %d bytes held; capacity %d", w, len(got), r.Cap())
				}
			}
			if got := string(r.Tail(0)); got != tt.want {
				t.Errorf("Tail(0) = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestRingModel writes random chunks of random lines and compares the ring
// with ringModel after every write.
func TestRingModel(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		maxLine  int
	}{
		{"short lines", 64, 10},
		{"lines up to capacity", 64, 64},
		{"some oversized lines", 64, 100},
		{"large ring", 4096, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.capacity)))
			r := NewRing(tt.capacity)
			// The newest lines written: those after the first can hold more
			// than the capacity, so older ones cannot matter.
			var recent []string
			size := 0
			for i := range 2000 {
				var chunk strings.Builder
				for range 1 + rng.IntN(5) {
					line := fmt.Sprintf("%d%s\n", i, strings.Repeat("x", rng.IntN(tt.maxLine)))
					chunk.WriteString(line)
					recent = append(recent, line)
					size += len(line)
				}
				for size-len(recent[0]) > tt.capacity {
					size -= len(recent[0])
					recent = recent[1:]
				}
				r.Write([]byte(chunk.String()))
				if got, want := string(r.Tail(0)), ringModel(strings.Join(recent, ""), tt.capacity); got != want {
					t.Fatalf("after write %d: Tail(0) = %q; want %q", i, got, want)
				}
			}
		})
	}
}

func TestRingTail(t *testing.T) {
	tests := []struct {
		name    string
		written string
		n       int
		want    string
	}{
		{"all with 0", "1\n2\n3\n4\n", 0, "1\n2\n3\n4\n"},
		{"all with negative", "1\n2\n3\n4\n", -1, "1\n2\n3\n4\n"},
		{"last one", "1\n2\n3\n4\n", 1, "4\n"},
		{"last two", "1\n2\n3\n4\n", 2, "3\n4\n"},
		{"exactly all", "1\n2\n3\n4\n", 4, "1\n2\n3\n4\n"},
		{"more than held", "1\n2\n3\n4\n", 10, "1\n2\n3\n4\n"},
		{"empty lines count", "a\n\n\n", 2, "\n\n"},
		{"empty ring", "", 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRing(100)
			r.Write([]byte(tt.written))
			if got := string(r.Tail(tt.n)); got != tt.want {
				t.Errorf("Tail(%d) = %q; want %q", tt.n, got, tt.want)
			}
		})
	}
}

func TestRingTailIsCopy(t *testing.T) {
	r := NewRing(100)
	r.Write([]byte("abc\n"))
	got := r.Tail(0)
	copy(got, "xyz")
	if got := string(r.Tail(0)); got != "abc\n" {
		t.Errorf("Tail(0) after changing a returned tail = %q; want %q", got, "abc\n")
	}
}

// recvAll receives from ch until it is closed, failing if it is not closed
// once its buffered chunks are drained.
func recvAll(t *testing.T, ch <-chan []byte) []string {
	t.Helper()
	var got []string
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, string(b))
		default:
			t.Fatalf("channel not closed after %q", got)
		}
	}
}

func TestRingSubscribe(t *testing.T) {
	tests := []struct {
		name   string
		buf    int
		writes []string
		cancel bool
		want   []string // received before the channel is closed
	}{
		{"receives every write", 3, []string{"a\n", "b\nc\n"}, true, []string{"a\n", "b\nc\n"}},
		{"slow subscriber cut off", 2, []string{"a\n", "b\n", "c\n", "d\n"}, false, []string{"a\n", "b\n"}},
		{"buffer below 1 is 1", 0, []string{"a\n", "b\n"}, false, []string{"a\n"}},
		{"cancel closes", 2, nil, true, nil},
		{"cancel after cut-off", 1, []string{"a\n", "b\n"}, true, []string{"a\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRing(100)
			r.Write([]byte("before\n"))
			ch, cancel := r.Subscribe(tt.buf)
			for _, w := range tt.writes {
				r.Write([]byte(w)) // never blocks, or this test hangs
			}
			if tt.cancel {
				cancel()
				cancel() // idempotent
			}
			got := recvAll(t, ch)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("received %q; want %q", got, tt.want)
			}
			cancel()
			if got := string(r.Tail(0)); got != "before\n"+strings.Join(tt.writes, "") {
				t.Errorf("Tail(0) = %q; want every write", got)
			}
		})
	}
}

// TestRingWritePieces checks that WritePieces leaves the ring, its tail
// and its followers as one Write per piece (each with its '\n') would,
// though it stores only the pieces the ring keeps.
func TestRingWritePieces(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		before   string // written first
		b        string
		n        int
	}{
		{"pieces longer than the ring", 8, "a\n", strings.Repeat("x", 50), 10},
		{"pieces as long as the ring", 8, "a\n", strings.Repeat("x", 24), 8},
		{"pieces one shorter than the ring", 8, "", strings.Repeat("y", 21), 7},
		{"several pieces fit", 10, "old\n", "0123456789abcdefghij", 3},
		{"last piece shorter", 10, "old\n", "0123456789a", 4},
		{"one piece, older lines stay", 20, "old\n", "xyz", 5},
		{"pieces of one byte", 6, "abcd\n", "0123456789", 1},
		{"MaxLine pieces in the pump's ring", RingCapacity, "a\n", strings.Repeat("z", 3*MaxLine), MaxLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := NewRing(tt.capacity), NewRing(tt.capacity)
			got.Write([]byte(tt.before))
			want.Write([]byte(tt.before))
			gotCh, cancelGot := got.Subscribe(100)
			wantCh, cancelWant := want.Subscribe(100)
			got.WritePieces([]byte(tt.b), tt.n)
			for i := 0; i < len(tt.b); i += tt.n {
				want.Write([]byte(tt.b[i:min(i+tt.n, len(tt.b))] + "\n"))
			}
			if g, w := string(got.Tail(0)), string(want.Tail(0)); g != w {
				t.Errorf("Tail(0) = %q; want %q", g, w)
			}
			cancelGot()
			cancelWant()
			if g, w := recvAll(t, gotCh), recvAll(t, wantCh); fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("follower received %q; want %q", g, w)
			}
			// Later writes drop the pieces as they would drop written lines.
			got.Write([]byte("next\n"))
			want.Write([]byte("next\n"))
			if g, w := string(got.Tail(0)), string(want.Tail(0)); g != w {
				t.Errorf("after a later write, Tail(0) = %q; want %q", g, w)
			}
		})
	}
}

func TestRingSubscribeCutOffLeavesOthers(t *testing.T) {
	r := NewRing(100)
	slow, cancelSlow := r.Subscribe(1)
	defer cancelSlow()
	fast, cancelFast := r.Subscribe(4)
	r.Write([]byte("a\n"))
	r.Write([]byte("b\n"))
	if got := recvAll(t, slow); fmt.Sprint(got) != "[a\n]" {
		t.Errorf("slow subscriber received %q; want [a\\n] then close", got)
	}
	for _, want := range []string{"a\n", "b\n"} {
		if got := string(<-fast); got != want {
			t.Errorf("fast subscriber received %q; want %q", got, want)
		}
	}
	cancelFast()
	if _, ok := <-fast; ok {
		t.Error("fast subscriber's channel open after cancel")
	}
}

func TestRingSubscribeTail(t *testing.T) {
	r := NewRing(100)
	r.Write([]byte("1\n2\n3\n"))
	lines, ch, cancel := r.SubscribeTail(2, 1)
	defer cancel()
	r.Write([]byte("4\n"))
	if string(lines) != "2\n3\n" {
		t.Errorf("SubscribeTail(2, 1) lines = %q; want %q", lines, "2\n3\n")
	}
	if got := string(<-ch); got != "4\n" {
		t.Errorf("SubscribeTail(2, 1) first chunk = %q; want %q", got, "4\n")
	}
}

// TestRingConcurrent runs writers, tailers and followers at once; it checks
// -race and that every chunk a follower gets is whole lines.
func TestRingConcurrent(t *testing.T) {
	r := NewRing(256)
	var wg sync.WaitGroup
	for w := range 4 {
		// exits after its writes; the test waits on wg
		wg.Go(func() {
			for i := range 500 {
				r.Write(fmt.Appendf(nil, "w%d %d\n", w, i))
			}
		})
	}
	for range 4 {
		// exits when its channel is closed (cut off or cancelled); the
		// test waits on wg
		ch, cancel := r.Subscribe(8)
		wg.Go(func() {
			defer cancel()
			for i := 0; i < 100; i++ {
				b, ok := <-ch
				if !ok {
					return
				}
				if len(b) == 0 || b[len(b)-1] != '\n' {
					t.Errorf("follower received %q; want whole lines", b)
				}
			}
		})
		// exits after its reads; the test waits on wg
		wg.Go(func() {
			for range 100 {
				if b := r.Tail(3); len(b) > 0 && !bytes.HasSuffix(b, []byte("\n")) {
					t.Errorf("Tail(3) = %q; want whole lines", b)
				}
			}
		})
	}
	wg.Wait()
}

func TestRingEndFollowers(t *testing.T) {
	r := NewRing(1024)
	a, cancelA := r.Subscribe(4)
	b, cancelB := r.Subscribe(4)
	r.EndFollowers()
	for _, ch := range []<-chan []byte{a, b} {
		if _, ok := <-ch; ok {
			t.Fatalf("EndFollowers() left a subscription open")
		}
	}
	cancelA() // idempotent after the end
	cancelB()
	c, cancelC := r.Subscribe(4)
	defer cancelC()
	r.Write([]byte("x\n"))
	if got := <-c; string(got) != "x\n" {
		t.Errorf("subscription after EndFollowers got %q; want %q", got, "x\n")
	}
}

// BenchmarkRingWrite measures Ring.Write of the chunks a pump hands it: a
// read of 80-byte lines, and a read of one line longer than MaxLine, split
// into MaxLine pieces (a child that never writes a newline).
func BenchmarkRingWrite(b *testing.B) {
	var lines []byte
	for i := 0; len(lines) < 64<<10; i++ {
		lines = fmt.Appendf(lines, "%08d %s\n", i, strings.Repeat("b", 70))
	}
	raw := make([]byte, 0, 2*MaxLine+2)
	for range 2 {
		raw = append(raw, make([]byte, MaxLine)...)
		raw = append(raw, '\n')
	}
	for _, bc := range []struct {
		name  string
		chunk []byte
	}{
		{"lines/4KiB", lines[:bytes.LastIndexByte(lines[:4<<10], '\n')+1]},
		{"lines/64KiB", lines},
		{"raw/64KiB", raw[:MaxLine+1]},
		{"raw/128KiB", raw},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := NewRing(RingCapacity)
			b.SetBytes(int64(len(bc.chunk)))
			b.ReportAllocs()
			for b.Loop() {
				r.Write(bc.chunk)
			}
		})
	}
}
