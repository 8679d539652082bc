package reaper

import (
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
)

// BenchmarkStartHeld is one start of /bin/true through the reaper, and its
// exit, while the process holds held pipes (two descriptors each), as
// superd holds one or two per running child: forked from the spawner's
// private table and from the shared one.
func BenchmarkStartHeld(b *testing.B) {
	for _, shared := range []bool{false, true} {
		for _, held := range []int{0, 500} {
			name := "table=private"
			if shared {
				name = "table=shared"
			}
			b.Run(name+"/held="+strconv.Itoa(held), func(b *testing.B) {
				for range held {
					r, w, err := os.Pipe()
					if err != nil {
						b.Fatal(err)
					}
					defer r.Close()
					defer w.Close()
				}
				startExitLoop(b, startReaper(b, func(r *Reaper) { r.shareTable = shared }))
			})
		}
	}
}

// BenchmarkForkExecBusy is a bare fork+exec+wait of /bin/true, alone and
// with one goroutine spinning meanwhile: on a machine of 2 CPUs, the CPU a
// supervisor spends while it forks is taken from its children's execs.
func BenchmarkForkExecBusy(b *testing.B) {
	for _, busy := range []bool{false, true} {
		b.Run("busy="+strconv.FormatBool(busy), func(b *testing.B) {
			var stop atomic.Bool
			done := make(chan struct{})
			if busy {
				// exits when stop is set, below
				go func() {
					defer close(done)
					for x := 0; !stop.Load(); x++ {
					}
				}()
			} else {
				close(done)
			}
			defer func() {
				stop.Store(true)
				<-done
			}()
			attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}}
			for b.Loop() {
				pid, err := syscall.ForkExec("/bin/true", []string{"/bin/true"}, attr)
				if err != nil {
					b.Fatal(err)
				}
				var ws syscall.WaitStatus
				if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
