package apitype

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// sampleInstances has one instance of each shape the list takes.
func sampleInstances() []Instance {
	started := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	zoned := time.Date(2026, 3, 1, 2, 3, 4, 0, time.FixedZone("", 5*3600+30*60))
	return []Instance{
		{Name: "web:0", Program: "web", Instance: 0, State: StateRunning, Pid: ptr(4242),
			StartedAt: &started, UptimeSeconds: 12.5, Ready: true, Healthy: true},
		{Name: "web:1", Program: "web", Instance: 1, State: StateStarting, Pid: ptr(1),
			StartedAt: &zoned, UptimeSeconds: 72.299179744, Restarts: 3},
		{Name: "db", Program: "db", State: StateStopped, ExitSignal: ptr("SIGKILL")},
		{Name: "bad", Program: "bad", State: StateFatal, ExitCode: ptr(127), Detached: true,
			Message: "exec /nonexistent: no such file or directory"},
		{Name: "odd", Program: "odd", State: StateBackoff, ExitCode: ptr(-1),
			Message: "<a href=\"x\">&amp;</a>\n\ttab\\ \u2028\u2029 é ☃ \x00\x1f \xff\xfe"},
		{},
	}
}

func TestAppendInstances(t *testing.T) {
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		insts []Instance
	}{
		{"nil", nil},
		{"empty", []Instance{}},
		{"samples", sampleInstances()},
		{"tiny uptime", []Instance{{UptimeSeconds: 1e-7}}},
		{"huge uptime", []Instance{{UptimeSeconds: 1e21}}},
		{"negative zero uptime", []Instance{{UptimeSeconds: math.Copysign(0, -1)}}},
		{"smallest plain uptime", []Instance{{UptimeSeconds: 1e-6}}},
		{"NaN uptime", []Instance{{Name: "a"}, {UptimeSeconds: math.NaN()}}},
		{"infinite uptime", []Instance{{UptimeSeconds: math.Inf(-1)}}},
		{"year 10000", []Instance{{Name: "a"}, {StartedAt: &far}}},
		{"zero time", []Instance{{StartedAt: &time.Time{}}}},
		{"extreme ints", []Instance{{Instance: math.MaxInt, Restarts: math.MinInt, Pid: ptr(-0)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAppend(t, tt.insts)
		})
	}
}

// checkAppend fails unless AppendInstances(prefix, insts) is prefix and
// json.Marshal's bytes, or the prefix alone and json.Marshal's error.
func checkAppend(t *testing.T, insts []Instance) {
	t.Helper()
	want, wantErr := json.Marshal(insts)
	got, err := AppendInstances([]byte("prefix"), insts)
	if wantErr != nil {
		if err == nil || err.Error() != wantErr.Error() || string(got) != "prefix" {
			t.Errorf("AppendInstances(%+v) = %q, %v; want %q, %v", insts, got, err, "prefix", wantErr)
		}
		return
	}
	if err != nil || string(got) != "prefix"+string(want) {
		t.Errorf("AppendInstances(%+v) =\n%s, %v; want\n%s", insts, got, err, "prefix"+string(want))
	}
}

