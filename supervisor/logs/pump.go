package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// MaxLine is the longest line, in bytes without its '\n', that a pump
	// passes on whole; longer lines are split into pieces of MaxLine bytes,
	// each ending in '\n', so a child that never writes a newline cannot
	// stall the reader or grow its buffer.
	MaxLine = 64 << 10

	// RingCapacity is the amount of output superd keeps in memory per
	// instance, for `superctl logs`.
	RingCapacity = 64 << 10

	// readSize is the most a busy pump reads at once: a full pipe buffer,
	// as a busy pump grows its pipe to readSize (see growPipe).
	readSize = 256 << 10

	// smallHold and smallRead size a new pump's buffer: most programs
	// write little, and a pump grows its buffer to MaxLine+readSize only
	// when a read fills it or a partial line outgrows smallHold.
	smallHold = 4 << 10
	smallRead = 16 << 10

	// outFlush is the size at which a pump hands its rewritten lines
	// (timestamps, split lines) to the sinks, bounding its scratch buffer.
	outFlush = 256 << 10

	// stampLayout is the timestamp format; a 'Z' and a space follow it.
	stampLayout = "2006-01-02T15:04:05.000"
)

// Stats counts the output of one instance, in bytes. It may be shared by
// the two sinks (stdout, stderr) of an instance; its fields are atomic and
// may be read at any time.
type Stats struct {
	// Written counts bytes written to the file or console destinations,
	// timestamps included, the console's "NAME | " prefix not. Bytes that
	// only went to the ring are not counted, nor those a [File] keeps back
	// (less than 64 KiB, until the pipe is drained) before they reach it.
	Written atomic.Uint64
	// Dropped counts bytes a destination failed to take (disk full, an
	// unwritable or closed file, a console write error).
	Dropped atomic.Uint64
}

// Sink is where one output stream (stdout or stderr) of one instance goes.
// Its fields are set before [Sink.Pump] runs and not changed after.
type Sink struct {
	// Name is the instance name ("web:1"); the inherit prefix is
	// Name + " | ".
	Name string
	// Timestamps prefixes every line with an RFC 3339 UTC time with
	// milliseconds and a space ("2026-11-28T01:02:03.456Z "), after the
	// "NAME | " prefix for inherit. All lines of one read share the time
	// of that read.
	Timestamps bool
	// Ring gets every line, with its timestamp when Timestamps is on. It
	// should always be set; nil skips it.
	Ring *Ring
	// File is the rotating output file, nil unless the output is "file".
	// Without timestamps a File takes a single stream, as read: two
	// running Pumps must not share one (to merge stderr into stdout, give
	// the child one pipe for both).
	File *File
	// Console is superd's stdout or stderr, nil unless the output is
	// "inherit".
	Console *Console
	// Journal sends every line to journald, nil unless the output is
	// "journal".
	Journal *Journal
	// Stats counts written and dropped bytes; it may be shared by an
	// instance's two sinks. nil: not counted.
	Stats *Stats
	// Logger is superd's own log, where drops and recoveries are reported
	// with the keys "instance", "err" and "dropped_bytes". nil: not logged.
	Logger *slog.Logger
	// Now returns the time for timestamps; nil means time.Now.
	Now func() time.Time
}

