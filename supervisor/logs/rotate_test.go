package logs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readFiles returns the contents of path and its rotated files, keyed by
// suffix ("" for path itself, ".1", ...), failing on any other file in the
// folder but a dropped file still being unlinked (see File.discardLocked).
func readFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]string)
	base := filepath.Base(path)
	for _, e := range entries {
		if e.Name() == "."+base+".removing" {
			continue
		}
		suffix, ok := strings.CutPrefix(e.Name(), base)
		if !ok {
			t.Fatalf("unexpected file %s", e.Name())
		}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[suffix] = string(b)
	}
	return files
}

// openFile opens a File in a fresh temporary folder and closes it at the
// end of the test.
func openFile(t *testing.T, maxSize int64, maxFiles int) *File {
	t.Helper()
	f, err := OpenFile(filepath.Join(t.TempDir(), "sub", "web.log"), maxSize, maxFiles)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFileRotationLayout(t *testing.T) {
	tests := []struct {
		name     string
		maxSize  int64
		maxFiles int
		existing string // in PATH before OpenFile
		writes   []string
		want     map[string]string
	}{
		{
			name: "under maxSize", maxSize: 100, maxFiles: 3,
			writes: []string{"a\n", "b\n"},
			want:   map[string]string{"": "a\nb\n"},
		},
		{
			name: "rotation off", maxSize: 0, maxFiles: 3,
			writes: []string{strings.Repeat("a\n", 100)},
			want:   map[string]string{"": strings.Repeat("a\n", 100)},
		},
		{
			name: "between lines of one write", maxSize: 8, maxFiles: 3,
			writes: []string{"aaa\nbbb\nccc\n"},
			want:   map[string]string{"": "ccc\n", ".1": "aaa\nbbb\n"},
		},
		{
			name: "exactly full, then rotated by the next write", maxSize: 8, maxFiles: 3,
			writes: []string{"aaa\nbbb\n", "c\n"},
			want:   map[string]string{"": "c\n", ".1": "aaa\nbbb\n"},
		},
		{
			name: "a line longer than maxSize goes alone", maxSize: 10, maxFiles: 3,
			writes: []string{"ab\n", "0123456789012345\ncd\n"},
			want:   map[string]string{"": "cd\n", ".1": "0123456789012345\n", ".2": "ab\n"},
		},
		{
			name: "existing size counts", maxSize: 8, maxFiles: 3, existing: "old\nold\n",
			writes: []string{"new\n"},
			want:   map[string]string{"": "new\n", ".1": "old\nold\n"},
		},
		{
			name: "oldest removed", maxSize: 4, maxFiles: 2,
			writes: []string{"1\n2\n", "3\n4\n", "5\n6\n", "7\n"},
			want:   map[string]string{"": "7\n", ".1": "5\n6\n", ".2": "3\n4\n"},
		},
		{
			name: "maxFiles 0 discards", maxSize: 4, maxFiles: 0,
			writes: []string{"1\n2\n", "3\n"},
			want:   map[string]string{"": "3\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "web.log")
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, err := OpenFile(path, tt.maxSize, tt.maxFiles)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, w := range tt.writes {
				if n, err := f.WriteLines([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("WriteLines(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			if got := readFiles(t, path); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("files = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestFileRotationKeepsEveryLine writes numbered lines of varied length in
// chunks of varied size through many rotations, then reads the files back
// oldest first.
func TestFileRotationKeepsEveryLine(t *testing.T) {
	const (
		lines   = 20000
		maxSize = 4096
		maxPad  = 60
	)
	// The numbered lines and where each write ends.
	var all strings.Builder
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range lines {
		fmt.Fprintf(&all, "%d %s\n", i, strings.Repeat("x", rng.IntN(maxPad)))
	}
	// Every file but the newest holds more than maxSize-maxLine bytes.
	maxLine := len(fmt.Sprint(lines)) + 2 + maxPad
	keepAll := all.Len()/(maxSize-maxLine) + 2

	tests := []struct {
		name     string
		maxFiles int
		stream   bool // Write chunks that end anywhere, not WriteLines
	}{
		{"all files kept", keepAll, false},
		{"oldest deleted", 5, false},
		{"stream, all files kept", keepAll, true},
		{"stream, oldest deleted", 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := openFile(t, maxSize, tt.maxFiles)
			rest := []byte(all.String())
			for len(rest) > 0 {
				write, n := f.WriteLines, 0
				if tt.stream {
					// 1 to 1000 bytes, ending anywhere.
					write, n = f.Write, min(len(rest), 1+rng.IntN(1000))
				} else {
					// 1 to 40 whole lines.
					for range 1 + rng.IntN(40) {
						i := bytes.IndexByte(rest[n:], '\n')
						if i < 0 {
							break
						}
						n += i + 1
					}
				}
				if m, err := write(rest[:n]); m != n || err != nil {
					t.Fatalf("writing %d bytes = %d, %v", n, m, err)
				}
				rest = rest[n:]
			}

			files := readFiles(t, f.Path())
			if len(files) > tt.maxFiles+1 {
				t.Errorf("%d files; want at most maxFiles+1 = %d", len(files), tt.maxFiles+1)
			}
			var got strings.Builder
			for i := len(files) - 1; i >= 0; i-- {
				suffix := ""
				if i > 0 {
					suffix = "." + strconv.Itoa(i)
				}
				b, ok := files[suffix]
				if !ok {
					t.Fatalf("no file PATH%s among %d files", suffix, len(files))
				}
				// A stream may finish its open line past maxSize.
				limit := maxSize
				if tt.stream {
					limit += maxLine
				}
				if len(b) > limit || !strings.HasSuffix(b, "\n") {
					t.Errorf("PATH%s: %d bytes, ending %q; want at most %d, whole lines", suffix, len(b), b[max(0, len(b)-10):], limit)
				}
				got.WriteString(b)
			}
			want := all.String()
			if tt.maxFiles < keepAll {
				if len(files) != tt.maxFiles+1 {
					t.Errorf("%d files; want %d", len(files), tt.maxFiles+1)
				}
				if !strings.HasSuffix(want, got.String()) {
					t.Fatalf("files oldest first are not the newest output")
				}
				want = want[len(want)-got.Len():]
				if want[0] == '\n' || (len(want) < all.Len() && all.String()[all.Len()-len(want)-1] != '\n') {
					t.Fatalf("oldest kept file starts inside a line: %q", want[:20])
				}
			}
			if got.String() != want {
				t.Fatalf("files oldest first differ from the %d bytes written", len(want))
			}
			// Every number exactly once, in order.
			next := -1
			for line := range strings.Lines(got.String()) {
				num, _, _ := strings.Cut(line, " ")
				n, err := strconv.Atoi(num)
				if err != nil || (next >= 0 && n != next) {
					t.Fatalf("line %q; want number %d", line, next)
				}
				next = n + 1
			}
			if next != lines {
				t.Errorf("last number %d; want %d", next-1, lines-1)
			}
		})
	}
}

// TestFileWriteStream writes a stream in pieces that end inside lines:
// rotation waits for the open line to end.
func TestFileWriteStream(t *testing.T) {
	tests := []struct {
		name    string
		maxSize int64
		writes  []string
		want    map[string]string
	}{
		{
			name: "partial lines joined", maxSize: 100,
			writes: []string{"ab", "c\nd", "e\n"},
			want:   map[string]string{"": "abc\nde\n"},
		},
		{
			name: "open line finished before rotating", maxSize: 6,
			writes: []string{"abcd", "efgh\nij\n"},
			want:   map[string]string{"": "ij\n", ".1": "abcdefgh\n"},
		},
		{
			name: "partial line that does not fit starts a new file", maxSize: 6,
			writes: []string{"ab\ncdef", "g\n"},
			want:   map[string]string{"": "cdefg\n", ".1": "ab\n"},
		},
		{
			name: "lines that fit, then a partial one in the next file", maxSize: 6,
			writes: []string{"a\nb\ncdef"},
			want:   map[string]string{"": "cdef", ".1": "a\nb\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := openFile(t, tt.maxSize, 3)
			for _, w := range tt.writes {
				if n, err := f.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			if got := readFiles(t, f.Path()); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("files = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestFileTornLine loses the end of a line to a failed write: the next
// write ends that line first, so the next line is not glued onto it.
func TestFileTornLine(t *testing.T) {
	f := openFile(t, 1<<20, 1)
	if _, err := f.Write([]byte("ok\nhalf")); err != nil {
		t.Fatal(err)
	}
	breakFile(t, f)
	if n, err := f.Write([]byte(" lost\n")); n != 0 || err == nil {
		t.Fatalf("Write() to /dev/full = %d, %v; want 0, an error", n, err)
	}
	mendFile(t, f)
	if _, err := f.Write([]byte("next\n")); err != nil {
		t.Fatal(err)
	}
	if got, want := readString(t, f.Path()), "ok\nhalf\nnext\n"; got != want {
		t.Errorf("file = %q; want %q", got, want)
	}
}

func TestFileReopen(t *testing.T) {
	f := openFile(t, 100, 3)
	if _, err := f.WriteLines([]byte("before\n")); err != nil {
		t.Fatal(err)
	}
	moved := f.Path() + ".moved"
	if err := os.Rename(f.Path(), moved); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatalf("Reopen() = %v; want nil", err)
	}
	if _, err := f.WriteLines([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{f.Path(): "after\n", moved: "before\n"} {
		if b, err := os.ReadFile(path); string(b) != want || err != nil {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", path, b, err, want)
		}
	}
}

// TestFileResumesAfterOpenFails replaces the log folder with a plain file,
// so opening the path fails, then removes it: the next write opens the path
// and goes through.
func TestFileResumesAfterOpenFails(t *testing.T) {
	f := openFile(t, 100, 3)
	dir := filepath.Dir(f.Path())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err == nil {
		t.Fatal("Reopen() with the folder a plain file = nil; want an error")
	}
	if n, err := f.WriteLines([]byte("lost\n")); n != 0 || err == nil {
		t.Fatalf("WriteLines() with the folder a plain file = %d, %v; want 0, an error", n, err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if n, err := f.WriteLines([]byte("back\n")); n != 5 || err != nil {
		t.Fatalf("WriteLines() after the folder came back = %d, %v; want 5, nil", n, err)
	}
	if b, err := os.ReadFile(f.Path()); string(b) != "back\n" || err != nil {
		t.Errorf("ReadFile() = %q, %v; want %q", b, err, "back\n")
	}
}

func TestFileClose(t *testing.T) {
	f := openFile(t, 100, 3)
	if err := f.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
	if _, err := f.WriteLines([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WriteLines() after Close = %v; want os.ErrClosed", err)
	}
	if err := f.Reopen(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Reopen() after Close = %v; want os.ErrClosed", err)
	}
}

func TestOpenFileModes(t *testing.T) {
	f := openFile(t, 100, 3)
	for path, want := range map[string]os.FileMode{
		f.Path():               0o644,
		filepath.Dir(f.Path()): 0o755 | os.ModeDir,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may only clear bits.
		if st.Mode()&^want != 0 {
			t.Errorf("mode of %s = %v; want %v", path, st.Mode(), want)
		}
	}
}

// TestNewFileIsLazy: NewFile creates nothing until the first write, and a
// Reopen before it creates nothing either.
func TestNewFileIsLazy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "web.log")
	f := NewFile(path, 1<<20, 2)
	defer f.Close()
	if err := f.Reopen(); err != nil {
		t.Fatalf("Reopen() before any write = %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Stat(%s) before any write = %v; want not exist", path, err)
	}
	if _, err := f.Write([]byte("a\n")); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "a\n" {
		t.Errorf("file after a write = %q, %v; want %q", b, err, "a\n")
	}
}

// TestFileDiscardsOffThePath: the file a rotation drops is renamed out of
// the PATH.N pattern at once and unlinked in the background; Close waits
// until it is gone, for maxFiles 0 (PATH itself dropped) and above.
func TestFileDiscardsOffThePath(t *testing.T) {
	for _, maxFiles := range []int{0, 1, 3} {
		t.Run("max_files="+strconv.Itoa(maxFiles), func(t *testing.T) {
			f := openFile(t, 1000, maxFiles)
			line := strings.Repeat("x", 99) + "\n"
			for range 100 { // 10 KB: ten rotations
				if _, err := f.Write([]byte(line)); err != nil {
					t.Fatal(err)
				}
			}
			files := readFiles(t, f.Path())
			if len(files) > maxFiles+1 {
				t.Errorf("files after ten rotations = %d; want at most %d", len(files), maxFiles+1)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(f.discarding()); !os.IsNotExist(err) {
				t.Errorf("after Close, %s: %v; want it unlinked", f.discarding(), err)
			}
		})
	}
}

// TestFileSetLimits: new limits apply from the next write on, counting
// the bytes already in the file.
func TestFileSetLimits(t *testing.T) {
	f := openFile(t, 1000, 1)
	line := strings.Repeat("x", 99) + "\n"
	for range 5 { // 500 bytes: no rotation under 1000
		if _, err := f.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	f.SetLimits(300, 2)
	for range 3 { // the 6th line rotates the 500 bytes out; 300 fit after
		if _, err := f.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	files := readFiles(t, f.Path())
	if len(files[".1"]) != 500 || len(files[""]) != 300 || files[".2"] != "" {
		t.Errorf("files after SetLimits(300, 2) = %d, %d, %d bytes (PATH, .1, .2); want 300, 500, 0",
			len(files[""]), len(files[".1"]), len(files[".2"]))
	}

	// Lowered from 4 rotated files to 1: the next rotation leaves .1 alone.
	f = openFile(t, 100, 4)
	for range 6 {
		if _, err := f.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if files := readFiles(t, f.Path()); len(files) != 5 {
		t.Fatalf("files with max_files 4 = %d; want 5", len(files))
	}
	f.SetLimits(100, 1)
	if _, err := f.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	f.Close() // waits for the unlinks
	if files := readFiles(t, f.Path()); len(files) != 2 {
		t.Errorf("files after SetLimits(100, 1) and a rotation = %d; want PATH and .1", len(files))
	}
}
