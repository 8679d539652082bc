package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"testing"

	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/ipc/apitype/apitypetest"
)

func TestStatusTable(t *testing.T) {
	sock := serve(t, &fakeBackend{})
	code, stdout, stderr := runCLI(context.Background(), "-s", sock, "status")
	want := "" +
		"NAME   STATE    PID  UPTIME  RESTARTS  MESSAGE\n" +
		"bad    fatal    -    -       0         exec /nonexistent: no such file or directory\n" +
		"db     stopped  -    -       0\n" +
		"web:0  running  101  5s      0\n" +
		"web:1  running  102  3m12s   2\n"
	if code != exitNotRunning || stdout != want || stderr != "" {
		t.Errorf("run(status) = %d\n%s%q\nwant %d\n%s", code, stdout, stderr, exitNotRunning, want)
	}
}

func TestStatusJSON(t *testing.T) {
	sock := serve(t, &fakeBackend{})
	tests := []struct {
		name string
		args []string
		want []apitype.Instance
		code int
	}{
		{"all", []string{"status"}, world(), exitNotRunning},
		{"running", []string{"status", "web"}, world()[2:], 0},
		{"one instance", []string{"status", "web:1", "web"}, []apitype.Instance{world()[3], world()[2]}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-s", sock, "-o", "json"}, tt.args...)
			code, stdout, stderr := runCLI(context.Background(), args...)
			if code != tt.code {
				t.Errorf("run(%q) = %d (%s); want %d", args, code, stderr, tt.code)
			}
			var got []apitype.Instance
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("run(%q) printed %q: %v", args, stdout, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("run(%q) = %+v; want %+v", args, got, tt.want)
			}
		})
	}
}

func TestStatusJSONNull(t *testing.T) {
	// A stopped instance keeps pid and started_at null, as the API has it.
	sock := serve(t, &fakeBackend{})
	_, stdout, _ := runCLI(context.Background(), "-s", sock, "-o", "json", "status", "db")
	var raw []map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil || len(raw) != 1 {
		t.Fatalf("run(status db) printed %q: %v", stdout, err)
	}
	for _, k := range []string{"pid", "started_at", "exit_code"} {
		if v, ok := raw[0][k]; !ok || v != nil {
			t.Errorf("run(status db) %s = %v (present %v); want null", k, v, ok)
		}
	}
}

func TestStatusJSONIsTheAPIs(t *testing.T) {
	// -o json prints the very bytes of GET /v1/programs.
	sock := serve(t, &fakeBackend{everything: append(apitypetest.Sleepers500(), world()...)})
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := hc.Get("http://superd/v1/programs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	api, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	_, stdout, stderr := runCLI(context.Background(), "-s", sock, "-o", "json", "status")
	if stdout != string(api) || stderr != "" {
		t.Errorf("run(-o json status) =\n%s%s\nwant the API's\n%s", stdout, stderr, api)
	}
}
