package logs

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedWriter records each Write; while gated, a Write reports on entered
// and waits for release.
type gatedWriter struct {
	mu      sync.Mutex // guards writes
	writes  []string
	gated   bool
	entered chan struct{}
	release chan struct{}
}

func newGatedWriter(gated bool) *gatedWriter {
	return &gatedWriter{gated: gated, entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(p))
	gated := w.gated
	w.gated = false // only the first Write waits
	w.mu.Unlock()
	if gated {
		w.entered <- struct{}{}
		<-w.release
	}
	return len(p), nil
}

func (w *gatedWriter) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// runBatcher runs b.Run until the returned stop is called; stop waits
// for Run to return.
func runBatcher(t *testing.T, b *Batcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// exits when stop cancels ctx; stop waits for it
	go func() {
		defer close(done)
		if err := b.Run(ctx); err != nil {
			t.Errorf("Run() = %v; want nil", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	// Wait until Writes are buffered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		running := b.running
		b.mu.Unlock()
		if running {
			return stop
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not start buffering within 10s")
		}
		runtime.Gosched()
	}
}

func TestBatcherWritesStraightWhenNotRunning(t *testing.T) {
	w := newGatedWriter(false)
	b := NewBatcher(w)
	for _, line := range []string{"a\n", "b\n"} {
		if n, err := b.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write(%q) = %d, %v; want %d, nil", line, n, err, len(line))
		}
	}
	if got, want := w.got(), []string{"a\n", "b\n"}; !slices.Equal(got, want) {
		t.Errorf("writes before Run = %q; want %q", got, want)
	}
}

func TestBatcherGathersWhileWriting(t *testing.T) {
	w := newGatedWriter(true)
	b := NewBatcher(w)
	stop := runBatcher(t, b)
	_, _ = b.Write([]byte("first\n"))
	<-w.entered // Run is inside w.Write with "first"
	var rest strings.Builder
	for i := range 100 {
		line := fmt.Sprintf("line %d\n", i)
		rest.WriteString(line)
		_, _ = b.Write([]byte(line))
	}
	close(w.release)
	stop()
	want := []string{"first\n", rest.String()}
	if got := w.got(); !slices.Equal(got, want) {
		t.Errorf("writes = %d: %.60q...; want 2: the first line, then the other 100 in one", len(got), got)
	}
	// After Run returned, straight to w again.
	_, _ = b.Write([]byte("late\n"))
	if got := w.got(); len(got) != 3 || got[2] != "late\n" {
		t.Errorf("writes after Run returned = %q; want a third write \"late\\n\"", got)
	}
}

func TestBatcherFullWritesItself(t *testing.T) {
	w := newGatedWriter(true)
	b := NewBatcher(w)
	stop := runBatcher(t, b)
	_, _ = b.Write([]byte("first\n"))
	<-w.entered
	small := bytes.Repeat([]byte("s"), maxBatch-10)
	big := bytes.Repeat([]byte("b"), 20)
	_, _ = b.Write(small) // fits: buffered
	wrote := make(chan struct{})
	// exits when the Write returns, after the release below
	go func() {
		defer close(wrote)
		_, _ = b.Write(big) // does not fit: waits for w, then writes both
	}()
	close(w.release)
	<-wrote
	stop()
	want := []string{"first\n", string(small), string(big)}
	if got := w.got(); !slices.Equal(got, want) {
		t.Errorf("writes = %d of sizes %v; want 3 of sizes [6 %d 20], in order", len(got), sizes(got), len(small))
	}
}

func TestBatcherConcurrentWritersKeepEveryLine(t *testing.T) {
	var out lockedBuffer
	b := NewBatcher(&out)
	stop := runBatcher(t, b)
	const writers, lines = 4, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		// exits after its lines; waited on below
		go func() {
			defer wg.Done()
			for i := range lines {
				_, _ = fmt.Fprintf(b, "w%d %d\n", g, i)
			}
		}()
	}
	wg.Wait()
	stop()
	next := make([]int, writers)
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var g, i int
		if _, err := fmt.Sscanf(line, "w%d %d", &g, &i); err != nil || g < 0 || g >= writers {
			t.Fatalf("line %q: not one of the written lines", line)
		}
		if i != next[g] {
			t.Fatalf("line %q after line %d of w%d; want every writer's lines once, in order", line, next[g]-1, g)
		}
		next[g]++
	}
	for g, n := range next {
		if n != lines {
			t.Errorf("w%d: %d lines out; want %d", g, n, lines)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func sizes(s []string) []int {
	var n []int
	for _, x := range s {
		n = append(n, len(x))
	}
	return n
}
