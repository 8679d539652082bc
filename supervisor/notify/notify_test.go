package notify

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		in   string
		want Message
		ok   bool
	}{
		{name: "ready", in: "READY=1", want: Message{Ready: true}, ok: true},
		{name: "ready 0 means nothing", in: "READY=0", ok: false},
		{name: "status", in: "STATUS=serving 3 clients", want: Message{Status: "serving 3 clients"}, ok: true},
		{name: "status keeps later equal signs", in: "STATUS=a=b", want: Message{Status: "a=b"}, ok: true},
		{name: "status is cut at 256 bytes", in: "STATUS=" + long, want: Message{Status: long[:256]}, ok: true},
		{name: "watchdog", in: "WATCHDOG=1", want: Message{Watchdog: true}, ok: true},
		{name: "stopping", in: "STOPPING=1", want: Message{Stopping: true}, ok: true},
		{name: "mainpid", in: "MAINPID=123", want: Message{MainPid: 123}, ok: true},
		{name: "mainpid 1 is refused", in: "MAINPID=1", ok: false},
		{name: "mainpid 0 is refused", in: "MAINPID=0", ok: false},
		{name: "mainpid negative is refused", in: "MAINPID=-5", ok: false},
		{name: "mainpid not a number", in: "MAINPID=12ab", ok: false},
		{name: "garbage", in: "garbage", ok: false},
		{name: "binary garbage", in: "\x00\xff\xfe=\x01", ok: false},
		{name: "empty", in: "", ok: false},
		{name: "only newlines", in: "\n\n\n", ok: false},
		{name: "unknown keys", in: "FDSTORE=1\nERRNO=2\nX=1", ok: false},
		{name: "lowercase keys are not keys", in: "ready=1", ok: false},
		{name: "mixed lines", in: "READY=1\nSTATUS=up\ngarbage\nMAINPID=77\nFOO=bar\n",
			want: Message{Ready: true, Status: "up", MainPid: 77}, ok: true},
		{name: "watchdog with status", in: "WATCHDOG=1\nSTATUS=tick", want: Message{Watchdog: true, Status: "tick"}, ok: true},
		{name: "the last of a repeated key wins", in: "STATUS=one\nSTATUS=two", want: Message{Status: "two"}, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Parse([]byte(tc.in))
			if ok != tc.ok {
				t.Errorf("Parse(%q) ok = %v; want %v", tc.in, ok, tc.ok)
			}
			if tc.ok && got != tc.want {
				t.Errorf("Parse(%q) = %+v; want %+v", tc.in, got, tc.want)
			}
			if got.Pid != 0 {
				t.Errorf("Parse(%q).Pid = %d; want 0 (only Serve knows the sender)", tc.in, got.Pid)
			}
		})
	}
}

// served is a Socket being served until the test ends.
type served struct {
	sock   *Socket
	msgs   chan Message // unbuffered: Serve waits for the test to take each one
	pings  atomic.Int64 // WATCHDOG=1 messages delivered
	cancel context.CancelFunc
	done   chan struct{} // closed when Serve returns
}

