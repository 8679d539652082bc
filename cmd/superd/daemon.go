package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc"
	"github.com/superd/superd/ipc/metrics"
	"github.com/superd/superd/supervisor"
	"github.com/superd/superd/supervisor/logs"
	"github.com/superd/superd/supervisor/reaper"
)

// pumpGrace bounds how long superd waits, after the drain, for output still
// in pipes to be written out.
const pumpGrace = 2 * time.Second

// runDaemon runs the supervisor until a drain completes. Order: signals →
// reaper (its spawner threads set up meanwhile) → load and validate the
// config (before touching anything outside superd) → subreaper → state
// dir and socket → supervisor loop (autostart). On SIGTERM: drain → close
// the socket → stop the reaper.
func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("superd", stderr)
	path := fs.String("c", "", "config file")
	socket := fs.String("socket", "", "control socket path")
	logFormat := fs.String("log-format", "", "text or json")
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *logFormat != "" && *logFormat != "text" && *logFormat != "json" {
		return usageErr("--log-format must be text or json, not %q", *logFormat)
	}
	var level slog.Level
	if *logLevel != "" {
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			return usageErr("--log-level must be debug, info, warn or error, not %q", *logLevel)
		}
	}

	restoreGC := lenientGC()
	defer restoreGC()

	// Signals first, so none of them kills superd half-started.
	sigs := make(chan os.Signal, 4) // a burst of distinct signals; handled in order
	// SIGPIPE is caught (and dropped) rather than ignored: a closed stdout
	// must count as dropped output, not kill superd, and SIG_IGN would be
	// inherited by the children.
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGPIPE)
	defer signal.Stop(sigs)

	// The reaper sets up its spawner threads while the config loads: they
	// touch nothing outside superd, and the reaper is stopped again if the
	// config is refused.
	reaperCtx, stopReaper := context.WithCancel(context.Background())
	defer stopReaper()
	rp := reaper.New(reaper.SpawnerThreads())
	reaperDone := make(chan error, 1)
	// exits when stopReaper is called; waited on below through reaperDone
	go func() { reaperDone <- rp.Run(reaperCtx) }()
	defer func() {
		stopReaper()
		<-reaperDone
	}()

	file := config.Resolve(*path)
	// load reads the config with the command line's overrides; reloads use
	// it too, so a flag keeps winning over the file.
	load := func() (*config.Config, error) {
		cfg, err := config.Load(file)
		if err != nil {
			return nil, err
		}
		if *socket != "" {
			// Only the socket moves; state_dir and log_dir stay as the
			// file (or its defaults) says.
			cfg.Superd.Socket = *socket
		}
		if *logFormat != "" {
			cfg.Superd.LogFormat = *logFormat
		}
		if *logLevel != "" {
			cfg.Superd.LogLevel = level
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if err := checkJournal(cfg); err != nil {
		return err
	}
	// superd's own log is written in batches from here on (logs.Batcher);
	// the last defer to run writes out the rest. Inherited output keeps
	// writing to stderr itself, so that a Console still sees its write
	// errors and counts them as drops; os.File serialises the two writers.
	errw := logs.NewBatcher(stderr)
	logCtx, stopLog := context.WithCancel(context.Background())
	logDone := make(chan error, 1)
	// exits when stopLog is called; waited on below through logDone
	go func() { logDone <- errw.Run(logCtx) }()
	defer func() {
		stopLog()
		<-logDone
	}()
	logger := newLogger(errw, cfg.Superd.LogFormat, cfg.Superd.LogLevel)
	reserveFds(cfg, logger)

	if cfg.Superd.Subreaper && os.Getpid() != 1 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("become subreaper: %w", err)
		}
	}
	for _, dir := range []string{cfg.Superd.StateDir, cfg.Superd.LogDir} {
		if err := ensureDir(dir); err != nil {
			return err
		}
	}

	// The control socket, given to socket_group if set, and the metrics
	// listener: both before anything starts, so that a taken address is a
	// startup error.
	var serverOpts []ipc.Option
	socketGID := -1
	if name := cfg.Superd.SocketGroup; name != "" {
		gid, err := ipc.LookupGroup(name)
		if err != nil {
			return err
		}
		socketGID = int(gid)
		serverOpts = append(serverOpts, ipc.WithSocketGroup(gid))
	}
	ln, err := ipc.ListenGroup(cfg.Superd.Socket, cfg.Superd.SocketMode, socketGID)
	if err != nil {
		return err
	}
	var metricsLn net.Listener
	if addr := cfg.Superd.MetricsListen; addr != "" {
		if metricsLn, err = net.Listen("tcp", addr); err != nil {
			_ = ln.Close()
			return fmt.Errorf("metrics_listen: %w", err)
		}
	}

	// The spawner must be up before anything starts: a reaper that cannot
	// fork would leave every program fatal behind a running superd.
	select {
	case <-rp.Up():
	case err := <-reaperDone:
		reaperDone <- err // for the deferred wait
		_ = ln.Close()
		if metricsLn != nil {
			_ = metricsLn.Close()
		}
		return err
	}
	rp.LogSetup(logger)

	outputs := supervisor.NewOutputs(cfg.Superd.LogDir, logs.NewConsole(stdout), logs.NewConsole(stderr), logger)
	defer outputs.Close()
	pumpCtx, stopPumps := context.WithCancel(context.Background())
	defer stopPumps()
	spawner := supervisor.NewProcSpawner(pumpCtx, rp, outputs, logger)
	notify := newNotifier(logger)
	sup := supervisor.New(supervisor.Options{
		Config: cfg, Spawner: spawner, Logger: logger, Outputs: outputs,
		Load: func() (*config.Config, error) {
			cfg, err := load()
			if err == nil {
				reserveFds(cfg, logger) // for the programs a reload adds
			}
			return cfg, err
		},
		OnDrain: func() { notify.send("STOPPING=1") },
	})
	backend := notifyingBackend{Supervisor: sup, n: notify}

	serveCtx, stopServe := context.WithCancel(context.Background())
	serveDone := make(chan error, 1)
	serverOpts = append(serverOpts, ipc.WithMetrics(metrics.New(backend, rp.Orphans, logger)))
	srv := ipc.NewServer(backend, logger, serverOpts...)
	// exits when stopServe is called; waited on below through serveDone
	go func() { serveDone <- srv.Serve(serveCtx, ln) }()
	metricsDone := make(chan error, 1)
	if metricsLn != nil {
		// exits when stopServe is called; waited on below through metricsDone
		go func() { metricsDone <- srv.ServeMetrics(serveCtx, metricsLn) }()
	} else {
		metricsDone <- nil
	}

	notifyCtx, stopNotify := context.WithCancel(context.Background())
	notifyDone := make(chan struct{})
	// exits when stopNotify is called; waited on through notifyDone
	go func() {
		defer close(notifyDone)
		notify.run(notifyCtx, sup)
	}()
	defer func() {
		stopNotify()
		<-notifyDone
	}()
	logger.Info("superd started", "pid", os.Getpid(), "config", cfg.Path, "socket", cfg.Superd.Socket, "programs", len(cfg.Programs))
	// The loop goes last, right before this goroutine blocks in the select
	// below, so that it runs at once on this P instead of waiting for it
	// or for another thread to wake (~0.3 ms of the start).
	supDone := make(chan error, 1)
	// exits when the drain completes; waited on below through supDone
	go func() { supDone <- sup.Run(context.Background()) }()

	var runErr error
	terms := 0
	ctxDone := ctx.Done()
	settled := sup.Settled()
	var giveBack <-chan time.Time // fires settledGCDelay after the start settled
