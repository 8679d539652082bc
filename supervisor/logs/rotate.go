package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

const (
	// pageSize is the alignment of the pump's small writes to a File: the
	// page size of the page cache on the platforms superd runs on.
	pageSize = 4 << 10
	// bigAlign is the alignment of its big ones (a busy pump's), where the
	// page cache's large folios make a 64 KiB-aligned append a fifth
	// cheaper again than a page-aligned one.
	bigAlign = 64 << 10
)

// File is an append-only output file, rotated when it would grow beyond
// maxSize: PATH is renamed to PATH.1 (the newest), PATH.1 to PATH.2, and so
// on up to PATH.maxFiles; the oldest beyond that is removed.
//
// Rotation happens only between lines, so no line is ever split across
// files. A File is safe for concurrent use: a mutex serialises writes,
// rotations, Reopen and Close.
//
// The writes of a [Pump] (writeKeep) keep back the tail of the stream past
// the last page boundary of PATH, fewer than pageSize bytes, in a carry
// that goes out in front of the next write (one writev), so that every
// write ends PATH on a page boundary: an unaligned append costs the kernel
// half as much again as an aligned one, and a pump splitting a stream
// without newlines writes MaxLine+1 bytes at a time. A write of bigAlign
// bytes or more (with the carry) ends PATH on a bigAlign boundary instead,
// keeping back fewer than bigAlign bytes: only a busy pump's carry grows
// that large. The carry goes out
// whole on flush (the pump's pipe is drained, its EOF or cancel), on
// [File.Write], before a rotation (it belongs to the file rotated out),
// and on Reopen and Close. Size accounting and rotation count the carried
// bytes as in PATH already, so files rotate at the same byte counts.
type File struct {
	path string

	// discards counts the unlinks of dropped files still running (see
	// discardLocked); Add and Wait are called with mu held.
	discards sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	maxSize  int64
	maxFiles int
	// staleFiles is the highest rotated file an earlier, larger maxFiles
	// may have left; the next rotation removes those beyond maxFiles.
	staleFiles int
	// f is nil after a failed open (rotation or Reopen); the next write
	// tries to open the path again, so writing resumes once it can.
	f    *os.File
	size int64 // bytes in PATH, counting what was there at open
	// midLine is set when the file ends inside a line, which the next
	// write continues; torn when that line's continuation was lost to a
	// failed write, so the next write first ends it with a '\n'.
	midLine bool
	torn    bool
	closed  bool
	// carry holds the last bytes of the stream, which size and midLine
	// count but PATH does not hold yet; fewer than pageSize after a small
	// write, fewer than bigAlign after a big one. It is empty
	// whenever f.f is nil or torn is set.
	carry []byte
	// physMid is set when PATH itself, without the carry, ends inside a
	// line: what midLine becomes when the carry is lost.
	physMid bool
	// wrote and lost count the stream bytes (the torn-line '\n' not)
	// written to PATH and lost since the pump last took them (takeCounts),
	// the carried bytes when they go out, whoever sends them (Reopen, Close).
	wrote, lost int
}

// OpenFile opens path for appending, creating it with mode 0644 and its
// parent directories with mode 0755 when they do not exist. The size of an
// existing file counts toward maxSize.
//
// maxSize <= 0 turns rotation off. maxFiles is the number of rotated files
// kept (PATH.1 .. PATH.maxFiles); with maxFiles <= 0 a rotation discards the
// old contents.
func OpenFile(path string, maxSize int64, maxFiles int) (*File, error) {
	f := &File{path: path, maxSize: maxSize, maxFiles: max(maxFiles, 0)}
	if err := f.openLocked(); err != nil {
		return nil, err
	}
	return f, nil
}

// NewFile returns a File for path that is opened (and created) at its first
// write, so a program that never writes costs no file: at a start of
// hundreds of programs, creating empty files is most of the cost.
func NewFile(path string, maxSize int64, maxFiles int) *File {
	return &File{path: path, maxSize: maxSize, maxFiles: max(maxFiles, 0)}
}

