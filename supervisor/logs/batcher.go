package logs

import (
	"context"
	"io"
	"sync"
)

// Batcher is an io.Writer for superd's own log on its stderr. While Run
// runs, a Write
// appends to a buffer and returns, and Run writes out whatever has
// gathered with one Write on w. A burst of lines, such as the two
// "state" lines of each of 500 starting programs, then costs a few
// write(2) calls made off the caller's thread instead of one per line on
// it (docs/BENCHMARKS.md, "Start, fifth round").
//
// Bytes reach w in the order of the Writes. The buffer holds at most
// maxBatch bytes: a Write that would pass it writes out the buffer and its
// own bytes itself, waiting for w like an unbuffered Write would, so a
// stderr nobody reads slows superd down as before instead of growing its
// memory. Before Run starts and after it returns, a Write goes straight to
// w. Errors from w are dropped, as the log handlers drop them (which is
// why a Console, which counts them, does not write through a Batcher).
//
// A Batcher is safe for concurrent use.
type Batcher struct {
	wmu sync.Mutex // held across every Write on w, so that batches stay in order
	w   io.Writer

	mu      sync.Mutex // guards the fields below
	buf     []byte
	spare   []byte // the buffer last written out, reused
	running bool   // Run is taking the buffer out

	kick chan struct{} // size 1: one pending kick is all Run needs
}

// maxBatch bounds the bytes a Batcher holds.
const maxBatch = 256 << 10

// NewBatcher returns a Batcher writing to w.
func NewBatcher(w io.Writer) *Batcher {
	return &Batcher{w: w, kick: make(chan struct{}, 1)}
}

// Write queues p for Run, or writes it to w as described on Batcher. It
// always reports len(p) and no error.
func (b *Batcher) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.running && len(b.buf)+len(p) <= maxBatch {
		first := len(b.buf) == 0
		b.buf = append(b.buf, p...)
		b.mu.Unlock()
		if first {
			select {
			case b.kick <- struct{}{}:
			default:
			}
		}
		return len(p), nil
	}
	b.mu.Unlock()
	// Not running, or full: out with the buffer and p, in this order.
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	out := b.take()
	b.mu.Unlock()
	if len(out) > 0 {
		_, _ = b.w.Write(out)
	}
	_, _ = b.w.Write(p)
	b.recycle(out)
	return len(p), nil
}

// Run writes out what Writes buffer until ctx is done, then writes out the
// rest and returns nil; later Writes go straight to w. Run must not be
// called twice at once.
func (b *Batcher) Run(ctx context.Context) error {
	b.mu.Lock()
	b.running = true
	b.mu.Unlock()
	for {
		select {
		case <-b.kick:
			b.flush(true)
		case <-ctx.Done():
			b.flush(false)
			return nil
		}
	}
}

// flush writes out the buffer; running is what Writes see afterwards.
func (b *Batcher) flush(running bool) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	out := b.take()
	b.running = running
	b.mu.Unlock()
	if len(out) > 0 {
		_, _ = b.w.Write(out)
	}
	b.recycle(out)
}

// take returns the buffer to write out and starts an empty one in the
// spare's memory. b.mu and b.wmu must be held.
func (b *Batcher) take() []byte {
	out := b.buf
	b.buf = b.spare[:0]
	b.spare = nil
	return out
}

// recycle keeps out as the spare buffer unless it grew large.
func (b *Batcher) recycle(out []byte) {
	if cap(out) > maxBatch {
		return
	}
	b.mu.Lock()
	b.spare = out[:0]
	b.mu.Unlock()
}
