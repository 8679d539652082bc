package config

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The TOML library reports the position of a syntax error, but not where a
// key or a value is: its MetaData keeps key positions private. So after a
// file has parsed, a small scanner walks its text once more and records, for
// every key path, where the key and its value start. It follows just enough
// of TOML to stay in step: table headers, dotted and quoted keys, strings of
// all four kinds, arrays, inline tables (multi-line ones too) and comments.
// It never fails: on text it does not follow it records less, and a lookup
// falls back to the nearest enclosing key that it did record.

// positions says where each key path of one file first appears.
//
// A valid file needs only the places of its tables (a program's header
// orders the definitions and names where it was defined); the place of any
// other key is wanted only to report a problem with it. So the first scan
// records the paths of at most headerDepth parts, and the first lookup of
// a deeper path scans the text again, recording everything: recording
// every key is most of the scan's time and allocations, spent at every
// start for the error that seldom comes.
type positions struct {
	file string // display name
	src  string // the text, for the full scan
	m    map[string]keyPos
	// all holds every key path, scanned at the first lookup of a deeper
	// one (nil before); once makes that scan run once, as the goroutines
	// of checkTables share a file's positions.
	once sync.Once
	all  map[string]keyPos
	// tooDeep is where the text first nests deeper than maxDepth, or the
	// zero pos.
	tooDeep pos
}

// headerDepth is the longest key path the first scan records: [superd],
// [program.NAME] and their like, and top-level keys.
const headerDepth = 2

// keyPos is where a key and its value start. For a table the value is the
// key: the name in its header, or in the dotted key that made it.
type keyPos struct {
	key, val pos
}

// pathKey joins a key path into a map key. Array elements are "[N]".
func pathKey(path []string) string {
	return strings.Join(path, "\x00")
}

// elem returns the path element of array index i.
func elem(i int) string {
	return "[" + strconv.Itoa(i) + "]"
}

// key returns where the key of path is, or of its nearest recorded ancestor,
// or line 1 column 1.
func (p *positions) key(path ...string) pos {
	return p.lookup(path).key
}

// val returns where the value of path starts, with the same fallback as key.
func (p *positions) val(path ...string) pos {
	return p.lookup(path).val
}

func (p *positions) lookup(path []string) keyPos {
	m := p.m
	if len(path) > headerDepth {
		p.once.Do(func() { p.all = scan(p.file, p.src, maxDepth).m })
		m = p.all
	}
	for n := len(path); n > 0; n-- {
		if kp, ok := m[pathKey(path[:n])]; ok {
			if kp.val == (pos{}) { // a table: its value is its name
				kp.val = kp.key
			}
			return kp
		}
	}
	start := pos{File: p.file, Line: 1, Col: 1}
	return keyPos{key: start, val: start}
}

// scanner walks TOML text; line and col are those of src[i].
type scanner struct {
	src       string
	i         int
	line, col int
	depth     int // the longest key path recorded
	out       *positions
}

// scanPositions records the key positions of src, whose display name is
// file: those of short paths now, the others when first looked up.
func scanPositions(file, src string) *positions {
	p := scan(file, src, headerDepth)
	p.src = src
	return p
}

// scan records the positions of the key paths of src of at most depth
// parts, and notes where src nests too deeply.
func scan(file, src string, depth int) *positions {
	// About one key a line: sized so, the full map seldom grows while
	// filled; the short paths are about a tenth of them.
	size := strings.Count(src, "\n") + 1
	if depth < maxDepth {
		size = size/8 + 1
	}
	m := make(map[string]keyPos, size)
	s := &scanner{src: src, line: 1, col: 1, depth: depth, out: &positions{file: file, m: m}}
	if strings.HasPrefix(src, "\xef\xbb\xbf") { // a UTF-8 BOM is invisible in an editor
		s.i = 3
	}
	var table []string
	for s.i < len(s.src) {
		s.skipSpaceNL()
		if s.eof() {
			break
		}
		start := s.i
		if s.peek() == '[' {
			s.next()
			if s.peek() == '[' {
				s.next()
			}
			table = s.keyPath(nil)
			s.skipToEOL()
		} else {
			s.keyValue(table)
		}
		if s.i == start { // never loop without progress
			s.next()
		}
	}
	return s.out
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }

func (s *scanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.i]
}