// Pump reads r until EOF, hands its output to the sink's ring, file and
// console, and closes r before it returns. It is synchronous: the caller
// runs it in a goroutine of its own, one per pipe, and must not run two
// Pumps on the same Sink at once.
//
// Each read is handed on with one [Ring.Write] and one [Console.WriteLines]
// of the complete lines it ends, and one write to the [File]. Without
// timestamps, the file gets the bytes as read, and a line not yet ended is
// in the file before its newline arrives; with timestamps, it gets whole
// stamped lines. The File writes up to a page (or 64 KiB) boundary and
// keeps the rest for the next write, so its writes are aligned like those
// of `cat > PATH`; the pump has it write that rest out whenever a
// read finds the pipe empty, so once the child's output is drained the file
// holds all of it (see [File]). The ring and the console get whole lines
// only: a partial line is held until its newline arrives. At EOF, a partial
// last line is ended with a '\n' everywhere. Lines longer than [MaxLine]
// are split (see MaxLine), in the file too.
//
// Pump never stops reading because of a destination: a write that fails is
// counted in Stats.Dropped, reported once as "output dropped" when dropping
// starts, retried with the next chunk, and reported as "output resumed"
// with the bytes lost once a write succeeds. A Console whose writer blocks
// does block Pump (see [Console]).
//
// A pump makes its buffer when the first output arrives, so a child that
// never writes costs no buffer. The buffer starts small (20 KiB) and grows
// to 320 KiB (MaxLine+readSize), once, when a read fills it or a partial
// line outgrows it; the pump then asks for a 256 KiB pipe (see growPipe),
// and reads take up to a whole pipe buffer. In steady state a read costs
// no allocation.
//
// When ctx is done, Pump sets a read deadline on r to unblock the read,
// ends any partial line, and returns ctx.Err(). That needs a pollable r,
// such as the read end from [os.Pipe]; for others, a cancel takes effect
// at the next read. Pump returns nil on EOF, and any other read error
// wrapped.
func (s *Sink) Pump(ctx context.Context, r *os.File) error {
	defer r.Close()
	// The deadline is in the past, so a blocked Read returns at once.
	stop := context.AfterFunc(ctx, func() { r.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := r.SyscallConn()
	if err != nil {
		return fmt.Errorf("read output of %s: %w", s.Name, err)
	}

	// An idle child costs no buffer: the pump is made at its first output.
	switch err := waitInput(rc); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	}
	// Any other error is the read's to report; on an r the runtime cannot
	// poll, the read blocks instead.
	p := newPump(s)
	p.reader(rc)
	for {
		n, err := p.fill(r)
		if n > 0 {
			p.read(n)
		}
		if err == nil && ctx.Err() == nil {
			continue
		}
		p.finish()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			return fmt.Errorf("read output of %s: %w", s.Name, err)
		}
	}
}

// waitInput returns nil when r has input to read, io.EOF when r ended
// without any, and the error that ended the wait otherwise (a read deadline:
// os.ErrDeadlineExceeded). It reads nothing, so that a pump needs no buffer
// until there is something to put in it. On an r the runtime cannot poll,
// such as a pipe in blocking mode, it fails at once unless input is ready.
func waitInput(rc syscall.RawConn) error {
	var res error
	err := rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		for errors.Is(err, unix.EINTR) {
			n, err = unix.Poll(fds, 0)
		}
		switch {
		case err != nil:
			res = fmt.Errorf("poll: %w", err)
		case n == 0:
			return false // no input yet: wait for the runtime's poller
		case fds[0].Revents&(unix.POLLIN|unix.POLLHUP) == unix.POLLHUP:
			res = io.EOF
		}
		return true
	})
	if err != nil {
		return err
	}
	return res
}

// pump is the state of one running Pump. It is owned by the Pump goroutine.
type pump struct {
	s      *Sink
	stats  *Stats
	log    *slog.Logger
	now    func() time.Time
	prefix string
	raw    bool // the file gets the bytes as read (no timestamps)

	// Reads go to buf[hold:]; the partial line held from earlier reads sits
	// just before, in buf[hold-held:hold], so held and read bytes are
	// contiguous. A busy pump's buf is MaxLine+readSize bytes, a
	// page-aligned allocation, so the file gets the same aligned writes as
	// from `cat`; a new pump starts small (smallHold+smallRead).
	buf  []byte
	hold int // room for the held partial line, smallHold or MaxLine
	held int
	out  []byte   // scratch for rewritten lines, reused
	ts   [64]byte // time.AppendFormat wants spare room: no allocation
	nts  int      // length of the current timestamp in ts, 0 when off
	nl   [1]byte  // a '\n' to end a line in the file

	file, console, journal drops

	// The pump's reads go through rc, so that the file's carry is written
	// out when a read finds the pipe empty, before the read waits (see
	// fill); rc is nil in a pump that tests feed with read.
	rc     syscall.RawConn
	block  bool                  // r is in blocking mode: reads wait in read(2), not in the poller
	readFn func(fd uintptr) bool // p.readRaw, made once: a method value per read would allocate
	rn     int                   // the bytes readRaw read
	rerr   error                 // readRaw's result: read(2)'s errno, or io.EOF
}

// drops tracks one destination's current run of failed writes.
type drops struct {
	dropping bool
	bytes    uint64 // dropped since dropping started
}

