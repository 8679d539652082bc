package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitTimeout bounds how long a test waits for a pump that should finish
// promptly; it is a failure deadline, never a way to synchronise.
const waitTimeout = 10 * time.Second

// startPump runs s.Pump on the read end of a new pipe and returns the write
// end and a function that waits for Pump's result. The pump exits at EOF
// (the test closes w) or when ctx is done; cleanup closes w and waits.
func startPump(t *testing.T, ctx context.Context, s *Sink) (w *os.File, wait func() error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return w, startPumpOn(t, ctx, s, r, w)
}

// startPumpOn is startPump for a pipe the test made: it runs s.Pump on r,
// whose write end is w.
func startPumpOn(t *testing.T, ctx context.Context, s *Sink, r, w *os.File) (wait func() error) {
	t.Helper()
	done := make(chan error, 1) // the pump's only result; never blocks it
	// exits at EOF or when ctx is done; wait (and cleanup) receive its result
	go func() { done <- s.Pump(ctx, r) }()
	var once sync.Once
	var result error
	wait = func() error {
		t.Helper()
		once.Do(func() {
			select {
			case result = <-done:
			case <-time.After(waitTimeout):
				t.Fatalf("Pump did not return within %v", waitTimeout)
			}
		})
		return result
	}
	t.Cleanup(func() {
		w.Close()
		wait()
	})
	return wait
}

// blockingPipe returns a pipe in blocking mode, which the runtime does not
// poll (os.Pipe makes a non-blocking one).
func blockingPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w")
}

// waitUntil polls cond every millisecond until it holds, and reports
// whether it did within waitTimeout: for a state that a pump reaches with
// no event a test could wait on.
func waitUntil(cond func() bool) bool {
	for deadline := time.Now().Add(waitTimeout); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// write writes each of chunks to w, failing the test on error.
func write(t *testing.T, w io.Writer, chunks ...string) {
	t.Helper()
	for _, c := range chunks {
		if _, err := io.WriteString(w, c); err != nil {
			t.Fatal(err)
		}
	}
}

// readString returns the contents of path.
func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// prefixed returns out with prefix before every line.
func prefixed(prefix, out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		b.WriteString(prefix + line)
	}
	return b.String()
}

// pieces returns n bytes of c split into MaxLine pieces, each with stamp
// before it and '\n' after.
func pieces(stamp string, c byte, n int) string {
	var b strings.Builder
	for n > 0 {
		k := min(n, MaxLine)
		b.WriteString(stamp + strings.Repeat(string(c), k) + "\n")
		n -= k
	}
	return b.String()
}

func TestPumpOutput(t *testing.T) {
	const stamp = "2026-11-28T01:02:03.456Z "
	// 02:02:03.456789 in UTC+1 is 01:02:03.456 UTC.
	now := time.Date(2026, 11, 28, 2, 2, 3, 456789000, time.FixedZone("X", 3600))
	long := strings.Repeat("x", 200<<10)
	tests := []struct {
		name       string
		timestamps bool
		writes     []string
		want       string // in the file and the ring; prefixed on the console
	}{
		{"lines", false, []string{"a\nb\n"}, "a\nb\n"},
		{"empty lines kept", false, []string{"\n\na\n\n"}, "\n\na\n\n"},
		{"partial line joined across writes", false, []string{"ab", "c\nd", "e\n"}, "abc\nde\n"},
		{"partial line at EOF gets a newline", false, []string{"x\ny"}, "x\ny\n"},
		{"nothing", false, nil, ""},
		{"timestamps", true, []string{"a\n", "b\n\n"}, stamp + "a\n" + stamp + "b\n" + stamp + "\n"},
		{"timestamp on a partial line at EOF", true, []string{"a"}, stamp + "a\n"},
		{"200 KiB line split into 64 KiB pieces", false, []string{long + "\nend\n"}, pieces("", 'x', len(long)) + "end\n"},
		{"200 KiB line in small writes", false, strings.SplitAfter(long+"\nend\n", strings.Repeat("x", 3000)), pieces("", 'x', len(long)) + "end\n"},
		{"200 KiB line at EOF", false, []string{long}, pieces("", 'x', len(long))},
		{"line of exactly MaxLine kept whole", false, []string{strings.Repeat("y", MaxLine) + "\n"}, strings.Repeat("y", MaxLine) + "\n"},
		{"line of MaxLine+1 split", false, []string{strings.Repeat("y", MaxLine+1) + "\n"}, strings.Repeat("y", MaxLine) + "\ny\n"},
		{"long line among short ones", false, []string{"a\n" + long + "\nb\n"}, "a\n" + pieces("", 'x', len(long)) + "b\n"},
		{"200 KiB line with timestamps", true, []string{long + "\n"}, pieces(stamp, 'x', len(long))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var console bytes.Buffer
			s := &Sink{
				Name:       "web:1",
				Timestamps: tt.timestamps,
				Ring:       NewRing(RingCapacity),
				File:       openFile(t, 1<<30, 1),
				Console:    NewConsole(&console),
				Stats:      new(Stats),
				Now:        func() time.Time { return now },
			}
			w, wait := startPump(t, t.Context(), s)
			write(t, w, tt.writes...)
			w.Close()
			if err := wait(); err != nil {
				t.Fatalf("Pump() = %v; want nil", err)
			}
			if got := readString(t, s.File.Path()); got != tt.want {
				t.Errorf("file = %.200q (%d bytes); want %.200q (%d bytes)", got, len(got), tt.want, len(tt.want))
			}
			if got, want := console.String(), prefixed("web:1 | ", tt.want); got != want {
				t.Errorf("console = %.200q; want %.200q", got, want)
			}
			if got, want := string(s.Ring.Tail(0)), ringModel(tt.want, RingCapacity); got != want {
				t.Errorf("ring = %.200q; want %.200q", got, want)
			}
			if got, want := s.Stats.Written.Load(), uint64(2*len(tt.want)); got != want {
				t.Errorf("Stats.Written = %d; want %d (file and console)", got, want)
			}
			if got := s.Stats.Dropped.Load(); got != 0 {
				t.Errorf("Stats.Dropped = %d; want 0", got)
			}
		})
	}
}

