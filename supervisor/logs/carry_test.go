package logs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fileSize returns the size of path, 0 when it does not exist.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// carryStream returns n bytes of lines of random length, some longer than
// a page, some without a newline for a long stretch.
func carryStream(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, 0, n)
	for i := 0; len(b) < n; i++ {
		line := fmt.Appendf(nil, "%d ", i)
		switch rng.IntN(10) {
		case 0:
			line = append(line, strings.Repeat("L", rng.IntN(3*pageSize))...)
		default:
			line = append(line, strings.Repeat("s", rng.IntN(100))...)
		}
		b = append(b, line...)
		b = append(b, '\n')
	}
	return b[:n]
}

// carryTotal is how much a test writes in chunks of pattern: less in
// 1-byte writes, which cost a system call each.
func carryTotal(total int, pattern []int) int {
	if len(pattern) == 1 && pattern[0] == 1 {
		return min(total, 40<<10)
	}
	return total
}

// chunks cuts stream in chunks whose sizes cycle through pattern; a
// negative size is a random size from 1 to -size.
func chunks(stream []byte, pattern []int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out [][]byte
	for i := 0; len(stream) > 0; i++ {
		n := pattern[i%len(pattern)]
		if n < 0 {
			n = 1 + rng.IntN(-n)
		}
		n = min(n, len(stream))
		out = append(out, stream[:n])
		stream = stream[n:]
	}
	return out
}

var carryPatterns = []struct {
	name    string
	pattern []int
}{
	{"65537 (a split long line)", []int{MaxLine + 1}},
	{"64 KiB", []int{64 << 10}},
	{"4095", []int{pageSize - 1}},
	{"4097", []int{pageSize + 1}},
	{"1", []int{1}},
	{"odd mix", []int{1, 4095, 3, MaxLine + 1, 7000, 2, 4096, 12289}},
	{"random up to 20000", []int{-20000}},
}

// TestFileKeepByteExact writes streams in chunks of odd sizes with
// writeKeep: after every write PATH holds a prefix of the stream short of
// it by less than a page and, once it holds anything new, ends on a page
// boundary; after flush it holds the stream exactly, and the counts add up.
func TestFileKeepByteExact(t *testing.T) {
	const total = 512 << 10
	for _, existing := range []int{0, 1000} {
		for _, pat := range carryPatterns {
			t.Run(fmt.Sprintf("existing=%d/writes=%s", existing, pat.name), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "web.log")
				prefix := ""
				if existing > 0 {
					prefix = strings.Repeat("e", existing-1) + "\n"
				}
				if err := os.WriteFile(path, []byte(prefix), 0o644); err != nil {
					t.Fatal(err)
				}
				f, err := OpenFile(path, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				stream := carryStream(1, carryTotal(total, pat.pattern))
				var wrote, sent, kept int
				for _, c := range chunks(stream, pat.pattern, 2) {
					// A big write (with the carry) ends PATH on a bigAlign
					// boundary, a small one on a page boundary.
					align := pageSize
					if kept+len(c) >= bigAlign {
						align = bigAlign
					}
					w, lost, err := f.writeKeep(c)
					if err != nil || lost != 0 {
						t.Fatalf("writeKeep(%d bytes) = %d, %d, %v; want no loss", len(c), w, lost, err)
					}
					wrote += w
					before := sent
					sent += len(c)
					wantLen := len(prefix) + sent
					size := int(fileSize(t, path))
					if size > wantLen || wantLen-size >= align {
						t.Fatalf("after %d bytes: PATH holds %d bytes; want %d, short by less than %d", sent, size, wantLen, align)
					}
					if size > len(prefix) && size%align != 0 {
						t.Fatalf("after %d bytes: PATH holds %d bytes; want a multiple of %d", sent, size, align)
					}
					kept = wantLen - size
					if wrote != size-len(prefix) {
						t.Fatalf("after %d bytes: wrote adds up to %d; PATH holds %d new bytes", sent, wrote, size-len(prefix))
					}
					if before/(32<<10) != sent/(32<<10) {
						if got := readString(t, path); !strings.HasPrefix(prefix+string(stream[:sent]), got) {
							t.Fatalf("after %d bytes: PATH is not a prefix of what was written", sent)
						}
					}
				}
				w, lost, err := f.flush()
				if err != nil || lost != 0 {
					t.Fatalf("flush() = %d, %d, %v; want no loss", w, lost, err)
				}
				wrote += w
				if got, want := readString(t, path), prefix+string(stream); got != want {
					t.Fatalf("after flush: PATH holds %d bytes; want the %d written", len(got), len(want))
				}
				if wrote != len(stream) {
					t.Errorf("wrote adds up to %d; want %d", wrote, len(stream))
				}
			})
		}
	}
}

