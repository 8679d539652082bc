package supervisor

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/supervisor/logs"
	"github.com/superd/superd/supervisor/reaper"
)

// BenchmarkJobRunsReal is job runs of /bin/true through the real spawner
// and reaper with max_concurrent = 8; it reports runs per second.
func BenchmarkJobRunsReal(b *testing.B) {
	dir := b.TempDir()
	logger := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	rp := reaper.New(logger)
	rdone := make(chan error, 1)
	// exits when cancel is called; waited on below
	go func() { rdone <- rp.Run(ctx) }()
	null, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer null.Close()
	outs := NewOutputs(dir, logs.NewConsole(null), logs.NewConsole(null), logger)
	sp := NewProcSpawner(ctx, rp, outs, logger)
	cfg := withJobs(newConfig(dir), jobCfg("t", func(j *config.Job) {
		j.MaxConcurrent, j.QueueMax, j.KeepRuns = 8, 1<<16, 1<<16
		j.Stdout = config.OutputNull
	}))
	s := New(Options{Config: cfg, Spawner: sp, Logger: logger, Outputs: outs})
	sdone := make(chan error, 1)
	// exits when the drain below completes
	go func() { sdone <- s.Run(context.Background()) }()
	defer func() {
		s.Shutdown(context.Background())
		<-sdone
		cancel()
		<-rdone
		sp.Wait()
	}()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := s.RunJob(context.Background(), "t", nil); err != nil {
			b.Fatal(err)
		}
	}
	for {
		runs, _ := s.Jobs(context.Background())
		done := 0
		for _, r := range runs {
			if r.State.Done() {
				done++
				if r.State != apitype.RunSucceeded {
					b.Fatalf("run %s ended %s", r.ID, r.State)
				}
			}
		}
		if done == b.N {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
}
