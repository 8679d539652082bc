package logs

import (
	"bytes"
	"io"
	"sync"
)

// Console writes the output of many instances to one shared writer, such as
// superd's own stdout or stderr (output mode "inherit"), each line prefixed
// with the instance's name.
//
// A Console is safe for concurrent use: every call writes its prefixed lines
// with a single Write on w under a mutex, so lines of different instances
// never interleave within a line.
//
// A Console cannot bound how long w.Write takes: when w is a pipe nobody
// reads, a write blocks once the pipe is full, and with it the pump and, in
// turn, the child. That is accepted for inherit, whose reader is the
// container runtime or terminal that started superd; errors from w are
// reported to the caller, which counts them as drops.
type Console struct {
	mu  sync.Mutex // guards the fields below
	w   io.Writer
	buf []byte // reused for the prefixed lines
}

// maxConsoleBuf bounds the scratch buffer a Console keeps between writes.
const maxConsoleBuf = 1 << 20

// NewConsole returns a Console writing to w.
func NewConsole(w io.Writer) *Console {
	return &Console{w: w}
}

// WriteLines writes p, which holds whole lines each ending in '\n', to the
// console with prefix before every line ("web:1 | "), in one Write call.
// A p that does not end in '\n' gets one. On error, part of p may have
// reached the writer; callers count all of p as dropped.
func (c *Console) WriteLines(prefix string, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf[:0]
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line = p[:i+1]
		}
		b = append(b, prefix...)
		b = append(b, line...)
		p = p[len(line):]
	}
	if b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	_, err := c.w.Write(b)
	if cap(b) <= maxConsoleBuf {
		c.buf = b[:0]
	} else {
		c.buf = nil
	}
	return err
}