// TestPumpConsoleNoInterleaving runs two pumps into one Console: every
// console line is one whole line of one instance, in that instance's order.
func TestPumpConsoleNoInterleaving(t *testing.T) {
	var out bytes.Buffer
	console := NewConsole(&out)
	const lines = 5000
	var waits []func() error
	for _, name := range []string{"a:0", "b:1"} {
		s := &Sink{Name: name, Ring: NewRing(RingCapacity), Console: console}
		w, wait := startPump(t, t.Context(), s)
		waits = append(waits, wait)
		// exits after its writes; wait() below returns only after it
		// closed w
		go func() {
			defer w.Close()
			for i := range lines {
				fmt.Fprintf(w, "%s line %d %s\n", name, i, strings.Repeat("z", i%300))
			}
		}()
	}
	for _, wait := range waits {
		if err := wait(); err != nil {
			t.Fatalf("Pump() = %v; want nil", err)
		}
	}
	next := map[string]int{}
	for line := range strings.Lines(out.String()) {
		var name, name2, pad string
		var i int
		n, err := fmt.Sscanf(line, "%s | %s line %d %s\n", &name, &name2, &i, &pad)
		if (err != nil && n < 3) || name != name2 || i != next[name] || len(pad) != i%300 {
			t.Fatalf("console line %q; want %q line %d", line, name, next[name])
		}
		next[name]++
	}
	if next["a:0"] != lines || next["b:1"] != lines {
		t.Errorf("console lines per instance = %v; want %d each", next, lines)
	}
}

func TestPumpCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := &Sink{Name: "web:1", Ring: NewRing(RingCapacity), File: openFile(t, 1<<20, 1)}
	ch, unsubscribe := s.Ring.Subscribe(1)
	defer unsubscribe()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close() // the writer end stays open until the test ends
	done := make(chan error, 1)
	// exits when ctx is cancelled below; the test receives from done
	go func() { done <- s.Pump(ctx, r) }()

	write(t, w, "line\npartial") // one write below PIPE_BUF: read at once
	if got := string(<-ch); got != "line\n" {
		t.Fatalf("ring received %q; want %q", got, "line\n")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Pump() after cancel = %v; want context.Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Pump did not return within %v of cancel", waitTimeout)
	}
	if got := readString(t, s.File.Path()); got != "line\npartial\n" {
		t.Errorf("file = %q; want the held partial line flushed", got)
	}
	if err := r.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("r.Close() after Pump = %v; want os.ErrClosed (Pump closes r)", err)
	}
}

// breakFile points f's descriptor at /dev/full, so every write fails with
// ENOSPC until Reopen.
func breakFile(t *testing.T, f *File) {
	t.Helper()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.f.Close()
	f.f = full
}

