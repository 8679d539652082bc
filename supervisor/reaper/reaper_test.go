package reaper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startReaper runs a Reaper for the test's (or benchmark's) lifetime,
// after setting it up with each of opts.
func startReaper(t testing.TB, opts ...func(*Reaper)) *Reaper {
	t.Helper()
	return startReaperN(t, SpawnerThreads(), opts...)
}

// startReaperN is startReaper with threads spawner threads.
func startReaperN(t testing.TB, threads int, opts ...func(*Reaper)) *Reaper {
	t.Helper()
	r := New(threads)
	for _, o := range opts {
		o(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	// exits when ctx is cancelled in Cleanup, which waits on errc
	go func() { errc <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	// Set up: the spawner is ready and Run has closed what the split of
	// its table left behind.
	select {
	case <-r.up:
	case <-r.stopped:
	}
	for _, st := range r.setups {
		privateThreads.Store(st.tid, true)
	}
	return r
}

// privateThreads holds the threads with a private descriptor table that
// tests made: the spawner thread of every Reaper they started (those live
// on after their tests, see Run) and onPrivateThread's.
var privateThreads sync.Map

func devnull(t *testing.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestManyInstantExitsAllDelivered(t *testing.T) {
	r := startReaper(t)
	null := devnull(t)
	const n = 500
	exits := make(chan Exit, n) // buffered: holds every expected exit
	pids := make(map[int]int)
	for i := range n {
		code := i % 7
		pid, err := r.Start(Spec{
			Argv:  []string{"/bin/sh", "-c", "exit " + strconv.Itoa(code)},
			Files: []*os.File{null, null, null},
			Umask: -1,
		}, func(e Exit) { exits <- e })
		if err != nil {
			t.Fatalf("Start(%d) = %v", i, err)
		}
		pids[pid] = code
	}
	deadline := time.After(60 * time.Second)
	for range n {
		select {
		case e := <-exits:
			want, ok := pids[e.Pid]
			if !ok {
				t.Fatalf("exit of unknown pid %d", e.Pid)
			}
			if e.Code() != want {
				t.Errorf("pid %d Code() = %d; want %d", e.Pid, e.Code(), want)
			}
			delete(pids, e.Pid)
		case <-deadline:
			t.Fatalf("%d exits never delivered", len(pids))
		}
	}
	if r.Live() != 0 {
		t.Errorf("Live() = %d; want 0", r.Live())
	}
}

func TestStartErrors(t *testing.T) {
	r := startReaper(t)
	tests := []struct {
		name string
		spec Spec
		want error
	}{
		{"missing command", Spec{Argv: []string{"/nonexistent/cmd"}, Umask: -1}, syscall.ENOENT},
		{"not executable", Spec{Argv: []string{"/etc/passwd"}, Umask: -1}, syscall.EACCES},
		{"bad directory", Spec{Argv: []string{"/bin/true"}, Dir: "/nonexistent", Umask: -1}, syscall.ENOENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Start(tt.spec, func(Exit) { t.Error("done called for a failed start") })
			if !errors.Is(err, tt.want) {
				t.Errorf("Start() = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestSignalAfterReapRefused(t *testing.T) {
	r := startReaper(t)
	done := make(chan Exit, 1)
	pid, err := r.Start(Spec{Argv: []string{"/bin/sleep", "100"}, Umask: -1}, func(e Exit) { done <- e })
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Signal(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("Signal(live) = %v", err)
	}
	e := <-done
	if !e.Status.Signaled() || e.Status.Signal() != syscall.SIGKILL {
		t.Errorf("exit status = %v; want killed by SIGKILL", e.Status)
	}
	if err := r.Signal(pid, syscall.SIGTERM); !errors.Is(err, ErrNotOwned) {
		t.Errorf("Signal(reaped) = %v; want ErrNotOwned", err)
	}
}

func TestOrphansReaped(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	r := startReaper(t)
	done := make(chan Exit, 1)
	// The shell starts 200 background readers of a pipe and exits: they are
	// reparented to this process. They end only when the test closes the
	// pipe, after the shell is gone, so every one of them is an orphan.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	const n = 200
	script := "i=0; while [ $i -lt " + strconv.Itoa(n) + " ]; do head -c1 <&3 >/dev/null & i=$((i+1)); done; exit 0"
	_, err = r.Start(Spec{Argv: []string{"/bin/sh", "-c", script}, Files: []*os.File{nil, nil, nil, pr}, Umask: -1}, func(e Exit) { done <- e })
	pr.Close()
	if err != nil {
		t.Fatal(err)
	}
	<-done
	pw.Close() // every reader gets EOF and exits
	deadline := time.Now().Add(30 * time.Second)
	for r.Orphans() < n {
		if time.Now().After(deadline) {
			t.Fatalf("Orphans() = %d; want %d", r.Orphans(), n)
		}
		waitBriefly()
	}
	if z := zombies(t); z != 0 {
		t.Errorf("zombie children left: %d", z)
	}
}

func TestUmaskAndGroup(t *testing.T) {
	r := startReaper(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	done := make(chan Exit, 1)
	pid, err := r.Start(Spec{
		Argv:  []string{"/bin/sh", "-c", "umask; cut -d' ' -f5 /proc/$$/stat"},
		Files: []*os.File{nil, pw, pw},
		Umask: 0o027,
	}, func(e Exit) { done <- e })
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(pr)
	<-done
	f := strings.Fields(string(out))
	if len(f) < 1 || f[0] != "0027" {
		t.Errorf("child umask = %q; want 0027", out)
	}
	if len(f) >= 2 && f[1] != strconv.Itoa(pid) {
		t.Errorf("child pgid = %s; want its own pid %d", f[1], pid)
	}
	if m := unix.Umask(0o022); m != 0o022 {
		t.Errorf("superd's umask changed to %o", m)
	} else {
		unix.Umask(m)
	}
}

// zombies counts this process's zombie children.
func zombies(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == me {
			n++
		}
	}
	return n
}

// waitBriefly is the poll interval of a deadline loop.
func waitBriefly() { time.Sleep(5 * time.Millisecond) }

// TestMain lets this test binary act as the rlimit shim, as superd's does.
func TestMain(m *testing.M) {
	if RunShim(os.Args) {
		return
	}
	os.Exit(m.Run())
}

func TestRlimitsThroughShim(t *testing.T) {
	r := startReaper(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	done := make(chan Exit, 1)
	_, err = r.Start(Spec{
		Argv:    []string{"/bin/sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"},
		Files:   []*os.File{nil, pw, pw},
		Umask:   -1,
		Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Soft: 123, Hard: 456}, {Resource: unix.RLIMIT_CORE, Soft: 0, Hard: 0}},
	}, func(e Exit) { done <- e })
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(pr)
	e := <-done
	if got, want := strings.Fields(string(out)), []string{"123", "456", "0"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("limits in child = %q; want %q", got, want)
	}
	if e.Code() != 0 {
		t.Errorf("exit code = %d; want 0", e.Code())
	}
}

// BenchmarkStartExit is one fork+exec of /bin/true through the spawner
// thread, registered, reaped and delivered: the reaper's whole round trip.
func BenchmarkStartExit(b *testing.B) {
	startExitLoop(b, startReaper(b))
}

// startExitLoop starts /bin/true through r and waits for its exit, once
// per iteration of b.
func startExitLoop(b *testing.B, r *Reaper) {
	exits := make(chan Exit, 1)
	for b.Loop() {
		if _, err := r.Start(Spec{Argv: []string{"/bin/true"}, Umask: -1}, func(e Exit) { exits <- e }); err != nil {
			b.Fatal(err)
		}
		<-exits
	}
}

// TestAdopt: a daemon a child leaves behind (reparented to the subreaper)
// can be adopted, live or already reaped as an orphan, and its real exit
// status is delivered either way.
func TestAdopt(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	r := startReaper(t)
	for _, tc := range []struct {
		name      string
		exitFirst bool
	}{{"live", false}, {"already reaped", true}} {
		t.Run(tc.name, func(t *testing.T) {
			// The shell prints its background child's pid and exits; the
			// child exits 3 once the test closes the gate pipe.
			out, outW, _ := os.Pipe()
			gate, gateW, _ := os.Pipe()
			defer out.Close()
			defer gateW.Close()
			done := make(chan Exit, 1)
			_, err := r.Start(Spec{Argv: []string{"/bin/sh", "-c", "(head -c1 <&3 >/dev/null; exit 3) >/dev/null 2>&1 & echo $!"},
				Files: []*os.File{nil, outW, outW, gate}, Umask: -1}, func(e Exit) { done <- e })
			outW.Close()
			gate.Close()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(out)
			<-done
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("daemon pid %q: %v", b, err)
			}
			if tc.exitFirst {
				n := r.Orphans()
				gateW.Close()
				for deadline := time.Now().Add(10 * time.Second); r.Orphans() == n; waitBriefly() {
					if time.Now().After(deadline) {
						t.Fatal("the orphan was never reaped")
					}
				}
			}
			exited := make(chan Exit, 1)
			if err := r.Adopt(pid, func(e Exit) { exited <- e }); err != nil {
				t.Fatalf("Adopt(%d) = %v", pid, err)
			}
			gateW.Close()
			e := <-exited
			if e.Pid != pid || e.Code() != 3 {
				t.Errorf("adopted exit = pid %d code %d; want pid %d code 3", e.Pid, e.Code(), pid)
			}
		})
	}
	if err := r.Adopt(999999, func(Exit) {}); err == nil {
		t.Errorf("Adopt(a pid that does not exist) = nil; want an error")
	}
}

// TestStartAll starts batches in which some children cannot start: the
// others start all the same, each with its own umask, and each exit goes to
// its own Done; a failure is reported for exactly the request that failed.
// Two spawner threads share the batches, so each result must still be its
// own request's.
func TestStartAll(t *testing.T) {
	r := startReaperN(t, 2)
	base := unix.Umask(0o022)
	unix.Umask(base)
	type child struct {
		argv  []string // default: sh reporting its umask, exiting with 10+i
		dir   string
		umask int
		want  error // nil: starts
	}
	ok := func(umask int) child { return child{umask: umask} }
	tests := []struct {
		name     string
		children []child
	}{
		{"one", []child{ok(-1)}},
		{"all start, own umasks", []child{ok(0o027), ok(-1), ok(0o077), ok(0o002)}},
		{"one umask twice, then superd's", []child{ok(0o027), ok(0o027), ok(-1), ok(-1)}},
		{"exec fails in the middle", []child{ok(0o027), {argv: []string{"/nonexistent/cmd"}, umask: -1, want: syscall.ENOENT}, ok(0o077)}},
		{"not executable in the middle", []child{ok(-1), {argv: []string{"/etc/passwd"}, umask: -1, want: syscall.EACCES}, ok(-1)}},
		{"chdir fails in the middle", []child{ok(-1), {dir: "/nonexistent", umask: 0o077, want: syscall.ENOENT}, ok(0o027)}},
		{"first and last fail", []child{{argv: []string{"/nonexistent/a"}, umask: -1, want: syscall.ENOENT}, ok(0o027), {argv: []string{"/nonexistent/b"}, umask: -1, want: syscall.ENOENT}}},
		{"empty argv", []child{ok(-1), {argv: []string{}, umask: -1, want: errEmptyArgv}, ok(-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(tt.children)
			reqs := make([]Request, n)
			outs := make([]*os.File, n)
			exits := make([]chan Exit, n)
			for i, c := range tt.children {
				pr, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer pr.Close()
				defer pw.Close()
				outs[i] = pr
				exits[i] = make(chan Exit, 1) // one exit, sent once
				argv := c.argv
				if argv == nil {
					argv = []string{"/bin/sh", "-c", "umask; exit " + strconv.Itoa(10+i)}
				}
				reqs[i] = Request{
					Spec: Spec{Argv: argv, Dir: c.dir, Files: []*os.File{nil, pw, pw}, Umask: c.umask},
					Done: func(e Exit) { exits[i] <- e },
				}
			}
			res := r.StartAll(slices.Values(reqs))
			if len(res) != n {
				t.Fatalf("StartAll(%d requests) = %d results; want %d", n, len(res), n)
			}
			for _, req := range reqs {
				req.Spec.Files[1].Close() // the children hold theirs
			}
			for i, c := range tt.children {
				if c.want != nil {
					if !errors.Is(res[i].Err, c.want) || res[i].Pid != 0 {
						t.Errorf("StartAll()[%d] = %d, %v; want 0, %v", i, res[i].Pid, res[i].Err, c.want)
					}
					continue
				}
				if res[i].Err != nil || res[i].Pid <= 0 {
					t.Errorf("StartAll()[%d] = %d, %v; want a pid", i, res[i].Pid, res[i].Err)
					continue
				}
				out, _ := io.ReadAll(outs[i])
				want := base
				if c.umask >= 0 {
					want = c.umask
				}
				if got := strings.TrimSpace(string(out)); got != fmt.Sprintf("%04o", want) {
					t.Errorf("child %d umask = %q; want %04o", i, got, want)
				}
				select {
				case e := <-exits[i]:
					if e.Pid != res[i].Pid || e.Code() != 10+i {
						t.Errorf("child %d exit = pid %d code %d; want pid %d code %d", i, e.Pid, e.Code(), res[i].Pid, 10+i)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("child %d: exit never delivered", i)
				}
			}
			for i, c := range tt.children {
				if c.want == nil {
					continue
				}
				select {
				case e := <-exits[i]:
					t.Errorf("child %d failed to start, yet its Done got %+v", i, e)
				default:
				}
			}
		})
	}
}

// TestStartAllAfterStop: once Run has returned, every request of a batch
// fails with ErrStopped and nothing blocks.
func TestStartAllAfterStop(t *testing.T) {
	r := New(2)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	// exits when cancel is called just below
	go func() { errc <- r.Run(ctx) }()
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run() = %v", err)
	}
	for _, st := range r.setups {
		privateThreads.Store(st.tid, true)
	}
	spec := Spec{Argv: []string{"/bin/true"}, Umask: -1}
	res := r.StartAll(slices.Values([]Request{{Spec: spec, Done: func(Exit) {}}, {Spec: spec, Done: func(Exit) {}}}))
	for i, x := range res {
		if !errors.Is(x.Err, ErrStopped) {
			t.Errorf("StartAll()[%d] = %d, %v; want ErrStopped", i, x.Pid, x.Err)
		}
	}
	if res := r.StartAll(slices.Values([]Request(nil))); len(res) != 0 {
		t.Errorf("StartAll(no requests) = %v; want no results", res)
	}
}

// TestChildrenHoldNoDescriptor: a live child costs superd no descriptor (no
// pidfd is kept: every later fork would copy it and every exec close it),
// and Signal still reaches it.
func TestChildrenHoldNoDescriptor(t *testing.T) {
	r := startReaper(t)
	fds := func() int {
		t.Helper()
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	const n = 20
	exits := make(chan Exit, n) // buffered: holds every exit
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Spec: Spec{Argv: []string{"/bin/sleep", "100"}, Umask: -1}, Done: func(e Exit) { exits <- e }}
	}
	res := r.StartAll(slices.Values(reqs))
	if got := fds(); got > before {
		t.Errorf("descriptors with %d live children = %d; want at most %d, as before", n, got, before)
	}
	for _, x := range res {
		if x.Err != nil {
			t.Fatalf("StartAll() = %v", x.Err)
		}
		if err := r.Signal(x.Pid, syscall.SIGKILL); err != nil {
			t.Errorf("Signal(%d, SIGKILL) = %v", x.Pid, err)
		}
	}
	for range n {
		select {
		case e := <-exits:
			if !e.Status.Signaled() || e.Status.Signal() != syscall.SIGKILL {
				t.Errorf("pid %d exit status = %v; want killed by SIGKILL", e.Pid, e.Status)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("exits never delivered")
		}
	}
}

// TestStartAllOnTwoThreads: with two spawner threads, the second forks a
// batch's next request while the first is still busy with its own (here
// held back until the second child is forked), and a lone Start is
// served as well.
func TestStartAllOnTwoThreads(t *testing.T) {
	second := make(chan struct{})
	var mu sync.Mutex
	forkedOn := map[int]int{} // request → thread
	r := startReaperN(t, 2, func(r *Reaper) {
		r.beforeFork = func(req Request) {
			mu.Lock()
			forkedOn[req.seq] = unix.Gettid()
			mu.Unlock()
			switch req.seq {
			case 0:
				select {
				case <-second:
				case <-time.After(10 * time.Second):
					t.Error("the second request was not forked while the first waited: one spawner thread served the batch")
				}
			case 1:
				close(second)
			}
		}
	})
	exits := make(chan Exit, 2) // buffered: holds both exits
	reqs := []Request{
		{Spec: Spec{Argv: []string{"/bin/sh", "-c", "exit 3"}, Umask: -1}, Done: func(e Exit) { exits <- e }},
		{Spec: Spec{Argv: []string{"/bin/sh", "-c", "exit 4"}, Umask: -1}, Done: func(e Exit) { exits <- e }},
	}
	res := r.StartAll(slices.Values(reqs))
	if len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("StartAll() = %+v; want two started", res)
	}
	mu.Lock()
	if forkedOn[0] == forkedOn[1] {
		t.Errorf("both requests forked on thread %d; want one each on the two spawner threads", forkedOn[0])
	}
	mu.Unlock()
	want := map[int]int{res[0].Pid: 3, res[1].Pid: 4}
	for range 2 {
		select {
		case e := <-exits:
			if code, ok := want[e.Pid]; !ok || e.Code() != code {
				t.Errorf("exit of pid %d = %d; want the results' pids %d (3) and %d (4)", e.Pid, e.Code(), res[0].Pid, res[1].Pid)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("exits never delivered")
		}
	}
	// A lone Start, once the batch is over: seq 0 again, not held.
	second = make(chan struct{})
	close(second)
	pid, err := r.Start(Spec{Argv: []string{"/bin/true"}, Umask: -1}, func(e Exit) { exits <- e })
	if err != nil || pid <= 0 {
		t.Fatalf("Start() = %d, %v; want a pid", pid, err)
	}
	select {
	case e := <-exits:
		if e.Pid != pid {
			t.Errorf("exit of pid %d; want %d", e.Pid, pid)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("exit never delivered")
	}
}

// TestStartAllConcurrent: batches and lone Starts from several goroutines
// at once, on two spawner threads, each get their own children: every
// result is a pid whose exit (with the code its request asked for) goes to
// that request's Done, and to no other.
func TestStartAllConcurrent(t *testing.T) {
	r := startReaperN(t, 2)
	const callers, rounds, batch = 6, 4, 5
	type want struct {
		pid, code int
	}
	errs := make(chan error, callers*rounds*(batch+1))
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for round := range rounds {
				exits := make(chan Exit, batch+1) // buffered: every exit of this round
				var reqs []Request
				for i := range batch {
					code := (c*rounds*batch + round*batch + i) % 200
					reqs = append(reqs, Request{Spec: Spec{Argv: []string{"/bin/sh", "-c", "exit " + strconv.Itoa(code)}, Umask: -1}, Done: func(e Exit) { exits <- e }})
				}
				var wants []want
				for i, res := range r.StartAll(slices.Values(reqs)) {
					if res.Err != nil || res.Pid <= 0 {
						errs <- fmt.Errorf("caller %d round %d: StartAll()[%d] = %d, %v; want a pid", c, round, i, res.Pid, res.Err)
						return
					}
					wants = append(wants, want{res.Pid, (c*rounds*batch + round*batch + i) % 200})
				}
				pid, err := r.Start(Spec{Argv: []string{"/bin/sh", "-c", "exit 201"}, Umask: -1}, func(e Exit) { exits <- e })
				if err != nil {
					errs <- fmt.Errorf("caller %d round %d: Start() = %v", c, round, err)
					return
				}
				wants = append(wants, want{pid, 201})
				got := map[want]bool{}
				for range wants {
					select {
					case e := <-exits:
						got[want{e.Pid, e.Code()}] = true
					case <-time.After(30 * time.Second):
						errs <- fmt.Errorf("caller %d round %d: exits never delivered", c, round)
						return
					}
				}
				for _, w := range wants {
					if !got[w] {
						errs <- fmt.Errorf("caller %d round %d: no exit of pid %d with code %d among %v", c, round, w.pid, w.code, got)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestExitBeforeRegistration: a child that is gone before its pid is
// registered is not reaped as an orphan: reap cannot take forkMu until the
// registration, and then delivers the exit to the child's Done.
func TestExitBeforeRegistration(t *testing.T) {
	checked := make(chan struct{})
	r := startReaperN(t, 2, func(r *Reaper) {
		r.registering = func(pid int) {
			defer close(checked)
			// A pidfd turns readable when its process exits, before it is
			// reaped; opening one fails once it has been reaped.
			fd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				t.Errorf("child %d was reaped before its registration: pidfd_open: %v", pid, err)
				return
			}
			defer unix.Close(fd)
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 10_000)
			for err == unix.EINTR {
				n, err = unix.Poll(fds, 10_000)
			}
			if err != nil || n == 0 {
				t.Errorf("child %d did not exit within 10s: poll = %d, %v", pid, n, err)
				return
			}
			if r.forkMu.TryLock() {
				r.forkMu.Unlock()
				t.Error("reap could take forkMu between a fork and its registration")
			}
		}
	})
	exits := make(chan Exit, 1) // one exit, sent once
	pid, err := r.Start(Spec{Argv: []string{"/bin/sh", "-c", "exit 7"}, Umask: -1}, func(e Exit) { exits <- e })
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	select {
	case <-checked:
	case <-time.After(30 * time.Second):
		t.Fatalf("the registering hook never ran for child %d", pid)
	}
	select {
	case e := <-exits:
		if e.Pid != pid || e.Code() != 7 {
			t.Errorf("exit = pid %d code %d; want pid %d code 7", e.Pid, e.Code(), pid)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the exit of child %d, gone before its registration, never delivered (reaped as an orphan: %d)", pid, r.Orphans())
	}
}

// TestStartAllForksAsYielded: the spawner thread forks each request as soon
// as it is yielded, while the caller makes the next one: here the caller
// waits for the first child's output before it yields the second.
func TestStartAllForksAsYielded(t *testing.T) {
	r := startReaper(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	exits := make(chan Exit, 2) // buffered: holds both exits
	spec := Spec{Argv: []string{"/bin/sh", "-c", "echo first"}, Files: []*os.File{nil, pw, pw}, Umask: -1}
	var got string
	res := r.StartAll(func(yield func(Request) bool) {
		if !yield(Request{Spec: spec, Done: func(e Exit) { exits <- e }}) {
			return
		}
		pr.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		n, err := pr.Read(buf)
		got = string(buf[:n])
		if err != nil {
			t.Errorf("read the first child's output while making the second request: %v", err)
		}
		yield(Request{Spec: Spec{Argv: []string{"/bin/true"}, Umask: -1}, Done: func(e Exit) { exits <- e }})
	})
	if got != "first\n" {
		t.Errorf("first child's output before the second request = %q; want %q", got, "first\n")
	}
	if len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("StartAll() = %+v; want two started", res)
	}
	for range 2 {
		select {
		case <-exits:
		case <-time.After(30 * time.Second):
			t.Fatal("exits never delivered")
		}
	}
}

// TestLogSetup: what LogSetup logs for the spawner threads' setups, each
// line once however many threads would log it.
func TestLogSetup(t *testing.T) {
	why := errors.New("refused")
	other := errors.New("other")
	tests := []struct {
		name   string
		setups []spawnerSetup
		want   []string // lines, each holding this text; none when empty
	}{
		{"as designed", []spawnerSetup{{}, {}}, nil},
		{"shared table", []spawnerSetup{{sharedTableWhy: why}, {sharedTableWhy: why}}, []string{`level=DEBUG msg="reaper: forking from superd's own descriptor table" reason=refused`}},
		{"split left copies", []spawnerSetup{{splitLeft: why}, {splitLeft: why}}, []string{`level=WARN msg="reaper: the spawner's private descriptor table keeps copies of superd's descriptors" err=refused`}},
		{"no /dev/null", []spawnerSetup{{nullWhy: why}}, []string{`level=WARN msg="reaper: children's unset descriptors start closed" err=refused`}},
		{"shared umask", []spawnerSetup{{sharedFSWhy: why}, {sharedFSWhy: why}}, []string{`level=DEBUG msg="reaper: a program's own umask is set by the shim" reason="unshare CLONE_FS: refused"`}},
		{"threads differ", []spawnerSetup{{}, {splitLeft: why}, {splitLeft: other}}, []string{
			`level=WARN msg="reaper: the spawner's private descriptor table keeps copies of superd's descriptors" err=refused`,
			`level=WARN msg="reaper: the spawner's private descriptor table keeps copies of superd's descriptors" err=other`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			r := &Reaper{setups: tt.setups}
			r.LogSetup(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(tt.want) == 0 {
				if buf.Len() != 0 {
					t.Errorf("LogSetup() logged %q; want nothing", buf.String())
				}
				return
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("LogSetup() logged %q; want %d lines", buf.String(), len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("LogSetup() line %d = %q; want it to hold %q", i+1, lines[i], w)
				}
			}
		})
	}
}
