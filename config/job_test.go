package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// defaultJob is a job with every built-in default, defined at header
// line:col of file.
func defaultJob(name, file string, line, col int) Job {
	return Job{
		Name: name, File: file, Line: line, Col: col,
		Directory:          filepath.Dir(file),
		Umask:              -1,
		InheritEnvironment: true,
		Stdout:             OutputFile,
		Stderr:             OutputStdout,
		LogMaxSize:         50 << 20,
		LogMaxFiles:        5,
		StopSignal:         syscall.SIGTERM,
		StopTimeout:        10 * time.Second,
		KillGroup:          true,
		MaxConcurrent:      1,
		QueueMax:           16,
		Args:               ArgsNone,
		KeepRuns:           20,
	}
}

func TestLoadJobs(t *testing.T) {
	dir := absTestdata(t, "valid")
	main := filepath.Join(dir, "jobs.toml")
	c := mustLoad(t, "testdata/valid/jobs.toml", testSystem(0))

	if want := []string{main, filepath.Join(dir, "jobs.d/cleanup.toml")}; !reflect.DeepEqual(c.Files, want) {
		t.Errorf("Files = %q; want %q", c.Files, want)
	}
	var names []string
	for _, j := range c.Jobs {
		names = append(names, j.Name)
	}
	if want := []string{"backup", "cleanup", "report"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("job names = %q; want %q", names, want)
	}

	backup := Job{
		Name: "backup", File: "testdata/valid/jobs.toml", Line: 6, Col: 6,
		Command:            []string{"/usr/local/bin/backup", "--all"},
		Directory:          "/var/backups",
		User:               "www-data",
		Group:              "www-data",
		Umask:              0o27,
		Environment:        map[string]string{"MODE": "full"},
		EnvFiles:           []string{"/etc/backup.env"},
		InheritEnvironment: false,
		EnvExclude:         []string{"AWS_SECRET_ACCESS_KEY"},
		Credentials:        map[string]string{"api_key": "/etc/superd/creds/api_key", "tls.pem": "/etc/ssl/backup.pem"},
		Limits:             []Rlimit{{Name: "nofile", Resource: unix.RLIMIT_NOFILE, Soft: 1024, Hard: 1024}},
		Stdout:             OutputNull,
		Stderr:             OutputFile,
		LogMaxSize:         1 << 20,
		LogMaxFiles:        3,
		StopSignal:         syscall.SIGINT,
		StopTimeout:        time.Minute,
		KillGroup:          false,
		Timeout:            2 * time.Hour,
		MaxConcurrent:      2,
		QueueMax:           0,
		Args:               ArgsAppend,
		Detach:             true,
		KeepRuns:           5,
	}
	cleanup := defaultJob("cleanup", "testdata/valid/jobs.d/cleanup.toml", 1, 6)
	cleanup.Directory = filepath.Join(dir, "jobs.d")
	cleanup.Command = []string{"/usr/local/bin/cleanup", "--older-than", "7d"}
	report := defaultJob("report", "testdata/valid/jobs.toml", 32, 6)
	report.Directory = dir
	report.Shell = "exec report"
	for i, want := range []Job{backup, cleanup, report} {
		compareFields(t, "Job("+want.Name+")", c.Jobs[i], want)
	}

	agent := defaultProgram("agent", "testdata/valid/jobs.toml", 35, 10)
	agent.Directory = dir
	agent.Command = []string{"/usr/bin/agent"}
	agent.Instances = 2
	agent.Detach = true
	agent.Stderr = OutputNull
	agent.Credentials = map[string]string{"token": "/etc/superd/creds/token"}
	if len(c.Programs) != 1 {
		t.Fatalf("len(Programs) = %d; want 1", len(c.Programs))
	}
	compareFields(t, "Program(agent)", c.Programs[0], agent)

	lookups := []struct {
		name string
		got  *Job
		want *Job
	}{
		{"backup", c.Job("backup"), c.Jobs[0]},
		{"report", c.Job("report"), c.Jobs[2]},
		{"agent", c.Job("agent"), nil}, // a program
		{"nope", c.Job("nope"), nil},
	}
	for _, tt := range lookups {
		if tt.got != tt.want {
			t.Errorf("Job(%q) = %p; want %p", tt.name, tt.got, tt.want)
		}
	}
	if got := c.Program("backup"); got != nil {
		t.Errorf("Program(%q) = %v; want nil (a job)", "backup", got)
	}
	if got, want := c.Job("report").Argv(), []string{"/bin/sh", "-c", "exec report"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Argv() = %q; want %q", got, want)
	}
	if got, want := c.Job("backup").Argv(), backup.Command; !reflect.DeepEqual(got, want) {
		t.Errorf("Argv() = %q; want %q", got, want)
	}
}

