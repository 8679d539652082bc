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
	"time"

	"golang.org/x/sys/unix"
)

// maxDatagram is the largest message read; longer ones are truncated and
// dropped as garbage.
const maxDatagram = 4096

// watchdogEvery is how often, at most, WATCHDOG=1 pings are passed on; a
// program pinging in a tight loop costs superd nothing more.
const watchdogEvery = 100 * time.Millisecond

// Message is one datagram's meaning. Pid is the sender, from the kernel.
type Message struct {
	Pid      int
	Ready    bool
	Stopping bool
	Watchdog bool
	Status   string // "" when not sent
	MainPid  int    // 0 when not sent
}

// Socket is one instance's notify socket.
type Socket struct {
	path string
	conn *net.UnixConn
	fi   os.FileInfo // the socket file as made, so Close removes only ours
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
// and from any goroutine.
func (s *Socket) Close() {
	s.conn.Close()
	if fi, err := os.Lstat(s.path); err == nil && s.fi != nil && os.SameFile(fi, s.fi) {
		os.Remove(s.path)
	}
}

// Path is where the socket lives: the child's NOTIFY_SOCKET.
func (s *Socket) Path() string { return s.path }

// Serve reads datagrams until ctx is done, then closes the socket and
// removes its file. It calls deliver, from its own goroutine, for every
// datagram that means something; garbage and datagrams without credentials
// are dropped, and repeated WATCHDOG=1 pings are thinned to one per
// watchdogEvery.
func (s *Socket) Serve(ctx context.Context, deliver func(Message)) {
	stop := context.AfterFunc(ctx, s.Close)
	defer stop()
	defer s.Close()
	buf := make([]byte, maxDatagram)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	var lastPing time.Time
	for {
		n, oobn, flags, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			continue
		}
		if flags&unix.MSG_TRUNC != 0 {
			continue
		}
		pid, ok := senderPid(oob[:oobn])
		if !ok {
			continue
		}
		m, ok := Parse(buf[:n])
		if !ok {
			continue
		}
		m.Pid = pid
		if m.Watchdog && !m.Ready && !m.Stopping && m.Status == "" && m.MainPid == 0 {
			if now := time.Now(); now.Sub(lastPing) < watchdogEvery {
				continue
			} else {
				lastPing = now
			}
		}
		deliver(m)
	}
}

func senderPid(oob []byte) (int, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil && cred.Pid > 0 {
			return int(cred.Pid), true
		}
	}
	return 0, false
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
