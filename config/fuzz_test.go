package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad checks that no main file makes Load panic, and that every error
// it reports is positioned.
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.toml")
	if err != nil {
		f.Fatal(err)
	}
	more, _ := filepath.Glob("testdata/*/*.toml")
	examples, _ := filepath.Glob("../examples/*.toml")
	for _, file := range append(append(seeds, more...), examples...) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The scanner alone, on any text: the first scan, and the full one
		// a problem's place asks for.
		scanPositions("raw.toml", string(data)).key("a", "b", "c")
		path := filepath.Join(t.TempDir(), "superd.toml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := load(path, testSystem(1000))
		if err == nil {
			if c == nil {
				t.Fatal("load() = nil, nil")
			}
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) || c != nil {
			t.Fatalf("load() = %v, %v; want nil, *Errors", c, err)
		}
		for _, e := range *errs {
			if e.Line < 1 || e.Col < 1 || e.File == "" {
				t.Errorf("error %q is not positioned", e)
			}
		}
	})
}
