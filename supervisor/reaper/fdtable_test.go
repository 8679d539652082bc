package reaper

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// links returns the targets of the descriptors in /proc/self/task/TID/fd.
func links(t *testing.T, tid int) []string {
	t.Helper()
	dir := "/proc/self/task/" + strconv.Itoa(tid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			out = append(out, e.Name()+" -> "+l)
		}
	}
	return out
}

// TestSpawnerForksFromPrivateTable: the spawner thread's descriptor table
// holds neither the files superd had when it started (a listening socket
// here) nor those it opened since (pipes here), and a child still gets
// exactly the descriptors it was given.
func TestSpawnerForksFromPrivateTable(t *testing.T) {
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := startReaperN(t, 2)
	if len(r.setups) != 2 {
		t.Fatalf("%d spawner threads set up; want 2", len(r.setups))
	}
	for i, st := range r.setups {
		if st.sharedTableWhy != nil {
			t.Fatalf("spawner thread %d forks from superd's table: %v; want a private table on this kernel", i, st.sharedTableWhy)
		}
		if st.splitLeft != nil {
			t.Errorf("spawner thread %d: the split left copies open: %v", i, st.splitLeft)
		}
		if st.tid == os.Getpid() {
			t.Fatalf("spawner thread %d runs on the leader thread, whose table pidfd_getfd reads", i)
		}
	}
	if r.setups[0].tid == r.setups[1].tid {
		t.Fatalf("both spawners run on thread %d; want two threads", r.setups[0].tid)
	}
	// The pidfds the spawners opened before the split is gone from superd's
	// table (Run closed it); the spawner keeps its own copy.
	for _, l := range links(t, os.Getpid()) {
		if strings.Contains(l, "[pidfd]") {
			t.Errorf("superd's table holds %s after the split; want no pidfd left", l)
		}
	}
	var held []*os.File
	for range 32 {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, pr, pw)
	}
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()

	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	exits := make(chan Exit, 1)
	_, err = r.Start(Spec{
		Argv:  []string{"/bin/sh", "-c", "echo out; echo err >&2; readlink /proc/self/fd/0; ls /proc/self/fd >&2"},
		Files: []*os.File{nil, w, w},
		Umask: -1,
	}, func(e Exit) { exits <- e })
	w.Close()
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	got, err := readAll(out, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// stdin (nil) is /dev/null; sh's own ls lists 0, 1, 2 and ls's
	// directory.
	if !bytes.HasPrefix(got, []byte("out\nerr\n/dev/null\n")) || bytes.Count(got, []byte("\n")) > 7 {
		t.Errorf("child's output = %q; want out, err, stdin on /dev/null and its few descriptors", got)
	}
	select {
	case e := <-exits:
		if e.Status.ExitStatus() != 0 {
			t.Errorf("child exit = %v; want 0", e.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child's exit never delivered")
	}

	for i, st := range r.setups {
		table := links(t, st.tid)
		for _, l := range table {
			if strings.HasPrefix(l, "0 ") || strings.HasPrefix(l, "1 ") || strings.HasPrefix(l, "2 ") {
				continue // the test's own stdio
			}
			if strings.Contains(l, "socket:") || strings.Contains(l, "pipe:") {
				t.Errorf("spawner thread %d's table holds %s; want none of superd's sockets or pipes", i, l)
			}
		}
		if len(table) > 8 {
			t.Errorf("spawner thread %d's table = %q; want stdio, the poller's, superd's pidfd and the children's /dev/null only", i, table)
		}
	}
}

// readAll reads f to EOF, failing after d.
func readAll(f *os.File, d time.Duration) ([]byte, error) {
	if err := f.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.Bytes(), err
}

// TestTake: in a private table, take copies each distinct descriptor once
// (the same file, fstat says), keeps "closed" entries when there is no
// null, and release closes the copies; the shared table hands back the
// descriptors themselves. Either way a "closed" entry becomes the null
// given.
func TestTake(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := f.Fd()
	var orig unix.Stat_t
	if err := unix.Fstat(int(fd), &orig); err != nil {
		t.Fatal(err)
	}
	closed := ^uintptr(0)

	got, release, err := sharedTable.take([]uintptr{fd, closed}, -1)
	if err != nil || got[0] != fd || got[1] != closed {
		t.Errorf("sharedTable.take(fd, closed; no null) = %v, %v; want the descriptors themselves", got, err)
	}
	release()
	got, release, err = sharedTable.take([]uintptr{closed, fd, closed}, 7)
	if err != nil || got[0] != 7 || got[1] != fd || got[2] != 7 {
		t.Errorf("sharedTable.take(closed, fd, closed; null 7) = %v, %v; want 7, fd, 7", got, err)
	}
	release()

	type result struct {
		local      []uintptr
		same, gone bool
		shared     int // the pidfd the split left in the test's table
		err        error
	}
	done := make(chan result, 1)
	onPrivateThread(func() {
		table, shared, err := privateTable()
		if err != nil {
			done <- result{err: err}
			return
		}
		local, release, err := table.take([]uintptr{fd, fd, closed}, -1)
		if err != nil {
			done <- result{err: err}
			return
		}
		var a unix.Stat_t
		r := result{local: local, shared: shared}
		if unix.Fstat(int(local[0]), &a) == nil {
			r.same = a.Ino == orig.Ino && a.Dev == orig.Dev
		}
		release()
		r.gone = unix.Fstat(int(local[0]), &a) == syscall.EBADF
		done <- r
	})
	r := <-done
	if r.err != nil {
		t.Fatalf("private take() = %v", r.err)
	}
	unix.Close(r.shared)
	if len(r.local) != 3 || r.local[0] != r.local[1] || r.local[2] != closed {
		t.Errorf("take(fd, fd, closed) = %v; want one copy twice, then closed", r.local)
	}
	if !r.same {
		t.Error("the copy is not the same file as the original")
	}
	if !r.gone {
		t.Error("release() left the copy open")
	}
}

// onPrivateThread runs f on a goroutine locked to a thread other than the
// leader, which ends with f: whatever f does to the thread's tables goes
// with it.
func onPrivateThread(f func()) {
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with f
		if unix.Gettid() == unix.Getpid() {
			// Hold the leader until f's thread is done, so f cannot run here.
			done := make(chan struct{})
			onPrivateThread(func() { defer close(done); f() })
			<-done
			runtime.UnlockOSThread()
			return
		}
		privateThreads.Store(unix.Gettid(), true)
		f()
	}()
}

// kcmpFiles is KCMP_FILES of kcmp(2): do two tasks share a descriptor
// table.
const kcmpFiles = 2

// sameTable reports whether threads a and b share one descriptor table.
func sameTable(t *testing.T, a, b int) bool {
	t.Helper()
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(a), uintptr(b), kcmpFiles, 0, 0, 0)
	if errno != 0 {
		t.Fatalf("kcmp(%d, %d, KCMP_FILES): %v", a, b, errno)
	}
	return r == 0
}

