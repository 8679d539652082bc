package supervisor

import (
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/supervisor/notify"
)

// A program with type = "notify" gets a NOTIFY_SOCKET of its own: a
// datagram socket in state_dir/notify, made at its first start and served
// by one goroutine until Run returns. Only the instance's own processes (its
// leader, or a member of its process group) are heard.

type notifyMsg struct {
	in *instance
	m  notify.Message
}

// notifySocket returns in's notify socket path, creating and serving the
// socket on first use; "" for programs that are not type = "notify".
func (s *Supervisor) notifySocket(in *instance) (string, error) {
	if in.prog.Type != "notify" {
		return "", nil
	}
	if in.notify != nil {
		return in.notify.Path(), nil
	}
	name := strings.ReplaceAll(in.name, ":", "-") + ".sock"
	sock, err := notify.Listen(filepath.Join(s.cfg.Superd.StateDir, "notify", name))
	if err != nil {
		return "", err
	}
	in.notify = sock
	s.probes.Add(1)
	// exits when Run ends (runCtx); Run waits on s.probes
	go func() {
		defer s.probes.Done()
		sock.Serve(s.runCtx, func(m notify.Message) {
			select {
			case s.notifyMsgs <- notifyMsg{in: in, m: m}:
			case <-s.runCtx.Done():
			}
		})
	}()
	return sock.Path(), nil
}

// onNotify takes one sd_notify message on the loop.
func (s *Supervisor) onNotify(nm notifyMsg, now time.Time) {
	in, m := nm.in, nm.m
	if in.pid == 0 || !s.ownsPid(in, m.Pid) {
		s.logger.Debug("notify message from a stranger dropped", "instance", in.name, "pid", m.Pid)
		return
	}
	if m.MainPid > 0 && s.ownsPid(in, m.MainPid) {
		in.mainPid = m.MainPid
	}
	if m.Status != "" {
		in.notifyStatus = m.Status
		if in.state == apitype.StateRunning || in.state == apitype.StateStarting {
			in.message = m.Status
			s.notify()
		}
	}
	if m.Stopping {
		s.logger.Info("program says it is stopping (STOPPING=1)", "instance", in.name, "pid", in.pid)
	}
	if m.Ready {
		s.apply(in, event{kind: evReady, pid: in.pid}, now)
		if in.notifyStatus != "" && in.state == apitype.StateRunning {
			in.message = in.notifyStatus
		}
	}
	if m.Watchdog {
		s.apply(in, event{kind: evWatchdog, pid: in.pid}, now)
	}
}

// ownsPid reports whether pid is in's leader or in its process group.
func (s *Supervisor) ownsPid(in *instance, pid int) bool {
	if pid == in.pid {
		return true
	}
	pg, err := unix.Getpgid(pid)
	return err == nil && in.pgid > 0 && pg == in.pgid
}
