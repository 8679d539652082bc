package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem found in a configuration file, positioned at the key
// or value it is about.
type Error struct {
	// File is the file's path as Load was given it; an included file's path
	// is its include pattern's match, relative to the main file's folder in
	// the same way the main file's path was (absolute if that was absolute).
	File string
	// Line and Col are 1-based. Col counts bytes, as Go's compiler does.
	Line, Col int
	// Msg says what is wrong, in lower case, without the position.
	Msg string
}

// Error returns "FILE:LINE:COL: msg".
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors is every problem Load found, sorted by file, line and column. Load
// returns it as a non-nil *Errors; errors.As(err, new(*Errors)) finds it.
type Errors []*Error

// Error returns the errors one per line, without a trailing newline.
func (e Errors) Error() string {
	var b strings.Builder
	for i, err := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the errors, so errors.As can find an *Error among them.
func (e Errors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, err := range e {
		errs[i] = err
	}
	return errs
}

// pos is a position in a file: the file's display name and a 1-based line
// and column. The zero pos is "no position"; errorf never emits it as such.
type pos struct {
	File      string
	Line, Col int
}

// String returns "FILE:LINE", as used in "already defined at" messages.
func (p pos) String() string {
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// compare orders p and q by line, then column, within one file.
func (p pos) compare(q pos) int {
	return cmp.Or(cmp.Compare(p.Line, q.Line), cmp.Compare(p.Col, q.Col))
}

// errorList collects the errors of one Load.
type errorList struct {
	errs Errors
}

// add records msg at p. A position without a line or column gets 1, so that
// every error is positioned.
func (l *errorList) add(p pos, msg string) {
	e := &Error{File: p.File, Line: max(p.Line, 1), Col: max(p.Col, 1), Msg: msg}
	l.errs = append(l.errs, e)
}

// errorf records a formatted message at p.
func (l *errorList) errorf(p pos, format string, args ...any) {
	l.add(p, fmt.Sprintf(format, args...))
}

// result sorts the errors, drops exact duplicates (the same [defaults]
// problem seen through several programs) and returns them, or nil.
func (l *errorList) result() *Errors {
	if len(l.errs) == 0 {
		return nil
	}
	errs := slices.Clone(l.errs)
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	errs = slices.CompactFunc(errs, func(a, b *Error) bool { return *a == *b })
	return &errs
}
