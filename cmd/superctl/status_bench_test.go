package main

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// instances500 is the list of the side-by-side benchmark's `superctl
// status`: 500 running sleepers, named p000 to p499.
func instances500() []apitype.Instance {
	insts := make([]apitype.Instance, 500)
	started := time.Date(2026, 11, 28, 4, 5, 7, 872372599, time.UTC)
	for i := range insts {
		insts[i] = apitype.Instance{Name: fmt.Sprintf("p%03d", i), Program: fmt.Sprintf("p%03d", i),
			State: apitype.StateRunning, Pid: ptr(31705 + i), StartedAt: &started, UptimeSeconds: 72.299179744,
			Ready: true, Healthy: true}
	}
	return insts
}

// BenchmarkStatus500 is `superctl status` of 500 instances without the
// process start: the command tree, the request over a real socket (the
// server's side included), decoding and the table.
func BenchmarkStatus500(b *testing.B) {
	sock := serve(b, &fakeBackend{everything: instances500()})
	args := []string{"-s", sock, "status"}
	b.ReportAllocs()
	for b.Loop() {
		if code := run(context.Background(), args, io.Discard, io.Discard); code != exitOK {
			b.Fatalf("run(%q) = %d; want %d", args, code, exitOK)
		}
	}
}

// BenchmarkStatusJSON500 is BenchmarkStatus500 with -o json.
func BenchmarkStatusJSON500(b *testing.B) {
	sock := serve(b, &fakeBackend{everything: instances500()})
	args := []string{"-s", sock, "-o", "json", "status"}
	b.ReportAllocs()
	for b.Loop() {
		if code := run(context.Background(), args, io.Discard, io.Discard); code != exitOK {
			b.Fatalf("run(%q) = %d; want %d", args, code, exitOK)
		}
	}
}

// BenchmarkWriteTable500 is the status table of 500 instances alone.
func BenchmarkWriteTable500(b *testing.B) {
	insts := instances500()
	b.ReportAllocs()
	for b.Loop() {
		if err := writeTable(io.Discard, insts); err != nil {
			b.Fatal(err)
		}
	}
}