func (s *scanner) peekAt(n int) byte {
	if s.i+n >= len(s.src) {
		return 0
	}
	return s.src[s.i+n]
}

// next moves one byte on, keeping line and col.
func (s *scanner) next() {
	if s.eof() {
		return
	}
	if s.src[s.i] == '\n' {
		s.line++
		s.col = 1
	} else {
		s.col++
	}
	s.i++
}

func (s *scanner) here() pos {
	return pos{File: s.out.file, Line: s.line, Col: s.col}
}

// maxDepth bounds how deep tables, dotted keys, arrays and inline tables
// may nest: no key of superd's comes near it. The scanner records nothing
// deeper and skips deeper values without recursion, so its time stays
// linear in the size of the text; Load refuses such a file before the toml
// library, whose time grows much faster with the depth, sees it.
const maxDepth = 16

// tooDeep notes the first place where the text nests deeper than maxDepth.
func (s *scanner) tooDeep() {
	if s.out.tooDeep == (pos{}) {
		s.out.tooDeep = s.here()
	}
}

// record notes key and val for path unless path was seen before; a value
// position is filled in later when the first sighting had none.
func (s *scanner) record(path []string, key, val pos) {
	if len(path) > maxDepth {
		s.tooDeep()
		return
	}
	if len(path) > s.depth {
		return
	}
	k := pathKey(path)
	kp, ok := s.out.m[k]
	if !ok {
		s.out.m[k] = keyPos{key: key, val: val}
		return
	}
	if kp.val == (pos{}) {
		kp.val = val
		s.out.m[k] = kp
	}
}

func (s *scanner) skipSpace() {
	for c := s.peek(); c == ' ' || c == '\t'; c = s.peek() {
		s.next()
	}
}

// skipSpaceNL skips white space, newlines and comments.
func (s *scanner) skipSpaceNL() {
	for !s.eof() {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.next()
		case '#':
			s.skipToEOL()
		default:
			return
		}
	}
}

// skipToEOL moves to the next newline (not past it).
func (s *scanner) skipToEOL() {
	for !s.eof() && s.peek() != '\n' {
		s.next()
	}
}

// keyPath reads a dotted key and returns base extended by it, recording the
// key position of each part.
func (s *scanner) keyPath(base []string) []string {
	path := append(make([]string, 0, len(base)+2), base...) // room for a dotted key
	for {
		s.skipSpace()
		at := s.here()
		seg, ok := s.keySegment()
		if !ok {
			return path
		}
		path = append(path, seg)
		s.record(path, at, pos{})
		s.skipSpace()
		if s.peek() != '.' {
			return path
		}
		s.next()
	}
}

// keySegment reads one bare, "basic" or 'literal' key.
func (s *scanner) keySegment() (string, bool) {
	switch c := s.peek(); c {
	case '"':
		start := s.i
		s.basicString()
		return unescapeBasic(s.src[start+1 : max(start+1, s.i-1)]), true
	case '\'':
		start := s.i
		s.literalString()
		return s.src[start+1 : max(start+1, s.i-1)], true
	default:
		start := s.i
		for !s.eof() && isKeyByte(s.peek()) {
			s.next()
		}
		return s.src[start:s.i], s.i > start
	}
}

// isKeyByte is true for the bytes of a bare key. It admits more than TOML
// does; the text has already parsed, so that can only help.
func isKeyByte(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '.', '=', '[', ']', '{', '}', '"', '\'', '#', ',', 0:
		return false
	}
	return true
}

// keyValue reads "key = value" relative to table.
func (s *scanner) keyValue(table []string) {
	path := s.keyPath(table)
	if len(path) == len(table) {
		return
	}
	s.skipSpace()
	if s.peek() != '=' {
		return
	}
	s.next()
	s.skipSpace()
	at := s.here()
	s.record(path, at, at)
	s.value(path)
}

// value reads the value at s.i, which belongs to path.
func (s *scanner) value(path []string) {
	if len(path) > maxDepth {
		s.tooDeep()
		s.skipValue()
		return
	}
	switch s.peek() {
	case '"', '\'':
		s.str()
	case '[':
		s.items(']', func(n int) {
			p := s.elemPath(path, n)
			at := s.here()
			s.record(p, at, at)
			s.value(p)
		})
	case '{':
		s.items('}', func(int) { s.keyValue(path) })
	default:
		s.scalar()
	}
}

