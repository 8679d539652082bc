package supervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// benchSupervisor runs a Supervisor of progs with a fake spawner in real
// time, for benchmarks.
func benchSupervisor(b *testing.B, progs ...*config.Program) (*Supervisor, *fakeSpawner, func()) {
	b.Helper()
	f := newFake()
	s := New(Options{Config: newConfig(b.TempDir(), progs...), Spawner: f})
	done := make(chan error, 1)
	// exits when the drain below completes; the stop func waits on done
	go func() { done <- s.Run(context.Background()) }()
	return s, f, func() {
		s.ForceShutdown(context.Background())
		<-done
	}
}

// BenchmarkStatus500 is one status snapshot of 500 running instances
// through the loop (what GET /v1/programs costs superd before JSON).
func BenchmarkStatus500(b *testing.B) {
	var progs []*config.Program
	for i := range 500 {
		progs = append(progs, prog(fmt.Sprintf("p%03d", i), startSeconds(0)))
	}
	s, _, stop := benchSupervisor(b, progs...)
	defer stop()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st, err := s.Status(ctx)
		if err != nil || len(st) != 500 {
			b.Fatalf("Status() = %d, %v", len(st), err)
		}
	}
}

// BenchmarkEventLatency is the time from a process's exit reaching the loop
// to a follower receiving the state change.
func BenchmarkEventLatency(b *testing.B) {
	s, f, stop := benchSupervisor(b, prog("web", startSeconds(0)))
	defer stop()
	ctx := context.Background()
	ch, cancel, err := s.Events(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer cancel()
	for waitRunning(s) != nil {
	}
	var total time.Duration
	b.ResetTimer()
	for b.Loop() {
		f.mu.Lock()
		p := f.liveLocked("web")
		f.mu.Unlock()
		if p == nil {
			b.Fatal("no live web")
		}
		start := time.Now()
		f.mu.Lock()
		f.dieLocked(p, 1, 0)
		f.mu.Unlock()
		for ev := range ch {
			if ev.From == apitype.StateRunning {
				total += time.Since(start)
				break
			}
		}
		// Drain the restart's own events.
		for ev := range ch {
			if ev.To == apitype.StateRunning {
				break
			}
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/event")
}

func waitRunning(s *Supervisor) error {
	st, err := s.Status(context.Background(), "web")
	if err == nil && (len(st) != 1 || st[0].State != apitype.StateRunning) {
		return fmt.Errorf("not running yet")
	}
	return err
}

// BenchmarkStart500 is the loop's own cost of starting 500 programs, from
// New to every instance settled, with a fake spawner (no fork) and the
// text log handler writing to io.Discard: what superd spends on each
// program besides the fork and the pipes.
func BenchmarkStart500(b *testing.B) {
	var progs []*config.Program
	for i := range 500 {
		progs = append(progs, prog(fmt.Sprintf("p%03d", i), startSeconds(0)))
	}
	cfg := newConfig(b.TempDir(), progs...)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.ReportAllocs()
	for b.Loop() {
		s := New(Options{Config: cfg, Spawner: newFake(), Logger: logger})
		done := make(chan error, 1)
		// exits when the drain below completes; waited on below
		go func() { done <- s.Run(context.Background()) }()
		<-s.Settled()
		b.StopTimer()
		s.ForceShutdown(context.Background())
		<-done
		b.StartTimer()
	}
}
