package supervisor

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
)

// TestBackoffDelay checks the doubling, the cap and the jitter of
// backoff delays.
func TestBackoffDelay(t *testing.T) {
	p := prog("web")
	small := prog("web", func(p *config.Program) { p.BackoffInitial, p.BackoffMax = 250*time.Millisecond, time.Second })
	tests := []struct {
		name   string
		p      *config.Program
		n      int
		jitter float64
		want   time.Duration
	}{
		{"first", p, 1, 0, time.Second},
		{"second doubles", p, 2, 0, 2 * time.Second},
		{"third doubles", p, 3, 0, 4 * time.Second},
		{"sixth", p, 6, 0, 32 * time.Second},
		{"seventh capped", p, 7, 0, 60 * time.Second},
		{"hundredth capped", p, 100, 0, 60 * time.Second},
		{"millionth capped", p, 1_000_000, 0, 60 * time.Second},
		{"jitter -1 is 20% less", p, 1, -1, 800 * time.Millisecond},
		{"jitter +1 is 20% more", p, 1, 1, 1200 * time.Millisecond},
		{"jitter 0.5 is 10% more", p, 2, 0.5, 2200 * time.Millisecond},
		{"capped with jitter -1", p, 10, -1, 48 * time.Second},
		{"capped with jitter +1", p, 10, 1, 72 * time.Second},
		{"small first", small, 1, 0, 250 * time.Millisecond},
		{"small third", small, 3, 0, time.Second},
		{"small capped", small, 4, 0, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoffDelay(tc.p, tc.n, tc.jitter); got != tc.want {
				t.Errorf("backoffDelay(%v..%v, %d, %v) = %v; want %v", tc.p.BackoffInitial, tc.p.BackoffMax, tc.n, tc.jitter, got, tc.want)
			}
		})
	}
}

// TestStartRetries drives step through failed starts in a row until the
// instance goes fatal: start_retries N allows N+1 attempts, -1 never gives
// up.
func TestStartRetries(t *testing.T) {
	tests := []struct {
		retries      int
		wantAttempts int // 0: never fatal
		wantDelays   []time.Duration
	}{
		{retries: 0, wantAttempts: 1},
		{retries: 1, wantAttempts: 2, wantDelays: []time.Duration{time.Second}},
		{retries: 3, wantAttempts: 4, wantDelays: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{retries: -1, wantAttempts: 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("start_retries=%d", tc.retries), func(t *testing.T) {
			in := newInstance(prog("web", startRetries(tc.retries)), 0, nil)
			now := t0
			if eff := step(in, event{kind: evStart}, now); !slices.Equal(eff, []effect{eSpawn()}) {
				t.Fatalf("step(stopped, start) = %v; want [spawn]", effStrings(eff))
			}
			var delays []time.Duration
			attempts := 0
			for attempts < 100 {
				attempts++
				pid := 100 + attempts
				step(in, event{kind: evSpawned, pid: pid}, now)
				now = now.Add(300 * time.Millisecond)
				eff := step(in, event{kind: evExit, pid: pid, code: 1}, now)
				if in.state == apitype.StateFatal {
					if !slices.Equal(eff, []effect{eFatal()}) {
						t.Errorf("step(starting, exit) = %v; want [fatal]", effStrings(eff))
					}
					want := fmt.Sprintf("gave up after %d attempt", attempts)
					if !strings.Contains(in.message, want) {
						t.Errorf("message = %q; want it to contain %q", in.message, want)
					}
					break
				}
				if in.state != apitype.StateBackoff {
					t.Fatalf("attempt %d: state = %v; want backoff", attempts, in.state)
				}
				delays = append(delays, in.deadline.Sub(now))
				now = in.deadline
				if eff := step(in, event{kind: evTimer}, now); !slices.Equal(eff, []effect{eSpawn()}) || in.state != apitype.StateStarting {
					t.Fatalf("step(backoff, timer) = %v, state %v; want [spawn], starting", effStrings(eff), in.state)
				}
			}
			if tc.wantAttempts == 0 {
				if in.state == apitype.StateFatal {
					t.Errorf("start_retries -1: fatal after %d attempts; want never", attempts)
				}
				return
			}
			if in.state != apitype.StateFatal || attempts != tc.wantAttempts {
				t.Errorf("state after %d attempts = %v; want fatal after %d", attempts, in.state, tc.wantAttempts)
			}
			if !slices.Equal(delays, tc.wantDelays) {
				t.Errorf("backoff delays = %v; want %v", delays, tc.wantDelays)
			}
		})
	}
}

// TestFatalStartResetsRetries checks that an explicit start of a fatal
// instance gets the full start_retries again.
func TestFatalStartResetsRetries(t *testing.T) {
	in := newInstance(prog("web", startRetries(1)), 0, nil)
	now := t0
	step(in, event{kind: evStart}, now)
	fail := func() {
		step(in, event{kind: evSpawnErr, err: syscall.EACCES}, now)
	}
	fail() // attempt 1 -> backoff
	now = in.deadline
	step(in, event{kind: evTimer}, now)
	fail() // attempt 2 -> fatal
	if in.state != apitype.StateFatal {
		t.Fatalf("state after 2 failed attempts = %v; want fatal", in.state)
	}
	if !strings.Contains(in.message, "permission denied") {
		t.Errorf("message = %q; want it to contain the errno text %q", in.message, "permission denied")
	}
	step(in, event{kind: evStart}, now)
	fail()
	if in.state != apitype.StateBackoff {
		t.Errorf("state after a failed start after an explicit start of a fatal instance = %v; want backoff", in.state)
	}
}

// allStates are the seven states of SPEC §3.