func newPump(s *Sink) *pump {
	p := &pump{
		s:      s,
		stats:  s.Stats,
		log:    s.Logger,
		now:    s.Now,
		prefix: s.Name + " | ",
		raw:    !s.Timestamps,
		buf:    make([]byte, smallHold+smallRead),
		hold:   smallHold,
		nl:     [1]byte{'\n'},
	}
	if p.stats == nil {
		p.stats = new(Stats)
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// reader sets the pump up to read r, through rc, with fill.
func (p *pump) reader(rc syscall.RawConn) {
	p.rc, p.readFn = rc, p.readRaw
	rc.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		p.block = err != nil || fl&unix.O_NONBLOCK == 0
	})
}

// fill reads the next bytes from r into buf[hold:], as r.Read does, and
// returns io.EOF at the end.
//
// A [File] keeps back the last bytes it is given (see [File]), which must
// not wait there while the pump waits for more output: fill writes them
// out when the pipe is drained, that is when a read finds it empty
// (EAGAIN) and is about to wait in the runtime's poller, so nothing is
// kept back while the pump waits in a read. A pump that finds more to read
// reads it at once, and its next write takes the carry along. On an r in
// blocking mode, where a read waits in read(2) itself, fill writes them
// out before every read.
func (p *pump) fill(r *os.File) (int, error) {
	if p.block {
		p.flush()
	}
	p.rn, p.rerr = 0, nil
	if err := p.rc.Read(p.readFn); err != nil {
		return 0, err
	}
	if p.rerr != nil && p.rerr != io.EOF {
		return 0, &os.PathError{Op: "read", Path: r.Name(), Err: p.rerr}
	}
	return p.rn, p.rerr
}

// readRaw is fill's read, run by rc.Read: it returns false to wait in the
// poller for the pipe to fill.
func (p *pump) readRaw(fd uintptr) bool {
	n, err := unix.Read(int(fd), p.buf[p.hold:])
	for err == unix.EINTR {
		n, err = unix.Read(int(fd), p.buf[p.hold:])
	}
	switch {
	case err == unix.EAGAIN:
		// Drained: the carry goes out before the wait.
		p.flush()
		return false
	case err != nil:
		p.rerr = err
	case n == 0:
		p.rerr = io.EOF
	default:
		p.rn = n
	}
	return true
}

// growPipe asks the kernel for a pipe of readSize bytes (64 KiB is the
// default), so that a busy child blocks, and its pump wakes, a quarter as
// often, and each read takes more. The pages are allocated as the pipe
// fills. A refusal (an unprivileged superd over its user's pipe quota,
// /proc/sys/fs/pipe-user-pages-soft) leaves the pipe as it was.
func (p *pump) growPipe() {
	if p.rc == nil {
		return // a pump fed by hand (tests) has no pipe
	}
	_ = p.rc.Control(func(fd uintptr) {
		_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, readSize)
	})
}

// flush writes out what the file keeps back.
func (p *pump) flush() {
	if p.s.File != nil {
		p.fileWrote(p.s.File.flush())
	}
}

// stamp takes the time for the lines of the current read, if timestamps
// are on.
func (p *pump) stamp() {
	if p.raw {
		return
	}
	b := p.now().UTC().AppendFormat(p.ts[:0], stampLayout)
	b = append(b, 'Z', ' ')
	p.nts = copy(p.ts[:], b)
}

