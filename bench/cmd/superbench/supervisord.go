package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// supervisordSys is supervisord (Debian's supervisor package) run in the
// foreground, `supervisord -n -c CONF`, driven over its XML-RPC socket and
// through supervisorctl. Its folder (/tmp/sbs-XXXX) holds the config, the
// socket, supervisord's log and the programs' output (logs/).
type supervisordSys struct {
	daemon
	w      workload
	cfg    string
	socket string
	client *http.Client
}

func newSupervisord(e *env) *supervisordSys {
	return &supervisordSys{daemon: daemon{e: e, name: "supervisord"}}
}

// Configure writes supervisord.conf for w.
func (s *supervisordSys) Configure(w workload) error {
	if err := s.makeDir("sbs-"); err != nil {
		return err
	}
	s.w = w
	s.cfg = filepath.Join(s.dir, "supervisord.conf")
	s.socket = filepath.Join(s.dir, "supervisord.sock")
	if len(s.socket) > maxSocketPath {
		return fmt.Errorf("socket path %s is longer than %d bytes", s.socket, maxSocketPath)
	}
	if err := os.Mkdir(filepath.Join(s.dir, "logs"), 0o755); err != nil {
		return err
	}
	s.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.socket)
		},
		DisableKeepAlives: true, // one connection per call, as superd's client
	}}
	text, err := supervisordConfig(s.dir, s.socket, w)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.cfg, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", s.cfg, err)
	}
	return nil
}

// supervisordConfig renders w as supervisord's INI. Every choice that is
// not supervisord's default is here, and in docs/BENCHMARKS.md.
func supervisordConfig(dir, socket string, w workload) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "[unix_http_server]\nfile = %s\n\n", socket)
	fmt.Fprintf(&b, "[supervisord]\nnodaemon = true\nlogfile = %s\npidfile = %s\nchildlogdir = %s\n",
		filepath.Join(dir, "supervisord.log"), filepath.Join(dir, "supervisord.pid"), filepath.Join(dir, "logs"))
	// Each program holds a pipe and up to two log files open in
	// supervisord: raise its descriptor minimum so 500 programs fit.
	fmt.Fprintf(&b, "minfds = %d\nminprocs = %d\n\n", 1024+8*len(w.programs), 200+2*len(w.programs))
	b.WriteString("[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n")
	fmt.Fprintf(&b, "[supervisorctl]\nserverurl = unix://%s\n", socket)
	// One group for all: supervisord stops one group at a time, waiting
	// for each to be down (100 programs taking 1 s to stop: 100 s), and
	// every [program:x] is a group of its own unless a [group:x] takes it.
	var names []string
	for _, p := range w.programs {
		names = append(names, p.name)
	}
	fmt.Fprintf(&b, "\n[group:%s]\nprograms = %s\n", supervisordGroup, strings.Join(names, ","))
	for _, p := range w.programs {
		if p.notify || len(p.dependsOn) > 0 {
			return "", fmt.Errorf("program %s: supervisord has no readiness notification and no dependencies", p.name)
		}
		if len(p.argv) == 0 || !filepath.IsAbs(p.argv[0]) {
			return "", fmt.Errorf("program %s: argv must start with an absolute path, not %q", p.name, p.argv)
		}
		var cmd []string
		for _, a := range p.argv {
			if strings.ContainsAny(a, "\n") || strings.Contains(a, " ;") || strings.Contains(a, " #") {
				return "", fmt.Errorf("program %s: argument %q cannot be written in supervisord's INI", p.name, a)
			}
			cmd = append(cmd, shellQuote(strings.ReplaceAll(a, "%", "%%")))
		}
		fmt.Fprintf(&b, "\n[program:%s]\ncommand = %s\n", p.name, strings.Join(cmd, " "))
		switch p.restart {
		case restartAlways:
			b.WriteString("autorestart = true\n")
		case restartNever:
			b.WriteString("autorestart = false\n")
		case restartOnFailure:
			b.WriteString("autorestart = unexpected\n")
		}
		// Running as soon as spawned, never given up on, stopped as a
		// group like superd does, one pipe for stdout and stderr like
		// superd's default.
		b.WriteString("startsecs = 0\nstartretries = 1000000\nstopasgroup = true\nkillasgroup = true\nredirect_stderr = true\n")
		if p.stopTimeout > 0 {
			fmt.Fprintf(&b, "stopwaitsecs = %d\n", int(p.stopTimeout.Seconds()))
		}
		if p.stdoutFile {
			fmt.Fprintf(&b, "stdout_logfile = %s\n", filepath.Join(dir, "logs", p.name+".log"))
		}
		if p.logMaxSize > 0 {
			fmt.Fprintf(&b, "stdout_logfile_maxbytes = %d\n", p.logMaxSize)
		}
		if p.logMaxFiles > 0 {
			fmt.Fprintf(&b, "stdout_logfile_backups = %d\n", p.logMaxFiles)
		}
	}
	return b.String(), nil
}

// supervisordGroup is the [group:x] that holds every program.
const supervisordGroup = "bench"

// shellQuote quotes s for a POSIX shell (and Python's shlex, which
// supervisord splits its command with).
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-=:,+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// Start launches supervisord -n -c CONF.
func (s *supervisordSys) Start(ctx context.Context) error {
	return s.start([]string{"supervisord", "-n", "-c", s.cfg})
}

