package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckHostPort(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"loopback", "127.0.0.1:9101", false},
		{"name", "localhost:9101", false},
		{"every interface", ":9101", false},
		{"IPv6", "[::1]:9101", false},
		{"highest port", "127.0.0.1:65535", false},
		{"no port", "127.0.0.1", true},
		{"empty port", "127.0.0.1:", true},
		{"port zero", "127.0.0.1:0", true},
		{"port too large", "127.0.0.1:65536", true},
		{"named port", "127.0.0.1:http", true},
		{"IPv6 without brackets", "::1:9101", true},
		{"URL", "http://127.0.0.1:9101", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkHostPort(tt.in)
			if (err != nil) != tt.wantErr {
				t.Errorf("checkHostPort(%q) = %v; want error %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestSocketGroupAndMetricsListen(t *testing.T) {
	tests := []struct {
		name      string
		euid      int
		superd    string // lines of [superd]
		wantGroup string
		wantAddr  string
		wantErr   string // a substring of the error; "" for none
	}{
		{"unset", 1000, "", "", "", ""},
		{"both set", 1000, "socket_group = \"www-data\"\nmetrics_listen = \"127.0.0.1:9101\"", "www-data", "127.0.0.1:9101", ""},
		{"group as root", 0, "socket_group = \"www-data\"", "www-data", "", ""},
		{"empty group is none", 1000, "socket_group = \"\"", "", "", ""},
		{"every interface", 1000, "metrics_listen = \":9101\"", "", ":9101", ""},
		{"unknown group", 1000, "socket_group = \"nogroup-superd\"", "", "", `socket_group: unknown group "nogroup-superd"`},
		{"group not a string", 1000, "socket_group = 33", "", "", "socket_group"},
		{"address without port", 1000, "metrics_listen = \"localhost\"", "", "", `metrics_listen: "localhost" is not host:port`},
		{"port out of range", 1000, "metrics_listen = \"localhost:0\"", "", "", `port "0" is not a number from 1 to 65535`},
		{"misspelt key", 1000, "socket_grop = \"www-data\"", "", "", `did you mean "socket_group"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "superd.toml")
			writeFile(t, path, "[superd]\n"+tt.superd+"\n\n[program.web]\ncommand = [\"/bin/sleep\", \"60\"]\n")
			c, err := load(path, testSystem(tt.euid))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("load(%q) error = %v; want one containing %q", tt.superd, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("load(%q) error = %v", tt.superd, err)
			}
			if c.Superd.SocketGroup != tt.wantGroup || c.Superd.MetricsListen != tt.wantAddr {
				t.Errorf("load(%q) = socket_group %q, metrics_listen %q; want %q, %q",
					tt.superd, c.Superd.SocketGroup, c.Superd.MetricsListen, tt.wantGroup, tt.wantAddr)
			}
		})
	}
}
