package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range xs {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of odd", ms(3, 1, 2), 50, 2 * time.Millisecond},
		{"p50 of even is the lower middle", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p99 of 200 is the third largest", append(ms(make([]int, 197)...), ms(5, 7, 9)...), 99, 5 * time.Millisecond},
		{"p100 is the max", ms(1, 9, 5), 100, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.ds, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v; want %v", tt.ds, tt.p, got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		ds   []time.Duration
		want time.Duration
	}{
		{"empty", nil, 0},
		{"odd", []time.Duration{3, 1, 2}, 2},
		{"even is the mean of the middle two", []time.Duration{4, 1, 3, 2}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.ds); got != tt.want {
				t.Errorf("median(%v) = %v; want %v", tt.ds, got, tt.want)
			}
		})
	}
}

func TestCheckRotation(t *testing.T) {
	tests := []struct {
		name    string
		sizes   []int64 // rotated files, then the current one
		n, max  int64
		wantErr string
	}{
		{"whole lines, short last line", []int64{800, 800, 23}, 1623, 800, ""},
		{"short last line ended by the supervisor", []int64{800, 24}, 823, 800, ""},
		{"file over by the rest of a line", []int64{800, 800, 23}, 1623, 790, ""},
		{"line split across files", []int64{810, 790, 23}, 1623, 800, "split"},
		{"file far beyond log_max_size", []int64{1600, 23}, 1623, 800, "beyond"},
		{"no short line", []int64{800, 800}, 1600, 800, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var files []string
			for i, size := range tt.sizes {
				f := filepath.Join(dir, "f"+string(rune('a'+i)))
				if err := os.WriteFile(f, make([]byte, size), 0o644); err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
			}
			err := checkRotation(files, tt.n, tt.max)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkRotation(%v, %d, %d) = %v; want %q", tt.sizes, tt.n, tt.max, err, tt.wantErr)
			}
		})
	}
}

func TestParseCPULine(t *testing.T) {
	tests := []struct {
		line        string
		idle, total uint64
		bad         bool
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice
		{line: "cpu  100 2 30 400 5 6 7 8 50 1", idle: 405, total: 558},
		{line: "cpu 1 0 1 10 0", idle: 10, total: 12},
		{line: "cpu0 1 0 1 10 0", bad: true},
		{line: "cpu 1 0 x 10 0", bad: true},
		{line: "cpu 1 2", bad: true},
		{line: "", bad: true},
	}
	for _, tt := range tests {
		got, err := parseCPULine(tt.line)
		if tt.bad {
			if err == nil {
				t.Errorf("parseCPULine(%q) = %+v, nil; want an error", tt.line, got)
			}
			continue
		}
		if err != nil || got.idle != tt.idle || got.total != tt.total {
			t.Errorf("parseCPULine(%q) = %+v, %v; want idle %d total %d", tt.line, got, err, tt.idle, tt.total)
		}
	}
}

func TestIdleSince(t *testing.T) {
	prev := cpuTimes{idle: 100, total: 200}
	if got := (cpuTimes{idle: 190, total: 300}).idleSince(prev); got != 0.9 {
		t.Errorf("idleSince = %v; want 0.9", got)
	}
	if got := prev.idleSince(prev); got != 0 {
		t.Errorf("idleSince with no time passed = %v; want 0", got)
	}
}

// TestReadStat reads the test's own /proc/PID/stat: its parent, and
// fault and CPU counts that cannot be negative.
func TestReadStat(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatalf("readStat(self): %v", err)
	}
	if st.ppid != os.Getppid() {
		t.Errorf("readStat(self).ppid = %d; want %d", st.ppid, os.Getppid())
	}
	if st.state != 'R' && st.state != 'S' {
		t.Errorf("readStat(self).state = %q; want R or S", st.state)
	}
	if st.majflt < 0 || st.utime < 0 || st.stime < 0 {
		t.Errorf("readStat(self) = %+v; want no negative count", st)
	}
}

