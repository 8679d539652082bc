package main

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/superd/superd/ipc/apitype"
)

// configErrors stands in for the positioned errors of an invalid config.
type configErrors []string

func (e configErrors) Error() string { return strings.Join(e, "\n") }

func TestReloadCommand(t *testing.T) {
	invalid := configErrors{
		"/etc/superd/superd.toml:3:1: unknown key \"comand\"; did you mean \"command\"?",
		"/etc/superd/superd.toml:9:16: stop_timeout: bad duration \"soon\"",
	}
	tests := []struct {
		name       string
		args       []string
		reloadErr  error
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{
			name:     "table",
			args:     []string{"reload"},
			wantCode: 0,
			wantStdout: "added: api, cache\nremoved: old\nchanged: web\nunchanged: db\n" +
				"restart required: socket\n",
		},
		{
			name:       "json",
			args:       []string{"-o", "json", "reload"},
			wantCode:   0,
			wantStdout: `{"added":["api","cache"],"removed":["old"],"changed":["web"],"unchanged":["db"],"restart_required":["socket"]}` + "\n",
		},
		{
			name:      "invalid config",
			args:      []string{"reload"},
			reloadErr: fmt.Errorf("%w: %w", apitype.ErrBadRequest, invalid),
			wantCode:  1,
			wantStderr: "superctl: reload refused, nothing changed: the config is invalid:\n" +
				invalid.Error() + "\n",
		},
		{
			name:       "draining",
			args:       []string{"reload"},
			reloadErr:  fmt.Errorf("reload: %w", apitype.ErrShuttingDown),
			wantCode:   1,
			wantStderr: "superctl: reload: superd is shutting down\n",
		},
		{
			name:       "forbidden",
			args:       []string{"reload"},
			reloadErr:  fmt.Errorf("reload: %w", apitype.ErrForbidden),
			wantCode:   6,
			wantStderr: "superctl: reload: permission denied\n",
		},
		{
			name:       "argument",
			args:       []string{"reload", "web"},
			wantCode:   2,
			wantStderr: "superctl: reload takes at most 0 argument(s), got 1\nRun 'superctl reload --help' for usage.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := serve(t, &fakeBackend{reloadErr: tt.reloadErr})
			code, stdout, stderr := runCLI(context.Background(), append([]string{"-s", sock}, tt.args...)...)
			if code != tt.wantCode || stdout != tt.wantStdout || stderr != tt.wantStderr {
				t.Errorf("run(%q) = %d\nstdout %q\nstderr %q\nwant %d\nstdout %q\nstderr %q",
					tt.args, code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestWriteReloadEmpty(t *testing.T) {
	var sb strings.Builder
	if err := writeReload(&sb, apitype.ReloadResult{Unchanged: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	if want := "added: -\nremoved: -\nchanged: -\nunchanged: web\n"; sb.String() != want {
		t.Errorf("writeReload(nothing changed) = %q; want %q", sb.String(), want)
	}
}

func TestEventsCommand(t *testing.T) {
	evs := []apitype.Event{
		{Instance: "web", Program: "web", From: apitype.StateRunning, To: apitype.StateStopping, Pid: ptr(7)},
		{Instance: "web", Program: "web", From: apitype.StateStopping, To: apitype.StateStopped, Pid: ptr(7), ExitSignal: ptr("SIGTERM")},
	}
	for _, output := range []string{"table", "json"} {
		t.Run(output, func(t *testing.T) {
			fb := &fakeBackend{events: func(context.Context) (<-chan apitype.Event, func(), error) {
				// The events wait in the stream, which then ends as when superd drains.
				ch := make(chan apitype.Event, len(evs))
				for _, ev := range evs {
					ch <- ev
				}
				close(ch)
				return ch, func() {}, nil
			}}
			sock := serve(t, fb)
			code, stdout, stderr := runCLI(context.Background(), "-s", sock, "-o", output, "events")
			if code != 0 || stderr != "" {
				t.Fatalf("run(events) = %d %q; want 0 and no error", code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if len(lines) != len(evs) {
				t.Fatalf("run(events) printed %q; want %d lines", stdout, len(evs))
			}
			for i, l := range lines {
				var got apitype.Event
				if err := json.Unmarshal([]byte(l), &got); err != nil || !reflect.DeepEqual(got, evs[i]) {
					t.Errorf("line %d = %q (%v); want %+v", i, l, err, evs[i])
				}
			}
		})
	}
}

func TestEventsInterrupted(t *testing.T) {
	entered := make(chan struct{}, 1)
	fb := &fakeBackend{events: func(context.Context) (<-chan apitype.Event, func(), error) {
		entered <- struct{}{}
		return make(chan apitype.Event), func() {}, nil // never ends by itself
	}}
	sock := serve(t, fb)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	// exits when ctx is cancelled below; the test waits on done
	go func() {
		code, _, _ := runCLI(ctx, "-s", sock, "events")
		done <- code
	}()
	<-entered
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run(events) after Ctrl-C = %d; want 0", code)
	}
}

func TestEventsUnreachable(t *testing.T) {
	code, _, stderr := runCLI(context.Background(), "-s", "/nonexistent/superd.sock", "events")
	if code != exitUnreachable || !strings.Contains(stderr, "superd not reachable at /nonexistent/superd.sock") {
		t.Errorf("run(events) = %d %q; want %d naming the socket", code, stderr, exitUnreachable)
	}
}
