package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

const goodConfig = `[superd]
socket = "/tmp/sde-check-unused/s.sock"

[defaults]
stop_timeout = "5s"

[program.web]
command = ["/bin/sleep", "1000"]
instances = 3

[program.worker]
shell = "exec /bin/sleep 1000"
depends_on = ["web"]
`

// badConfig has several errors at once; their positions are asserted in
// TestCheckBadConfig.
const badConfig = `[superd]
socket = "/tmp/sde-check-unused/s.sock"

[program.web]
command = ["/bin/sleep", "1000"]
stop_timout = "5s"
start_seconds = "five seconds"

[program.api]
command = ["sleep", "1000"]
restart = "sometimes"
`

// positioned is one PATH:LINE:COL: message line of superd check.
var positioned = regexp.MustCompile(`^(.+):(\d+):(\d+): (.+)$`)

func TestCheckGoodConfigExits0WithOneLineSummary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := e.writeFile("good.toml", goodConfig)
	out, errOut, code := runSuperd(t, e.dir, nil, "check", "-c", path)
	if code != 0 {
		t.Fatalf("superd check -c good.toml = exit %d; want 0 (stderr: %s)", code, errOut)
	}
	if l := lines(out); len(l) != 1 || strings.TrimSpace(l[0]) == "" {
		t.Errorf("superd check stdout = %q; want one non-empty line", out)
	}
	if errOut != "" {
		t.Errorf("superd check stderr = %q; want nothing", errOut)
	}
}

func TestCheckBadConfigReportsEveryErrorPositioned(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := e.writeFile("bad.toml", badConfig)
	out, errOut, code := runSuperd(t, e.dir, nil, "check", "-c", path)
	if code != 1 {
		t.Fatalf("superd check -c bad.toml = exit %d; want 1 (stdout %q, stderr %q)", code, out, errOut)
	}
	if out != "" {
		t.Errorf("superd check -c bad.toml stdout = %q; want nothing", out)
	}
	errLines := lines(errOut)
	type pos struct{ line, col string }
	got := map[pos]string{}
	for _, l := range errLines {
		m := positioned.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("stderr line %q is not PATH:LINE:COL: message", l)
			continue
		}
		if m[1] != path {
			t.Errorf("stderr line %q names file %q; want %q", l, m[1], path)
		}
		got[pos{m[2], m[3]}] = m[4]
	}
	tests := []struct {
		name      string
		at        pos
		wantInMsg []string
	}{
		{"misspelt key", pos{"6", "1"}, []string{"stop_timout", `did you mean "stop_timeout"`}},
		{"bad duration", pos{"7", "17"}, []string{"start_seconds"}},
		{"relative command", pos{"10", "12"}, []string{"sleep"}},
		{"bad enum", pos{"11", "11"}, []string{"sometimes"}},
	}
	for _, tt := range tests {
		msg, ok := got[tt.at]
		if !ok {
			t.Errorf("%s: no error at line %s col %s; stderr:\n%s", tt.name, tt.at.line, tt.at.col, errOut)
			continue
		}
		for _, w := range tt.wantInMsg {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q does not contain %q", tt.name, msg, w)
			}
		}
	}
}

func TestCheckEveryExample(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(moduleRoot, "examples", "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("examples/ holds no *.toml; the README promises examples/quickstart.toml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, errOut, code := runSuperd(t, moduleRoot, nil, "check", "-c", f)
			if code != 0 {
				t.Errorf("superd check -c %s = exit %d; want 0\nstdout: %s\nstderr: %s", f, code, out, errOut)
			}
		})
	}
}

func TestVersionPrintsVersionCommitAndGo(t *testing.T) {
	t.Parallel()
	out, errOut, code := runSuperd(t, moduleRoot, nil, "version")
	if code != 0 {
		t.Fatalf("superd version = exit %d; want 0 (stderr %q)", code, errOut)
	}
	if l := lines(out); len(l) != 1 {
		t.Errorf("superd version = %q; want one line", out)
	}
	if !strings.Contains(out, "superd") {
		t.Errorf("superd version = %q; want it to name superd", out)
	}
	if !strings.Contains(out, runtime.Version()) {
		t.Errorf("superd version = %q; want the Go version %s", out, runtime.Version())
	}
	// The commit the binary was built from, as the Go toolchain recorded it.
	info, err := exec.Command("go", "version", "-m", superdBin).Output()
	if err != nil {
		t.Fatalf("go version -m superd: %v", err)
	}
	for _, l := range lines(string(info)) {
		if _, rev, ok := strings.Cut(l, "vcs.revision="); ok {
			if short := strings.TrimSpace(rev)[:7]; !strings.Contains(out, short) {
				t.Errorf("superd version = %q; want the commit %s", out, short)
			}
			return
		}
	}
	t.Logf("the binary carries no vcs.revision (not built in a git checkout); commit not checked")
}