// Path returns the path f writes to.
func (f *File) Path() string { return f.path }

// openLocked opens f.path and records its size. f.mu must be held, or f
// not yet shared.
func (f *File) openLocked() error {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	fd, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	st, err := fd.Stat()
	if err != nil {
		fd.Close()
		return fmt.Errorf("open log file: %w", err)
	}
	f.f, f.size, f.midLine, f.torn, f.physMid = fd, st.Size(), false, false, false
	return nil
}

// Write appends p, the next bytes of an output stream, and returns the
// number of bytes of p written. Unlike [File.WriteLines], p may end inside a
// line; the next Write continues that line in the same file. *File is thus
// an [io.Writer] that copies a stream as it arrives, like `cat >> PATH`.
// Bytes a pump's write kept back (see [File]) go out first, in the same
// write(2).
//
// Rotation happens only at the start of a line, so no line is ever split
// across files: when p does not fit, f writes the lines that fit, rotates,
// and goes on in the new file; a line longer than maxSize goes alone into a
// file of its own. A line still being written when the file reaches maxSize
// stays in it, so a file may exceed maxSize by the rest of that line.
// When p fits in the current file it is written with one write(2).
//
// An error means the rest of p was not written (disk full, a failed
// rotation, a closed File). It is safe to call Write again later: when
// bytes were lost inside a line, the next Write first ends that line with a
// '\n', so a later line is never glued onto it; and a File whose path
// could not be opened tries again on every call, so writing resumes by
// itself when the destination recovers.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lost := f.lost
	err := f.writeLocked(p, false)
	return len(p) - min(f.lost-lost, len(p)), err
}

// WriteLines is [File.Write] for p that holds whole lines, each ending in
// '\n'. With whole lines, every file is at most maxSize bytes unless it
// holds a single longer line.
func (f *File) WriteLines(p []byte) (int, error) {
	return f.Write(p)
}

// writeKeep is [File.Write] for a pump: it keeps the bytes past the last
// page boundary of PATH in the carry (see [File]), and returns the stream
// bytes written to PATH and lost since the last writeKeep or flush, the
// carried bytes counting only once written or lost.
func (f *File) writeKeep(p []byte) (wrote, lost int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err = f.writeLocked(p, true)
	wrote, lost = f.takeCounts()
	return wrote, lost, err
}

// flush writes out the carry, and returns what writeKeep returns. A pump
// flushes when its pipe is drained, so no output waits in the carry while
// the pump waits for more.
func (f *File) flush() (wrote, lost int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err = f.flushLocked()
	wrote, lost = f.takeCounts()
	return wrote, lost, err
}

// takeCounts returns and resets f.wrote and f.lost. f.mu must be held.
func (f *File) takeCounts() (wrote, lost int) {
	wrote, lost, f.wrote, f.lost = f.wrote, f.lost, 0, 0
	return wrote, lost
}

// writeLocked implements Write and, with keep, writeKeep. f.mu must be held.
func (f *File) writeLocked(p []byte, keep bool) error {
	if f.closed {
		f.lost += len(p)
		return fmt.Errorf("write %s: %w", f.path, os.ErrClosed)
	}
	if f.f == nil {
		if err := f.openLocked(); err != nil {
			f.lost += len(p)
			return err
		}
	}
	if f.torn {
		if _, err := f.f.Write([]byte{'\n'}); err != nil {
			f.lost += len(p)
			return err
		}
		f.size++
		f.torn, f.midLine, f.physMid = false, false, false
	}
	for len(p) > 0 {
		n := len(p)
		if f.maxSize > 0 && f.size+int64(n) > f.maxSize {
			n = f.fitLocked(p)
			if n == 0 {
				if err := f.rotateLocked(); err != nil {
					f.lost += len(p)
					return err
				}
				continue
			}
		}
		// A piece followed by a rotation goes out whole: its carry would
		// go out alone before the rotation.
		if err := f.appendLocked(p[:n], keep && n == len(p)); err != nil {
			// The rest of p is lost: a line left open cannot be
			// continued by the next write.
			f.lost += len(p) - n
			return err
		}
		p = p[n:]
	}
	if !keep {
		return f.flushLocked()
	}
	return nil
}

