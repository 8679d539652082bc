package config

import (
	"runtime"
	"strings"
	"sync"
)

// A large file is parsed in pieces, one goroutine each, and the pieces'
// tables merged: the TOML library takes about half of a Load, and a file
// of 500 programs is parsed while the machine's other CPUs are idle
// (docs/BENCHMARKS.md, "Start, fifth round"). The result must be the
// library's own for the whole text, or the whole text is parsed in one
// piece after all; parseTOML never returns anything else. So:
//
//   - A piece starts at a line "[program.NAME]" or "[job.NAME]", NAME a
//     bare key, in that exact form ("cut lines"); the first piece is what
//     precedes the first cut line. Every piece must parse. Since the
//     first piece is the text's own beginning, and a piece that parses
//     ends where the library stands between two statements (a string, an
//     array or an inline table still open at the cut would fail the
//     piece), each piece starts where the library, reading the whole
//     text, would be at the top level too.
//   - Within a piece after the first, every line that starts with '['
//     (after blanks) must be a cut line or open a sub-table of the
//     piece's latest cut line ("[program.NAME." or "[[program.NAME."). So
//     such a piece defines the tables of its cut lines and nothing
//     outside them.
//   - The first piece must not hold "program" or "job" at all (an inline
//     table there, say, could not be extended by a later piece).
//   - No NAME may come from two pieces: a table defined twice is an
//     error the library reports, so two pieces must not both pass it.
//
// Whatever breaks a rule, the whole text is parsed in one piece, which
// also gives the library's own error for a text that does not parse.

// minChunked is the smallest text worth cutting: below it, starting the
// goroutines costs about what they save.
const minChunked = 8 << 10

// parseTOML parses text into its tables, as toml.Decode into a
// map[string]any does, in pieces when that is sure to give the same
// result (see above). It is safe on any text: a panic in the library
// becomes an error.
func parseTOML(text string) (map[string]any, error) {
	if runs := piecesFor(len(text)); runs > 1 {
		if raw, ok := parseChunked(text, runs); ok {
			return raw, nil
		}
	}
	var raw map[string]any
	err := decodeTOML(text, &raw)
	return raw, err
}

// piecesFor returns how many runs of pieces parseTOML cuts a text of size
// bytes into: one per CPU it may use, or 1 (the text whole) for a small
// text or a single CPU.
func piecesFor(size int) int {
	if size < minChunked {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// parseChunked parses text in parallel: the text before the first cut line
// on the calling goroutine, the pieces after it grouped into at most n
// runs of about equal length, one goroutine each; then it merges them. It
// returns false when a rule of the comment above is broken.
func parseChunked(text string, n int) (map[string]any, bool) {
	starts, ok := cutPoints(text)
	if !ok || len(starts) == 0 {
		return nil, false
	}
	bounds := groupCuts(starts, len(text), n)
	raws := make([]map[string]any, len(bounds)+1)
	errs := make([]error, len(bounds)+1)
	var wg sync.WaitGroup
	for i, b := range bounds {
		wg.Add(1)
		// exits when its piece is parsed; waited on below
		go func() {
			defer wg.Done()
			errs[i+1] = decodeTOML(text[b[0]:b[1]], &raws[i+1])
		}()
	}
	errs[0] = decodeTOML(text[:starts[0]], &raws[0])
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, false
		}
	}
	raw := raws[0]
	if raw == nil {
		raw = map[string]any{}
	}
	if _, ok := raw["program"]; ok {
		return nil, false
	}
	if _, ok := raw["job"]; ok {
		return nil, false
	}
	for _, piece := range raws[1:] {
		for top, v := range piece {
			names, isMap := v.(map[string]any)
			if (top != "program" && top != "job") || !isMap {
				return nil, false // the cut lines allow neither
			}
			into, _ := raw[top].(map[string]any)
			if into == nil {
				into = map[string]any{}
				raw[top] = into
			}
			for name, t := range names {
				if _, dup := into[name]; dup {
					return nil, false
				}
				into[name] = t
			}
		}
	}
	return raw, true
}

// groupCuts groups the pieces that start at starts (the last one ending
// at end) into at most n runs of about equal length, and returns each
// run's [start, end) in text.
func groupCuts(starts []int, end, n int) [][2]int {
	at := func(i int) int { // where piece i starts; piece len(starts) is the end
		if i == len(starts) {
			return end
		}
		return starts[i]
	}
	var bounds [][2]int
	for from, g := 0, 0; from < len(starts); g++ {
		to := len(starts) // the index of the next run's first piece
		if g < n-1 {
			// The cut nearest to the run's share of the text, one
			// piece at least.
			target := starts[0] + (end-starts[0])*(g+1)/n
			to = from + 1
			for to < len(starts) && at(to) < target {
				to++
			}
			if to-1 > from && target-at(to-1) < at(to)-target {
				to--
			}
		}
		bounds = append(bounds, [2]int{starts[from], at(to)})
		from = to
	}
	return bounds
}

// cutPoints returns the offsets in text of its cut lines. It returns false
// when a line that starts with '[' after the first cut line is neither a
// cut line nor a sub-table of the latest one.
func cutPoints(text string) ([]int, bool) {
	var starts []int
	prefix := "" // "program.NAME." of the latest cut line
	for at := 0; at < len(text); {
		line := text[at:]
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		body := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(body, "[") {
			if key, ok := cutLine(body); ok {
				starts = append(starts, at)
				prefix = key + "."
			} else if len(starts) > 0 {
				header := strings.TrimPrefix(body[1:], "[")
				if !strings.HasPrefix(header, prefix) {
					return nil, false
				}
			}
		}
		at += len(line)
	}
	return starts, true
}

// cutLine reports whether line (without leading blanks) is
// "[program.NAME]" or "[job.NAME]", NAME a bare key, followed by nothing
// but blanks and a comment; key is "program.NAME" or "job.NAME".
func cutLine(line string) (key string, ok bool) {
	end := strings.IndexByte(line, ']')
	if end < 0 || strings.HasPrefix(line, "[[") {
		return "", false
	}
	key = line[1:end]
	name, found := strings.CutPrefix(key, "program.")
	if !found {
		if name, found = strings.CutPrefix(key, "job."); !found {
			return "", false
		}
	}
	if name == "" {
		return "", false
	}
	for i := range len(name) {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return "", false
		}
	}
	rest := strings.TrimLeft(line[end+1:], " \t")
	if rest != "" && rest[0] != '#' && rest != "\n" && rest != "\r\n" {
		return "", false
	}
	return key, true
}
