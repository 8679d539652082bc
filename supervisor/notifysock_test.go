package supervisor

import "testing"

// TestOwns: a notify message is the instance's when its sender is the
// leader or was in the leader's group when the datagram arrived; the
// group is the one looked up then (the sender may be gone by now), never
// looked up again.
func TestOwns(t *testing.T) {
	const gone = 1 << 30 // no such pid: a lookup now would fail
	in := &instance{pid: testPid, pgid: testPid}
	for _, tc := range []struct {
		name      string
		pid, pgid int
		want      bool
	}{
		{"the leader", testPid, testPid, true},
		{"the leader, group unknown", testPid, 0, true},
		{"a member of its group, gone since", gone, testPid, true},
		{"a process of another group", gone, testPid + 1, false},
		{"a sender gone before its group was learnt", gone, 0, false},
	} {
		if got := owns(in, tc.pid, tc.pgid); got != tc.want {
			t.Errorf("%s: owns(pid %d, pgid %d) = %v; want %v", tc.name, tc.pid, tc.pgid, got, tc.want)
		}
	}
	if owns(&instance{}, gone, 0) {
		t.Errorf("owns() of an instance without a group and a sender without one = true; want false")
	}
}