func TestSuperdUsageErrorExits2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"--no-such-flag"}},
		{"check unknown flag", []string{"check", "--no-such-flag"}},
		{"bad log format", []string{"--log-format", "xml", "-c", "/nonexistent.toml"}},
		{"version with argument", []string{"version", "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runSuperd(t, "/", nil, tt.args...)
			if code != 2 {
				t.Errorf("superd %q = exit %d; want 2 (stderr %q)", tt.args, code, errOut)
			}
			if strings.TrimSpace(errOut) == "" {
				t.Errorf("superd %q printed nothing on stderr", tt.args)
			}
		})
	}
}

// TestConfigPathOrder checks -c, then $SUPERD_CONFIG, then ./superd.toml.
// (/etc/superd/superd.toml, the last resort, is not touched.)
func TestConfigPathOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := e.writeFile("good.toml", goodConfig)
	bad := e.writeFile("bad.toml", badConfig)
	cwdGood := e.writeFile("cwd-good/superd.toml", goodConfig)
	cwdBad := e.writeFile("cwd-bad/superd.toml", badConfig)
	empty := e.path("empty")
	e.writeFile("empty/.keep", "")
	tests := []struct {
		name     string
		dir      string
		env      []string
		args     []string
		wantCode int
		wantPath string // named in stdout (summary) or stderr (errors)
	}{
		{"SUPERD_CONFIG without -c", empty, []string{"SUPERD_CONFIG=" + good}, nil, 0, good},
		{"-c over SUPERD_CONFIG", empty, []string{"SUPERD_CONFIG=" + bad}, []string{"-c", good}, 0, good},
		{"SUPERD_CONFIG over ./superd.toml", filepath.Dir(cwdBad), []string{"SUPERD_CONFIG=" + good}, nil, 0, good},
		{"./superd.toml without SUPERD_CONFIG", filepath.Dir(cwdGood), nil, nil, 0, "superd.toml"},
		{"./superd.toml bad", filepath.Dir(cwdBad), nil, nil, 1, "superd.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"check"}, tt.args...)
			out, errOut, code := runSuperd(t, tt.dir, tt.env, args...)
			if code != tt.wantCode {
				t.Fatalf("superd %q in %s with %q = exit %d; want %d\nstdout: %s\nstderr: %s",
					args, tt.dir, tt.env, code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out+errOut, tt.wantPath) {
				t.Errorf("superd %q output does not name %s\nstdout: %s\nstderr: %s", args, tt.wantPath, out, errOut)
			}
		})
	}
}

func TestCheckRefusesInvalidConfigs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeFile("conf.d/dup.toml", "[program.web]\ncommand = [\"/bin/true\"]\n")
	tests := []struct {
		name, toml, want string
	}{
		{"dependency cycle", "[program.a]\ncommand = [\"/bin/true\"]\ndepends_on = [\"b\"]\n[program.b]\ncommand = [\"/bin/true\"]\ndepends_on = [\"a\"]\n", "cycle"},
		{"unknown dependency", "[program.a]\ncommand = [\"/bin/true\"]\ndepends_on = [\"bb\"]\n", "bb"},
		{"duplicate across include", "[superd]\ninclude = [\"conf.d/*.toml\"]\n[program.web]\ncommand = [\"/bin/true\"]\n", "web"},
		{"wrong type", "[program.a]\ncommand = [\"/bin/true\"]\ninstances = \"two\"\n", "instances"},
		{"bad name", "[program.\"-bad\"]\ncommand = [\"/bin/true\"]\n", "-bad"},
		{"relative env file", "[program.a]\ncommand = [\"/bin/true\"]\nenv_files = [\"a.env\"]\n", "a.env"},
		{"bad size", "[program.a]\ncommand = [\"/bin/true\"]\nlog_max_size = \"lots\"\n", "log_max_size"},
		{"bad mode", "[program.a]\ncommand = [\"/bin/true\"]\numask = \"999\"\n", "umask"},
		{"syntax", "[program.a\ncommand = \n", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := e.writeFile(fmt.Sprintf("bad%d.toml", i), tt.toml)
			out, errOut, code := runSuperd(t, e.dir, nil, "check", "-c", path)
			if code != 1 {
				t.Fatalf("superd check = exit %d; want 1 (stdout %q, stderr %q)", code, out, errOut)
			}
			l := lines(errOut)
			// (The exact PATH:LINE:COL: form is TestCheckBadConfigReportsEveryErrorPositioned's.)
			if len(l) == 0 || !positioned.MatchString(l[0]) {
				t.Errorf("superd check stderr = %q; want positioned error lines", errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("superd check stderr = %q; want it to mention %q", errOut, tt.want)
			}
		})
	}
	// A file that does not exist: exit 1, one line naming it.
	missing := e.path("nonexistent.toml")
	_, errOut, code := runSuperd(t, e.dir, nil, "check", "-c", missing)
	if code != 1 || !strings.Contains(errOut, missing) {
		t.Errorf("superd check -c %s = exit %d, stderr %q; want 1 naming the file", missing, code, errOut)
	}
	assertOneLine(t, "superd check of a missing file", errOut)
}