func TestInTurn(t *testing.T) {
	e := &env{systems: []systemDef{{name: "a"}, {name: "b"}, {name: "c"}}}
	for _, tt := range []struct {
		round int
		want  string
	}{{0, "a b c"}, {1, "b c a"}, {2, "c a b"}, {3, "a b c"}} {
		var names []string
		for _, def := range e.inTurn(tt.round) {
			names = append(names, def.name)
		}
		if got := strings.Join(names, " "); got != tt.want {
			t.Errorf("inTurn(%d) = %s; want %s", tt.round, got, tt.want)
		}
	}
	if got := (&env{}).inTurn(1); len(got) != 0 {
		t.Errorf("inTurn with no systems = %v; want none", got)
	}
}

func TestLogsPollWait(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		name       string
		done, want int64
		elapsed    time.Duration
		wait       time.Duration
	}{
		{"nothing on file yet", 0, 100, 10 * ms, apiPoll},
		{"no time passed", 10, 100, 0, apiPoll},
		{"far from the end: at most logsPollMax", 10, 100, 100 * ms, logsPollMax},
		{"half the rest at the rate so far", 80, 100, 160 * ms, 20 * ms},
		{"nearer: a shorter wait", 96, 100, 960 * ms, 20 * ms},
		{"a slow copy: still at most logsPollMax", 80, 100, 800 * ms, logsPollMax},
		{"at the end: apiPoll", 99, 100, 990 * ms, apiPoll},
		{"past the end (slack): apiPoll", 101, 100, 990 * ms, apiPoll},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := logsPollWait(tt.done, tt.want, tt.elapsed); got != tt.wait {
				t.Errorf("logsPollWait(%d, %d, %v) = %v; want %v", tt.done, tt.want, tt.elapsed, got, tt.wait)
			}
		})
	}
}

func TestPollPaced(t *testing.T) {
	t.Run("calls again after each wait until done", func(t *testing.T) {
		// Each call asks for a longer wait; the gaps between calls must be
		// at least what was asked (a lower bound: never flaky).
		waits := []time.Duration{5 * time.Millisecond, 20 * time.Millisecond}
		var calls []time.Time
		err := pollPaced(context.Background(), func() (bool, time.Duration, error) {
			calls = append(calls, time.Now())
			if len(calls) == 3 {
				return true, 0, nil
			}
			return false, waits[len(calls)-1], nil
		})
		if err != nil || len(calls) != 3 {
			t.Fatalf("pollPaced = %v after %d calls; want nil after 3", err, len(calls))
		}
		for i, w := range waits {
			if gap := calls[i+1].Sub(calls[i]); gap < w {
				t.Errorf("call %d came %v after call %d; want at least the %v asked for", i+2, gap, i+1, w)
			}
		}
	})
	t.Run("stops at the first error", func(t *testing.T) {
		boom := errors.New("boom")
		var calls int
		err := pollPaced(context.Background(), func() (bool, time.Duration, error) {
			calls++
			return false, 0, boom
		})
		if !errors.Is(err, boom) || calls != 1 {
			t.Errorf("pollPaced = %v after %d calls; want boom after 1", err, calls)
		}
	})
	t.Run("returns the context's cause", func(t *testing.T) {
		stop := errors.New("stop")
		ctx, cancel := context.WithCancelCause(context.Background())
		err := pollPaced(ctx, func() (bool, time.Duration, error) {
			cancel(stop)
			return false, time.Hour, nil
		})
		if !errors.Is(err, stop) {
			t.Errorf("pollPaced = %v; want the cause %v", err, stop)
		}
	})
}

func TestWriterExited(t *testing.T) {
	for _, tt := range []struct {
		name      string
		insts     []instance
		wantState string
		wantDone  bool
		wantErr   bool
	}{
		{"not listed yet", nil, "", false, false},
		{"running", []instance{{state: "running"}}, "running", false, false},
		{"exited", []instance{{state: "exited", restarts: -1}}, "exited", true, false},
		{"fatal", []instance{{state: "fatal"}}, "fatal", false, true},
		{"restarted", []instance{{state: "running", restarts: 1}}, "running", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			state, done, err := writerExited(tt.insts)
			if state != tt.wantState || done != tt.wantDone || (err != nil) != tt.wantErr {
				t.Errorf("writerExited(%+v) = %q, %v, %v; want %q, %v, error %v", tt.insts, state, done, err, tt.wantState, tt.wantDone, tt.wantErr)
			}
		})
	}
}
