package config

import (
	"log/slog"
	"syscall"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"bytes", "512", 512, false},
		{"B", "512B", 512, false},
		{"KiB", "1KiB", 1024, false},
		{"MiB", "50MiB", 50 << 20, false},
		{"GiB lower case", "2gib", 2 << 30, false},
		{"TiB", "1TiB", 1 << 40, false},
		{"kB", "1kB", 1000, false},
		{"MB", "10MB", 10_000_000, false},
		{"GB", "1GB", 1_000_000_000, false},
		{"space before unit", "10 MB", 10_000_000, false},
		{"fraction", "1.5KiB", 1536, false},
		{"zero", "0", 0, false},
		{"empty", "", 0, true},
		{"no number", "MiB", 0, true},
		{"unknown unit", "50PiB", 0, true},
		{"negative", "-1MiB", 0, true},
		{"words", "50 megs", 0, true},
		{"too large", "9999999TiB", 0, true},
		{"two dots", "1.2.3MB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    syscall.Signal
		wantErr bool
	}{
		{"name", "TERM", syscall.SIGTERM, false},
		{"SIG name", "SIGTERM", syscall.SIGTERM, false},
		{"lower case", "sighup", syscall.SIGHUP, false},
		{"mixed case", "Int", syscall.SIGINT, false},
		{"number", "15", syscall.SIGTERM, false},
		{"kill", "KILL", syscall.SIGKILL, false},
		{"real-time number", "40", syscall.Signal(40), false},
		{"zero", "0", 0, true},
		{"too high", "65", 0, true},
		{"negative", "-9", 0, true},
		{"unknown", "TERN", 0, true},
		{"empty", "", 0, true},
		{"only SIG", "SIG", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSignal(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseSignal(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseLogLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"debug", slog.LevelDebug, false},
		{"info", slog.LevelInfo, false},
		{"WARN", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"warning", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLogLevel(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseLogLevel(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestModeUnmarshalText(t *testing.T) {
	tests := []struct {
		in      string
		want    mode
		wantErr bool
	}{
		{"0660", 0o660, false},
		{"022", 0o22, false},
		{"0o755", 0o755, false},
		{"0", 0, false},
		{"0777", 0o777, false},
		{"1777", 0, true},
		{"0999", 0, true},
		{"", 0, true},
		{"rw-r--r--", 0, true},
		{"00000660", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got mode
			err := got.UnmarshalText([]byte(tt.in))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("UnmarshalText(%q) = %o, %v; want %o, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"socket", "stop_signal", "stop_timeout", "restart", "db"}
	tests := []struct {
		got, want string
	}{
		{"stop_sigal", "stop_signal"},
		{"sockt", "socket"},
		{"Restart", "restart"},
		{"dbb", "db"},
		{"xyz", ""},
		{"frobnicate", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.got, func(t *testing.T) {
			if got := suggest(tt.got, keys); got != tt.want {
				t.Errorf("suggest(%q) = %q; want %q", tt.got, got, tt.want)
			}
		})
	}
}