// mendFile points f's descriptor back at PATH after breakFile, without
// Reopen, which would reset the state of a failed write that a test is
// about.
func mendFile(t *testing.T, f *File) {
	t.Helper()
	fd, err := os.OpenFile(f.Path(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.f.Close()
	f.f = fd
}

// errWriter fails every write.
type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("broken console") }

// TestPumpDrops fills a broken destination with more than a pipe buffer:
// the writer never blocks, the bytes are counted as dropped, and the drop is
// logged once; a destination that recovers logs that once too.
func TestPumpDrops(t *testing.T) {
	const total = 1 << 20 // far more than the pipe's 64 KiB
	line := strings.Repeat("d", 63) + "\n"
	tests := []struct {
		name    string
		sink    func(t *testing.T, s *Sink)
		recover func(t *testing.T, s *Sink) // nil: stays broken
		wantErr string
	}{
		{
			name: "file on /dev/full",
			sink: func(t *testing.T, s *Sink) {
				f, err := OpenFile("/dev/full", 0, 0) // rotation off: never rename /dev/full
				if err != nil {
					t.Skipf("no /dev/full: %v", err)
				}
				t.Cleanup(func() { f.Close() })
				s.File = f
			},
			wantErr: "no space left on device",
		},
		{
			name: "file descriptor broken, then reopened",
			sink: func(t *testing.T, s *Sink) {
				s.File = openFile(t, 1<<30, 1)
				breakFile(t, s.File)
			},
			recover: func(t *testing.T, s *Sink) {
				// Reopen first writes out what a pump's write kept back,
				// into the broken descriptor: that fails, and those bytes
				// count as dropped like the rest.
				if err := s.File.Reopen(); err != nil && !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
			},
			wantErr: "no space left on device",
		},
		{
			name:    "console fails",
			sink:    func(t *testing.T, s *Sink) { s.Console = NewConsole(errWriter{}) },
			wantErr: "broken console",
		},
		{
			// Each failed write was once counted as a success first,
			// logging "output resumed" and "output dropped" again.
			name: "journal absent",
			sink: func(t *testing.T, s *Sink) {
				// Not the real socket's absence: the e2e tests may bind a
				// fake journald there while this runs.
				s.Journal = NewJournal(s.Name, false)
				s.Journal.enabled = func() bool { return false }
			},
			wantErr: "journald is not running",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			s := &Sink{
				Name:   "web:1",
				Ring:   NewRing(RingCapacity),
				Stats:  new(Stats),
				Logger: slog.New(slog.NewTextHandler(&log, nil)),
			}
			tt.sink(t, s)
			w, wait := startPump(t, t.Context(), s)
			written := make(chan error, 1)
			// exits after its writes, which complete only if the pump keeps
			// reading; the test receives from written
			go func() {
				var err error
				for i := 0; i < total/len(line) && err == nil; i++ {
					_, err = io.WriteString(w, line)
				}
				written <- err
			}()
			select {
			case err := <-written:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("writer blocked: the pump stopped reading")
			}
			sent := total
			if tt.recover != nil {
				tt.recover(t, s)
				write(t, w, "after\n")
				sent += len("after\n")
			}
			w.Close()
			if err := wait(); err != nil {
				t.Fatalf("Pump() = %v; want nil", err)
			}

			dropped, wrote := s.Stats.Dropped.Load(), s.Stats.Written.Load()
			if dropped == 0 {
				t.Errorf("Stats.Dropped = 0; want > 0")
			}
			if dropped+wrote != uint64(sent) {
				t.Errorf("Stats.Dropped + Stats.Written = %d + %d; want %d", dropped, wrote, sent)
			}
			if got := string(s.Ring.Tail(1)); got != map[bool]string{false: line, true: "after\n"}[tt.recover != nil] {
				t.Errorf("ring Tail(1) = %q; want the last line (the ring gets everything)", got)
			}
			logged := log.String()
			wantDropped := "level=WARN msg=\"output dropped\" instance=web:1 err="
			if n := strings.Count(logged, wantDropped); n != 1 || !strings.Contains(logged, tt.wantErr) {
				t.Errorf("log = %q; want one %q with %q", logged, wantDropped, tt.wantErr)
			}
			wantResumed := fmt.Sprintf("level=INFO msg=\"output resumed\" instance=web:1 dropped_bytes=%d\n", dropped)
			if n, want := strings.Count(logged, wantResumed), map[bool]int{false: 0, true: 1}[tt.recover != nil]; n != want {
				t.Errorf("log = %q; want %d of %q", logged, want, wantResumed)
			}
			if tt.recover != nil {
				if got := readString(t, s.File.Path()); !strings.HasSuffix(got, "after\n") {
					t.Errorf("file after recovery ends %q; want %q", got[max(0, len(got)-20):], "after\n")
				}
			}
		})
	}
}

