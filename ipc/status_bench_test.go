package ipc

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/ipc/apitype/apitypetest"
)

// discardWriter is an http.ResponseWriter that keeps the headers and drops
// the body.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkStatusHandler500 is the server's side of GET /v1/programs with
// 500 instances: routing, the handler and the JSON encoding, without the
// socket. The backend's snapshot is made before the timer starts.
func BenchmarkStatusHandler500(b *testing.B) {
	insts := apitypetest.Sleepers500()
	fb := &fakeBackend{status: func(context.Context, []string) ([]apitype.Instance, error) { return insts, nil }}
	a := &api{Server: NewServer(fb, slog.New(slog.DiscardHandler)), inflight: &inflight{}}
	a.mux = a.routes()
	req := httptest.NewRequest(http.MethodGet, "/v1/programs", nil)
	b.ReportAllocs()
	for b.Loop() {
		a.ServeHTTP(&discardWriter{h: http.Header{}}, req)
	}
}

// BenchmarkClientStatus500 is one Client.Status of 500 instances at a
// time over a real socket: the whole round trip, server and client.
func BenchmarkClientStatus500(b *testing.B) {
	insts := apitypetest.Sleepers500()
	fb := &fakeBackend{status: func(context.Context, []string) ([]apitype.Instance, error) { return insts, nil }}
	ts := startServer(b, fb, 0o600)
	b.ReportAllocs()
	for b.Loop() {
		got, err := ts.client.Status(context.Background())
		if err != nil || len(got) != len(insts) {
			b.Fatalf("Status() = %d instances, %v; want %d", len(got), err, len(insts))
		}
	}
}
