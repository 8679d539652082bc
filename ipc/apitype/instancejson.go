package apitype

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The instance list is the largest answer of the API (about 260 bytes an
// instance: 130 KB for 500), and `superctl status` decodes it on every
// call. AppendInstances and DecodeInstances handle it without reflection,
// several times faster than encoding/json, and give exactly encoding/json's
// result: whatever they do not handle in their fast path (a string to
// escape, a float to write with an exponent, JSON not in the form
// AppendInstances writes it) goes to encoding/json. The tests hold them to
// encoding/json byte for byte and value for value.

// instanceSize is about the size of an instance object, to make room for
// a list up front.
const instanceSize = 300

// AppendInstances appends the JSON array of insts to b, byte for byte what
// json.Marshal makes of it ("null" for a nil slice), and returns the
// extended slice. Its error is json.Marshal's: a time outside years 0 to
// 9999 or a NaN or infinite uptime.
func AppendInstances(b []byte, insts []Instance) ([]byte, error) {
	if insts == nil {
		return append(b, "null"...), nil
	}
	out := append(slices.Grow(b, instanceSize*len(insts)+3), '[') // +3: brackets, and the newline callers add
	for i := range insts {
		if i > 0 {
			out = append(out, ',')
		}
		var ok bool
		if out, ok = appendInstance(out, &insts[i]); !ok {
			m, err := json.Marshal(insts)
			if err != nil {
				return b, err
			}
			return append(b, m...), nil
		}
	}
	return append(out, ']'), nil
}

// appendInstance appends in as json.Marshal writes it; false when a value
// is beyond it, and then what it appended is garbage.
func appendInstance(b []byte, in *Instance) ([]byte, bool) {
	b = append(b, `{"name":`...)
	b = appendString(b, in.Name)
	b = append(b, `,"program":`...)
	b = appendString(b, in.Program)
	b = append(b, `,"instance":`...)
	b = strconv.AppendInt(b, int64(in.Instance), 10)
	b = append(b, `,"state":`...)
	b = appendString(b, string(in.State))
	b = append(b, `,"pid":`...)
	b = appendIntPtr(b, in.Pid)
	b = append(b, `,"started_at":`...)
	if in.StartedAt == nil {
		b = append(b, "null"...)
	} else {
		t, err := in.StartedAt.AppendText(append(b, '"'))
		if err != nil {
			return b, false
		}
		b = append(t, '"')
	}
	b = append(b, `,"uptime_seconds":`...)
	b, ok := appendFloat(b, in.UptimeSeconds)
	if !ok {
		return b, false
	}
	b = append(b, `,"restarts":`...)
	b = strconv.AppendInt(b, int64(in.Restarts), 10)
	b = append(b, `,"exit_code":`...)
	b = appendIntPtr(b, in.ExitCode)
	b = append(b, `,"exit_signal":`...)
	if in.ExitSignal == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *in.ExitSignal)
	}
	b = append(b, `,"ready":`...)
	b = strconv.AppendBool(b, in.Ready)
	b = append(b, `,"healthy":`...)
	b = strconv.AppendBool(b, in.Healthy)
	b = append(b, `,"detached":`...)
	b = strconv.AppendBool(b, in.Detached)
	b = append(b, `,"message":`...)
	b = appendString(b, in.Message)
	return append(b, '}'), true
}

// appendIntPtr appends *p, or null.
func appendIntPtr(b []byte, p *int) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(*p), 10)
}

// appendFloat appends f as encoding/json does when that needs no exponent
// (1e-6 <= |f| < 1e21, or 0); false otherwise.
func appendFloat(b []byte, f float64) ([]byte, bool) {
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) || math.IsNaN(f) {
		return b, false
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), true
}

// appendString appends s quoted. Printable ASCII that encoding/json does
// not escape (it escapes <, > and & too) is copied; any other string is
// json.Marshal's.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// DecodeInstances decodes a JSON array of instance objects, with exactly
// json.Unmarshal's result and error. It is fastest on the form
// AppendInstances writes.
func DecodeInstances(data []byte) ([]Instance, error) {
	d := instanceDecoder{data: data}
	if insts, ok := d.array(); ok {
		return insts, nil
	}
	var insts []Instance
	if err := json.Unmarshal(data, &insts); err != nil {
		return nil, err
	}
	return insts, nil
}

// instanceDecoder reads an array of instance objects in the form
// AppendInstances writes, give or take whitespace, key order and string
// escapes. Any other JSON, valid or not, makes it give up (ok false), and
// DecodeInstances leaves the input to encoding/json.
type instanceDecoder struct {
	data []byte
	pos  int
}

// array reads the whole input: one array of instance objects.
func (d *instanceDecoder) array() ([]Instance, bool) {
	if !d.consume('[') {
		return nil, false
	}
	insts := []Instance{}
	if !d.consume(']') {
		for {
			var in Instance
			if !d.object(&in) {
				return nil, false
			}
			insts = append(insts, in)
			if d.consume(']') {
				break
			}
			if !d.consume(',') {
				return nil, false
			}
		}
	}
	d.space()
	return insts, d.pos == len(d.data)
}

// object reads one instance object into in.
func (d *instanceDecoder) object(in *Instance) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	for {
		d.space()
		key, ok := d.rawString()
		if !ok || !d.consume(':') {
			return false
		}
		d.space()
		if !d.member(key, in) {
			return false
		}
		if d.consume('}') {
			return true
		}
		if !d.consume(',') {
			return false
		}
	}
}

