package e2e

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

const statusPrograms = `
[defaults]
start_seconds = "0s"

[program.web]
command = ["/bin/sleep", "1000"]
instances = 3

[program.solo]
command = ["/bin/sleep", "1000"]

[program.off]
command = ["/bin/sleep", "1000"]
autostart = false
`

// instanceKeys are the fields of the instance object of SPEC §4.
var instanceKeys = []string{
	"name", "program", "instance", "state", "pid", "started_at", "uptime_seconds", "restarts",
	"exit_code", "exit_signal", "ready", "healthy", "detached", "message",
}

func TestStatusTable(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", statusPrograms)
	d.waitRunning(10*time.Second, "web:0", "web:1", "web:2", "solo")

	out, errOut, code := d.ctl("status")
	if code != 0 && code != 3 {
		t.Fatalf("superctl status = exit %d (%s); want 0 or 3", code, errOut)
	}
	rows := lines(out)
	if len(rows) == 0 {
		t.Fatalf("superctl status printed nothing")
	}
	if got, want := strings.Fields(rows[0]), []string{"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "MESSAGE"}; !slices.Equal(got, want) {
		t.Errorf("superctl status header = %q; want %q", got, want)
	}
	var names []string
	states := map[string]string{}
	for _, r := range rows[1:] {
		f := strings.Fields(r)
		if len(f) < 2 {
			t.Errorf("superctl status row %q has fewer than 2 columns", r)
			continue
		}
		names = append(names, f[0])
		states[f[0]] = f[1]
	}
	if want := []string{"off", "solo", "web:0", "web:1", "web:2"}; !slices.Equal(names, want) {
		t.Errorf("superctl status names = %q; want %q", names, want)
	}
	if states["web:1"] != "running" || states["off"] != "stopped" {
		t.Errorf("superctl status states = %v; want web:1 running, off stopped", states)
	}
}

func TestStatusJSONFields(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", statusPrograms)
	pids := d.waitRunning(10*time.Second, "web:0", "web:1", "web:2", "solo")

	out, errOut, code := d.ctl("status", "-o", "json")
	if code != 0 && code != 3 {
		t.Fatalf("superctl status -o json = exit %d (%s)", code, errOut)
	}
	var objs []map[string]any
	if err := json.Unmarshal([]byte(out), &objs); err != nil {
		t.Fatalf("superctl status -o json: %v; output %q", err, out)
	}
	want := slices.Sorted(slices.Values(instanceKeys))
	byName := map[string]map[string]any{}
	for _, o := range objs {
		var keys []string
		for k := range o {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("instance %v has keys %q; want exactly %q", o["name"], keys, want)
		}
		name, _ := o["name"].(string)
		byName[name] = o
	}
	for _, n := range []string{"web:0", "web:1", "web:2", "solo", "off"} {
		if byName[n] == nil {
			t.Errorf("status -o json has no instance %q; got %v", n, mapKeys(byName))
		}
	}
	if len(byName) != 5 {
		t.Errorf("status -o json has %d instances %v; want 5", len(byName), mapKeys(byName))
	}

	tests := []struct {
		name     string
		program  string
		instance float64
		state    string
		pid      int // 0: null
	}{
		{"web:0", "web", 0, "running", pids[0]},
		{"web:2", "web", 2, "running", pids[2]},
		{"solo", "solo", 0, "running", pids[3]},
		{"off", "off", 0, "stopped", 0},
	}
	for _, tt := range tests {
		o := byName[tt.name]
		if o == nil {
			continue
		}
		if o["program"] != tt.program || o["instance"] != tt.instance || o["state"] != tt.state {
			t.Errorf("%s: program=%v instance=%v state=%v; want %s %v %s", tt.name, o["program"], o["instance"], o["state"], tt.program, tt.instance, tt.state)
		}
		if tt.pid == 0 {
			if o["pid"] != nil || o["started_at"] != nil || o["uptime_seconds"] != float64(0) {
				t.Errorf("%s (stopped): pid=%v started_at=%v uptime_seconds=%v; want null, null, 0", tt.name, o["pid"], o["started_at"], o["uptime_seconds"])
			}
			continue
		}
		if o["pid"] != float64(tt.pid) {
			t.Errorf("%s: pid = %v; want %d", tt.name, o["pid"], tt.pid)
		}
		if s, ok := o["started_at"].(string); !ok {
			t.Errorf("%s: started_at = %v; want a time", tt.name, o["started_at"])
		} else if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s: started_at = %q: %v", tt.name, s, err)
		}
		if o["ready"] != true || o["healthy"] != true || o["detached"] != false {
			t.Errorf("%s: ready=%v healthy=%v detached=%v; want true true false", tt.name, o["ready"], o["healthy"], o["detached"])
		}
	}

	// One instance by name, and pid of a program.
	one := d.status("web:1")
	if len(one) != 1 || one[0].Name != "web:1" || one[0].Pid == nil || *one[0].Pid != pids[1] {
		t.Errorf("status web:1 = %+v; want web:1 with pid %d", one, pids[1])
	}
	out = d.mustCtl("pid", "web")
	if got := lines(out); len(got) != 3 {
		t.Errorf("superctl pid web = %q; want 3 pids", out)
	}
}

func TestStatusExitCodes(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "", statusPrograms)
	d.waitRunning(10*time.Second, "web:0", "web:1", "web:2", "solo")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"running program", []string{"status", "web"}, 0},
		{"running instance", []string{"status", "web:2"}, 0},
		{"stopped program", []string{"status", "off"}, 3},
		{"one of two not running", []string{"status", "solo", "off"}, 3},
		{"unknown program", []string{"status", "nosuch"}, 4},
		{"unknown instance", []string{"status", "web:7"}, 4},
		{"pid of stopped", []string{"pid", "off"}, 3},
		{"pid of unknown", []string{"pid", "nosuch"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := d.ctl(tt.args...)
			if code != tt.code {
				t.Errorf("superctl %q = exit %d; want %d (stderr %q)", tt.args, code, tt.code, errOut)
			}
			if tt.code == 4 && !strings.Contains(errOut, tt.args[len(tt.args)-1]) {
				t.Errorf("superctl %q stderr = %q; want it to name the unknown target", tt.args, errOut)
			}
		})
	}
}

func TestSuperctlExit5WithoutSuperd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, args := range [][]string{{"status"}, {"start", "web"}, {"shutdown"}} {
		_, errOut, code := runCtl(t, nil, append([]string{"-s", e.sock}, args...)...)
		if code != 5 {
			t.Errorf("superctl -s %s %q without superd = exit %d; want 5 (stderr %q)", e.sock, args, code, errOut)
		}
		if !strings.Contains(errOut, e.sock) {
			t.Errorf("superctl %q stderr = %q; want it to name %s", args, errOut, e.sock)
		}
		assertOneLine(t, "superctl without superd", errOut)
	}
	// $SUPERD_SOCKET is used when -s is not given.
	_, errOut, code := runCtl(t, []string{"SUPERD_SOCKET=" + e.sock}, "status")
	if code != 5 || !strings.Contains(errOut, e.sock) {
		t.Errorf("SUPERD_SOCKET=%s superctl status = exit %d, stderr %q; want 5 naming the socket", e.sock, code, errOut)
	}
	// A socket file that is not served (stale) is unreachable too.
	os.WriteFile(e.sock, nil, 0o600)
	if _, errOut, code := runCtl(t, nil, "-s", e.sock, "status"); code != 5 {
		t.Errorf("superctl status on a non-socket file = exit %d (stderr %q); want 5", code, errOut)
	}
}

func mapKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