// TestFileKeepRotatesAtSameCounts writes the same stream in the same
// chunks to two Files, one with Write and one with writeKeep: the rotated
// files are the same at every step (kept-back bytes go into the file they
// belong to before it is rotated), and so is PATH after a flush.
func TestFileKeepRotatesAtSameCounts(t *testing.T) {
	const total = 256 << 10
	for _, maxSize := range []int64{4096, 10000, 70001} {
		for _, pat := range carryPatterns {
			t.Run(fmt.Sprintf("maxSize=%d/writes=%s", maxSize, pat.name), func(t *testing.T) {
				plain := openFile(t, maxSize, 200)
				kept := openFile(t, maxSize, 200)
				stream := carryStream(3, carryTotal(total, pat.pattern))
				sent := 0
				for i, c := range chunks(stream, pat.pattern, 4) {
					if n, err := plain.Write(c); n != len(c) || err != nil {
						t.Fatalf("Write(%d bytes) = %d, %v", len(c), n, err)
					}
					if _, lost, err := kept.writeKeep(c); lost != 0 || err != nil {
						t.Fatalf("writeKeep(%d bytes) = %d lost, %v", len(c), lost, err)
					}
					before := sent
					sent += len(c)
					if before/(16<<10) == sent/(16<<10) {
						continue
					}
					want, got := readFiles(t, plain.Path()), readFiles(t, kept.Path())
					if len(got) != len(want) {
						t.Fatalf("after write %d: %d files kept back; want %d", i, len(got), len(want))
					}
					for suffix, b := range want {
						if suffix != "" && got[suffix] != b {
							t.Fatalf("after write %d: PATH%s holds %d bytes kept back; want %d", i, suffix, len(got[suffix]), len(b))
						}
					}
				}
				if _, lost, err := kept.flush(); lost != 0 || err != nil {
					t.Fatalf("flush() = %d lost, %v", lost, err)
				}
				want, got := readFiles(t, plain.Path()), readFiles(t, kept.Path())
				if len(want) < 3 && int64(len(stream)) > 3*maxSize {
					t.Fatalf("%d files; the test wants rotations", len(want))
				}
				if len(got) != len(want) {
					t.Fatalf("%d files kept back; want %d", len(got), len(want))
				}
				for suffix, b := range want {
					if got[suffix] != b {
						t.Errorf("PATH%s holds %d bytes kept back; want %d", suffix, len(got[suffix]), len(b))
					}
				}
			})
		}
	}
}

// TestFileKeepFlushes: the bytes a writeKeep keeps back go out on flush,
// Write, Reopen (into the file logrotate moved) and Close, and are counted
// as written by the next writeKeep or flush when another call sent them,
// once.
func TestFileKeepFlushes(t *testing.T) {
	kept := strings.Repeat("k", pageSize+100) + "\nopen line"
	tests := []struct {
		name string
		// do sends the kept-back bytes out and returns the contents of
		// PATH and of the moved file ("" when none) that it wants.
		do func(t *testing.T, f *File) (path, moved string)
		// countAfter is what the next flush reports written: the bytes
		// kept back (and a Write's own) when do sent them, none when do
		// took the count itself.
		countAfter int
	}{
		{"flush", func(t *testing.T, f *File) (string, string) {
			if w, lost, err := f.flush(); w != 100+len("\nopen line") || lost != 0 || err != nil {
				t.Errorf("flush() = %d, %d, %v; want %d, 0, nil", w, lost, err, 100+len("\nopen line"))
			}
			return kept, ""
		}, 0},
		{"Write", func(t *testing.T, f *File) (string, string) {
			if n, err := f.Write([]byte(" ended\n")); n != 7 || err != nil {
				t.Errorf("Write() = %d, %v; want 7, nil", n, err)
			}
			return kept + " ended\n", ""
		}, 100 + len("\nopen line") + len(" ended\n")},
		{"Reopen", func(t *testing.T, f *File) (string, string) {
			if err := os.Rename(f.Path(), f.Path()+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := f.Reopen(); err != nil {
				t.Errorf("Reopen() = %v", err)
			}
			return "", kept
		}, 100 + len("\nopen line")},
		{"Close", func(t *testing.T, f *File) (string, string) {
			if err := f.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
			return kept, ""
		}, 100 + len("\nopen line")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := openFile(t, 1<<20, 2)
			if w, lost, err := f.writeKeep([]byte(kept)); w != pageSize || lost != 0 || err != nil {
				t.Fatalf("writeKeep() = %d, %d, %v; want %d, 0, nil", w, lost, err, pageSize)
			}
			if got := fileSize(t, f.Path()); got != pageSize {
				t.Fatalf("PATH holds %d bytes before %s; want %d (the rest kept back)", got, tt.name, pageSize)
			}
			wantPath, wantMoved := tt.do(t, f)
			if got := readString(t, f.Path()); got != wantPath {
				t.Errorf("PATH after %s = %d bytes; want %d", tt.name, len(got), len(wantPath))
			}
			if wantMoved != "" {
				if got := readString(t, f.Path()+".moved"); got != wantMoved {
					t.Errorf("moved file after %s = %d bytes; want %d", tt.name, len(got), len(wantMoved))
				}
			}
			if w, lost, _ := f.flush(); w != tt.countAfter || lost != 0 {
				t.Errorf("flush() after %s reports %d bytes written, %d lost; want %d written, none lost", tt.name, w, lost, tt.countAfter)
			}
		})
	}
}

