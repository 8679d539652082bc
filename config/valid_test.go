package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// absTestdata returns the absolute path of testdata/rel.
func absTestdata(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mustLoad loads path with sys and fails the test on any error.
func mustLoad(t *testing.T, path string, sys *system) *Config {
	t.Helper()
	c, err := load(path, sys)
	if err != nil {
		t.Fatalf("load(%q) error:\n%v", path, err)
	}
	return c
}

// compareFields reports each field of got that differs from want; both are
// structs or pointers to structs of the same type.
func compareFields(t *testing.T, name string, got, want any) {
	t.Helper()
	g, w := reflect.Indirect(reflect.ValueOf(got)), reflect.Indirect(reflect.ValueOf(want))
	for i := range g.NumField() {
		gf, wf := g.Field(i).Interface(), w.Field(i).Interface()
		if gc, ok := gf.(*Check); ok { // its *regexp.Regexp compares by text
			if wc := wf.(*Check); !gc.Equal(wc) {
				t.Errorf("%s.%s = %+v; want %+v", name, g.Type().Field(i).Name, gc, wc)
			}
			continue
		}
		if !reflect.DeepEqual(gf, wf) {
			t.Errorf("%s.%s = %#v; want %#v", name, g.Type().Field(i).Name, gf, wf)
		}
	}
}

// defaultProgram is a program with every built-in default, defined at
// header line:col of file.
func defaultProgram(name, file string, line, col int) Program {
	return Program{
		Name: name, File: file, Line: line, Col: col,
		Directory:          filepath.Dir(file),
		Umask:              -1,
		InheritEnvironment: true,
		Instances:          1,
		Autostart:          true,
		Restart:            RestartOnFailure,
		SuccessExitCodes:   []int{0},
		StartSeconds:       time.Second,
		StartRetries:       3,
		BackoffInitial:     time.Second,
		BackoffMax:         time.Minute,
		OnFatal:            OnFatalNone,
		StopSignal:         syscall.SIGTERM,
		StopTimeout:        10 * time.Second,
		KillGroup:          true,
		Stdout:             OutputFile,
		Stderr:             OutputStdout,
		LogMaxSize:         50 << 20,
		LogMaxFiles:        5,
		Type:               TypeSimple,
	}
}

func TestLoadFull(t *testing.T) {
	dir := absTestdata(t, "valid")
	main := filepath.Join(dir, "full.toml")
	c := mustLoad(t, "testdata/valid/full.toml", testSystem(0))

	if c.Path != main {
		t.Errorf("Path = %q; want %q", c.Path, main)
	}
	wantFiles := []string{main, filepath.Join(dir, "conf.d/cache.toml"), filepath.Join(dir, "conf.d/zz-worker.toml")}
	if !reflect.DeepEqual(c.Files, wantFiles) {
		t.Errorf("Files = %q; want %q", c.Files, wantFiles)
	}
	compareFields(t, "Superd", c.Superd, Superd{
		Socket:            filepath.Join(dir, "run/superd.sock"),
		SocketMode:        0o660,
		StateDir:          "/var/lib/superd",
		LogDir:            absTestdata(t, "logs"),
		LogFormat:         "json",
		LogLevel:          slog.LevelDebug,
		ShutdownTimeout:   2 * time.Minute,
		MaxParallelStarts: 4,
		Subreaper:         false,
		Include:           []string{filepath.Join(dir, "conf.d/*.toml")},
	})

	var names []string
	for _, p := range c.Programs {
		names = append(names, p.Name)
	}
	if want := []string{"cache", "db", "web", "worker.v2"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("program names = %q; want %q", names, want)
	}

	// From [defaults]: stop_timeout, environment, limits, health (with the
	// built-in defaults of its timeout, interval and failures).
	fromDefaults := func(p Program) Program {
		p.StopTimeout = 20 * time.Second
		p.Environment = map[string]string{"FROM": "defaults"}
		p.Limits = []Rlimit{{Name: "core", Resource: unix.RLIMIT_CORE}}
		p.Health = &Check{Exec: []string{"/bin/true"}, Timeout: 2 * time.Second, Interval: 10 * time.Second, Failures: 3}
		return p
	}
	cacheFile := filepath.Join(dir, "conf.d/cache.toml")
	cache := fromDefaults(defaultProgram("cache", "testdata/valid/conf.d/cache.toml", 1, 10))
	cache.Directory = filepath.Dir(cacheFile)
	cache.Command = []string{"/usr/bin/redis-server"}
	cache.DependsOn = []string{"db"}
	cache.Ready = &Check{TCP: "127.0.0.1:6379", Timeout: 5 * time.Second}

	db := fromDefaults(defaultProgram("db", "testdata/valid/full.toml", 55, 10))
	db.Directory = dir
	db.Shell = "exec sleep 3600"
	db.StopSignal = syscall.SIGINT
	db.Stdout, db.Stderr = OutputNull, OutputNull
	db.LogMaxSize = 1 << 20
	db.Ready = &Check{Exec: []string{"/usr/bin/pg_isready", "-q"}, Timeout: 30 * time.Second} // default timeout

	web := Program{
		Name: "web", File: "testdata/valid/full.toml", Line: 20, Col: 10,
		Command:            []string{"/usr/bin/python3", "-m", "http.server", "8080"},
		Directory:          "/srv/web",
		User:               "www-data",
		Group:              "www-data",
		Umask:              0o27,
		Environment:        map[string]string{"APP_ENV": "prod", "WITH SPACE": "yes"},
		EnvFiles:           []string{"/etc/web.env", "/etc/web.local.env"},
		InheritEnvironment: false,
		EnvExclude:         []string{"AWS_SECRET_ACCESS_KEY"},
		Instances:          3,
		Autostart:          false,
		Restart:            RestartAlways,
		SuccessExitCodes:   []int{0, 2},
		StartSeconds:       5 * time.Second,
		StartRetries:       -1,
		BackoffInitial:     500 * time.Millisecond,
		BackoffMax:         30 * time.Second,
		RestartDelay:       2 * time.Second,
		OnFatal:            OnFatalShutdown,
		StopSignal:         syscall.SIGINT,
		StopTimeout:        90 * time.Second,
		KillGroup:          false,
		DependsOn:          []string{"db"},
		Stdout:             OutputInherit,
		Stderr:             OutputFile,
		LogMaxSize:         10_000_000,
		LogMaxFiles:        2,
		Timestamps:         true,
		Limits: []Rlimit{
			{Name: "core", Resource: unix.RLIMIT_CORE, Soft: unix.RLIM_INFINITY, Hard: unix.RLIM_INFINITY},
			{Name: "nofile", Resource: unix.RLIMIT_NOFILE, Soft: 65536, Hard: 65536},
			{Name: "nproc", Resource: unix.RLIMIT_NPROC, Soft: 1024, Hard: 4096},
			{Name: "stack", Resource: unix.RLIMIT_STACK, Soft: 8388608, Hard: unix.RLIM_INFINITY},
		},
		Ready: &Check{Log: regexp.MustCompile("listening on .*:8080"), Timeout: time.Minute},
		Health: &Check{
			HTTP:     "http://127.0.0.1:8080/healthz",
			Timeout:  time.Second,
			Interval: 5 * time.Second,
			Failures: 5,
		},
		Type:     TypeNotify,
		Watchdog: 30 * time.Second,
	}

	worker := fromDefaults(defaultProgram("worker.v2", "testdata/valid/conf.d/zz-worker.toml", 1, 10))
	worker.Directory = filepath.Dir(cacheFile)
	worker.Shell = "exec sleep 60"
	worker.Instances = 2

	for i, want := range []Program{cache, db, web, worker} {
		compareFields(t, "Program("+want.Name+")", c.Programs[i], want)
	}
	if got := c.Program("web"); got != c.Programs[2] {
		t.Errorf("Program(%q) = %p; want %p", "web", got, c.Programs[2])
	}
	if got := c.Program("nope"); got != nil {
		t.Errorf("Program(%q) = %v; want nil", "nope", got)
	}
	if got, want := c.Program("db").Argv(), []string{"/bin/sh", "-c", "exec sleep 3600"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Argv() = %q; want %q", got, want)
	}
	if got, want := c.Program("web").Argv(), web.Command; !reflect.DeepEqual(got, want) {
		t.Errorf("Argv() = %q; want %q", got, want)
	}
}

func TestLoadDefaults(t *testing.T) {
	noXDG := testSystem(1000)
	noXDG.getenv = func(string) string { return "" }
	tests := []struct {
		name string
		sys  *system
		want Superd
	}{
		{"root", testSystem(0), Superd{
			Socket: "/run/superd/superd.sock", StateDir: "/run/superd", LogDir: "/var/log/superd",
		}},
		{"user with XDG_RUNTIME_DIR", testSystem(1000), Superd{
			Socket: "/run/user/1000/superd/superd.sock", StateDir: "/run/user/1000/superd",
			LogDir: "/run/user/1000/superd/logs",
		}},
		{"user without XDG_RUNTIME_DIR", noXDG, Superd{
			Socket: "/tmp/superd-1000/superd.sock", StateDir: "/tmp/superd-1000",
			LogDir: "/tmp/superd-1000/logs",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, "testdata/valid/minimal.toml", tt.sys)
			want := tt.want
			want.SocketMode = 0o600
			want.LogFormat = "text"
			want.LogLevel = slog.LevelInfo
			want.ShutdownTimeout = 90 * time.Second
			want.MaxParallelStarts = 16
			want.Subreaper = true
			compareFields(t, "Superd", c.Superd, want)

			wantProg := defaultProgram("web", "testdata/valid/minimal.toml", 1, 10)
			wantProg.Directory = absTestdata(t, "valid")
			wantProg.Command = []string{"/bin/sleep", "60"}
			if len(c.Programs) != 1 {
				t.Fatalf("len(Programs) = %d; want 1", len(c.Programs))
			}
			compareFields(t, "Program(web)", c.Programs[0], wantProg)
		})
	}
}

func TestLoadDefaultsTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "superd.toml")
	writeFile(t, path, `
[defaults]
command = ["/bin/sleep", "60"]
stop_timeout = "3s"
environment = { A = "1" }
restart = "never"

[program.inherits]

[program.overrides]
stop_timeout = "4s"
environment = { B = "2" }

[program.shell]
shell = "exec sleep 60"
`)
	c := mustLoad(t, path, testSystem(1000))
	tests := []struct {
		name        string
		command     []string
		shell       string
		stopTimeout time.Duration
		env         map[string]string
	}{
		{"inherits", []string{"/bin/sleep", "60"}, "", 3 * time.Second, map[string]string{"A": "1"}},
		{"overrides", []string{"/bin/sleep", "60"}, "", 4 * time.Second, map[string]string{"B": "2"}},
		{"shell", nil, "exec sleep 60", 3 * time.Second, map[string]string{"A": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := c.Program(tt.name)
			if p == nil {
				t.Fatalf("Program(%q) = nil", tt.name)
			}
			if !reflect.DeepEqual(p.Command, tt.command) || p.Shell != tt.shell {
				t.Errorf("Program(%q) command, shell = %q, %q; want %q, %q", tt.name, p.Command, p.Shell, tt.command, tt.shell)
			}
			if p.StopTimeout != tt.stopTimeout {
				t.Errorf("Program(%q).StopTimeout = %v; want %v", tt.name, p.StopTimeout, tt.stopTimeout)
			}
			if !reflect.DeepEqual(p.Environment, tt.env) {
				t.Errorf("Program(%q).Environment = %v; want %v", tt.name, p.Environment, tt.env)
			}
			if p.Restart != RestartNever {
				t.Errorf("Program(%q).Restart = %q; want %q", tt.name, p.Restart, RestartNever)
			}
		})
	}
}

func TestLoadChecksFromDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "superd.toml")
	writeFile(t, path, `
[defaults]
command = ["/bin/sleep", "60"]
ready = { tcp = "127.0.0.1:80", timeout = "5s" }
type = "notify"
watchdog = "20s"

[program.inherits]

[program.replaces]
ready = { http = "https://127.0.0.1/ready" }
health = { tcp = "[::1]:81" }
type = "simple"
watchdog = "0s"
`)
	c := mustLoad(t, path, testSystem(1000))
	tests := []struct {
		name     string
		ready    *Check
		health   *Check
		typ      string
		watchdog time.Duration
	}{
		{"inherits", &Check{TCP: "127.0.0.1:80", Timeout: 5 * time.Second}, nil, TypeNotify, 20 * time.Second},
		// A program's ready replaces the whole table of [defaults]: its
		// timeout is the built-in 30s, not 5s.
		{"replaces", &Check{HTTP: "https://127.0.0.1/ready", Timeout: 30 * time.Second},
			&Check{TCP: "[::1]:81", Timeout: 2 * time.Second, Interval: 10 * time.Second, Failures: 3}, TypeSimple, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := c.Program(tt.name)
			if p == nil {
				t.Fatalf("Program(%q) = nil", tt.name)
			}
			if !p.Ready.Equal(tt.ready) {
				t.Errorf("Program(%q).Ready = %+v; want %+v", tt.name, p.Ready, tt.ready)
			}
			if !p.Health.Equal(tt.health) {
				t.Errorf("Program(%q).Health = %+v; want %+v", tt.name, p.Health, tt.health)
			}
			if p.Type != tt.typ || p.Watchdog != tt.watchdog {
				t.Errorf("Program(%q) type, watchdog = %q, %v; want %q, %v", tt.name, p.Type, p.Watchdog, tt.typ, tt.watchdog)
			}
		})
	}
}

