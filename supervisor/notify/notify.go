// Package notify is the sd_notify protocol from the receiving side: a
// datagram socket a program started with NOTIFY_SOCKET sends READY=1,
// STATUS=..., STOPPING=1, WATCHDOG=1 and MAINPID=... to. Every datagram
// carries the sender's credentials (SO_PASSCRED), so the supervisor can hear
// only the processes of the instance the socket belongs to.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxDatagram is the largest message read; longer ones are truncated and
// dropped as garbage.
const maxDatagram = 4096

// watchdogEvery is how often, at most, WATCHDOG=1 pings are passed on; a
// program pinging in a tight loop costs superd nothing more.
const watchdogEvery = 100 * time.Millisecond

// maxFds is how many file descriptors a datagram may carry and still be
// read whole (BARRIER=1 carries one); they are closed once it is read.
const maxFds = 8

// Message is one datagram's meaning. Pid is the sender, from the kernel.
// Pgid and MainPgid are the process groups of Pid and MainPid looked up as
// the datagram was read (0 when the process was already gone): a helper
// such as systemd-notify may exit as soon as it has sent, before the
// supervisor gets to the message, and its group can only be learnt while
// it lives.
type Message struct {
	Pid      int
	Pgid     int
	Ready    bool
	Stopping bool
	Watchdog bool
	Status   string // "" when not sent
	MainPid  int    // 0 when not sent
	MainPgid int
}

// Socket is one instance's notify socket.
type Socket struct {
	path   string
	conn   *net.UnixConn
	fi     os.FileInfo // the socket file as made, so Close removes only ours
	closed sync.Once
}

// Listen creates the datagram socket at path (its folder 0755, the socket
// 0666 so a program running as another user can send), replacing a stale one.
func Listen(path string) (*Socket, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	os.Remove(path)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		var serr error
		err = raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
		if err == nil {
			err = serr
		}
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify socket %s: SO_PASSCRED: %w", path, err)
	}
	os.Chmod(path, 0o666)
	fi, _ := os.Lstat(path)
	return &Socket{path: path, conn: conn, fi: fi}, nil
}

// Close closes the socket (ending Serve) and removes its file, unless a
// successor has since bound the same path. It may be called more than once
// and from any goroutine; only the first call does anything, so a late
// call (Serve's own, as it returns) cannot remove a successor's file that
// happens to reuse the inode number of ours. A successor must therefore
// be made only after Close.
func (s *Socket) Close() {
	s.closed.Do(func() {
		s.conn.Close()
		if fi, err := os.Lstat(s.path); err == nil && s.fi != nil && os.SameFile(fi, s.fi) {
			os.Remove(s.path)
		}
	})
}

// Path is where the socket lives: the child's NOTIFY_SOCKET.
func (s *Socket) Path() string { return s.path }

// Serve reads datagrams until ctx is done, then closes the socket and
// removes its file. It calls deliver, from its own goroutine, for every
// datagram that means something; garbage and datagrams without credentials
// are dropped, and repeated WATCHDOG=1 pings are thinned to one per
// watchdogEvery.
//
// File descriptors sent along (sd_notify_barrier's BARRIER=1 sends the
// write end of a pipe and waits for it to close) are closed once the
// datagram has been read and delivered: a sender that waits on the barrier
// knows every earlier datagram of its was read, with its process group
// looked up while it still lived.
func (s *Socket) Serve(ctx context.Context, deliver func(Message)) {
	stop := context.AfterFunc(ctx, s.Close)
	defer stop()
	defer s.Close()
	buf := make([]byte, maxDatagram)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*maxFds))
	var lastPing time.Time
	for {
		n, oobn, flags, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			continue
		}
		pid, fds := control(oob[:oobn])
		if m, ok := Parse(buf[:n]); ok && pid > 0 && flags&unix.MSG_TRUNC == 0 {
			if !m.Watchdog || m.Ready || m.Stopping || m.Status != "" || m.MainPid != 0 {
				m.Pid, m.Pgid = pid, pgid(pid)
				if m.MainPid > 0 {
					m.MainPgid = pgid(m.MainPid)
				}
				deliver(m)
			} else if now := time.Now(); now.Sub(lastPing) >= watchdogEvery {
				lastPing = now
				m.Pid, m.Pgid = pid, pgid(pid)
				deliver(m)
			}
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
}

// control reads a datagram's ancillary data: the sender's pid from its
// credentials (0 when there are none) and the file descriptors it carried.
func control(oob []byte) (pid int, fds []int) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, nil
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil && cred.Pid > 0 {
			pid = int(cred.Pid)
		} else if rights, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, rights...)
		}
	}
	return pid, fds
}

// pgid is pid's process group, 0 when pid is gone.
func pgid(pid int) int {
	g, err := unix.Getpgid(pid)
	if err != nil {
		return 0
	}
	return g
}

// Parse reads a datagram of newline-separated KEY=VALUE assignments. It
// reports false when nothing in it is a known assignment.
func Parse(b []byte) (Message, bool) {
	var m Message
	known := false
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "READY":
			m.Ready, known = v == "1", known || v == "1"
		case "STOPPING":
			m.Stopping, known = v == "1", known || v == "1"
		case "WATCHDOG":
			m.Watchdog, known = v == "1", known || v == "1"
		case "STATUS":
			if len(v) > 256 {
				v = v[:256]
			}
			m.Status, known = v, true
		case "MAINPID":
			if n, err := strconv.Atoi(v); err == nil && n > 1 {
				m.MainPid, known = n, true
			}
		}
	}
	return m, known
}
