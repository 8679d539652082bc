package main

import (
	"runtime/debug"
	"testing"
)

// gcPercent returns the collector's GOGC without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestLenientGC(t *testing.T) {
	before := gcPercent()
	defer debug.SetGCPercent(before)

	restore := lenientGC()
	if got := gcPercent(); got != startGCPercent {
		t.Errorf("GOGC during the start = %d; want %d", got, startGCPercent)
	}
	restore()
	if got := gcPercent(); got != before {
		t.Errorf("GOGC after restore = %d; want %d again", got, before)
	}
	debug.SetGCPercent(before + 7) // as if changed since
	restore()
	if got := gcPercent(); got != before+7 {
		t.Errorf("a second restore set GOGC to %d; want it left at %d", got, before+7)
	}
}

func TestLenientGCKeepsOperatorGOGC(t *testing.T) {
	t.Setenv("GOGC", "50")
	before := gcPercent()
	restore := lenientGC()
	defer restore()
	if got := gcPercent(); got != before {
		t.Errorf("GOGC set by the operator: lenientGC changed it from %d to %d", before, got)
	}
}
