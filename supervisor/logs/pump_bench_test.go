package logs

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPump measures 80-byte lines through a pipe into a rotating File
// and the ring, as superd does for stdout = "file", written in 64 KiB
// blocks (like `cat`) or 8 KiB ones (like stdio); lines cross the block
// boundaries. BenchmarkCat is the baseline: the same bytes copied like
// `cat > file` (read/write, 128 KiB buffer).
func BenchmarkPump(b *testing.B) {
	for _, bc := range []struct {
		block      int
		timestamps bool
	}{{64 << 10, false}, {8 << 10, false}, {64 << 10, true}} {
		b.Run(fmt.Sprintf("block=%d/timestamps=%v", bc.block, bc.timestamps), func(b *testing.B) {
			benchPump(b, lineStream(), bc.block, bc.timestamps)
		})
	}
}

// BenchmarkPumpRaw is BenchmarkPump for a child that writes zero bytes and
// never a newline (`cat /dev/zero`): every line is longer than MaxLine, so
// the pump splits all of them, in the file and the ring.
func BenchmarkPumpRaw(b *testing.B) {
	for _, bc := range []struct {
		block      int
		timestamps bool
	}{{64 << 10, false}, {8 << 10, false}, {64 << 10, true}} {
		b.Run(fmt.Sprintf("block=%d/timestamps=%v", bc.block, bc.timestamps), func(b *testing.B) {
			benchPump(b, make([]byte, 80<<16), bc.block, bc.timestamps)
		})
	}
}

// benchPump pumps stream, in blocks, into a rotating File and the ring.
func benchPump(b *testing.B, stream []byte, block int, timestamps bool) {
	b.Helper()
	f, err := OpenFile(b.TempDir()+"/bench.log", 64<<20, 2)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := &Sink{Name: "bench:0", Timestamps: timestamps, Ring: NewRing(RingCapacity), File: f, Stats: new(Stats)}
	benchPipe(b, stream, block, func(r *os.File) error { return s.Pump(b.Context(), r) })
}

func BenchmarkCat(b *testing.B) {
	for _, block := range []int{64 << 10, 8 << 10} {
		b.Run(fmt.Sprintf("block=%d", block), func(b *testing.B) {
			out, err := os.Create(b.TempDir() + "/cat.log")
			if err != nil {
				b.Fatal(err)
			}
			defer out.Close()
			benchPipe(b, lineStream(), block, func(r *os.File) error {
				defer r.Close()
				buf := make([]byte, 128<<10)
				for {
					n, err := r.Read(buf)
					if _, werr := out.Write(buf[:n]); werr != nil {
						return werr
					}
					if err == io.EOF {
						return nil
					}
					if err != nil {
						return err
					}
				}
			})
		})
	}
}

// lineStream returns 80 * 64 Ki bytes of 80-byte lines: a whole number of
// lines and of blocks.
func lineStream() []byte {
	stream := make([]byte, 0, 80<<16)
	for i := 0; len(stream) < cap(stream); i++ {
		stream = fmt.Appendf(stream, "%08d %s\n", i, strings.Repeat("b", 70))
	}
	return stream
}

// benchPipe writes b.N blocks of stream, whose length is a multiple of
// block, into a pipe from another goroutine while drain reads the other
// end.
func benchPipe(b *testing.B, stream []byte, block int, drain func(r *os.File) error) {
	b.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(block))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	// exits after b.N blocks; drain returns only after it closed w
	go func() {
		defer w.Close()
		for i := range b.N {
			off := i * block % len(stream)
			if _, err := w.Write(stream[off : off+block]); err != nil {
				return
			}
		}
	}()
	if err := drain(r); err != nil {
		b.Fatal(err)
	}
	// CPU time is steadier than wall time on a busy machine; it counts
	// the writer too.
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPumpRead measures a pump's own work on a read, without the pipe
// and the disk: reads of 64 KiB of 80-byte lines or of raw bytes (no
// newline) are handed straight to the read step, with the ring on and the
// file on /dev/null.
func BenchmarkPumpRead(b *testing.B) {
	for _, bc := range []struct {
		name       string
		stream     []byte
		timestamps bool
	}{
		{"lines", lineStream(), false},
		{"raw", make([]byte, 80<<16), false},
		{"raw/timestamps", make([]byte, 80<<16), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, err := OpenFile(os.DevNull, 0, 0)
			if err != nil {
				b.Skipf("no %s: %v", os.DevNull, err)
			}
			defer f.Close()
			s := &Sink{Name: "bench:0", Timestamps: bc.timestamps, Ring: NewRing(RingCapacity), File: f, Stats: new(Stats)}
			p := newPump(s)
			b.SetBytes(readSize)
			b.ReportAllocs()
			off := 0
			for b.Loop() {
				n := copy(p.buf[p.hold:], bc.stream[off:])
				p.read(n)
				off = (off + n) % len(bc.stream)
			}
		})
	}
}