// listen makes a socket in a new folder of the test's temp dir and serves
// it. Messages are passed to msgs, except WATCHDOG=1 pings alone, which
// are counted.
func listen(t *testing.T) *served {
	t.Helper()
	// Unix socket paths are limited to 107 bytes: keep it short.
	dir, err := os.MkdirTemp("", "nt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, err := Listen(filepath.Join(dir, "n", "web.sock"))
	if err != nil {
		t.Fatalf("Listen() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{sock: sock, msgs: make(chan Message), cancel: cancel, done: make(chan struct{})}
	// exits when ctx is cancelled; the cleanup cancels and waits on done
	go func() {
		defer close(s.done)
		sock.Serve(ctx, func(m Message) {
			if m.Watchdog && !m.Ready && m.Status == "" {
				s.pings.Add(1)
				return
			}
			select {
			case s.msgs <- m:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// next returns the next message delivered, or fails after a few seconds.
func (s *served) next(t *testing.T) Message {
	t.Helper()
	tm := time.NewTimer(5 * time.Second)
	defer tm.Stop()
	select {
	case m := <-s.msgs:
		return m
	case <-tm.C:
		t.Fatalf("no message delivered within 5s")
		return Message{}
	}
}

// dial connects a datagram client to s's socket.
func dial(t *testing.T, s *served) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.sock.Path(), Net: "unixgram"})
	if err != nil {
		t.Fatalf("dial %s: %v", s.sock.Path(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UnixConn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("send %q: %v", msg, err)
	}
}

func TestListenMakesAWritableSocket(t *testing.T) {
	s := listen(t)
	fi, err := os.Stat(s.sock.Path())
	if err != nil {
		t.Fatalf("stat %s: %v", s.sock.Path(), err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
		t.Errorf("mode of %s = %v; want a socket with 0666", s.sock.Path(), fi.Mode())
	}
}

func TestListenReplacesAStaleFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.sock")
	if err := os.WriteFile(path, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen(%s over a stale file) = %v; want nil", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sock.Serve(ctx, func(Message) {}) // closes the socket
}

// TestServeDeliversWithSenderPid: a datagram arrives with the sender's pid
// from its credentials, not from what it says.
func TestServeDeliversWithSenderPid(t *testing.T) {
	s := listen(t)
	c := dial(t, s)
	send(t, c, "READY=1\nSTATUS=serving")
	m := s.next(t)
	pg := syscall.Getpgrp()
	want := Message{Pid: os.Getpid(), Pgid: pg, Ready: true, Status: "serving"}
	if m != want {
		t.Errorf("delivered %+v; want %+v", m, want)
	}
	send(t, c, "MAINPID=4242\nSTOPPING=1")
	m = s.next(t)
	want = Message{Pid: os.Getpid(), Pgid: pg, Stopping: true, MainPid: 4242}
	if m != want {
		t.Errorf("delivered %+v; want %+v", m, want)
	}
}

// TestServeBarrier: a BARRIER=1 datagram's file descriptor (the write end
// of the sender's pipe) is closed once it has been read, so the sender's
// read end sees EOF; file descriptors sent with other messages are closed
// too, and MAINPID='s group is looked up on arrival.
func TestServeBarrier(t *testing.T) {
	s := listen(t)
	for _, msg := range []string{"BARRIER=1", "READY=1\nMAINPID=" + strconv.Itoa(os.Getpid())} {
		var p [2]int
		if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		r := os.NewFile(uintptr(p[0]), "barrier")
		err := sendWithFd(s.sock.Path(), msg, p[1])
		syscall.Close(p[1])
		if err != nil {
			r.Close()
			t.Fatalf("send %q with a pipe: %v", msg, err)
		}
		if msg != "BARRIER=1" {
			m := s.next(t)
			if !m.Ready || m.MainPid != os.Getpid() || m.MainPgid != syscall.Getpgrp() {
				t.Errorf("delivered %+v; want READY=1 with MAINPID %d of group %d", m, os.Getpid(), syscall.Getpgrp())
			}
		}
		r.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := r.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("after %q: read of the pipe = %d, %v; want EOF (Serve closed the write end it got)", msg, n, err)
		}
		r.Close()
	}
}

// sendWithFd sends msg with fd to the datagram socket at path, as
// sd_pid_notify_with_fds does.
func sendWithFd(path, msg string, fd int) error {
	sfd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(sfd)
	return syscall.Sendmsg(sfd, []byte(msg), syscall.UnixRights(fd), &syscall.SockaddrUnix{Name: path}, 0)
}

// TestServeDropsGarbage: garbage, empty and oversized datagrams are not
// delivered and do not stop the socket.
func TestServeDropsGarbage(t *testing.T) {
	s := listen(t)
	c := dial(t, s)
	for _, g := range []string{"garbage", "", "\x00\x01\x02", "READY=0", "STATUS=" + strings.Repeat("y", maxDatagram+100)} {
		send(t, c, g)
	}
	send(t, c, "STATUS=after")
	if m := s.next(t); m.Status != "after" || m.Ready {
		t.Errorf("first delivered = %+v; want only STATUS=after (garbage dropped)", m)
	}
}

// TestServeFlood: 10,000 datagrams of WATCHDOG=1 and garbage are all
// consumed without memory growing with them, the pings are thinned to one
// per watchdogEvery, a message after the flood still gets through, and
// Serve returns promptly when its context ends, removing the socket file.
func TestServeFlood(t *testing.T) {
	s := listen(t)
	c := dial(t, s)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	const n = 10000
	for i := range n {
		msg := "WATCHDOG=1"
		if i%2 == 1 {
			msg = "garbage " + strings.Repeat("z", i%500)
		}
		send(t, c, msg)
	}
	send(t, c, "STATUS=after the flood")
	if m := s.next(t); m.Status != "after the flood" {
		t.Errorf("delivered after the flood = %+v; want STATUS=after the flood", m)
	}
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)

	pings := s.pings.Load()
	if pings < 1 || pings > int64(took/watchdogEvery)+1 {
		t.Errorf("pings delivered of %d sent in %v = %d; want 1..%d (one per %v)", n/2, took, pings, int64(took/watchdogEvery)+1, watchdogEvery)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("heap grew by %d bytes over the flood; want under 1 MiB", grew)
	}

	path := s.sock.Path()
	s.cancel()
	tm := time.NewTimer(2 * time.Second)
	defer tm.Stop()
	select {
	case <-s.done:
	case <-tm.C:
		t.Fatalf("Serve did not return within 2s of its context ending")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s after Serve returned = %v; want it removed", path, err)
	}
	if _, err := c.Write([]byte("READY=1")); err == nil {
		t.Errorf("send after Serve returned succeeded; want the socket closed")
	}
}