// member reads the value of the member key into in. A key that is not one
// of Instance's, or spelt in another case, gives up: encoding/json matches
// keys without regard to case.
func (d *instanceDecoder) member(key []byte, in *Instance) bool {
	var ok bool
	switch string(key) {
	case "name":
		in.Name, ok = d.string()
	case "program":
		in.Program, ok = d.string()
	case "instance":
		in.Instance, ok = d.int()
	case "state":
		in.State, ok = d.state()
	case "pid":
		in.Pid, ok = d.intPtr()
	case "started_at":
		in.StartedAt, ok = d.time()
	case "uptime_seconds":
		in.UptimeSeconds, ok = d.float()
	case "restarts":
		in.Restarts, ok = d.int()
	case "exit_code":
		in.ExitCode, ok = d.intPtr()
	case "exit_signal":
		in.ExitSignal, ok = d.stringPtr()
	case "ready":
		in.Ready, ok = d.bool()
	case "healthy":
		in.Healthy, ok = d.bool()
	case "detached":
		in.Detached, ok = d.bool()
	case "message":
		in.Message, ok = d.string()
	}
	return ok
}

// space skips JSON whitespace.
func (d *instanceDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// consume skips whitespace, then c if it comes next.
func (d *instanceDecoder) consume(c byte) bool {
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// literal reads word (null, true, false) if it comes next.
func (d *instanceDecoder) literal(word string) bool {
	if len(d.data)-d.pos >= len(word) && string(d.data[d.pos:d.pos+len(word)]) == word {
		d.pos += len(word)
		return true
	}
	return false
}

// rawString reads a string without escapes or bytes beyond ASCII and
// returns what is between its quotes.
func (d *instanceDecoder) rawString() ([]byte, bool) {
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return nil, false
	}
	for i := d.pos + 1; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			s := d.data[d.pos+1 : i]
			d.pos = i + 1
			return s, true
		case c < ' ' || c == '\\' || c >= utf8.RuneSelf:
			return nil, false
		}
	}
	return nil, false
}

// string reads a string; one with escapes or bytes beyond ASCII is
// decoded by encoding/json, which also replaces invalid UTF-8.
func (d *instanceDecoder) string() (string, bool) {
	start := d.pos
	if s, ok := d.rawString(); ok {
		return string(s), true
	}
	d.pos = start
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return "", false
	}
	for i := d.pos + 1; i < len(d.data); i++ {
		switch d.data[i] {
		case '\\':
			i++ // the escaped byte cannot end the string
		case '"':
			var s string
			if json.Unmarshal(d.data[start:i+1], &s) != nil {
				return "", false
			}
			d.pos = i + 1
			return s, true
		}
	}
	return "", false
}

// stringPtr reads null or a string.
func (d *instanceDecoder) stringPtr() (*string, bool) {
	if d.literal("null") {
		return nil, true
	}
	s, ok := d.string()
	return &s, ok
}

// state reads a state; the states of SPEC §3 share their constants.
func (d *instanceDecoder) state() (State, bool) {
	start := d.pos
	if s, ok := d.rawString(); ok {
		for _, st := range [...]State{StateRunning, StateStopped, StateStarting, StateBackoff, StateStopping, StateExited, StateFatal} {
			if string(s) == string(st) {
				return st, true
			}
		}
	}
	d.pos = start
	s, ok := d.string()
	return State(s), ok
}

// number reads a number as JSON spells it and returns its text; integer
// says it has neither a fraction nor an exponent.
func (d *instanceDecoder) number() (text []byte, integer, ok bool) {
	data, i := d.data, d.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	default:
		return nil, false, false
	}
	integer = true
	if i < len(data) && data[i] == '.' {
		integer = false
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return nil, false, false
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		integer = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return nil, false, false
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	text = data[d.pos:i]
	d.pos = i
	return text, integer, true
}

// int reads an integer that fits an int.
func (d *instanceDecoder) int() (int, bool) {
	text, integer, ok := d.number()
	if !ok || !integer {
		return 0, false
	}
	n, err := strconv.ParseInt(string(text), 10, strconv.IntSize)
	return int(n), err == nil
}

// intPtr reads null or an integer.
func (d *instanceDecoder) intPtr() (*int, bool) {
	if d.literal("null") {
		return nil, true
	}
	n, ok := d.int()
	return &n, ok
}

// float reads a number that fits a float64.
func (d *instanceDecoder) float() (float64, bool) {
	text, _, ok := d.number()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(text), 64)
	return f, err == nil
}

// bool reads true or false.
func (d *instanceDecoder) bool() (bool, bool) {
	switch {
	case d.literal("true"):
		return true, true
	case d.literal("false"):
		return false, true
	}
	return false, false
}

// time reads null or a time as time.Time's UnmarshalJSON takes it: a
// string in RFC 3339 (which, like encoding/json, it reads unescaped).
func (d *instanceDecoder) time() (*time.Time, bool) {
	if d.literal("null") {
		return nil, true
	}
	start := d.pos
	if _, ok := d.rawString(); !ok {
		return nil, false
	}
	t := new(time.Time)
	if t.UnmarshalJSON(d.data[start:d.pos]) != nil {
		return nil, false
	}
	return t, true
}