// TestLoadJobDefaultsTable checks that every [defaults] key that jobs also
// have applies to a job that does not set it, and that the program-only
// keys of [defaults] do not make a job invalid.
func TestLoadJobDefaultsTable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "superd.toml")
	writeFile(t, path, `
[defaults]
command = ["/bin/sleep", "60"]
directory = "/srv"
user = "www-data"
group = "www-data"
umask = "077"
environment = { FROM = "defaults" }
env_files = ["/etc/defaults.env"]
inherit_environment = false
env_exclude = ["SECRET"]
credentials = { ca = "/etc/ssl/ca.pem" }
limits = { core = 0 }
stdout = "null"
stderr = "file"
stop_signal = "HUP"
stop_timeout = "3s"
kill_group = false
log_max_size = "2MiB"
log_max_files = 9
detach = true
# program-only keys: programs take them, jobs do not
restart = "never"
instances = 2
ready = { tcp = "127.0.0.1:80" }
timestamps = false
type = "notify"

[job.plain]

[job.own]
shell = "exec own"
environment = { OWN = "1" }
credentials = {}
stdout = "file"
detach = false
timeout = "5m"

[program.web]
`)
	c := mustLoad(t, path, testSystem(0))

	plain := Job{
		Name: "plain", File: path, Line: 29, Col: 6,
		Command:            []string{"/bin/sleep", "60"},
		Directory:          "/srv",
		User:               "www-data",
		Group:              "www-data",
		Umask:              0o77,
		Environment:        map[string]string{"FROM": "defaults"},
		EnvFiles:           []string{"/etc/defaults.env"},
		InheritEnvironment: false,
		EnvExclude:         []string{"SECRET"},
		Credentials:        map[string]string{"ca": "/etc/ssl/ca.pem"},
		Limits:             []Rlimit{{Name: "core", Resource: unix.RLIMIT_CORE}},
		Stdout:             OutputNull,
		Stderr:             OutputFile,
		LogMaxSize:         2 << 20,
		LogMaxFiles:        9,
		StopSignal:         syscall.SIGHUP,
		StopTimeout:        3 * time.Second,
		KillGroup:          false,
		MaxConcurrent:      1,
		QueueMax:           16,
		Args:               ArgsNone,
		Detach:             true,
		KeepRuns:           20,
	}
	// A job's own key replaces that of [defaults] whole (environment,
	// credentials), and shell replaces the command of [defaults].
	own := plain
	own.Name, own.Line = "own", 31
	own.Command, own.Shell = nil, "exec own"
	own.Environment = map[string]string{"OWN": "1"}
	own.Credentials = nil
	own.Stdout = OutputFile
	own.Detach = false
	own.Timeout = 5 * time.Minute

	if len(c.Jobs) != 2 {
		t.Fatalf("len(Jobs) = %d; want 2", len(c.Jobs))
	}
	compareFields(t, "Job(own)", c.Job("own"), own)
	compareFields(t, "Job(plain)", c.Job("plain"), plain)

	web := c.Program("web")
	if web == nil {
		t.Fatal(`Program("web") = nil`)
	}
	if web.Instances != 2 || web.Restart != RestartNever || web.Type != TypeNotify || web.Ready == nil {
		t.Errorf("Program(web) instances, restart, type, ready = %d, %q, %q, %v; want 2, never, notify, a tcp check",
			web.Instances, web.Restart, web.Type, web.Ready)
	}
	if !web.Detach || !reflect.DeepEqual(web.Credentials, plain.Credentials) {
		t.Errorf("Program(web) detach, credentials = %v, %v; want true, %v", web.Detach, web.Credentials, plain.Credentials)
	}
}