// read hands on the n bytes just read into buf[hold:], after the held
// partial line, and keeps the new partial line, if any, in front of
// buf[hold:].
func (p *pump) read(n int) {
	p.stamp()
	fresh := p.buf[p.hold : p.hold+n]
	all := p.buf[p.hold-p.held : p.hold+n]
	// The held partial line has no '\n', so only fresh can end lines.
	// Without one, the partial line just grew: it is long exactly when it
	// exceeds MaxLine, and no search of all is needed.
	end := 0 // all[:end] holds the lines this read completes
	long := len(all) > MaxLine
	if first := bytes.IndexByte(fresh, '\n'); first >= 0 {
		end = p.held + lastNewline(fresh[first:]) + first + 1
		long = p.held+first > MaxLine || hasLongLine(fresh[first+1:])
	}
	tail := all[end:]
	cut := 0 // tail[:cut] leaves as pieces of a partial line beyond MaxLine
	if len(tail) > MaxLine {
		cut = len(tail) - len(tail)%MaxLine
		if cut == len(tail) {
			cut -= MaxLine // a line of exactly MaxLine bytes may still end here
		}
	}
	if p.raw && p.s.File != nil {
		if long {
			p.toFile(p.splitStream(fresh, end-p.held-1))
		} else {
			p.toFile(fresh)
		}
	}
	if end > 0 {
		if long || !p.raw {
			p.rewrite(all[:end])
		} else {
			p.emit(all[:end])
		}
	}
	if cut > 0 {
		if p.raw {
			p.emitPieces(tail, cut)
		} else {
			p.rewrite(tail[:cut])
		}
	}
	tail = tail[cut:]
	if p.hold < MaxLine && (len(tail) > p.hold || p.hold+n == len(p.buf)) {
		// A long partial line, or a read that filled the buffer: grow to
		// the size for a busy pump, once.
		buf := make([]byte, MaxLine+readSize)
		p.held = copy(buf[MaxLine-len(tail):MaxLine], tail)
		p.buf, p.hold = buf, MaxLine
		p.growPipe()
		return
	}
	p.held = copy(p.buf[p.hold-len(tail):p.hold], tail)
}

// finish ends a held partial line, at EOF or cancel, and writes out what
// the file keeps back.
func (p *pump) finish() {
	defer p.flush()
	if p.held == 0 {
		return
	}
	if p.raw && p.s.File != nil {
		p.toFile(p.nl[:])
	}
	p.stamp()
	p.rewrite(p.buf[p.hold-p.held : p.hold])
	p.held = 0
}

// hasLongLine reports whether b, which starts at a line start, holds a
// line, or ends in a partial one, longer than MaxLine. From each line
// start, the next MaxLine+1 bytes must hold a '\n'; searching that window
// from its end jumps over all lines in it at once.
func hasLongLine(b []byte) bool {
	for i := 0; len(b)-i > MaxLine; {
		j := bytes.LastIndexByte(b[i:min(i+MaxLine+1, len(b))], '\n')
		if j < 0 {
			return true
		}
		i += j + 1
	}
	return false
}

// lastNewline returns the index of the last '\n' in b, or -1. It is
// bytes.LastIndexByte, a byte loop, made fast for long lines: it checks
// windows from the end of b backwards with the vectorized bytes.IndexByte,
// growing them from 256 bytes (a few lines) to 4 KiB, and runs
// LastIndexByte only on the window that holds a '\n'.
func lastNewline(b []byte) int {
	end := len(b)
	for w := 256; end > 0; w = min(2*w, 4<<10) {
		start := max(end-w, 0)
		if bytes.IndexByte(b[start:end], '\n') >= 0 {
			return start + bytes.LastIndexByte(b[start:end], '\n')
		}
		end = start
	}
	return -1
}

// emitPieces emits b[:cut], the head of a partial line, as pieces of
// MaxLine bytes, each a whole line, when timestamps are off. cut is a
// multiple of MaxLine below len(b). The ring takes them in one call, which
// keeps only the last pieces that fit; for the console and the journal,
// instead of a copy of each piece with its '\n' (as rewrite makes), the
// byte after a piece is set to '\n' while it is handed on, then restored:
// the pump owns the buffer, and no destination keeps the bytes it is given.
func (p *pump) emitPieces(b []byte, cut int) {
	if p.s.Ring != nil {
		p.s.Ring.WritePieces(b[:cut], MaxLine)
	}
	if p.s.Console == nil && p.s.Journal == nil {
		return
	}
	for at := MaxLine; at <= cut; at += MaxLine {
		c := b[at]
		b[at] = '\n'
		p.emitStreams(b[at-MaxLine : at+1])
		b[at] = c
	}
}

