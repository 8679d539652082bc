package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// File is an append-only output file, rotated when it would grow beyond
// maxSize: PATH is renamed to PATH.1 (the newest), PATH.1 to PATH.2, and so
// on up to PATH.maxFiles; the oldest beyond that is removed.
//
// Rotation happens only between lines, so no line is ever split across
// files. A File is safe for concurrent use: a mutex serialises writes,
// rotations, Reopen and Close.
type File struct {
	path     string
	maxSize  int64
	maxFiles int

	mu sync.Mutex // guards the fields below
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
	f.f, f.size, f.midLine, f.torn = fd, st.Size(), false, false
	return nil
}

// Write appends p, the next bytes of an output stream, and returns the
// number of bytes of p written. Unlike [File.WriteLines], p may end inside a
// line; the next Write continues that line in the same file. *File is thus
// an [io.Writer] that copies a stream as it arrives, like `cat >> PATH`.
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
	return f.writeLocked(p)
}

// WriteLines is [File.Write] for p that holds whole lines, each ending in
// '\n'. With whole lines, every file is at most maxSize bytes unless it
// holds a single longer line.
func (f *File) WriteLines(p []byte) (int, error) {
	return f.Write(p)
}

// writeLocked implements Write. f.mu must be held.
func (f *File) writeLocked(p []byte) (int, error) {
	if f.closed {
		return 0, fmt.Errorf("write %s: %w", f.path, os.ErrClosed)
	}
	if f.f == nil {
		if err := f.openLocked(); err != nil {
			return 0, err
		}
	}
	if f.torn {
		if _, err := f.f.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		f.size++
		f.torn, f.midLine = false, false
	}
	written := 0
	for len(p) > 0 {
		n := len(p)
		if f.maxSize > 0 && f.size+int64(n) > f.maxSize {
			n = f.fitLocked(p)
			if n == 0 {
				if err := f.rotateLocked(); err != nil {
					return written, err
				}
				continue
			}
		}
		m, err := f.f.Write(p[:n])
		written += m
		f.size += int64(m)
		if m > 0 {
			f.midLine = p[m-1] != '\n'
		}
		if err != nil {
			// The rest of p is lost: a line left open cannot be
			// continued by the next write.
			f.torn = f.midLine
			return written, err
		}
		p = p[n:]
	}
	return written, nil
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
// PATH. f.mu must be held. On error f.f may be nil; the next write retries
// the open.
func (f *File) rotateLocked() error {
	err := f.f.Close()
	f.f = nil
	if f.maxFiles == 0 {
		err = errors.Join(err, removeIfExists(f.path))
	} else {
		err = errors.Join(err, removeIfExists(f.rotated(f.maxFiles)))
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

// rotated returns the name of the i-th rotated file.
func (f *File) rotated(i int) string {
	return f.path + "." + strconv.Itoa(i)
}

func removeIfExists(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func renameIfExists(from, to string) error {
	if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Reopen closes the file and opens the path again, creating it if needed;
// it is what superd does on SIGUSR1 after logrotate moved the file away.
// The size of the reopened file counts toward maxSize. After an error, the
// next write tries to open the path again. Safe to call concurrently with
// writes.
func (f *File) Reopen() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("reopen %s: %w", f.path, os.ErrClosed)
	}
	if f.f == nil {
		return nil // not open yet (or failed): the next write opens the path
	}
	err := f.f.Close()
	f.f = nil
	return errors.Join(err, f.openLocked())
}

// Close closes the file. Later writes and reopens fail with an error
// matching [os.ErrClosed]; a second Close returns nil.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	return err
}
