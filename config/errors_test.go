package config

import (
	"errors"
	"testing"
)

func TestErrors(t *testing.T) {
	var l errorList
	l.add(pos{File: "b.toml", Line: 1, Col: 1}, "third")
	l.add(pos{File: "a.toml", Line: 2, Col: 5}, "second")
	l.add(pos{File: "a.toml", Line: 2, Col: 1}, "first")
	l.add(pos{File: "b.toml", Line: 1, Col: 1}, "third") // a duplicate
	l.add(pos{File: "b.toml"}, "unpositioned")
	errs := l.result()
	const want = "a.toml:2:1: first\na.toml:2:5: second\nb.toml:1:1: third\nb.toml:1:1: unpositioned"
	if got := errs.Error(); got != want {
		t.Errorf("Errors.Error() = %q; want %q", got, want)
	}
	var err error = errs
	var one *Error
	if !errors.As(err, &one) || one.Msg != "first" {
		t.Errorf("errors.As(err, *Error) = %v; want the first error", one)
	}
	var empty errorList
	if got := empty.result(); got != nil {
		t.Errorf("result() of no errors = %v; want nil", got)
	}
}
