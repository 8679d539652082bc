// Package logs captures the output of supervised processes.
//
// A child writes into a pipe; one [Sink.Pump] per pipe drains it into the
// destinations of that stream: a rotating [File], superd's own stdout or
// stderr through a [Console] with a "NAME | " prefix, and always an in-memory
// [Ring] of the instance's last output, so that `superctl logs` works for
// every output mode. Reading never stops while the pump runs: when a
// destination fails, bytes are dropped and counted in [Stats] instead of
// blocking the child.
//
// The package is an OS-side leaf: it imports nothing of the project.
package logs

import (
	"bytes"
	"sync"
)

// Ring keeps the last output of an instance in memory, whole lines only.
//
// A Ring is safe for concurrent use: one pump writes while any number of
// readers call [Ring.Tail] and follow it through [Ring.Subscribe].
type Ring struct {
	capacity int

	mu sync.Mutex // guards the fields below
	// buf[start:] holds the kept lines, oldest first; every line ends in
	// '\n'. buf grows with use up to 2*capacity bytes, so that dropping
	// old lines is moving start, and the live bytes are copied to the
	// front at most once per capacity bytes written.
	buf   []byte
	start int
	subs  map[*subscription]struct{}
}

// subscription is one follower of a Ring. ch is closed exactly once, by the
// Ring, under Ring.mu: either when the follower falls behind or on cancel.
type subscription struct {
	ch chan []byte
}

// NewRing returns a Ring that keeps the last capacity bytes of output, at
// least 1. Its memory grows with the output written, up to twice the
// capacity; from then on, writes do not allocate.
func NewRing(capacity int) *Ring {
	return &Ring{capacity: max(capacity, 1)}
}

// Cap returns the capacity of r in bytes.
func (r *Ring) Cap() int { return r.capacity }

// Write appends p, which holds one or more complete lines each ending in
// '\n', dropping the oldest lines to stay within the capacity. A p that does
// not end in '\n' is treated as if it did. A single line longer than the
// capacity is kept truncated to its first capacity-1 bytes and a '\n', so the
// newest line is always there, at least in part.
//
// Write copies p and never blocks on a follower: a subscriber whose buffer
// is full is cut off (see [Ring.Subscribe]). Once the ring has grown to its
// full size, Write allocates only for subscribers.
func (r *Ring) Write(p []byte) {
	if len(p) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appendLocked(p)
	if len(r.subs) > 0 {
		r.publishLocked(p)
	}
}

// WritePieces appends b, which holds no '\n', as lines of n bytes each (the
// last one shorter when n does not divide len(b)), as if each were written
// with its '\n' by [Ring.Write]. It is how a pump passes on the pieces of
// a line longer than [MaxLine]: the ring stores only the pieces that it
// would keep, so a stream without newlines costs one copy of the last
// pieces per call, not one of each.
func (r *Ring) WritePieces(b []byte, n int) {
	if len(b) == 0 || n <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	piece := func(i int) []byte { return b[i*n : min((i+1)*n, len(b))] }
	pieces := (len(b) + n - 1) / n
	// The pieces that may stay: those that, each with its '\n', fit in the
	// capacity, and one more that fills it, cut or not.
	keep := r.capacity/(n+1) + 1
	for i := max(0, pieces-keep); i < pieces; i++ {
		r.appendLineLocked(piece(i))
	}
	if len(r.subs) > 0 {
		for i := range pieces {
			r.publishLocked(piece(i))
		}
	}
}

// appendLineLocked stores line, which holds no '\n', and its '\n'. r.mu
// must be held.
func (r *Ring) appendLineLocked(line []byte) {
	if len(line) >= r.capacity {
		// line alone fills the ring: keep its head.
		r.buf = append(r.buf[:0], line[:r.capacity-1]...)
		r.buf = append(r.buf, '\n')
		r.start = 0
		return
	}
	r.appendLocked(line)
}

