package logs

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
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
			f, err := OpenFile(b.TempDir()+"/bench.log", 64<<20, 2)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			s := &Sink{Name: "bench:0", Timestamps: bc.timestamps, Ring: NewRing(RingCapacity), File: f, Stats: new(Stats)}
			benchPipe(b, bc.block, func(r *os.File) error { return s.Pump(b.Context(), r) })
		})
	}
}

func BenchmarkCat(b *testing.B) {
	for _, block := range []int{64 << 10, 8 << 10} {
		b.Run(fmt.Sprintf("block=%d", block), func(b *testing.B) {
			out, err := os.Create(b.TempDir() + "/cat.log")
			if err != nil {
				b.Fatal(err)
			}
			defer out.Close()
			benchPipe(b, block, func(r *os.File) error {
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

// benchPipe writes b.N blocks of a stream of 80-byte lines into a pipe from
// another goroutine while drain reads the other end.
func benchPipe(b *testing.B, block int, drain func(r *os.File) error) {
	b.Helper()
	// 80 * 64 Ki bytes: a whole number of lines and of blocks.
	stream := make([]byte, 0, 80<<16)
	for i := 0; len(stream) < cap(stream); i++ {
		stream = fmt.Appendf(stream, "%08d %s\n", i, strings.Repeat("b", 70))
	}
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(block))
	b.ReportAllocs()
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
}