// splitStream returns b, the bytes just read, with a '\n' inserted wherever
// a line would grow beyond MaxLine: where rewrite splits the same lines.
// The held partial line counts: it is in the file already. last is the
// index of b's last '\n', negative when it has none: past it, the cuts
// follow from the line's length alone and b is not searched again. The
// result is in p.out, valid until the next use of p.out; it goes to the
// file in one write (writes of a quarter the size cost the kernel more
// than this copy).
func (p *pump) splitStream(b []byte, last int) []byte {
	out := p.out[:0]
	from := 0                // b[from:] is not in out yet
	at := 0                  // b[at:] continues a line
	room := MaxLine - p.held // the bytes that line may still take
	for len(b)-at > room {
		// The next room+1 bytes hold the line's '\n', or it is cut.
		if at <= last {
			if j := lastNewline(b[at:min(at+room+1, last+1)]); j >= 0 {
				// Every line ended in the window is within MaxLine.
				at += j + 1
				room = MaxLine
				continue
			}
		}
		at += room
		out = append(out, b[from:at]...)
		out = append(out, '\n')
		from, room = at, MaxLine
	}
	out = append(out, b[from:]...)
	p.out = out[:0]
	return out
}

// rewrite emits b with the current timestamp before every line and lines
// longer than MaxLine split into pieces. A final line without '\n' gets
// one. The rewritten lines are built in p.out, emitted whenever it reaches
// outFlush bytes.
func (p *pump) rewrite(b []byte) {
	out := p.out[:0]
	for len(b) > 0 {
		line := b
		next := len(b)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, next = b[:i], i+1
		}
		b = b[next:]
		for first := true; first || len(line) > 0; first = false {
			piece := line[:min(len(line), MaxLine)]
			line = line[len(piece):]
			out = append(out, p.ts[:p.nts]...)
			out = append(out, piece...)
			out = append(out, '\n')
			if len(out) >= outFlush {
				p.emit(out)
				out = out[:0]
			}
		}
	}
	if len(out) > 0 {
		p.emit(out)
	}
	p.out = out[:0]
}

// emit hands b, whole lines, to the ring, the console and the journal, and
// to the file unless it gets the bytes as read.
func (p *pump) emit(b []byte) {
	s := p.s
	if s.Ring != nil {
		s.Ring.Write(b)
	}
	if s.File != nil && !p.raw {
		p.toFile(b)
	}
	p.emitStreams(b)
}

// emitStreams hands b, whole lines, to the console and the journal.
func (p *pump) emitStreams(b []byte) {
	s := p.s
	if s.Console != nil {
		n, err := len(b), s.Console.WriteLines(p.prefix, b)
		if err != nil {
			n = 0
		}
		p.wrote(&p.console, len(b), n, err)
	}
	if s.Journal != nil {
		n, err := s.Journal.WriteLines(b)
		p.wrote(&p.journal, len(b), n, err)
	}
}

// toFile writes b to the file, which may keep its last bytes back, and
// counts the result.
func (p *pump) toFile(b []byte) {
	p.fileWrote(p.s.File.writeKeep(b))
}

// errLostKept is the error reported for kept-back bytes that a Reopen or
// Close of the file failed to write out.
var errLostKept = errors.New("log file: bytes kept back lost at a reopen or close")

// fileWrote counts the result of a write to the file: the stream bytes
// that reached it and those lost, the file's kept-back bytes included.
func (p *pump) fileWrote(wrote, lost int, err error) {
	if lost > 0 && err == nil {
		err = errLostKept
	}
	if err != nil || wrote > 0 {
		// A write that the file only kept back is no recovery yet.
		p.account(&p.file, wrote, err)
	}
	if err != nil {
		p.drop(&p.file, lost, err)
	}
}

// wrote counts the result of a write of size bytes to a destination that
// took n of them: written, and dropped when err is set.
func (p *pump) wrote(d *drops, size, n int, err error) {
	p.account(d, n, err)
	if err != nil {
		p.drop(d, size-n, err)
	}
}

// account counts n bytes written to a destination, and reports its
// recovery when a write succeeded after drops.
func (p *pump) account(d *drops, n int, err error) {
	p.stats.Written.Add(uint64(n))
	if err == nil && d.dropping {
		p.log.Info("output resumed", "instance", p.s.Name, "dropped_bytes", d.bytes)
		d.dropping, d.bytes = false, 0
	}
}

// drop counts n bytes a destination failed to take, and reports the start
// of a run of drops, once.
func (p *pump) drop(d *drops, n int, err error) {
	p.stats.Dropped.Add(uint64(n))
	d.bytes += uint64(n)
	if !d.dropping {
		d.dropping = true
		p.log.Warn("output dropped", "instance", p.s.Name, "err", err)
	}
}