// appendLocked stores p in the ring. r.mu must be held.
func (r *Ring) appendLocked(p []byte) {
	unterminated := p[len(p)-1] != '\n'
	size := len(p)
	if unterminated {
		size++
	}
	if size > r.capacity {
		// p alone fills the ring: keep its newest lines that fit, or the
		// head of its last line when that one alone is too long.
		r.buf, r.start = r.buf[:0], 0
		from := size - r.capacity // >= 1; the kept suffix starts at a line start >= from
		if j := bytes.IndexByte(p[from-1:], '\n'); j >= 0 && from+j < len(p) {
			r.buf = append(r.buf, p[from+j:]...)
		} else {
			// p[from-1:] has no '\n' before its last byte: the last
			// line starts before from-1.
			last := lastNewline(p[:from-1]) + 1
			r.buf = append(r.buf, p[last:last+r.capacity-1]...)
			unterminated = true // the kept head needs its '\n'
		}
		if unterminated {
			r.buf = append(r.buf, '\n')
		}
		return
	}
	// Drop the oldest lines until p fits.
	if excess := len(r.buf) - r.start + size - r.capacity; excess > 0 {
		// The line holding byte start+excess-1 must go, and all before it.
		nl := bytes.IndexByte(r.buf[r.start+excess-1:], '\n')
		r.start += excess + nl // nl >= 0: the buffer ends in '\n'
		if r.start == len(r.buf) {
			r.buf, r.start = r.buf[:0], 0
		}
	}
	if len(r.buf)+size > 2*r.capacity {
		n := copy(r.buf, r.buf[r.start:])
		r.buf, r.start = r.buf[:n], 0
	}
	r.buf = append(r.buf, p...) // grows r.buf up to about 2*capacity
	if unterminated {
		r.buf = append(r.buf, '\n')
	}
}

// Tail returns a copy of the last n lines held by r, or all of them when
// n <= 0. It is safe to call at any time, also while a pump writes.
func (r *Ring) Tail(n int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return tail(r.buf[r.start:], n)
}

// tail returns a copy of the last n lines of b (all when n <= 0). b is empty
// or ends in '\n'.
func tail(b []byte, n int) []byte {
	from := 0
	if n > 0 && len(b) > 0 {
		end := len(b) - 1 // the final '\n'
		for ; n > 0; n-- {
			i := bytes.LastIndexByte(b[:end], '\n')
			if i < 0 {
				end = -1
				break
			}
			end = i
		}
		from = end + 1
	}
	return bytes.Clone(b[from:])
}

// Subscribe starts following r. Every Write after Subscribe returns is sent
// on ch as one chunk of whole lines; the chunk is a copy shared by all
// subscribers, so receivers must not modify it.
//
// Write never blocks on a subscriber: ch has room for buf chunks (at least
// 1), and a subscriber whose buffer is full when a Write arrives is cut off
// — ch is closed and receives nothing more. A slow follower is dropped,
// never buffered without bound; it may subscribe again and re-read the gap
// with [Ring.Tail].
//
// The Ring closes ch, exactly once: when the subscriber is cut off, or when
// cancel is called. cancel is idempotent and safe to call from any
// goroutine; callers must call it when they stop reading.
func (r *Ring) Subscribe(buf int) (ch <-chan []byte, cancel func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subscribeLocked(buf)
}

// SubscribeTail is [Ring.Subscribe] preceded by [Ring.Tail](n), atomically:
// no Write falls between the returned tail and the first chunk on ch, so a
// follower (`superctl logs -f`) sees every line exactly once.
func (r *Ring) SubscribeTail(n, buf int) (lines []byte, ch <-chan []byte, cancel func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines = tail(r.buf[r.start:], n)
	ch, cancel = r.subscribeLocked(buf)
	return lines, ch, cancel
}

// subscribeLocked registers a subscription. r.mu must be held.
func (r *Ring) subscribeLocked(buf int) (<-chan []byte, func()) {
	if buf < 1 {
		buf = 1
	}
	// Sized buf on purpose: it is the follower's allowance; when it fills
	// up, publishLocked closes the channel rather than block or grow.
	s := &subscription{ch: make(chan []byte, buf)}
	if r.subs == nil {
		r.subs = make(map[*subscription]struct{})
	}
	r.subs[s] = struct{}{}
	cancel := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.subs[s]; ok {
			delete(r.subs, s)
			close(s.ch)
		}
	}
	return s.ch, cancel
}

// publishLocked sends a copy of p to every subscriber, cutting off those
// that are full. r.mu must be held; the sends never block.
func (r *Ring) publishLocked(p []byte) {
	chunk := bytes.Clone(p)
	if chunk[len(chunk)-1] != '\n' {
		chunk = append(chunk, '\n')
	}
	for s := range r.subs {
		select {
		case s.ch <- chunk:
		default:
			delete(r.subs, s)
			close(s.ch)
		}
	}
}

// EndFollowers closes every subscriber's channel, as when the instance the
// ring belongs to is removed: followers see their stream end. Later
// subscriptions work as usual.
func (r *Ring) EndFollowers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs {
		delete(r.subs, s)
		close(s.ch)
	}
}
