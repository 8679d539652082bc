package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/supervisor"
)

// notifier speaks sd_notify to systemd (or whoever set NOTIFY_SOCKET).
// Without NOTIFY_SOCKET every method does nothing. Safe for concurrent use.
type notifier struct {
	logger  *slog.Logger
	enabled bool
}

func newNotifier(logger *slog.Logger) *notifier {
	return &notifier{logger: logger, enabled: os.Getenv("NOTIFY_SOCKET") != ""}
}

// send sends one notification; failures are logged, never fatal.
func (n *notifier) send(state string) {
	if !n.enabled {
		return
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.logger.Warn("sd_notify", "state", strings.ReplaceAll(state, "\n", " "), "err", err)
	}
}

// monotonicUsec is CLOCK_MONOTONIC in µs, as systemd's notify-reload wants
// beside RELOADING=1.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}

// statusLine is the STATUS= text: counts of instances by state.
func statusLine(st []apitype.Instance) string {
	var running, backoff, fatal, other int
	for _, a := range st {
		switch a.State {
		case apitype.StateRunning:
			running++
		case apitype.StateBackoff:
			backoff++
		case apitype.StateFatal:
			fatal++
		default:
			other++
		}
	}
	return fmt.Sprintf("STATUS=%d running, %d backoff, %d fatal, %d other", running, backoff, fatal, other)
}

// loopTimeout bounds a round trip through the supervisor loop made for a
// notification: a loop that does not answer within it counts as wedged.
const loopTimeout = 2 * time.Second

// notifySource is what the notifier needs of the supervisor.
type notifySource interface {
	Settled() <-chan struct{}
	Events(ctx context.Context) (<-chan apitype.Event, func(), error)
	Status(ctx context.Context, targets ...string) ([]apitype.Instance, error)
}

// run tells systemd READY=1 once autostart has settled, keeps STATUS=
// current, and pings the watchdog at half of WATCHDOG_USEC, each ping only
// after a round trip through the supervisor loop succeeded, so a wedged
// loop stops the pings. It returns when ctx is done.
func (n *notifier) run(ctx context.Context, sup notifySource) {
	if !n.enabled {
		return
	}
	select {
	case <-sup.Settled():
	case <-ctx.Done():
		return
	}
	n.sendStatus(ctx, sup, "READY=1\n")

	events, cancel, err := sup.Events(ctx)
	if err != nil {
		return
	}
	defer cancel()
	var tick <-chan time.Time
	if interval, err := daemon.SdWatchdogEnabled(false); err == nil && interval > 0 {
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				return
			}
			// Coalesce a burst: whatever else is queued is covered by one
			// status line.
			for more := true; more; {
				select {
				case _, ok := <-events:
					more = ok
				default:
					more = false
				}
			}
			n.sendStatus(ctx, sup, "")
		case <-tick:
			rt, cancelRT := context.WithTimeout(ctx, loopTimeout)
			_, err := sup.Status(rt)
			cancelRT()
			if err != nil {
				n.logger.Error("watchdog: supervisor loop did not answer; not pinging", "err", err)
				continue
			}
			n.send("WATCHDOG=1")
		}
	}
}

func (n *notifier) sendStatus(ctx context.Context, sup notifySource, prefix string) {
	ctx, cancel := context.WithTimeout(ctx, loopTimeout)
	defer cancel()
	st, err := sup.Status(ctx)
	if err != nil {
		if prefix != "" {
			n.send(strings.TrimSuffix(prefix, "\n"))
		}
		return
	}
	n.send(prefix + statusLine(st))
}

// notifyingBackend is the supervisor as the control API sees it, with the
// reload and shutdown notifications systemd expects around them.
type notifyingBackend struct {
	*supervisor.Supervisor
	n *notifier
}

// Reload tells systemd RELOADING=1 (with MONOTONIC_USEC) before, and
// READY=1 after.
func (b notifyingBackend) Reload(ctx context.Context) (apitype.ReloadResult, error) {
	b.n.send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
	res, err := b.Supervisor.Reload(ctx)
	b.n.send("READY=1")
	return res, err
}