// TestOnlySpawnerHasPrivateTable: each spawner thread's table is its
// alone. The runtime must not clone a new thread from a spawner's (it
// readies goroutines after each batch, which may start threads): every
// thread of the process but the spawners shares the leader's table, also after
// batches and after goroutines blocked in system calls made the runtime
// start more threads.
func TestOnlySpawnerHasPrivateTable(t *testing.T) {
	r := startReaperN(t, 2)
	spawners := map[int]bool{}
	for i, st := range r.setups {
		if st.sharedTableWhy != nil {
			t.Fatalf("spawner thread %d forks from superd's table: %v; want a private table on this kernel", i, st.sharedTableWhy)
		}
		spawners[st.tid] = true
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	const n = 32
	exits := make(chan Exit, n) // buffered: holds every exit
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Spec: Spec{Argv: []string{"/bin/true"}, Files: []*os.File{null, null, null}, Umask: -1}, Done: func(e Exit) { exits <- e }}
	}
	// Goroutines blocked in read(2) on pipes hold their threads, so the
	// runtime starts others while the batches run.
	var blocked []*os.File
	for range 8 {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		blocked = append(blocked, pw)
		fd := pr.Fd() // blocking mode: the read holds its thread
		go func() {
			defer pr.Close()
			var b [1]byte
			syscall.Read(int(fd), b[:]) // returns at the writer's close, below
		}()
	}
	for range 4 {
		for _, res := range r.StartAll(slices.Values(reqs)) {
			if res.Err != nil {
				t.Fatalf("StartAll() = %v", res.Err)
			}
		}
		for range n {
			<-exits
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		shares := sameTable(t, os.Getpid(), tid)
		_, private := privateThreads.Load(tid) // this test's spawner, or an earlier test's
		switch {
		case spawners[tid] && shares:
			t.Errorf("the spawner thread %d shares the leader's table", tid)
		case !private && !shares:
			t.Errorf("thread %d of %d does not share the leader's table: a thread cloned from a spawner's?", tid, len(tasks))
		}
	}
	for _, w := range blocked {
		w.Close()
	}
}

// TestShimArgs: the shim's arguments, as shimArgv writes and applyArg
// reads them; a umask goes in octal.
func TestShimArgs(t *testing.T) {
	argv := shimArgv("/sbin/superd", []Rlimit{{Resource: unix.RLIMIT_NOFILE, Soft: 10, Hard: 20}}, 0o77, []string{"/bin/true", "x"})
	want := []string{"/sbin/superd", shimArg, "7:10:20", "umask=77", "--", "/bin/true", "x"}
	if !slices.Equal(argv, want) {
		t.Errorf("shimArgv() = %q; want %q", argv, want)
	}
	if argv := shimArgv("/sbin/superd", nil, -1, []string{"/bin/true"}); slices.Contains(argv, "umask=") || len(argv) != 4 {
		t.Errorf("shimArgv(no umask) = %q; want no umask argument", argv)
	}
	for _, tt := range []struct {
		arg string
		ok  bool
	}{
		{"umask=", false},
		{"umask=8", false},
		{"umask=1000", false},
		{"umask=-1", false},
		{"7:1:2:3", false},
		{"nonsense", false},
	} {
		if err := applyArg(tt.arg); (err == nil) != tt.ok {
			t.Errorf("applyArg(%q) = %v; want ok %v", tt.arg, err, tt.ok)
		}
	}
}
