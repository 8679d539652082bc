package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/superd/superd/ipc/apitype"
)

// positionedErrors stands in for config.Errors: several lines of
// FILE:LINE:COL: message.
type positionedErrors []string

func (e positionedErrors) Error() string { return strings.Join(e, "\n") }

func TestReload(t *testing.T) {
	invalid := positionedErrors{
		"/etc/superd/superd.toml:3:1: unknown key \"comand\"; did you mean \"command\"?",
		"/etc/superd/superd.toml:9:12: stop_timeout: bad duration \"soon\"",
	}
	tests := []struct {
		name     string
		result   apitype.ReloadResult
		err      error
		wantCode int
		wantBody string // the JSON body, for 200; the error text otherwise
		wantErr  error
	}{
		{
			name: "applied",
			result: apitype.ReloadResult{Added: []string{"api"}, Removed: []string{"old"},
				Changed: []string{"web"}, Unchanged: []string{"db"}, RestartRequired: []string{"socket"}},
			wantCode: http.StatusOK,
			wantBody: `{"added":["api"],"removed":["old"],"changed":["web"],"unchanged":["db"],"restart_required":["socket"]}`,
		},
		{
			name:     "nothing to report is empty arrays, not null",
			wantCode: http.StatusOK,
			wantBody: `{"added":[],"removed":[],"changed":[],"unchanged":[],"restart_required":[]}`,
		},
		{
			name:     "invalid config: the positioned errors alone",
			err:      fmt.Errorf("%w: %w", apitype.ErrBadRequest, invalid),
			wantCode: http.StatusBadRequest,
			wantBody: invalid.Error(),
			wantErr:  apitype.ErrBadRequest,
		},
		{
			name:     "draining",
			err:      fmt.Errorf("reload: %w", apitype.ErrShuttingDown),
			wantCode: http.StatusServiceUnavailable,
			wantBody: "reload: superd is shutting down",
			wantErr:  apitype.ErrShuttingDown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := &fakeBackend{reload: func(context.Context) (apitype.ReloadResult, error) { return tt.result, tt.err }}
			ts := startServer(t, fb, 0o600)
			resp, body := rawDo(t, ts.path, "POST", "/v1/reload", "")
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("POST /v1/reload = %d %s; want %d", resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantCode == http.StatusOK {
				if strings.TrimSpace(body) != tt.wantBody {
					t.Errorf("POST /v1/reload = %s; want %s", body, tt.wantBody)
				}
			} else {
				var e apitype.Error
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != tt.wantBody {
					t.Errorf("POST /v1/reload error = %q; want %q", e.Error, tt.wantBody)
				}
			}

			res, err := ts.client.Reload(context.Background())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || err.Error() != tt.wantBody {
					t.Errorf("Reload() = %v; want %q wrapping %v", err, tt.wantBody, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reload() = %v", err)
			}
			var want apitype.ReloadResult
			_ = json.Unmarshal([]byte(tt.wantBody), &want)
			if !reflect.DeepEqual(res, want) {
				t.Errorf("Reload() = %+v; want %+v", res, want)
			}
		})
	}
	// GET is not a reload.
	ts := startServer(t, &fakeBackend{}, 0o600)
	if resp, body := rawDo(t, ts.path, "GET", "/v1/reload", ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/reload = %d %s; want 405", resp.StatusCode, body)
	}
}

func TestWithoutSentinel(t *testing.T) {
	detail := errors.New("a.toml:1:1: bad")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"sentinel first", fmt.Errorf("%w: %w", apitype.ErrBadRequest, detail), "a.toml:1:1: bad"},
		{"sentinel last", fmt.Errorf("%w: %w", detail, apitype.ErrBadRequest), "a.toml:1:1: bad"},
		{"single wrap keeps all", fmt.Errorf("reload: %w", apitype.ErrBadRequest), "reload: bad request"},
		{"sentinel alone", apitype.ErrBadRequest, "bad request"},
		{"no sentinel", fmt.Errorf("%w: %w", detail, detail), "a.toml:1:1: bad: a.toml:1:1: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withoutSentinel(tt.err, apitype.ErrBadRequest); got != tt.want {
				t.Errorf("withoutSentinel(%q) = %q; want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestHealthDraining(t *testing.T) {
	tests := []struct {
		name    string
		backend Backend
		want    string
	}{
		{"backend cannot tell", &fakeBackend{}, "ok"},
		{"not draining", drainingBackend{&fakeBackend{draining: func(context.Context) bool { return false }}}, "ok"},
		{"draining", drainingBackend{&fakeBackend{draining: func(context.Context) bool { return true }}}, "draining"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.backend, 0o600)
			h, err := ts.client.Health(context.Background())
			if err != nil || h.Status != tt.want {
				t.Errorf("Health() = %+v, %v; want status %q", h, err, tt.want)
			}
		})
	}
}
