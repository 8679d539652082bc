package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLoad loads a generated config of n programs: each with a
// command, two environment variables, a restart policy and its output to
// a file; every fifth one also depends on the one before it, every tenth
// has a ready check and every twentieth a health check.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{100, 500, 2000} {
		b.Run(fmt.Sprintf("programs=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "superd.toml")
			if err := os.WriteFile(path, []byte(benchConfig(n)), 0o644); err != nil {
				b.Fatal(err)
			}
			if _, err := Load(path); err != nil {
				b.Fatalf("Load(%d programs) = _, %v; want no error", n, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchConfig returns the text of a valid config of n programs.
func benchConfig(n int) string {
	var s strings.Builder
	s.WriteString(`[superd]
socket = "run/superd.sock"
shutdown_timeout = "30s"
max_parallel_starts = 32

[defaults]
stop_timeout = "5s"
log_max_size = "10MiB"
log_max_files = 3
`)
	restarts := []string{"always", "on-failure", "never"}
	for i := range n {
		fmt.Fprintf(&s, `
# worker %[1]d of the generated fleet
[program.app-%[1]d]
command = ["/usr/bin/app", "--port", "%[2]d", "--name", "app-%[1]d"]
directory = "/srv/app-%[1]d"
environment = { APP_ENV = "production", APP_PORT = "%[2]d" }
restart = "%[3]s"
stdout = "file"
stderr = "stdout"
stop_signal = "SIGTERM"
`, i, 8000+i, restarts[i%len(restarts)])
		if i%5 == 4 {
			fmt.Fprintf(&s, "depends_on = [\"app-%d\"]\n", i-1)
		}
		if i%10 == 0 {
			fmt.Fprintf(&s, "ready = { tcp = \"127.0.0.1:%d\", timeout = \"10s\" }\n", 8000+i)
		}
		if i%20 == 0 {
			fmt.Fprintf(&s, "health = { http = \"http://127.0.0.1:%d/health\", interval = \"10s\" }\n", 8000+i)
		}
	}
	return s.String()
}

// BenchmarkLoadScale loads n minimal programs (a command and two
// durations each), from 100 to 5,000: where the parse's cost in the number
// of tables shows (see chunks.go).
func BenchmarkLoadScale(b *testing.B) {
	for _, n := range []int{100, 300, 500, 2000, 5000} {
		b.Run(fmt.Sprintf("programs=%d", n), func(b *testing.B) {
			var s strings.Builder
			for i := range n {
				fmt.Fprintf(&s, "\n[program.p%04d]\ncommand = [\"/bin/sleep\", \"60\"]\nstart_seconds = \"0s\"\nrestart_delay = \"0s\"\n", i)
			}
			path := filepath.Join(b.TempDir(), "superd.toml")
			if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(path); err != nil {
					b.Fatalf("Load(%d programs): %v", n, err)
				}
			}
		})
	}
}