// unrecorded stands for the parts of a path too long to be recorded: only
// its length matters then. Nothing writes to it (keyPath and sub copy).
var unrecorded = make([]string, maxDepth+2)

// elemPath returns the path of element n of the array at path, without
// building it when it is too long to be recorded.
func (s *scanner) elemPath(path []string, n int) []string {
	if len(path) >= s.depth && len(path) < len(unrecorded) {
		return unrecorded[:len(path)+1]
	}
	return sub(path, elem(n))
}

// items reads the items of an array or an inline table, from its opening
// bracket at s.i past the closing one, end; item reads the item at s.i,
// the n-th one.
func (s *scanner) items(end byte, item func(n int)) {
	s.next()
	for n := 0; ; {
		s.skipSpaceNL()
		start := s.i
		switch s.peek() {
		case 0:
			if s.eof() {
				return
			}
		case end:
			s.next()
			return
		case ',':
			s.next()
			continue
		}
		item(n)
		n++
		if s.i == start {
			s.next()
		}
	}
}

// skipValue reads the value at s.i without recording anything in it.
func (s *scanner) skipValue() {
	depth := 0
	for !s.eof() {
		switch s.peek() {
		case '"', '\'':
			s.str()
		case '[', '{':
			depth++
			s.next()
		case ']', '}':
			if depth == 0 {
				return
			}
			depth--
			s.next()
			if depth == 0 {
				return
			}
		case '#':
			s.skipToEOL()
		case ',', '\r', '\n':
			if depth == 0 {
				return
			}
			s.next()
		default:
			s.next()
		}
	}
}

// str reads a string of any of TOML's four kinds: s.i is at its first
// quote, a " or a '.
func (s *scanner) str() {
	switch q := s.peek(); {
	case s.peekAt(1) == q && s.peekAt(2) == q:
		s.multiString(q)
	case q == '"':
		s.basicString()
	default:
		s.literalString()
	}
}

// scalar reads a number, boolean or date-time.
func (s *scanner) scalar() {
	start := s.i
	for !s.eof() {
		switch s.peek() {
		case ',', ']', '}', '#', '\r', '\n', '\t':
			return
		case ' ':
			// "1979-05-27 07:32:00" is one value.
			if s.i-start == 10 && s.src[start+4] == '-' && isDigit(s.peekAt(1)) {
				s.next()
				continue
			}
			return
		}
		s.next()
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// basicString reads "..." on one line, escapes included.
func (s *scanner) basicString() {
	s.next()
	for !s.eof() {
		switch s.peek() {
		case '\\':
			s.next()
			if s.peek() != '\n' {
				s.next()
			}
		case '"':
			s.next()
			return
		case '\n':
			return
		default:
			s.next()
		}
	}
}

// literalString reads '...' on one line.
func (s *scanner) literalString() {
	s.next()
	for !s.eof() {
		switch s.peek() {
		case '\'':
			s.next()
			return
		case '\n':
			return
		default:
			s.next()
		}
	}
}

// multiString reads a multi-line string delimited by three of q, a " or a
// ' quote. Up to two more quotes right before the closing three belong to
// the string.
func (s *scanner) multiString(q byte) {
	s.next()
	s.next()
	s.next()
	for !s.eof() {
		c := s.peek()
		if c == '\\' && q == '"' {
			s.next()
			s.next()
			continue
		}
		if c == q && s.peekAt(1) == q && s.peekAt(2) == q {
			s.next()
			s.next()
			s.next()
			for n := 0; n < 2 && s.peek() == q; n++ {
				s.next()
			}
			return
		}
		s.next()
	}
}

// unescapeBasic decodes the escapes of a basic string's body. A malformed
// escape is kept as it is.
func unescapeBasic(body string) string {
	if !strings.Contains(body, `\`) {
		return body
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := body[i]; e {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(e)
		case 'x', 'u', 'U':
			n := 2
			if e == 'u' {
				n = 4
			} else if e == 'U' {
				n = 8
			}
			if i+1+n > len(body) {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			r, err := strconv.ParseUint(body[i+1:i+1+n], 16, 32)
			if err != nil || !utf8.ValidRune(rune(r)) {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			b.WriteRune(rune(r))
			i += n
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String()
}
