// Package apitypetest holds fixtures of wire types for the tests and
// benchmarks of the packages that encode, serve and print them. No binary
// links it.
package apitypetest

import (
	"fmt"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// Sleepers500 is the list of `superctl status` in the side-by-side
// benchmark (bench/): 500 running sleepers, named p000 to p499.
func Sleepers500() []apitype.Instance {
	insts := make([]apitype.Instance, 500)
	started := time.Date(2026, 11, 28, 4, 5, 7, 872372599, time.UTC)
	for i := range insts {
		pid := 31705 + i
		insts[i] = apitype.Instance{Name: fmt.Sprintf("p%03d", i), Program: fmt.Sprintf("p%03d", i),
			State: apitype.StateRunning, Pid: &pid, StartedAt: &started, UptimeSeconds: 72.299179744,
			Ready: true, Healthy: true}
	}
	return insts
}
