package ipc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// BenchmarkListPrograms is GET /v1/programs of 500 instances from 50
// concurrent clients over a real socket; it reports requests per second.
func BenchmarkListPrograms(b *testing.B) {
	insts := make([]apitype.Instance, 500)
	now := time.Now()
	for i := range insts {
		pid := 1000 + i
		insts[i] = apitype.Instance{Name: fmt.Sprintf("p%03d", i), Program: fmt.Sprintf("p%03d", i), State: apitype.StateRunning,
			Pid: &pid, StartedAt: &now, UptimeSeconds: 12.5, Ready: true, Healthy: true}
	}
	fb := &fakeBackend{status: func(context.Context, []string) ([]apitype.Instance, error) { return insts, nil }}
	dir, err := os.MkdirTemp("/tmp", "sdb")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.sock")
	l, err := Listen(path, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(fb, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// exits when cancel is called; waited on below
	go func() { done <- srv.Serve(ctx, l) }()
	defer func() {
		cancel()
		<-done
	}()
	c := NewClient(path)
	b.SetParallelism(25) // × GOMAXPROCS (2 here) = 50 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Status(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