// TestFileKeepWriteFails loses a write with bytes kept back: the lost
// count covers them and the write, what was written and lost adds up to
// what was given, PATH holds what was reported written, and the line left
// open is ended before the next one.
func TestFileKeepWriteFails(t *testing.T) {
	tests := []struct {
		name     string
		before   string // written with writeKeep before the failure
		wantPath string // PATH after the failure, a write of "next\n" and a flush
	}{
		{"open line kept back", strings.Repeat("a", pageSize) + "\nhalf", strings.Repeat("a", pageSize) + "\nnext\n"},
		{"whole line kept back", strings.Repeat("a", pageSize) + "\nwhole\n", strings.Repeat("a", pageSize) + "\nnext\n"},
		{"open line on a page boundary", strings.Repeat("a", pageSize), strings.Repeat("a", pageSize) + "\nnext\n"},
		{"all kept back", "short\n", "next\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := openFile(t, 1<<20, 1)
			wrote, lost, err := f.writeKeep([]byte(tt.before))
			if lost != 0 || err != nil {
				t.Fatalf("writeKeep() = %d, %d, %v", wrote, lost, err)
			}
			breakFile(t, f)
			failed := strings.Repeat("f", 2*pageSize) + "\n"
			w, l, err := f.writeKeep([]byte(failed))
			if err == nil {
				t.Fatalf("writeKeep() to /dev/full = %d, %d, nil; want an error", w, l)
			}
			wrote, lost = wrote+w, lost+l
			if wrote+lost != len(tt.before)+len(failed) {
				t.Errorf("written %d + lost %d; want the %d given", wrote, lost, len(tt.before)+len(failed))
			}
			if got := int(fileSize(t, f.Path())); got != wrote {
				t.Errorf("PATH holds %d bytes; %d reported written", got, wrote)
			}
			mendFile(t, f)
			if _, l, err := f.writeKeep([]byte("next\n")); l != 0 || err != nil {
				t.Fatalf("writeKeep() after the failure = %d lost, %v", l, err)
			}
			if _, l, err := f.flush(); l != 0 || err != nil {
				t.Fatalf("flush() = %d lost, %v", l, err)
			}
			if got := readString(t, f.Path()); got != tt.wantPath {
				t.Errorf("PATH = %q; want %q", got, tt.wantPath)
			}
		})
	}
}

// TestPumpFlushesOnDrain writes less than a page, and then more than a
// page but not a multiple of one, to a running pump without closing the
// pipe: once the pump has drained the pipe, the file holds every byte.
func TestPumpFlushesOnDrain(t *testing.T) {
	// waitFor waits, within waitTimeout, for the file to hold want and the
	// stats to count it written.
	waitFor := func(t *testing.T, s *Sink, want string) {
		t.Helper()
		var got []byte
		var err error
		var written uint64
		if !waitUntil(func() bool {
			got, err = os.ReadFile(s.File.Path())
			written = s.Stats.Written.Load()
			return err == nil && string(got) == want && written == uint64(len(want))
		}) {
			t.Fatalf("file holds %d bytes (%v), Stats.Written %d, %v after the write; want the %d written: the pipe is drained", len(got), err, written, waitTimeout, len(want))
		}
	}
	writes := []string{"short\n", strings.Repeat("x", 3*pageSize+5) + "\nopen", " line\n"}
	for _, blocking := range []bool{false, true} {
		for _, timestamps := range []bool{false, true} {
			t.Run(fmt.Sprintf("blocking=%v/timestamps=%v", blocking, timestamps), func(t *testing.T) {
				now := time.Date(2026, 11, 28, 1, 2, 3, 456e6, time.UTC)
				s := &Sink{Name: "web:1", Timestamps: timestamps, Ring: NewRing(RingCapacity),
					File: openFile(t, 1<<20, 1), Stats: new(Stats), Now: func() time.Time { return now }}
				var r, w *os.File
				if blocking {
					r, w = blockingPipe(t)
				} else {
					var err error
					if r, w, err = os.Pipe(); err != nil {
						t.Fatal(err)
					}
				}
				startPumpOn(t, t.Context(), s, r, w)
				var sent string
				for _, c := range writes {
					write(t, w, c)
					sent += c
					want := sent
					if timestamps {
						want = prefixed("2026-11-28T01:02:03.456Z ", sent[:strings.LastIndexByte(sent, '\n')+1])
					}
					waitFor(t, s, want)
				}
			})
		}
	}
}