func TestCheckEqual(t *testing.T) {
	log := func(re string) *Check { return &Check{Log: regexp.MustCompile(re), Timeout: time.Second} }
	tests := []struct {
		name string
		c, d *Check
		want bool
	}{
		{"same log text, other pointer", log("up$"), log("up$"), true},
		{"other log text", log("up$"), log("up"), false},
		{"log and none", log("up"), &Check{Timeout: time.Second}, false},
		{"none and log", &Check{Timeout: time.Second}, log("up"), false},
		{"exec same", &Check{Exec: []string{"/bin/true"}}, &Check{Exec: []string{"/bin/true"}}, true},
		{"exec differs", &Check{Exec: []string{"/bin/true"}}, &Check{Exec: []string{"/bin/false"}}, false},
		{"timeout differs", log("up"), &Check{Log: regexp.MustCompile("up"), Timeout: 2 * time.Second}, false},
		{"nil and check", nil, log("up"), false},
		{"check and nil", log("up"), nil, false},
		{"nil and nil", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Equal(tt.d); got != tt.want {
				t.Errorf("Equal(%+v, %+v) = %v; want %v", tt.c, tt.d, got, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	c, err := Load(path)
	if c != nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(%q) = %v, %v; want nil, an fs.ErrNotExist error", path, c, err)
	}
}

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("Glob(../examples/*.toml) = %v, %v; want files", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if _, err := Load(file); err != nil {
				t.Errorf("Load(%q) error:\n%v", file, err)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	a := mustLoad(t, "testdata/valid/full.toml", testSystem(0)).Program("web")
	b := mustLoad(t, "testdata/valid/full.toml", testSystem(0)).Program("web")
	moved := *b
	moved.File, moved.Line, moved.Col = "elsewhere.toml", 99, 3
	changed := *b
	changed.StopTimeout++
	changedEnv := *b
	changedEnv.Environment = map[string]string{"APP_ENV": "dev"}
	changedLog := *b
	changedLog.Ready = &Check{Log: regexp.MustCompile("listening on .*:9090"), Timeout: b.Ready.Timeout}
	sameLog := *b // another *regexp.Regexp of the same text
	sameLog.Ready = &Check{Log: regexp.MustCompile(b.Ready.Log.String()), Timeout: b.Ready.Timeout}
	noReady := *b
	noReady.Ready = nil
	changedHealth := *b
	changedHealth.Health = &Check{HTTP: b.Health.HTTP, Timeout: b.Health.Timeout, Interval: b.Health.Interval, Failures: 4}
	changedType := *b
	changedType.Type, changedType.Watchdog = TypeSimple, 0
	tests := []struct {
		name string
		p, q *Program
		want bool
	}{
		{"same config loaded twice", a, b, true},
		{"defined elsewhere", a, &moved, true},
		{"stop_timeout changed", a, &changed, false},
		{"environment changed", a, &changedEnv, false},
		{"ready log changed", a, &changedLog, false},
		{"ready log same text", a, &sameLog, true},
		{"ready removed", a, &noReady, false},
		{"health failures changed", a, &changedHealth, false},
		{"type changed", a, &changedType, false},
		{"nil and program", nil, a, false},
		{"program and nil", a, nil, false},
		{"nil and nil", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Equal(tt.q); got != tt.want {
				t.Errorf("Equal() = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name      string
		flag, env string
		localFile bool
		want      string
	}{
		{"flag wins", "/from/flag.toml", "/from/env.toml", true, "/from/flag.toml"},
		{"env next", "", "/from/env.toml", true, "/from/env.toml"},
		{"local file next", "", "", true, "superd.toml"},
		{"etc last", "", "", false, "/etc/superd/superd.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			t.Setenv("SUPERD_CONFIG", tt.env)
			if tt.localFile {
				writeFile(t, "superd.toml", "")
			}
			if got := Resolve(tt.flag); got != tt.want {
				t.Errorf("Resolve(%q) = %q; want %q", tt.flag, got, tt.want)
			}
		})
	}
}

func TestDefaultSocket(t *testing.T) {
	tests := []struct {
		name string
		euid int
		xdg  string
		want string
	}{
		{"root", 0, "/run/user/0", "/run/superd/superd.sock"},
		{"user", 1000, "/run/user/1000", "/run/user/1000/superd/superd.sock"},
		{"user without XDG_RUNTIME_DIR", 1000, "", "/tmp/superd-1000/superd.sock"},
		{"user with relative XDG_RUNTIME_DIR", 1000, "run", "/tmp/superd-1000/superd.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(string) string { return tt.xdg }
			if got := defaultSocket(tt.euid, getenv); got != tt.want {
				t.Errorf("defaultSocket(%d, XDG_RUNTIME_DIR=%q) = %q; want %q", tt.euid, tt.xdg, got, tt.want)
			}
		})
	}
	if got, want := DefaultSocket(), defaultSocket(os.Geteuid(), os.Getenv); got != want {
		t.Errorf("DefaultSocket() = %q; want %q", got, want)
	}
}

// writeFile writes text to path or fails the test.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
