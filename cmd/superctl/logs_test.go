package main

import (
	"context"
	"sync"
	"testing"
)

func TestLogsCommand(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantN      int
		wantFollow bool
	}{
		{"default lines", []string{"logs", "web:0"}, 100, false},
		{"lines", []string{"logs", "-n", "5", "web:0"}, 5, false},
		{"all lines", []string{"logs", "--lines", "0", "web:0"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := &fakeBackend{}
			sock := serve(t, fb)
			code, stdout, stderr := runCLI(context.Background(), append([]string{"-s", sock}, tt.args...)...)
			if code != 0 || stdout != "web:0 line 1\nweb:0 line 2\n" {
				t.Fatalf("run(%q) = %d %q (%s); want the two lines", tt.args, code, stdout, stderr)
			}
			c := fb.recorded()[0]
			if c.target != "web:0" || c.n != tt.wantN || c.follow != tt.wantFollow {
				t.Errorf("backend call = %+v; want web:0 n=%d follow=%v", c, tt.wantN, tt.wantFollow)
			}
		})
	}
}

func TestLogsFollowCommand(t *testing.T) {
	var once sync.Once
	released := make(chan struct{})
	fb := &fakeBackend{logs: func(context.Context, string, int, bool) ([]byte, <-chan []byte, func(), error) {
		// One chunk waits in the stream, which then ends.
		more := make(chan []byte, 1)
		more <- []byte("later\n")
		close(more)
		return []byte("tail\n"), more, func() { once.Do(func() { close(released) }) }, nil
	}}
	sock := serve(t, fb)
	code, stdout, stderr := runCLI(context.Background(), "-s", sock, "logs", "-f", "web:0")
	if code != 0 || stdout != "tail\nlater\n" {
		t.Errorf("run(logs -f) = %d %q (%s); want 0 \"tail\\nlater\\n\"", code, stdout, stderr)
	}
	<-released
	if c := fb.recorded()[0]; !c.follow || c.n != 100 {
		t.Errorf("backend call = %+v; want follow with n=100", c)
	}
}

func TestLogsFollowInterrupted(t *testing.T) {
	entered := make(chan struct{}, 1)
	fb := &fakeBackend{logs: func(ctx context.Context, _ string, _ int, _ bool) ([]byte, <-chan []byte, func(), error) {
		entered <- struct{}{}
		return []byte("tail\n"), make(chan []byte), func() {}, nil // never ends by itself
	}}
	sock := serve(t, fb)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	// exits when ctx is cancelled below; the test waits on done
	go func() {
		code, _, _ := runCLI(ctx, "-s", sock, "logs", "-f", "web:0")
		done <- code
	}()
	<-entered
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run(logs -f) after Ctrl-C = %d; want 0", code)
	}
}
