package pidfile

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    int
		wantErr string
	}{
		{"pid", "4242\n", 0o644, 4242, ""},
		{"spaces", "  4242  \n", 0o644, 4242, ""},
		{"garbage", "abc\n", 0o644, 0, "is not a pid"},
		{"empty", "", 0o644, 0, "is not a pid"},
		{"pid 1", "1\n", 0o644, 0, "refused"},
		{"negative", "-5\n", 0o644, 0, "refused"},
		{"world-writable", "4242\n", 0o666, 0, "writable by others"},
		{"group-writable", "4242\n", 0o664, 0, "writable by others"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.pid")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode)
			got, err := Read(path)
			if tt.wantErr == "" && (err != nil || got != tt.want) || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Read(%q) = %d, %v; want %d, error containing %q", tt.content, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestWriteListRemove(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, "self", os.Getpid()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "self.pid"))
	if string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("self.pid = %q; want the pid alone", b)
	}
	// A record whose start time does not match is another process.
	os.WriteFile(filepath.Join(dir, "other.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "other.start"), []byte("1\n"), 0o644)
	recs, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	alive := map[string]bool{}
	for _, r := range recs {
		if r.Err != nil {
			t.Errorf("record %s: %v", r.Name, r.Err)
		}
		alive[r.Name] = r.Alive
	}
	if !alive["self"] || alive["other"] {
		t.Errorf("Alive = %v; want self true (same start time), other false (recycled pid)", alive)
	}
	Remove(dir, "self")
	if _, err := os.Stat(filepath.Join(dir, "self.pid")); !os.IsNotExist(err) {
		t.Errorf("self.pid after Remove: %v", err)
	}
}
