package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// c3Before and c3After are the programs of a reload: keep is unchanged,
// change gets a new command, gone is removed, scale goes from 2 to 4
// instances, and fresh is added.
const (
	c3Before = `
[defaults]
start_seconds = "0s"
stop_timeout = "5s"

[program.keep]
command = ["/bin/sleep", "1000"]

[program.change]
command = ["/bin/sleep", "1001"]

[program.gone]
command = ["/bin/sleep", "1002"]

[program.scale]
command = ["/bin/sleep", "1003"]
instances = 2
`
	c3After = `
[defaults]
start_seconds = "0s"
stop_timeout = "5s"

[program.keep]
command = ["/bin/sleep", "1000"]

[program.change]
command = ["/bin/sleep", "2001"]

[program.scale]
command = ["/bin/sleep", "1003"]
instances = 4

[program.fresh]
command = ["/bin/sleep", "1004"]
`
	// c3Invalid has a misspelt key and a bad duration.
	c3Invalid = `
[defaults]
start_seconds = "0s"

[program.keep]
command = ["/bin/sleep", "1000"]

[program.fresh]
comand = ["/bin/sleep", "1004"]
stop_timeout = "soon"
`
)

// c3HTTP is an HTTP client over superd's socket, as curl --unix-socket.
func c3HTTP(sock string) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		},
		Timeout: 30 * time.Second,
	}
}

// c3Post POSTs to path on superd's socket and returns the status code and
// body.
func c3Post(t *testing.T, sock, path string) (int, []byte) {
	t.Helper()
	resp, err := c3HTTP(sock).Post("http://superd"+path, "application/json", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", path, err)
	}
	return resp.StatusCode, b
}

// c3Snapshot is the pid and start time of every running instance.
type c3Snapshot map[string]apitype.Instance

func c3Snap(d *daemon) c3Snapshot {
	d.t.Helper()
	m := c3Snapshot{}
	for _, in := range d.status() {
		if in.State == apitype.StateRunning && in.Pid != nil {
			m[in.Name] = in
			d.track(*in.Pid)
		}
	}
	return m
}

// c3Same fails unless name runs with the same pid and started_at as in
// before.
func c3Same(t *testing.T, d *daemon, before c3Snapshot, names ...string) {
	t.Helper()
	for _, name := range names {
		in, b := d.inst(name), before[name]
		if in.State != apitype.StateRunning || in.Pid == nil || b.Pid == nil || *in.Pid != *b.Pid ||
			in.StartedAt == nil || !in.StartedAt.Equal(*b.StartedAt) {
			t.Errorf("%s after reload: %s started_at %v; want untouched: pid %d started_at %v",
				name, describe(in), in.StartedAt, *b.Pid, b.StartedAt)
		}
	}
}

// c3Names returns the names of insts.
func c3Names(insts []apitype.Instance) []string {
	var out []string
	for _, in := range insts {
		out = append(out, in.Name)
	}
	return out
}

// c3LineOf returns the 1-based number of the first line of the file at path
// that contains sub.
func c3LineOf(t *testing.T, path, sub string) int {
	t.Helper()
	for i, l := range strings.Split(readFile(t, path), "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", path, sub)
	return 0
}

func TestControl3Reload(t *testing.T) {
	t.Parallel()
	want := apitype.ReloadResult{
		Added: []string{"fresh"}, Removed: []string{"gone"}, Changed: []string{"change", "scale"},
		Unchanged: []string{"keep"}, RestartRequired: []string{},
	}
	tests := []struct {
		name   string
		reload func(t *testing.T, d *daemon) // applies c3After, checking the answer
	}{
		{"superctl reload", func(t *testing.T, d *daemon) {
			out := d.mustCtl("reload")
			wantOut := "added: fresh\nremoved: gone\nchanged: change, scale\nunchanged: keep\n"
			if out != wantOut {
				t.Errorf("superctl reload = %q; want %q", out, wantOut)
			}
		}},
		{"POST /v1/reload", func(t *testing.T, d *daemon) {
			code, body := c3Post(t, d.sock, "/v1/reload")
			var got apitype.ReloadResult
			if code != http.StatusOK || json.Unmarshal(body, &got) != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("POST /v1/reload = %d %s; want 200 %+v", code, body, want)
			}
		}},
		{"SIGHUP", func(t *testing.T, d *daemon) {
			d.signal(syscall.SIGHUP)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.writeConfig("", c3Before)
			d := e.start(opts{})
			d.waitRunning(15*time.Second, "keep", "change", "gone", "scale:0", "scale:1")
			before := c3Snap(d)

			e.writeConfig("", c3After)
			tt.reload(t, d)

			// Added: started.
			fresh := d.waitRunning(15*time.Second, "fresh")[0]
			// Removed: stopped, then gone from status.
			waitGone(t, 15*time.Second, *before["gone"].Pid)
			waitFor(t, 15*time.Second, func() string { return "gone to leave the status" }, func() bool {
				return !slices.Contains(c3Names(d.status()), "gone")
			})
			// Changed: restarted, with a new pid.
			waitFor(t, 15*time.Second, func() string { return "change to run with a new pid" }, func() bool {
				in := d.inst("change")
				return in.State == apitype.StateRunning && in.Pid != nil && *in.Pid != *before["change"].Pid
			})
			waitGone(t, 15*time.Second, *before["change"].Pid)
			if args := procCmdline(t, *d.inst("change").Pid); !slices.Equal(args, []string{"/bin/sleep", "2001"}) {
				t.Errorf("change runs %q; want the new command", args)
			}
			// Instances 2 -> 4: two more, the first two untouched.
			d.waitRunning(15*time.Second, "scale:2", "scale:3")
			c3Same(t, d, before, "keep", "scale:0", "scale:1")

			got := c3Names(d.status())
			if w := []string{"change", "fresh", "keep", "scale:0", "scale:1", "scale:2", "scale:3"}; !slices.Equal(got, w) {
				t.Errorf("status after reload = %q; want %q", got, w)
			}
			// A second reload of the same file changes nothing.
			out := d.mustCtl("-o", "json", "reload")
			var again apitype.ReloadResult
			if err := json.Unmarshal([]byte(out), &again); err != nil {
				t.Fatalf("superctl -o json reload = %q: %v", out, err)
			}
			if len(again.Added)+len(again.Removed)+len(again.Changed) != 0 ||
				!slices.Equal(again.Unchanged, []string{"change", "fresh", "keep", "scale"}) {
				t.Errorf("second reload = %+v; want everything unchanged", again)
			}
			if in := d.inst("fresh"); in.Pid == nil || *in.Pid != fresh {
				t.Errorf("fresh after a second reload: %s; want pid %d", describe(in), fresh)
			}
		})
	}
}