// TestPumpSteadyStateAllocs feeds reads straight to a pump's read step: in
// steady state a chunk costs no allocation.
func TestPumpSteadyStateAllocs(t *testing.T) {
	var plain strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&plain, "line %d %s\n", i, strings.Repeat("p", 70))
	}
	tests := []struct {
		name       string
		timestamps bool
		reads      []string // each at most readSize bytes
	}{
		{"plain lines", false, []string{plain.String()[:60000] + "partial"}},
		{"timestamps", true, []string{plain.String()[:60000] + "partial"}},
		{"long line split", false, []string{"a\n" + strings.Repeat("l", MaxLine-10), strings.Repeat("l", 200) + "\nb\npartial"}},
		{"long line split with timestamps", true, []string{"a\n" + strings.Repeat("l", MaxLine-10), strings.Repeat("l", 200) + "\nb\npartial"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Sink{
				Name:       "web:1",
				Timestamps: tt.timestamps,
				Ring:       NewRing(RingCapacity),
				File:       openFile(t, 1<<40, 1),
				Console:    NewConsole(io.Discard),
				Stats:      new(Stats),
			}
			p := newPump(s)
			run := func() {
				for _, r := range tt.reads {
					p.read(copy(p.buf[p.hold:], r))
				}
			}
			// Warm up: grow the pump's buffer, the ring and the scratch
			// buffers to their steady size.
			for range 5 {
				run()
			}
			if allocs := testing.AllocsPerRun(50, run); allocs != 0 {
				t.Errorf("allocations per chunk = %v; want 0", allocs)
			}
		})
	}
}

// TestPumpBufferGrows checks that a pump starts with a small buffer and
// grows it, keeping the held partial line, when a read fills it.
func TestPumpBufferGrows(t *testing.T) {
	s := &Sink{Name: "web:1", Ring: NewRing(RingCapacity), File: openFile(t, 1<<30, 1)}
	p := newPump(s)
	feed := func(data string) {
		t.Helper()
		if n := copy(p.buf[p.hold:], data); n != len(data) {
			t.Fatalf("read of %d bytes does not fit in %d", len(data), n)
		}
		p.read(len(data))
	}
	feed("a\nhel")
	if len(p.buf) != smallHold+smallRead {
		t.Fatalf("buffer after a small read = %d bytes; want %d", len(p.buf), smallHold+smallRead)
	}
	big := "lo\n" + strings.Repeat("b", smallRead-len("lo\n")-2) + "\nc"
	feed(big)
	if len(p.buf) != MaxLine+readSize {
		t.Fatalf("buffer after a full read = %d bytes; want %d", len(p.buf), MaxLine+readSize)
	}
	feed("d\n")
	p.finish()
	want := "a\nhello\n" + strings.Repeat("b", smallRead-5) + "\ncd\n"
	if got := string(s.Ring.Tail(0)); got != want {
		t.Errorf("ring = %.40q... (%d bytes); want %.40q... (%d bytes)", got, len(got), want, len(want))
	}
	if got := readString(t, s.File.Path()); got != want {
		t.Errorf("file = %.40q... (%d bytes); want %.40q... (%d bytes)", got, len(got), want, len(want))
	}
}

// TestPumpGrowsPipe: a busy pump (here one whose partial line outgrows its
// small buffer) asks for a pipe of readSize bytes; a quiet one keeps the
// kernel's default.
func TestPumpGrowsPipe(t *testing.T) {
	pipeSize := func(w *os.File) int {
		t.Helper()
		n, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	quietRing := NewRing(RingCapacity)
	quiet, _ := startPump(t, context.Background(), &Sink{Name: "a", Ring: quietRing})
	def := pipeSize(quiet)
	write(t, quiet, "one line\n")
	// The quiet pump has read its line before its pipe is looked at.
	if !waitUntil(func() bool { return string(quietRing.Tail(0)) == "one line\n" }) {
		t.Fatalf("ring of the quiet pump = %q after %v; want its line", quietRing.Tail(0), waitTimeout)
	}

	busy, _ := startPump(t, context.Background(), &Sink{Name: "b", Ring: NewRing(RingCapacity)})
	write(t, busy, strings.Repeat("x", 2*smallRead))
	if !waitUntil(func() bool { return pipeSize(busy) == readSize }) {
		t.Fatalf("pipe of a busy pump = %d bytes after %v; want %d", pipeSize(busy), waitTimeout, readSize)
	}
	if got := pipeSize(quiet); got != def {
		t.Errorf("pipe of a quiet pump = %d bytes; want the default %d", got, def)
	}
}
