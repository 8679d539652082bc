package supervisor

import (
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/config"
	"github.com/superd/superd/supervisor/logs"
)

// envOf is the environment a ProcSpawner with superd's environment environ
// gives the start req of p.
func envOf(t *testing.T, sp *ProcSpawner, p *config.Program, req spawnReq) []string {
	t.Helper()
	ps, err := sp.setup(p)
	if err != nil {
		t.Fatalf("setup(%s) = %v", p.Name, err)
	}
	req.prog = p
	env, err := ps.env(req)
	if err != nil {
		t.Fatalf("env(%s) = %v", p.Name, err)
	}
	return env
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestChildEnv(t *testing.T) {
	dir := t.TempDir()
	a, b, n := filepath.Join(dir, "a.env"), filepath.Join(dir, "b.env"), filepath.Join(dir, "n.env")
	writeFile(t, a, "# a\nX=1\nexport PATH=/f\n")
	writeFile(t, b, "X=2\nY='3'\n")
	writeFile(t, n, "NOTIFY_SOCKET=/evil\n")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	environ := []string{"PATH=/bin", "NOTIFY_SOCKET=/x", "WATCHDOG_USEC=1", "SUPERD_FOO=1", "SECRET=s", "LANG=C"}
	tests := []struct {
		name    string
		environ []string
		mod     func(*config.Program)
		req     spawnReq
		want    []string
	}{
		{"inherited minus superd's own and env_exclude, then environment by key, then superd's", environ,
			func(p *config.Program) {
				p.EnvExclude = []string{"SECRET"}
				p.Environment = map[string]string{"B": "2", "A": "1"}
			},
			spawnReq{index: 3, socket: "/s"},
			[]string{"PATH=/bin", "LANG=C", "A=1", "B=2", "SUPERD_PROGRAM=web", "SUPERD_INSTANCE=3", "SUPERD_SOCKET=/s"}},
		{"not inherited", environ,
			func(p *config.Program) {
				p.InheritEnvironment = false
				p.Environment = map[string]string{"A": "1"}
			},
			spawnReq{},
			[]string{"A=1", "SUPERD_PROGRAM=web", "SUPERD_INSTANCE=0"}},
		{"environment replaces an inherited value in place", []string{"PATH=/bin", "LANG=C"},
			func(p *config.Program) { p.Environment = map[string]string{"PATH": "/usr/bin"} },
			spawnReq{index: 1},
			[]string{"PATH=/usr/bin", "LANG=C", "SUPERD_PROGRAM=web", "SUPERD_INSTANCE=1"}},
		{"superd's variables win over environment, in place", nil,
			func(p *config.Program) {
				p.Environment = map[string]string{"SUPERD_INSTANCE": "x", "Z": "1", "NOTIFY_SOCKET": "/evil"}
			},
			spawnReq{index: 2, socket: "/s", notifySocket: "/n"},
			[]string{"NOTIFY_SOCKET=/n", "SUPERD_INSTANCE=2", "Z=1", "SUPERD_PROGRAM=web", "SUPERD_SOCKET=/s"}},
		{"notify socket and watchdog", nil,
			func(p *config.Program) { p.Watchdog = 2 * time.Second },
			spawnReq{notifySocket: "/n"},
			[]string{"SUPERD_PROGRAM=web", "SUPERD_INSTANCE=0", "NOTIFY_SOCKET=/n", "WATCHDOG_USEC=2000000"}},
		{"env_files in order, then environment", []string{"PATH=/bin", "LANG=C"},
			func(p *config.Program) {
				p.EnvFiles = []string{a, b}
				p.Environment = map[string]string{"Y": "env", "LANG": "de"}
			},
			spawnReq{index: 4},
			[]string{"PATH=/f", "LANG=de", "X=2", "Y=env", "SUPERD_PROGRAM=web", "SUPERD_INSTANCE=4"}},
		{"superd's NOTIFY_SOCKET wins over an env file's, in place", nil,
			func(p *config.Program) { p.EnvFiles = []string{n} },
			spawnReq{notifySocket: "/n"},
			[]string{"NOTIFY_SOCKET=/n", "SUPERD_PROGRAM=web", "SUPERD_INSTANCE=0"}},
		{"user's HOME, USER, LOGNAME and SHELL, unless the config sets them", []string{"HOME=/nowhere", "PATH=/bin"},
			func(p *config.Program) {
				p.User = me.Username
				p.Environment = map[string]string{"SHELL": "/bin/zsh"}
			},
			spawnReq{},
			[]string{"HOME=" + me.HomeDir, "PATH=/bin", "USER=" + me.Username, "LOGNAME=" + me.Username, "SHELL=/bin/zsh", "SUPERD_PROGRAM=web", "SUPERD_INSTANCE=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := NewProcSpawner(t.Context(), nil, nil, nil)
			sp.environ = tt.environ
			p := prog("web", tt.mod)
			if got := envOf(t, sp, p, tt.req); !slices.Equal(got, tt.want) {
				t.Errorf("env = %q; want %q", got, tt.want)
			}
			// Again, from the kept setup: the same.
			if got := envOf(t, sp, p, tt.req); !slices.Equal(got, tt.want) {
				t.Errorf("env of a second start = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestChildEnvPerStart: what a program's config decides is built once per
// generation of its config; the instance number, env_files' contents and a
// reload still show at the next start.
func TestChildEnvPerStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "web.env")
	writeFile(t, file, "V=1\n")
	sp := NewProcSpawner(t.Context(), nil, nil, nil)
	sp.environ = []string{"PATH=/bin"}
	p := prog("web", func(p *config.Program) { p.Environment = map[string]string{"A": "1"} })
	withFile := prog("job", func(p *config.Program) { p.EnvFiles = []string{file} })

	steps := []struct {
		name string
		do   func()
		p    **config.Program
		req  spawnReq
		want []string
	}{
		{"instance 0", nil, &p, spawnReq{index: 0},
			[]string{"PATH=/bin", "A=1", "SUPERD_PROGRAM=web", "SUPERD_INSTANCE=0"}},
		{"instance 1, same setup", nil, &p, spawnReq{index: 1},
			[]string{"PATH=/bin", "A=1", "SUPERD_PROGRAM=web", "SUPERD_INSTANCE=1"}},
		{"a reload: a new config", func() {
			p = prog("web", func(p *config.Program) { p.Environment = map[string]string{"A": "2"} })
		}, &p, spawnReq{index: 1},
			[]string{"PATH=/bin", "A=2", "SUPERD_PROGRAM=web", "SUPERD_INSTANCE=1"}},
		{"env file", nil, &withFile, spawnReq{},
			[]string{"PATH=/bin", "V=1", "SUPERD_PROGRAM=job", "SUPERD_INSTANCE=0"}},
		{"env file changed: read again", func() { writeFile(t, file, "W=2\nV=3\n") }, &withFile, spawnReq{},
			[]string{"PATH=/bin", "W=2", "V=3", "SUPERD_PROGRAM=job", "SUPERD_INSTANCE=0"}},
	}
	for _, st := range steps {
		if st.do != nil {
			st.do()
		}
		got := envOf(t, sp, *st.p, st.req)
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: env = %q; want %q", st.name, got, st.want)
		}
		// What the caller appends (CREDENTIALS_DIRECTORY) is its own.
		_ = append(got, "CREDENTIALS_DIRECTORY=/c")
	}
	if again := envOf(t, sp, p, spawnReq{index: 5}); slices.Contains(again, "CREDENTIALS_DIRECTORY=/c") {
		t.Errorf("env = %q: an append to an earlier env leaked into the kept head", again)
	}
	// Programs share superd's inherited environment; one's env_exclude
	// and environment stay its own.
	sp.environ = []string{"PATH=/bin", "SECRET=s"}
	sp.inherited = nil
	excl := prog("excl", func(p *config.Program) {
		p.EnvExclude = []string{"SECRET"}
		p.Environment = map[string]string{"PATH": "/x"}
	})
	for _, c := range []struct {
		p    *config.Program
		want []string
	}{
		{prog("one", func(p *config.Program) { p.Environment = map[string]string{"PATH": "/one"} }), []string{"PATH=/one", "SECRET=s", "SUPERD_PROGRAM=one", "SUPERD_INSTANCE=0"}},
		{excl, []string{"PATH=/x", "SUPERD_PROGRAM=excl", "SUPERD_INSTANCE=0"}},
		{prog("two"), []string{"PATH=/bin", "SECRET=s", "SUPERD_PROGRAM=two", "SUPERD_INSTANCE=0"}},
	} {
		if got := envOf(t, sp, c.p, spawnReq{}); !slices.Equal(got, c.want) {
			t.Errorf("%s: env = %q; want %q", c.p.Name, got, c.want)
		}
	}
	ps1, _ := sp.setup(p)
	ps2, _ := sp.setup(p)
	if ps1 != ps2 {
		t.Errorf("setup(p) twice = two setups; want the kept one")
	}
}

// TestChildPipe: superd's end is non-blocking and polled (a read deadline
// works), the child's end is blocking, and what one writes the other reads.
func TestChildPipe(t *testing.T) {
	r, w, err := childPipe()
	if err != nil {
		t.Fatalf("childPipe() = %v", err)
	}
	defer r.Close()
	for _, c := range []struct {
		name string
		f    *os.File
		want bool
	}{{"read end", r, true}, {"write end", w, false}} {
		fl, err := unix.FcntlInt(c.f.Fd(), unix.F_GETFL, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := fl&unix.O_NONBLOCK != 0; got != c.want {
			t.Errorf("%s O_NONBLOCK = %v; want %v", c.name, got, c.want)
		}
		fd, err := unix.FcntlInt(c.f.Fd(), unix.F_GETFD, 0)
		if err != nil || fd&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s FD_CLOEXEC = %v, %v; want set", c.name, fd&unix.FD_CLOEXEC != 0, err)
		}
	}
	if err := r.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Errorf("read end SetReadDeadline() = %v; want it polled", err)
	}
	if _, err := w.Write([]byte("line\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if b, err := io.ReadAll(r); string(b) != "line\n" || err != nil {
		t.Errorf("ReadAll(read end) = %q, %v; want %q, nil", b, err, "line\n")
	}
}

// TestRunArgvPerStart: the argv of a program's generation is built once and
// shared; a job run's arguments go into a copy of it, never into the
// shared one another run would see.
func TestRunArgvPerStart(t *testing.T) {
	sp := NewProcSpawner(t.Context(), nil, nil, nil)
	// Spare capacity: an append in place would show in an earlier run.
	p := prog("job", func(p *config.Program) { p.Command = append(make([]string, 0, 8), "/bin/echo", "a") })
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"run with one argument", []string{"x"}, []string{"/bin/echo", "a", "x"}},
		{"run with two", []string{"y", "z"}, []string{"/bin/echo", "a", "y", "z"}},
		{"run without", nil, []string{"/bin/echo", "a"}},
	}
	var got [][]string
	for _, tt := range tests {
		req := spawnReq{name: "job", prog: p, out: &output{ring: logs.NewRing(64)}, args: tt.args}
		start, files, pumps, err := sp.prepare(req)
		for _, f := range files {
			f.Close()
		}
		for _, run := range pumps {
			run() // ends at once: the write ends are closed
		}
		if err != nil {
			t.Fatalf("%s: prepare() = %v", tt.name, err)
		}
		got = append(got, start.Spec.Argv)
	}
	sp.Wait()
	for i, tt := range tests {
		if !slices.Equal(got[i], tt.want) {
			t.Errorf("%s: Argv = %q; want %q", tt.name, got[i], tt.want)
		}
	}
}

func TestDescriptors(t *testing.T) {
	prog := func(stdout, stderr config.Output, typ string, detach bool, instances int) *config.Program {
		return &config.Program{Name: "p", Stdout: stdout, Stderr: stderr, Type: typ, Detach: detach, Instances: instances}
	}
	for _, tc := range []struct {
		name  string
		progs []*config.Program
		want  int
	}{
		{"none", nil, 0},
		{"defaults: one pipe, one log file", []*config.Program{prog(config.OutputFile, config.OutputStdout, "simple", false, 1)}, 2},
		{"instances count", []*config.Program{prog(config.OutputFile, config.OutputStdout, "simple", false, 3)}, 6},
		{"stderr to its own file: two pipes, two files", []*config.Program{prog(config.OutputFile, config.OutputFile, "simple", false, 1)}, 4},
		{"null output: its pipes only", []*config.Program{prog(config.OutputNull, config.OutputNull, "simple", false, 1)}, 2},
		{"inherit, merged: one pipe", []*config.Program{prog(config.OutputInherit, config.OutputStdout, "simple", false, 1)}, 1},
		{"notify: its socket too", []*config.Program{prog(config.OutputFile, config.OutputStdout, config.TypeNotify, false, 2)}, 6},
		{"detached: files closed after the fork", []*config.Program{prog(config.OutputFile, config.OutputFile, "simple", true, 4)}, 0},
		{"several programs", []*config.Program{
			prog(config.OutputFile, config.OutputStdout, "simple", false, 100),
			prog(config.OutputJournal, config.OutputJournal, config.TypeNotify, false, 2),
		}, 200 + 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Descriptors(&config.Config{Programs: tc.progs}); got != tc.want {
				t.Errorf("Descriptors = %d; want %d", got, tc.want)
			}
		})
	}
}
