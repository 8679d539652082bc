package logs

import (
	"context"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestIdleMemory checks what an instance that never writes costs: a Ring
// holds no storage until its first Write, and a Pump makes its buffer only
// for the first output, so a Pump that ends or is cancelled before any
// allocates next to nothing.
func TestIdleMemory(t *testing.T) {
	// pipe returns the read end of a new pipe whose write end is closed
	// (EOF) or left open until the test ends (no output ever).
	pipe := func(t *testing.T, closed bool) *os.File {
		t.Helper()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if closed {
			w.Close()
		} else {
			t.Cleanup(func() { w.Close() })
		}
		return r
	}
	var ring *Ring
	tests := []struct {
		name string
		// prepare returns the step to measure, set up outside the count.
		prepare func(t *testing.T) func()
	}{
		{"NewRing", func(*testing.T) func() {
			return func() { ring = NewRing(RingCapacity) }
		}},
		{"Pump at EOF without output", func(t *testing.T) func() {
			r := pipe(t, true)
			s := &Sink{Name: "idle:0", Ring: NewRing(RingCapacity)}
			return func() {
				if err := s.Pump(t.Context(), r); err != nil {
					t.Errorf("Pump() = %v; want nil", err)
				}
			}
		}},
		{"Pump cancelled without output", func(t *testing.T) func() {
			r := pipe(t, false)
			s := &Sink{Name: "idle:0", Ring: NewRing(RingCapacity)}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return func() {
				if err := s.Pump(ctx, r); !errors.Is(err, context.Canceled) {
					t.Errorf("Pump() = %v; want context.Canceled", err)
				}
			}
		}},
	}
	const runs, limit = 20, 1 << 10
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var total uint64
			for range runs {
				step := tt.prepare(t)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				step()
				runtime.ReadMemStats(&after)
				total += after.TotalAlloc - before.TotalAlloc
			}
			if got := total / runs; got > limit {
				t.Errorf("%s allocates %d bytes; want at most %d", tt.name, got, limit)
			}
			t.Logf("%s allocates %d bytes", tt.name, total/runs)
		})
	}
	_ = ring
}

// TestPumpReaders pumps from readers the runtime polls and ones it cannot
// (a pipe in blocking mode, a regular file): a pump waits for the first
// output before it makes its buffer, and reads the same either way.
func TestPumpReaders(t *testing.T) {
	const data = "a\nb"
	tests := []struct {
		name string
		// open returns the reader and a function that writes data to it
		// and ends it; it runs after Pump started.
		open func(t *testing.T) (r *os.File, write func())
	}{
		{"pipe", func(t *testing.T) (*os.File, func()) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			return r, func() { write(t, w, data); w.Close() }
		}},
		{"blocking pipe", func(t *testing.T) (*os.File, func()) {
			r, w := blockingPipe(t)
			return r, func() { write(t, w, data); w.Close() }
		}},
		{"regular file", func(t *testing.T) (*os.File, func()) {
			path := t.TempDir() + "/out"
			if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			return r, func() {}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Sink{Name: "web:1", Ring: NewRing(RingCapacity)}
			r, writeAll := tt.open(t)
			done := make(chan error, 1) // the pump's only result; never blocks it
			// exits at EOF of r; the test receives from done
			go func() { done <- s.Pump(t.Context(), r) }()
			writeAll()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Pump() = %v; want nil", err)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("Pump did not return within %v of EOF", waitTimeout)
			}
			if got, want := string(s.Ring.Tail(0)), data+"\n"; got != want {
				t.Errorf("ring = %q; want %q", got, want)
			}
		})
	}
}
