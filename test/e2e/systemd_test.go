package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// notifyListener is a fake systemd: a unixgram socket that records every
// datagram superd sends to NOTIFY_SOCKET.
type notifyListener struct {
	conn *net.UnixConn
	mu   sync.Mutex // guards the field below
	msgs []string
	done chan struct{}
}

func listenNotify(t *testing.T, path string) *notifyListener {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{conn: c, done: make(chan struct{})}
	// exits when the cleanup closes the socket, and waits on done
	go func() {
		defer close(n.done)
		buf := make([]byte, 64<<10)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-n.done
	})
	return n
}

// seen returns the datagrams so far.
func (n *notifyListener) seen() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// index is the position of the first datagram holding sub, or -1.
func (n *notifyListener) index(sub string) int {
	for i, m := range n.seen() {
		if strings.Contains(m, sub) {
			return i
		}
	}
	return -1
}

func (n *notifyListener) waitFor(t *testing.T, sub string) int {
	t.Helper()
	waitFor(t, 20*time.Second, func() string { return "sd_notify " + sub + "; got " + strings.Join(n.seen(), " | ") },
		func() bool { return n.index(sub) >= 0 })
	return n.index(sub)
}

// TestSystemdNotify: superd under systemd says READY=1 only once every
// autostart program has settled, keeps STATUS= current, pings the watchdog,
// brackets a reload with RELOADING=1 (and MONOTONIC_USEC) and READY=1, and
// says STOPPING=1 at the drain.
func TestSystemdNotify(t *testing.T) {
	e := newEnv(t)
	n := listenNotify(t, filepath.Join(e.dir, "notify.sock"))
	e.writeConfig("", `
[program.slow]
command = ["/bin/sleep", "1000"]
start_seconds = "700ms"

[program.fast]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d := e.start(opts{env: []string{"NOTIFY_SOCKET=" + filepath.Join(e.dir, "notify.sock"), "WATCHDOG_USEC=200000"}})

	ready := n.waitFor(t, "READY=1")
	if st := d.inst("slow"); st.State != "running" {
		t.Errorf("READY=1 sent while slow is %s; want it only once autostart settled", st.State)
	}
	if m := n.seen()[ready]; !strings.Contains(m, "STATUS=2 running") {
		t.Errorf("READY datagram = %q; want STATUS=2 running with it", m)
	}
	n.waitFor(t, "WATCHDOG=1")

	d.mustCtl("stop", "fast")
	n.waitFor(t, "STATUS=1 running")

	d.mustCtl("reload")
	r := n.waitFor(t, "RELOADING=1")
	if m := n.seen()[r]; !strings.Contains(m, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING datagram = %q; want MONOTONIC_USEC with it", m)
	}
	waitFor(t, 10*time.Second, func() string { return "READY=1 after RELOADING=1" }, func() bool {
		for _, m := range n.seen()[r+1:] {
			if strings.Contains(m, "READY=1") {
				return true
			}
		}
		return false
	})

	d.signal(syscall.SIGTERM)
	n.waitFor(t, "STOPPING=1")
	if code := d.waitExit(20 * time.Second); code != 0 {
		t.Errorf("superd exit = %d; want 0", code)
	}
}

// TestNoNotifyWithoutSocket: without NOTIFY_SOCKET superd runs as usual
// (nothing to assert on a socket; it must simply start and stop cleanly).
func TestNoNotifyWithoutSocket(t *testing.T) {
	d := startDaemon(t, "", `
[program.a]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d.waitRunning(10*time.Second, "a")
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(20 * time.Second); code != 0 {
		t.Errorf("superd exit = %d; want 0", code)
	}
}
