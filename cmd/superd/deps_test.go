package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoPrometheusDependencies: superd does not link client_golang or
// protobuf, whose package initialisers cost every start a few
// milliseconds (protobuf's internal/detrand hashes the whole executable);
// ipc/metrics writes the Prometheus text format itself.
func TestNoPrometheusDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for dep := range strings.Lines(string(out)) {
		dep = strings.TrimSpace(dep)
		if strings.HasPrefix(dep, "github.com/prometheus/") || strings.HasPrefix(dep, "google.golang.org/protobuf/") {
			t.Errorf("superd depends on %s; want no Prometheus client or protobuf", dep)
		}
	}
}