// TestJobRules loads small files, each breaking (or keeping) one rule of
// jobs, credentials and detach, and compares the errors.
func TestJobRules(t *testing.T) {
	const cmd = "command = [\"/bin/true\"]\n"
	tests := []struct {
		name string
		toml string
		want []string // "LINE:COL: message"; none for a valid file
	}{
		{"job accepted", "[job.backup]\n" + cmd, nil},
		{"job without command", "[job.backup]\n", []string{`1:6: job "backup" needs a command or a shell`}},
		{"job with command and shell", "[job.backup]\n" + cmd + "shell = \"x\"\n",
			[]string{"3:1: command and shell are exclusive; set one of them"}},
		{"invalid job name", "[job.\"-x\"]\n" + cmd,
			[]string{`1:6: invalid job name "-x": a name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit`}},
		{"job then program of one name", "[job.backup]\n" + cmd + "[program.backup]\n" + cmd,
			[]string{`3:10: "backup" is already defined as a job at superd.toml:1`}},
		{"program then job of one name", "[program.backup]\n" + cmd + "[job.backup]\n" + cmd,
			[]string{`3:6: "backup" is already defined as a program at superd.toml:1`}},
		{"names differ in case", "[program.backup]\n" + cmd + "[job.Backup]\n" + cmd, nil},
		{"program key in a job", "[job.backup]\n" + cmd + "restart = \"always\"\n",
			[]string{"3:1: restart is a program key; jobs do not take it"}},
		{"job key in a program", "[program.web]\n" + cmd + "timeout = \"1h\"\n",
			[]string{"3:1: timeout is a job key; programs do not take it"}},
		{"job key in defaults", "[defaults]\nqueue_max = 3\n",
			[]string{"2:1: queue_max is a job key; [defaults] does not take it"}},
		{"misspelt job key", "[job.backup]\n" + cmd + "queue_mx = 3\n",
			[]string{`3:1: unknown key "queue_mx" in [job.backup]; did you mean "queue_max"?`}},
		{"job key at top level", "keep_runs = 3\n",
			[]string{`1:1: unknown top-level key "keep_runs"; it belongs in a [job.NAME] table`}},
		{"program key at top level", "restart = \"never\"\n",
			[]string{`1:1: unknown top-level key "restart"; it belongs in a [program.NAME] or the [defaults] table`}},
		{"misspelt program key in a job", "[job.backup]\n" + cmd + "restrt = \"never\"\n",
			[]string{`3:1: unknown key "restrt" in [job.backup]`}},
		{"args none and append", "[job.a]\n" + cmd + "args = \"none\"\n[job.b]\n" + cmd + "args = \"append\"\n", nil},
		{"args append with shell", "[job.a]\nshell = \"x\"\nargs = \"append\"\n",
			[]string{`3:1: args = "append" needs command, not shell: the arguments would go to /bin/sh`}},
		{"timeout zero", "[job.a]\n" + cmd + "timeout = \"0s\"\n", nil},
		{"queue_max zero", "[job.a]\n" + cmd + "queue_max = 0\n", nil},
		{"max_concurrent zero", "[job.a]\n" + cmd + "max_concurrent = 0\n",
			[]string{"3:18: max_concurrent: must be at least 1, got 0"}},
		{"keep_runs zero", "[job.a]\n" + cmd + "keep_runs = 0\n",
			[]string{"3:13: keep_runs: must be at least 1, got 0"}},
		{"credentials", "[program.a]\n" + cmd + "credentials = { \"api_key\" = \"/x\", \"a.b-c_D9\" = \"/y\" }\n", nil},
		{"credential name with a slash", "[program.a]\n" + cmd + "credentials = { \"a/b\" = \"/x\" }\n",
			[]string{`3:17: credentials: invalid credential name "a/b": a name is 1 to 64 letters, digits, '_', '.' or '-', other than "." and ".."`}},
		{"credential name dot dot", "[job.a]\n" + cmd + "credentials = { \"..\" = \"/x\" }\n",
			[]string{`3:17: credentials: invalid credential name "..": a name is 1 to 64 letters, digits, '_', '.' or '-', other than "." and ".."`}},
		{"credential name of 64", "[job.a]\n" + cmd + "credentials = { " + strings.Repeat("a", 64) + " = \"/x\" }\n", nil},
		{"credential relative path", "[job.a]\n" + cmd + "credentials = { k = \"x\" }\n",
			[]string{`3:21: credentials.k: "x" is not an absolute path`}},
		{"credential source not checked", "[job.a]\n" + cmd + "credentials = { k = \"/no/such/file\" }\n", nil},
		{"detach with instances", "[program.a]\n" + cmd + "detach = true\ninstances = 4\n", nil},
		{"detach with null and merged stderr", "[program.a]\n" + cmd + "detach = true\nstdout = \"null\"\n", nil},
		{"detach with stdout inherit", "[program.a]\n" + cmd + "detach = true\nstdout = \"inherit\"\n",
			[]string{`3:1: detach needs stdout and stderr to be "file" or "null"`}},
		{"detach with stderr inherit", "[job.a]\n" + cmd + "detach = true\nstderr = \"inherit\"\n",
			[]string{`3:1: detach needs stdout and stderr to be "file" or "null"`}},
		{"detach from defaults with inherit", "[defaults]\ndetach = true\nstdout = \"inherit\"\n[job.a]\n" + cmd,
			[]string{`2:1: detach needs stdout and stderr to be "file" or "null"`}},
		{"detach false with inherit", "[job.a]\n" + cmd + "detach = false\nstdout = \"inherit\"\n", nil},
		{"detach with timestamps", "[program.a]\n" + cmd + "detach = true\ntimestamps = true\n",
			[]string{"4:1: timestamps cannot be used with detach: a detached process writes straight to its file"}},
		{"detach with ready log", "[program.a]\n" + cmd + "detach = true\nready = { log = \"up\" }\n",
			[]string{"4:17: ready.log cannot be used with detach: a detached process's output does not pass through superd"}},
		{"detach with ready tcp", "[program.a]\n" + cmd + "detach = true\nready = { tcp = \"127.0.0.1:80\" }\n", nil},
		{"pidfile without forking", "[program.a]\n" + cmd + "pidfile = \"/run/a.pid\"\n",
			[]string{`3:1: pidfile needs type = "forking"`}},
		{"forking without pidfile", "[program.a]\n" + cmd + "type = \"forking\"\n",
			[]string{`3:1: type = "forking" needs pidfile: where the daemon writes its pid`}},
		{"forking with pidfile", "[program.a]\n" + cmd + "type = \"forking\"\npidfile = \"/run/a.pid\"\n", nil},
		{"relative pidfile", "[program.a]\n" + cmd + "type = \"forking\"\npidfile = \"a.pid\"\n",
			[]string{`4:11: pidfile: "a.pid" is not an absolute path`}},
		{"pidfile in a job", "[job.a]\n" + cmd + "pidfile = \"/run/a.pid\"\n",
			[]string{"3:1: pidfile is a program key; jobs do not take it"}},
		{"cgroup still refused in a job", "[job.a]\n" + cmd + "cgroup = { pids_max = 5 }\n",
			[]string{"3:1: cgroup is not supported yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			writeFile(t, "superd.toml", tt.toml)
			c, err := load("superd.toml", testSystem(1000))
			var got []string
			var errs *Errors
			if errors.As(err, &errs) {
				for _, e := range *errs {
					if e.File != "superd.toml" {
						t.Errorf("error %q: file %q; want superd.toml", e, e.File)
					}
					got = append(got, strings.TrimPrefix(e.Error(), "superd.toml:"))
				}
			} else if err != nil {
				t.Fatalf("load() error = %v; want nil or an *Errors", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("load(%q) errors = %q; want %q", tt.toml, got, tt.want)
			}
			if (c == nil) != (len(tt.want) > 0) {
				t.Errorf("load(%q) config = %v; want nil only on errors", tt.toml, c)
			}
		})
	}
}

func TestJobEqual(t *testing.T) {
	a := mustLoad(t, "testdata/valid/jobs.toml", testSystem(0)).Job("backup")
	b := mustLoad(t, "testdata/valid/jobs.toml", testSystem(0)).Job("backup")
	moved := *b
	moved.File, moved.Line, moved.Col = "elsewhere.toml", 9, 1
	creds := *b
	creds.Credentials = map[string]string{"api_key": "/etc/superd/creds/other"}
	detach := *b
	detach.Detach = false
	timeout := *b
	timeout.Timeout++
	args := *b
	args.Args = ArgsNone
	tests := []struct {
		name string
		j, k *Job
		want bool
	}{
		{"same config loaded twice", a, b, true},
		{"defined elsewhere", a, &moved, true},
		{"credentials changed", a, &creds, false},
		{"detach changed", a, &detach, false},
		{"timeout changed", a, &timeout, false},
		{"args changed", a, &args, false},
		{"nil and job", nil, a, false},
		{"job and nil", a, nil, false},
		{"nil and nil", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.j.Equal(tt.k); got != tt.want {
				t.Errorf("Equal() = %v; want %v", got, tt.want)
			}
		})
	}
}

// TestProgramEqualCredentialsDetach checks that Program.Equal sees the
// fields programs gained with jobs.
func TestProgramEqualCredentialsDetach(t *testing.T) {
	a := mustLoad(t, "testdata/valid/jobs.toml", testSystem(0)).Program("agent")
	b := mustLoad(t, "testdata/valid/jobs.toml", testSystem(0)).Program("agent")
	creds := *b
	creds.Credentials = map[string]string{"token": "/etc/superd/creds/other"}
	renamed := *b
	renamed.Credentials = map[string]string{"tok": "/etc/superd/creds/token"}
	noCreds := *b
	noCreds.Credentials = nil
	detach := *b
	detach.Detach = false
	tests := []struct {
		name string
		q    *Program
		want bool
	}{
		{"same config loaded twice", b, true},
		{"credential source changed", &creds, false},
		{"credential renamed", &renamed, false},
		{"credentials removed", &noCreds, false},
		{"detach changed", &detach, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Equal(tt.q); got != tt.want {
				t.Errorf("Equal() = %v; want %v", got, tt.want)
			}
		})
	}
}