// appendLocked writes the carry and b, all of them or, with keep, up to the
// last page boundary of PATH, and keeps the rest in the carry. On error the
// carry and b are lost, but what went out. f.mu must be held and f.f open.
func (f *File) appendLocked(b []byte, keep bool) error {
	end := f.size + int64(len(b))
	phys := f.size - int64(len(f.carry)) // the size of PATH
	cut := end
	if keep {
		align := int64(pageSize)
		if len(f.carry)+len(b) >= bigAlign {
			// end-bigAlign >= phys: cut > phys, the write is not empty.
			align = bigAlign
		}
		cut = end &^ (align - 1)
	}
	if len(b) > 0 {
		f.midLine = b[len(b)-1] != '\n'
	}
	if cut <= phys {
		// Within the page PATH ends in (or with b empty): keep b. The
		// carry then holds end-phys < pageSize bytes, as cut > end-pageSize.
		if f.carry == nil {
			f.carry = make([]byte, 0, pageSize)
		}
		f.carry = append(f.carry, b...)
		f.size = end
		return nil
	}
	// PATH was page-aligned, or carry is what made the page up to cut:
	// in both cases cut >= f.size, so the write takes all of the carry.
	k := max(int(cut-phys)-len(f.carry), 0) // bytes of b written now
	m, err := f.writev(f.carry, b[:k])
	f.wrote += m
	if m > 0 {
		if m > len(f.carry) {
			f.physMid = b[m-len(f.carry)-1] != '\n'
		} else {
			f.physMid = f.carry[m-1] != '\n'
		}
	}
	if err != nil {
		f.lost += len(f.carry) + len(b) - m
		f.carry = f.carry[:0]
		f.size = phys + int64(m)
		f.midLine, f.torn = f.physMid, f.physMid
		return err
	}
	f.carry = append(f.carry[:0], b[k:]...)
	f.size = end
	return nil
}

// flushLocked writes out the carry. On error it is lost. f.mu must be held.
func (f *File) flushLocked() error {
	if len(f.carry) == 0 {
		return nil
	}
	return f.appendLocked(nil, false)
}

// writev writes a then b with as few system calls as it can, one unless
// the write is cut short. It returns the bytes written.
func (f *File) writev(a, b []byte) (int, error) {
	if len(a) == 0 {
		return f.f.Write(b)
	}
	if len(b) == 0 {
		return f.f.Write(a)
	}
	done := 0
	for len(a)+len(b) > 0 {
		vec := [2][]byte{a, b} // on the stack: Writev does not keep it
		iov := vec[:]
		if len(a) == 0 {
			iov = iov[1:]
		}
		n, err := unix.Writev(int(f.f.Fd()), iov)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return done, &fs.PathError{Op: "write", Path: f.f.Name(), Err: err}
		}
		if n == 0 {
			return done, &fs.PathError{Op: "write", Path: f.f.Name(), Err: io.ErrShortWrite}
		}
		done += n
		if n < len(a) {
			a = a[n:]
			continue
		}
		b, a = b[n-len(a):], nil
	}
	return done, nil
}

// fitLocked returns how many bytes of p, which does not fit whole, go into
// the current file: the rest of an open line, or the lines that fit, or the
// first line alone when the file is empty. 0 means rotate first. f.mu must
// be held.
func (f *File) fitLocked(p []byte) int {
	if !f.midLine {
		if room := f.maxSize - f.size; room > 0 {
			if n := bytes.LastIndexByte(p[:min(room, int64(len(p)))], '\n') + 1; n > 0 {
				return n
			}
		}
		if f.size > 0 {
			return 0
		}
	}
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		return i + 1
	}
	return len(p)
}