loop:
	for {
		select {
		case runErr = <-supDone:
			break loop
		case <-settled:
			settled = nil
			giveBack = time.After(settledGCDelay) // fires once; collected if superd stops first
		case <-giveBack:
			// The heap was sized by the start-up burst (config decoding,
			// one spawn per program); give it back: superd idles for long.
			giveBack = nil
			restoreGC()
			debug.FreeOSMemory()
		case <-ctxDone:
			ctxDone = nil
			sup.Shutdown(context.Background())
		case sig := <-sigs:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				terms++
				if terms == 1 {
					logger.Info("signal: draining", "signal", sig.String())
					sup.Shutdown(context.Background())
				} else {
					logger.Warn("second signal: SIGKILL to every program", "signal", sig.String())
					sup.ForceShutdown(context.Background())
				}
			case syscall.SIGHUP:
				if _, err := backend.Reload(context.Background()); err != nil {
					logger.Error("SIGHUP: reload refused; nothing changed", "err", err)
				}
			case syscall.SIGUSR1:
				logger.Info("SIGUSR1: reopening log files")
				outputs.Reopen()
			}
		}
	}

	stopServe()
	if err := <-serveDone; err != nil {
		logger.Warn("control socket", "err", err)
	}
	if err := <-metricsDone; err != nil {
		logger.Warn("metrics listener", "err", err)
	}
	waitPumps(spawner, stopPumps)
	if errors.Is(runErr, supervisor.ErrFatalShutdown) {
		logger.Error("exiting with status 3", "err", runErr)
		return &exitError{code: 3}
	}
	if runErr != nil {
		return runErr
	}
	logger.Info("superd stopped")
	return nil
}

