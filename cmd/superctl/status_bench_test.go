package main

import (
	"context"
	"io"
	"testing"

	"github.com/superd/superd/ipc/apitype/apitypetest"
)

// BenchmarkStatus500 is `superctl status` of 500 instances without the
// process start: the command tree, the request over a real socket (the
// server's side included), decoding and the table.
func BenchmarkStatus500(b *testing.B) {
	sock := serve(b, &fakeBackend{everything: apitypetest.Sleepers500()})
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
	sock := serve(b, &fakeBackend{everything: apitypetest.Sleepers500()})
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
	insts := apitypetest.Sleepers500()
	b.ReportAllocs()
	for b.Loop() {
		if err := writeTable(io.Discard, insts); err != nil {
			b.Fatal(err)
		}
	}
}