// rotateLocked shifts PATH.i to PATH.i+1, PATH to PATH.1, and opens a new
// PATH, after writing out the carry into the file it belongs to. f.mu must
// be held. On error f.f may be nil; the next write retries the open.
func (f *File) rotateLocked() error {
	if err := f.flushLocked(); err != nil {
		return err
	}
	err := f.f.Close()
	f.f = nil
	for i := f.staleFiles; i > f.maxFiles; i-- {
		err = errors.Join(err, f.discardLocked(f.rotated(i)))
	}
	f.staleFiles = 0
	if f.maxFiles == 0 {
		err = errors.Join(err, f.discardLocked(f.path))
	} else {
		err = errors.Join(err, f.discardLocked(f.rotated(f.maxFiles)))
		for i := f.maxFiles - 1; i >= 1; i-- {
			err = errors.Join(err, renameIfExists(f.rotated(i), f.rotated(i+1)))
		}
		err = errors.Join(err, renameIfExists(f.path, f.rotated(1)))
	}
	if err != nil {
		// Reopen PATH, but do not write past maxSize: the caller drops
		// this chunk (bounded) and the next write tries the rotation again.
		err = fmt.Errorf("rotate %s: %w", f.path, err)
		return errors.Join(err, f.openLocked())
	}
	return f.openLocked()
}

// discardLocked removes name, the file a rotation drops, off the writer's
// path: unlinking a file frees its page cache (about 10 ms per 100 MiB
// here), a stall the pump's child would feel. name is renamed to a hidden
// one at once (see discarding) and unlinked by a goroutine; the next
// discard and Close wait for it. A failed unlink leaves the hidden file,
// which the next discard replaces. f.mu must be held.
func (f *File) discardLocked(name string) error {
	f.discards.Wait() // the hidden name is free again
	gone := f.discarding()
	if err := os.Rename(name, gone); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	f.discards.Add(1)
	// exits once the file is unlinked; waited on by the next discard and Close
	go func() {
		defer f.discards.Done()
		_ = os.Remove(gone)
	}()
	return nil
}

// discarding is the hidden name a dropped file has until it is unlinked:
// ".BASE.removing" beside PATH, outside the PATH.N pattern of rotated
// files that tools and readers glob.
func (f *File) discarding() string {
	return filepath.Join(filepath.Dir(f.path), "."+filepath.Base(f.path)+".removing")
}

// SetLimits changes the size at which f rotates and how many rotated files
// it keeps, from the next write on (a reload that changed log_max_size or
// log_max_files). Rotated files numbered beyond a smaller maxFiles go at
// the next rotation.
func (f *File) SetLimits(maxSize int64, maxFiles int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	maxFiles = max(maxFiles, 0)
	f.staleFiles = max(f.staleFiles, f.maxFiles)
	f.maxSize, f.maxFiles = maxSize, maxFiles
}

// rotated returns the name of the i-th rotated file.
func (f *File) rotated(i int) string {
	return f.path + "." + strconv.Itoa(i)
}

func renameIfExists(from, to string) error {
	if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Reopen closes the file and opens the path again, creating it if needed;
// it is what superd does on SIGUSR1 after logrotate moved the file away.
// The size of the reopened file counts toward maxSize. Bytes a pump's write
// kept back (see [File]) go to the file before it is closed: they belong to
// the file logrotate moved away. After an error, the next write tries to
// open the path again. Safe to call concurrently with writes.
func (f *File) Reopen() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("reopen %s: %w", f.path, os.ErrClosed)
	}
	if f.f == nil {
		return nil // not open yet (or failed): the next write opens the path
	}
	err := f.flushLocked()
	err = errors.Join(err, f.f.Close())
	f.f = nil
	return errors.Join(err, f.openLocked())
}

// Close writes out the bytes a pump's write kept back (see [File]) and
// closes the file. Later writes and reopens fail with an error matching
// [os.ErrClosed]; a second Close returns nil.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	defer f.discards.Wait()
	if f.f == nil {
		return nil
	}
	err := f.flushLocked()
	err = errors.Join(err, f.f.Close())
	f.f = nil
	return err
}