// waitPumps lets output still in pipes be written out, for at most
// pumpGrace (a grandchild that escaped its group may hold a pipe open).
func waitPumps(sp *supervisor.ProcSpawner, stop context.CancelFunc) {
	done := make(chan struct{})
	// exits when every pump has returned, at the latest after stop()
	go func() {
		sp.Wait()
		close(done)
	}()
	t := time.NewTimer(pumpGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		stop()
		<-done
	}
}

func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	return nil
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// startGCPercent is the collector's GOGC while superd starts. The start-up
// burst (decoding the config, one spawn per program) leaves little live
// heap behind, and at the default of 100 the collector ran 3–4 times
// during a start of 500 programs: ~10 ms of CPU on a machine whose CPUs
// the children's execs nearly fill (docs/BENCHMARKS.md, "Start, fourth
// round"). The heap it lets grow is given back settledGCDelay after the
// start settles.
const startGCPercent = 1000

// settledGCDelay is how long after the start settled the collector gets
// the operator's GOGC back and the start's heap is returned to the kernel.
// Right at the settle, that collection (about 10 ms of CPU at 500
// programs) competed with the execs of the last programs, which were
// still loading (docs/BENCHMARKS.md, "Start, fifth round").
const settledGCDelay = time.Second

// lenientGC sets startGCPercent until the returned function is called
// (again and again, harmlessly), unless the operator set GOGC.
func lenientGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	prev := debug.SetGCPercent(startGCPercent)
	var once sync.Once
	return func() { once.Do(func() { debug.SetGCPercent(prev) }) }
}

// ownFds is room for the descriptors superd holds for itself: about a
// dozen (its standard streams, the poller's, the control socket, the
// runtime's cgroup files), and some twenty control connections.
const ownFds = 32

// reserveFds makes room in superd's descriptor table, on a goroutine of
// its own (reaper.ReserveFds waits for the kernel), for what cfg's
// programs may hold open at once (supervisor.Descriptors) and ownFds. It
// does nothing when the table is large enough already. More descriptors
// than reserved are no error: the kernel grows the table then, as
// without it.
func reserveFds(cfg *config.Config, logger *slog.Logger) {
	n := ownFds + supervisor.Descriptors(cfg)
	// exits once the table has grown, after one RCU grace period at most
	go func() {
		if err := reaper.ReserveFds(n); err != nil {
			logger.Debug("descriptor table not grown in advance", "err", err)
		}
	}()
}
