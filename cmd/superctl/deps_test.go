package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoServerOnlyDependencies: superctl links ipc's client, not the
// metrics exposition that only superd's /metrics needs (it lives in
// ipc/metrics for that reason), nor the Prometheus libraries.
func TestNoServerOnlyDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for dep := range strings.Lines(string(out)) {
		dep = strings.TrimSpace(dep)
		if strings.HasPrefix(dep, "github.com/prometheus/") || dep == "github.com/superd/superd/ipc/metrics" {
			t.Errorf("superctl depends on %s; want it left to superd", dep)
		}
	}
}
