package supervisor

import (
	"errors"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/config"
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
	if in.prog.Type != config.TypeNotify {
		return "", nil
	}
	if in.notify != nil {
		return in.notify.Path(), nil
	}
	// A retired instance of the same name (one a reload changed, down by
	// now) holds the same path: close its socket first, so that its
	// removal cannot take this one's file.
	for _, r := range s.retired {
		if r.name == in.name && r.notify != nil {
			r.notify.Close()
			r.notify = nil
		}
	}
	sock, err := notify.Listen(filepath.Join(s.cfg.Superd.StateDir, "notify", fileName(in.name)+".sock"))
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
	if in.pid == 0 || !owns(in, m.Pid, m.Pgid) {
		s.logger.Debug("notify message from a stranger dropped", "instance", in.name, "pid", m.Pid)
		return
	}
	if m.MainPid > 0 && owns(in, m.MainPid, m.MainPgid) {
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

// owns reports whether pid, whose process group was pgid when its message
// arrived, is in's leader or in its process group.
func owns(in *instance, pid, pgid int) bool {
	return pid == in.pid || (in.pgid > 0 && pgid == in.pgid)
}

// handOff is called when the leader of a notify program exits while the
// MAINPID= it named lives on: it has the reaper supervise that process
// instead, so a program whose starter forks the real server and exits (as
// under systemd's Type=notify) keeps running. It reports the pid now
// supervised, 0 when there is none to hand over to (then the leader's exit
// counts as the instance's).
func (s *Supervisor) handOff(in *instance) int {
	pid := in.mainPid
	if pid <= 0 || pid == in.pid || in.prog.Type != config.TypeNotify || in.prog.Detach {
		return 0
	}
	// Still ours: in the instance's group and, its parent gone, reparented
	// to superd (pid reuse would fail both).
	if g, err := unix.Getpgid(pid); err != nil || g != in.pgid {
		return 0
	}
	if childOfSuperd(pid) != nil {
		return 0
	}
	if err := s.superviseDaemon(in, pid); err != nil {
		if !errors.Is(err, errCannotAdopt) {
			s.logger.Warn("could not supervise MAINPID", "instance", in.name, "pid", pid, "err", err)
		}
		return 0
	}
	s.logger.Info("leader exited; supervising its MAINPID", "instance", in.name, "leader", in.pid, "pid", pid)
	return pid
}
