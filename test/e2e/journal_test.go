package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const journalSocket = "/run/systemd/journal/socket"

// fakeJournal listens where go-systemd's journal package sends: journald's
// socket path is fixed, so the test takes it, and refuses to run (failing
// loudly) if a real journald owns it.
type fakeJournal struct {
	conn *net.UnixConn
	mu   sync.Mutex // guards the field below
	msgs []string
	done chan struct{}
}

func startFakeJournal(t *testing.T) *fakeJournal {
	t.Helper()
	if _, err := os.Stat(journalSocket); err == nil {
		t.Fatalf("%s exists: a real journald runs here; this test needs the path for its fake journald", journalSocket)
	}
	if err := os.MkdirAll(filepath.Dir(journalSocket), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: journalSocket, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	j := &fakeJournal{conn: c, done: make(chan struct{})}
	// exits when the cleanup closes the socket; the cleanup waits on done
	go func() {
		defer close(j.done)
		buf := make([]byte, 1<<16)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			j.mu.Lock()
			j.msgs = append(j.msgs, string(buf[:n]))
			j.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-j.done
		os.Remove(journalSocket)
	})
	return j
}

// entry finds a datagram holding every field.
func (j *fakeJournal) entry(fields ...string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, m := range j.msgs {
		ok := true
		for _, f := range fields {
			if !strings.Contains(m, f+"\n") {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// TestJournalOutput: stdout and stderr = "journal" send each line to
// journald with SYSLOG_IDENTIFIER = the instance name and PRIORITY 6 / 3.
// Then, with journald gone, `superd check` refuses such a config clearly.
func TestJournalOutput(t *testing.T) {
	j := startFakeJournal(t)
	d := startDaemon(t, "", `
[program.web]
shell = "echo hello-out; echo hello-err >&2; exec /bin/sleep 1000"
stdout = "journal"
stderr = "journal"
instances = 2
`)
	d.waitRunning(10*time.Second, "web:0", "web:1")
	waitForf(t, 10*time.Second, "journal entries of web:0 and web:1", func() bool {
		return j.entry("MESSAGE=hello-out", "SYSLOG_IDENTIFIER=web:0", "PRIORITY=6") &&
			j.entry("MESSAGE=hello-err", "SYSLOG_IDENTIFIER=web:1", "PRIORITY=3")
	})
	// superctl logs still works from the ring.
	if out := d.mustCtl("logs", "web:0"); !strings.Contains(out, "hello-out") {
		t.Errorf("superctl logs web:0 = %q; want hello-out", out)
	}
}

func TestJournalAbsentRefused(t *testing.T) {
	if _, err := os.Stat(journalSocket); err == nil {
		t.Fatalf("%s exists: a real journald runs here; this test needs it absent", journalSocket)
	}
	e := newEnv(t)
	path := e.writeConfig("", `
[program.web]
command = ["/bin/sleep", "1000"]
stdout = "journal"
`)
	_, stderr, code := runSuperd(t, e.dir, nil, "check", "-c", path)
	if code != 1 || !strings.Contains(stderr, `stdout = "journal", but journald is not running`) || !strings.Contains(stderr, path+":") {
		t.Errorf("superd check = exit %d, stderr %q; want 1 and a positioned line saying journald is not running", code, stderr)
	}
}
