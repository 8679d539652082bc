package supervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/supervisor/logs"
	"github.com/superd/superd/supervisor/reaper"
)

// realSpawner starts a real reaper and spawner writing output under dir
// (consoles to /dev/null); stop ends both and waits for them.
func realSpawner(b *testing.B, dir string, logger *slog.Logger) (sp *ProcSpawner, outs *Outputs, stop func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rp := reaper.New(reaper.SpawnerThreads())
	rdone := make(chan error, 1)
	// exits when cancel is called; stop waits for it
	go func() { rdone <- rp.Run(ctx) }()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	outs = NewOutputs(dir, logs.NewConsole(null), logs.NewConsole(null), logger)
	sp = NewProcSpawner(ctx, rp, outs, logger)
	return sp, outs, func() {
		cancel()
		<-rdone
		sp.Wait()
		null.Close()
	}
}

// BenchmarkJobRunsReal is job runs of /bin/true through the real spawner
// and reaper with max_concurrent = 8; it reports runs per second.
func BenchmarkJobRunsReal(b *testing.B) {
	dir := b.TempDir()
	logger := slog.New(slog.DiscardHandler)
	sp, outs, stop := realSpawner(b, dir, logger)
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
		stop()
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

// BenchmarkStartReal is a start of N programs (/bin/sleep) through the real
// spawner and reaper, from Run to every instance running (Settled), with
// superd's text log discarded; the drain after each start is not timed.
func BenchmarkStartReal(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			dir := b.TempDir()
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			sp, outs, stop := realSpawner(b, dir, logger)
			defer stop()
			var progs []*config.Program
			for i := range n {
				progs = append(progs, prog(fmt.Sprintf("p%03d", i), startSeconds(0), func(p *config.Program) {
					p.Command = []string{"/bin/sleep", "3600"}
				}))
			}
			for b.Loop() {
				s := New(Options{Config: newConfig(dir, progs...), Spawner: sp, Logger: logger, Outputs: outs})
				sdone := make(chan error, 1)
				// exits when the drain below completes
				go func() { sdone <- s.Run(context.Background()) }()
				<-s.Settled()
				b.StopTimer()
				st, err := s.Status(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				for _, in := range st {
					if in.State != apitype.StateRunning {
						b.Fatalf("%s is %s after the start; want running", in.Name, in.State)
					}
				}
				s.Shutdown(context.Background())
				<-sdone
				b.StartTimer()
			}
		})
	}
}