// Procs returns supervisord's pid: it runs as one process.
func (s *supervisordSys) Procs() ([]int, error) { return []int{s.Pid()}, nil }

// WaitAllRunning polls supervisor.getAllProcessInfo every interval.
func (s *supervisordSys) WaitAllRunning(ctx context.Context, every time.Duration) error {
	return waitAllRunning(ctx, &s.daemon, len(s.w.programs), every, func(ctx context.Context) ([]instance, error) {
		insts, err := s.Status(ctx)
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, errNotYet
		}
		return insts, err
	})
}

// Status calls supervisor.getAllProcessInfo over XML-RPC. STARTING with a
// pid counts as running: with startsecs = 0 supervisord moves a program to
// RUNNING only at its next tick, up to a second after the spawn, and the
// harness does not charge it that second.
func (s *supervisordSys) Status(ctx context.Context) ([]instance, error) {
	v, err := s.call(ctx, "supervisor.getAllProcessInfo")
	if err != nil {
		return nil, err
	}
	out := make([]instance, 0, len(v.Array))
	for _, p := range v.Array {
		in := instance{restarts: -1}
		for _, m := range p.Members {
			switch m.Name {
			case "name":
				in.name = m.Value.str()
			case "pid":
				in.pid = m.Value.int()
			case "statename":
				in.state = m.Value.str()
			case "spawnerr":
				in.message = m.Value.str()
			}
		}
		switch in.state {
		case "RUNNING":
			in.state = "running"
		case "STARTING":
			in.state = "starting"
			if in.pid > 0 {
				in.state = "running"
			}
		case "BACKOFF":
			in.state = "starting"
		case "STOPPED", "EXITED":
			in.state = "exited"
		case "FATAL":
			in.state = "fatal"
		default:
			in.state = strings.ToLower(in.state)
		}
		out = append(out, in)
	}
	return out, nil
}

// xmlValue is an XML-RPC value: the few types supervisord's answers use.
type xmlValue struct {
	String  *string     `xml:"string"`
	Int     *int        `xml:"int"`
	I4      *int        `xml:"i4"`
	Array   []xmlValue  `xml:"array>data>value"`
	Members []xmlMember `xml:"struct>member"`
	Text    string      `xml:",chardata"`
}

type xmlMember struct {
	Name  string   `xml:"name"`
	Value xmlValue `xml:"value"`
}

func (v xmlValue) str() string {
	if v.String != nil {
		return *v.String
	}
	return strings.TrimSpace(v.Text)
}

func (v xmlValue) int() int {
	switch {
	case v.Int != nil:
		return *v.Int
	case v.I4 != nil:
		return *v.I4
	}
	return 0
}

// call makes an XML-RPC call without arguments and returns its result.
func (s *supervisordSys) call(ctx context.Context, method string) (xmlValue, error) {
	body := `<?xml version="1.0"?><methodCall><methodName>` + method + `</methodName><params></params></methodCall>`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost/RPC2", strings.NewReader(body))
	if err != nil {
		return xmlValue{}, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := s.client.Do(req)
	if err != nil {
		return xmlValue{}, fmt.Errorf("supervisord %s: %w", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return xmlValue{}, fmt.Errorf("supervisord %s: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return xmlValue{}, fmt.Errorf("supervisord %s: %s", method, resp.Status)
	}
	var r struct {
		Params []xmlValue `xml:"params>param>value"`
		Fault  *xmlValue  `xml:"fault>value"`
	}
	if err := xml.NewDecoder(bytes.NewReader(b)).Decode(&r); err != nil {
		return xmlValue{}, fmt.Errorf("supervisord %s: decode: %w", method, err)
	}
	if r.Fault != nil {
		return xmlValue{}, fmt.Errorf("supervisord %s: fault %s", method, b)
	}
	if len(r.Params) != 1 {
		return xmlValue{}, fmt.Errorf("supervisord %s: %d results", method, len(r.Params))
	}
	return r.Params[0], nil
}

// CLIStatus runs `supervisorctl -c CONF status`.
func (s *supervisordSys) CLIStatus(ctx context.Context) error {
	return runQuiet(ctx, "supervisorctl", "-c", s.cfg, "status")
}

// CLINoop runs `supervisorctl -c CONF help`, which supervisorctl answers
// without contacting supervisord.
func (s *supervisordSys) CLINoop(ctx context.Context) error {
	return runQuiet(ctx, "supervisorctl", "-c", s.cfg, "help")
}

// LogFiles returns logs/PROGRAM.log.N, highest N (oldest) first, then
// logs/PROGRAM.log.
func (s *supervisordSys) LogFiles(program string) ([]string, error) {
	return rotatedLogs(filepath.Join(s.dir, "logs", program+".log"))
}

// Stop sends SIGTERM: supervisord stops every program, then exits 0.
func (s *supervisordSys) Stop(ctx context.Context) error {
	if err := s.signal(syscall.SIGTERM); err != nil {
		return err
	}
	return s.waitStopped(ctx)
}

// Kill SIGKILLs supervisord and cleans up after it.
func (s *supervisordSys) Kill() { s.kill() }
