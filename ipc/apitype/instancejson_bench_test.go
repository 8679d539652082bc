package apitype_test

import (
	"encoding/json"
	"testing"

	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/ipc/apitype/apitypetest"
)

// BenchmarkEncode500 compares AppendInstances with encoding/json on the
// list of 500 instances.
func BenchmarkEncode500(b *testing.B) {
	insts := apitypetest.Sleepers500()
	b.Run("AppendInstances", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = apitype.AppendInstances(buf[:0], insts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(insts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecode500 compares DecodeInstances with encoding/json on the
// list of 500 instances.
func BenchmarkDecode500(b *testing.B) {
	data, err := json.Marshal(apitypetest.Sleepers500())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("DecodeInstances", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := apitype.DecodeInstances(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var insts []apitype.Instance
			if err := json.Unmarshal(data, &insts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
