package config

import "strings"

// A large file is parsed in pieces and the pieces' tables merged. The
// TOML library checks each table header against every key it has seen
// before it in the text, so one parse of N tables costs about N²: a Load
// of 5,000 programs took 337 ms with the file whole, 108 ms in pieces of
// at most about maxTables tables (docs/BENCHMARKS.md, "Start, seventh
// round"). The runs of pieces are parsed one goroutine each, so the
// machine's other CPUs share the work. The result must be the library's
// own for the whole text, or the whole text is parsed in one
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

// minCuts is the most cut lines (tables) a text is parsed whole with:
// up to about there, one piece costs no more than cutting, the goroutines
// and the merge (BenchmarkLoadScale, pieces against whole: 8 % slower at
// 100 programs, even at 200, 13–20 % faster at 500).
const minCuts = 256

// maxTables is about the most cut lines one run of pieces holds.
const maxTables = 64

// parseTOML parses text into its tables, as the library does for the
// whole text, in pieces on procs CPUs when that is sure to give the same
// result (see above). It is safe on any text: a panic in the library becomes an error.
func parseTOML(text string, procs int) (map[string]any, error) {
	if starts, ok := cutPoints(text); ok {
		if n := runsFor(len(starts), procs); n > 1 {
			if raw, ok := parsePieces(text, starts, n); ok {
				return raw, nil
			}
		}
	}
	return decodeTOML(text)
}

// runsFor returns how many runs parseTOML groups cuts pieces into on
// procs CPUs: 1 (the text whole) up to minCuts pieces; above, one run
// per CPU, or more, so that a run holds about maxTables pieces at most.
func runsFor(cuts, procs int) int {
	if cuts <= minCuts {
		return 1
	}
	return max(procs, (cuts+maxTables-1)/maxTables)
}

// parsePieces parses text, whose cut lines start at starts, in pieces:
// the text before the first cut line on the calling goroutine, the pieces
// after it grouped into at most n runs of about equal length, one
// goroutine each; then it merges them. It returns false when a rule of
// the comment above is broken.
func parsePieces(text string, starts []int, n int) (map[string]any, bool) {
	if len(starts) == 0 {
		return nil, false
	}
	bounds := groupCuts(starts, len(text), n)
	raws := make([]map[string]any, len(bounds)+1)
	errs := make([]error, len(bounds)+1)
	fanOut(len(bounds)+1, func(i int) {
		if i == 0 {
			raws[0], errs[0] = decodeTOML(text[:starts[0]])
			return
		}
		b := bounds[i-1]
		raws[i], errs[i] = decodeTOML(text[b[0]:b[1]])
	})
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