func TestControl3ReloadInvalidChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.writeConfig("", c3Before)
	d := e.start(opts{})
	d.waitRunning(15*time.Second, "keep", "change", "gone", "scale:0", "scale:1")
	before := c3Snap(d)
	e.writeConfig("", c3Invalid)

	// superctl: exit 1, the positioned errors on stderr, one a line.
	out, errOut, code := d.ctl("reload")
	if code != 1 || out != "" {
		t.Errorf("superctl reload of an invalid file = exit %d, stdout %q; want 1 and nothing", code, out)
	}
	comand, soon := c3LineOf(t, cfg, "comand ="), c3LineOf(t, cfg, `"soon"`)
	for _, want := range []string{
		"superctl: reload refused, nothing changed",
		fmt.Sprintf(`%s:%d:1: unknown key "comand"`, cfg, comand),
		`did you mean "command"?`,
		fmt.Sprintf("%s:%d:16: stop_timeout:", cfg, soon),
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("superctl reload stderr = %q; want it to contain %q", errOut, want)
		}
	}
	// The API: 400 with the positioned errors.
	status, body := c3Post(t, d.sock, "/v1/reload")
	var e400 apitype.Error
	if status != http.StatusBadRequest || json.Unmarshal(body, &e400) != nil ||
		!strings.HasPrefix(e400.Error, cfg+":") || !strings.Contains(e400.Error, fmt.Sprintf("\n%s:%d:1: unknown key", cfg, comand)) {
		t.Errorf("POST /v1/reload of an invalid file = %d %s; want 400 with the positioned errors (%s:%d:1: ...)", status, body, cfg, comand)
	}
	// SIGHUP: refused too; superd logs why.
	d.signal(syscall.SIGHUP)
	waitForf(t, 10*time.Second, "superd to log the refused SIGHUP reload", func() bool {
		return strings.Contains(d.stderr.String(), "SIGHUP: reload refused")
	})

	c3Same(t, d, before, "keep", "change", "gone", "scale:0", "scale:1")
	if got := c3Names(d.status()); !slices.Equal(got, []string{"change", "gone", "keep", "scale:0", "scale:1"}) {
		t.Errorf("status after refused reloads = %q; want the old programs", got)
	}
}

func TestControl3ReloadReportsRestartRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig("", c3Before)
	d := e.start(opts{})
	d.waitRunning(15*time.Second, "keep")
	// The same programs, another socket and log level.
	e.writeFile("superd.toml", fmt.Sprintf("[superd]\nsocket = %q\nstate_dir = %q\nlog_dir = %q\nlog_level = \"debug\"\n%s",
		e.path("other.sock"), e.stateDir, e.logDir, c3Before))
	out := d.mustCtl("-o", "json", "reload")
	var res apitype.ReloadResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("superctl -o json reload = %q: %v", out, err)
	}
	if !slices.Contains(res.RestartRequired, "socket") || !slices.Contains(res.RestartRequired, "log_level") {
		t.Errorf("restart_required = %q; want socket and log_level", res.RestartRequired)
	}
	// The table says so too, and superd still serves the old socket.
	if out := d.mustCtl("reload"); !strings.Contains(out, "\nrestart required: ") ||
		!strings.Contains(out, "socket") {
		t.Errorf("superctl reload = %q; want a line restart required: ... socket", out)
	}
	if _, err := net.Dial("unix", e.path("other.sock")); err == nil {
		t.Errorf("superd listens on the new socket after a reload; want the change to wait for a restart")
	}
}
