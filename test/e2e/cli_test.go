package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSuperctlUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", `
[program.web]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d.waitRunning(10*time.Second, "web")
	tests := []struct {
		name string
		args []string
	}{
		{"unknown verb", []string{"frobnicate"}},
		{"unknown flag", []string{"status", "--no-such-flag"}},
		{"start without target", []string{"start"}},
		{"stop without target", []string{"stop"}},
		{"signal without target", []string{"signal", "HUP"}},
		{"bad output format", []string{"-o", "yaml", "status"}},
		{"bad lines", []string{"logs", "-n", "many", "web"}},
		{"bad timeout", []string{"start", "--timeout", "soon", "web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := d.withT(t)
			_, errOut, code := d.ctl(tt.args...)
			if code != 2 {
				t.Errorf("superctl %q = exit %d; want 2 (stderr %q)", tt.args, code, errOut)
			}
			if strings.TrimSpace(errOut) == "" || strings.Contains(errOut, "goroutine ") {
				t.Errorf("superctl %q stderr = %q; want a short usage error", tt.args, errOut)
			}
		})
	}
	if in := d.inst("web"); in.State != "running" {
		t.Errorf("web after the usage errors: %s; want running, untouched", describe(in))
	}
}

func TestSuperctlVersion(t *testing.T) {
	t.Parallel()
	out, errOut, code := runCtl(t, nil, "version")
	if code != 0 || !strings.Contains(out, "superctl") {
		t.Errorf("superctl version = exit %d, %q (stderr %q); want 0 and a version naming superctl", code, out, errOut)
	}
}

func TestSuperdLogFormatJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig("", `
[program.web]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d := e.start(opts{extraArgs: []string{"--log-format", "json", "--log-level", "debug"}})
	d.waitRunning(10*time.Second, "web")
	d.mustCtl("restart", "web")
	d.waitRunning(10*time.Second, "web")
	levels := map[string]int{}
	for _, l := range lines(d.stderr.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("superd log line %q is not JSON: %v", l, err)
			continue
		}
		lv, _ := m["level"].(string)
		levels[lv]++
	}
	if levels["DEBUG"] == 0 || levels["INFO"] == 0 {
		t.Errorf("log levels seen %v; want DEBUG lines too (--log-level debug)", levels)
	}
}

func TestIncludedProgramsRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeFile("conf.d/a.toml", "[program.included]\ncommand = [\"/bin/sleep\", \"1000\"]\nstart_seconds = \"0s\"\n")
	e.writeFile("conf.d/b.toml", "[program.also]\ncommand = [\"/bin/sleep\", \"1000\"]\nstart_seconds = \"0s\"\ninstances = 2\n")
	e.writeConfig(`include = ["conf.d/*.toml"]`, `
[program.main]
command = ["/bin/sleep", "1000"]
start_seconds = "0s"
`)
	d := e.start(opts{})
	d.waitRunning(10*time.Second, "main", "included", "also:0", "also:1")
}
