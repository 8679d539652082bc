package e2e

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// superdChildren scans /proc for the processes whose parent is ppid and
// returns how many there are, and how many of them are zombies.
func superdChildren(ppid int) (all, zombies int) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readStat(pid)
		if !ok || st.ppid != ppid {
			continue
		}
		all++
		if st.state == 'Z' {
			zombies++
		}
	}
	return all, zombies
}

func TestOrphansAreReaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	done := e.path("forked")
	// An inner shell starts 2,000 sleeps and exits at once: they are
	// orphaned to superd (the subreaper), alive, and all exit a little
	// later; the leader stays.
	e.writeConfig("subreaper = true", `
[program.orphans]
shell = "/bin/sh -c 'for i in $(seq 2000); do /bin/sleep 2 & done'; touch `+done+`; exec /bin/sleep 1000"
start_seconds = "0s"
stop_timeout = "2s"
`)
	d := e.start(opts{})
	leader := d.waitRunning(10*time.Second, "orphans")[0]
	waitForf(t, 60*time.Second, "the inner shell to start its 2,000 sleeps", func() bool {
		_, err := os.Stat(done)
		return err == nil
	})
	// Many of them now run as superd's children.
	adopted, _ := superdChildren(d.pid())
	if adopted < 100 {
		t.Errorf("superd has %d children after the inner shell exited; want the orphaned sleeps (>= 100) reparented to it", adopted)
	}
	// They all exit within a few seconds; then superd has only the leader
	// left as its child, and no zombie.
	var all, zombies int
	waitFor(t, 60*time.Second, func() string {
		return fmt.Sprintf("superd's children to be only the leader (have %d, %d of them zombies)", all, zombies)
	}, func() bool {
		all, zombies = superdChildren(d.pid())
		return all == 1 && zombies == 0
	})
	if st, ok := readStat(leader); !ok || st.ppid != d.pid() {
		t.Errorf("the leader %d is not superd's child any more", leader)
	}
	if in := d.inst("orphans"); in.State != "running" || in.Restarts != 0 {
		t.Errorf("orphans: %s; want running, never restarted (reaping orphans must not be taken for the leader's exit)", describe(in))
	}
}
