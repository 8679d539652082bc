package config

import "sync"

// fanOut runs f(0), ..., f(n-1) and returns when all have returned: f(0)
// on the calling goroutine, the others one goroutine each. A Load uses it
// to share its work among CPUs (parsePieces, checkTables); f must touch
// only what is its i's or read only.
func fanOut(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		// exits when f(i) returns; joined by wg.Wait below
		wg.Go(func() { f(i) })
	}
	if n > 0 {
		f(0)
	}
	wg.Wait()
}