func TestDecodeInstances(t *testing.T) {
	canonical, err := json.Marshal(sampleInstances())
	if err != nil {
		t.Fatal(err)
	}
	one := `{"name":"a","program":"a","instance":0,"state":"running","pid":5,"started_at":"2026-11-27T10:00:00Z","uptime_seconds":1,"restarts":0,"exit_code":null,"exit_signal":null,"ready":true,"healthy":true,"detached":false,"message":""}`
	tests := []struct {
		name string
		data string
		fast bool // the fast path decodes it, without encoding/json
	}{
		{"canonical", string(canonical), true},
		{"canonical with newline", string(canonical) + "\n", true},
		{"empty", "[]", true},
		{"empty with blanks", " [ ] \r\n\t", true},
		{"empty object", "[{}]", true},
		{"whitespace everywhere", " [ { \"name\" : \"a\" ,\n\"pid\"\t:\r5 , \"ready\" : true } , {} ] ", true},
		{"keys in another order", `[{"message":"m","state":"fatal","name":"x","exit_code":1}]`, true},
		{"duplicate key", `[{"name":"a","name":"b","pid":1,"pid":null}]`, true},
		{"escapes", `[{"name":"a\"b\\c\/d\n\u00e9\ud83d\ude00","message":"\u003cx\u003e"}]`, true},
		{"non-ASCII", `[{"name":"é☃","state":"runnïng"}]`, true},
		{"invalid UTF-8", "[{\"name\":\"a\xffb\"}]", true},
		{"lone surrogate", `[{"name":"\ud800x"}]`, true},
		{"unknown state", `[{"state":"paused"}]`, true},
		{"numbers", `[{"instance":-0,"restarts":9223372036854775807,"uptime_seconds":-1.5e-3,"pid":0}]`, true},
		{"exponent uptime", `[{"uptime_seconds":1E+2}]`, true},
		{"zoned time", `[{"started_at":"2026-03-01T02:03:04.5+05:30"}]`, true},
		{"many", "[" + strings.Repeat(one+",", 99) + one + "]", true},

		{"null", "null", false},
		{"unknown key", `[{"name":"a","color":"red"}]`, false},
		{"key in another case", `[{"Name":"a"}]`, false},
		{"escaped key", `[{"n\u0061me":"a"}]`, false},
		{"null name", `[{"name":null}]`, false},
		{"null ready", `[{"ready":null}]`, false},
		{"string pid", `[{"pid":"5"}]`, false},
		{"fraction pid", `[{"pid":5.0}]`, false},
		{"exponent restarts", `[{"restarts":1e2}]`, false},
		{"overflowing int", `[{"restarts":9223372036854775808}]`, false},
		{"overflowing float", `[{"uptime_seconds":1e400}]`, false},
		{"leading zero", `[{"pid":05}]`, false},
		{"bare minus", `[{"pid":-}]`, false},
		{"dot without digits", `[{"uptime_seconds":1.}]`, false},
		{"exponent without digits", `[{"uptime_seconds":1e}]`, false},
		{"bad time", `[{"started_at":"yesterday"}]`, false},
		{"escaped time", `[{"started_at":"2026-11-27T10:00:00\u005a"}]`, false},
		{"number time", `[{"started_at":5}]`, false},
		{"control byte in string", "[{\"name\":\"a\tb\"}]", false},
		{"bad escape", `[{"name":"\x"}]`, false},
		{"unterminated string", `[{"name":"abc`, false},
		{"unterminated array", `[{"name":"a"}`, false},
		{"trailing comma", `[{"name":"a"},]`, false},
		{"trailing comma in object", `[{"name":"a",}]`, false},
		{"missing colon", `[{"name" "a"}]`, false},
		{"trailing garbage", `[] x`, false},
		{"two values", `[] []`, false},
		{"truncated literal", `[{"ready":tru}]`, false},
		{"literal run-on", `[{"ready":truex}]`, false},
		{"object", `{"name":"a"}`, false},
		{"array of arrays", `[[]]`, false},
		{"nothing", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := instanceDecoder{data: []byte(tt.data)}
			if _, fast := d.array(); fast != tt.fast {
				t.Errorf("fast path of %q = %v; want %v", tt.data, fast, tt.fast)
			}
			checkDecode(t, []byte(tt.data))
		})
	}
}

// checkDecode fails unless DecodeInstances(data) has json.Unmarshal's
// result and error, and its fast path only accepts what json.Unmarshal
// does and agrees with it.
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	var want []Instance
	wantErr := json.Unmarshal(data, &want)
	got, err := DecodeInstances(data)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeInstances(%q) =\n%+v, %v; want\n%+v, %v", data, got, err, want, wantErr)
	}
	d := instanceDecoder{data: data}
	if fast, ok := d.array(); ok && (wantErr != nil || !reflect.DeepEqual(fast, want)) {
		t.Errorf("fast path of %q = %+v; want %+v, %v", data, fast, want, wantErr)
	}
}

func TestRoundTrip(t *testing.T) {
	b, err := AppendInstances(nil, sampleInstances())
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeInstances(b)
	if err != nil {
		t.Fatal(err)
	}
	var want []Instance
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeInstances(AppendInstances(%+v)) = %+v; want %+v", sampleInstances(), got, want)
	}
}

func FuzzDecodeInstances(f *testing.F) {
	canonical, err := json.Marshal(sampleInstances())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(canonical)
	f.Add([]byte(`[{"name":"a\u00e9","uptime_seconds":-0.5e-3,"pid":null,"started_at":"2026-03-01T02:03:04.5+05:30"}]`))
	f.Add([]byte(` [ {} , { "ready" : false } ] `))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
	})
}

func FuzzAppendInstances(f *testing.F) {
	f.Add("web:0", "web", 0, "running", 4242, int64(1795773600), int64(5), 12.5, 0, "SIGKILL", true, "")
	f.Add("<&>", "\u2028", -1, "\x00", 0, int64(-62135596800), int64(-1), 1e-7, math.MinInt, "\xff", false, "a\"b\\c")
	f.Add("a", "b", 1, "stopped", 1, int64(253402300800), int64(999999999), 1e21, 1, "", true, "é")
	f.Fuzz(func(t *testing.T, name, program string, instance int, state string, pid int, sec, nsec int64,
		uptime float64, restarts int, signal string, ready bool, message string) {
		started := time.Unix(sec, nsec).In(time.FixedZone("", int(nsec%(24*3600))))
		insts := []Instance{
			{Name: name, Program: program, Instance: instance, State: State(state), Pid: &pid,
				StartedAt: &started, UptimeSeconds: uptime, Restarts: restarts, ExitSignal: &signal,
				Ready: ready, Healthy: !ready, Detached: ready, Message: message},
			{Name: message, Program: name, State: State(signal), ExitCode: &restarts, Message: state},
		}
		checkAppend(t, insts)
		if b, err := AppendInstances(nil, insts); err == nil {
			checkDecode(t, b)
		}
	})
}
