// Package pidfile reads and writes the records of detached processes: a
// conventional pidfile NAME.pid (the pid alone, with a newline) and, beside
// it, NAME.start with the process's start time from /proc/PID/stat, so a
// recycled pid is never mistaken for the process. Files are written
// atomically (temporary file, fsync, rename). A pidfile is never trusted
// blindly: Read refuses non-numbers, pids <= 1, and files another user could
// have written.
package pidfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Record is one recorded process, as List found it.
type Record struct {
	Name    string    // the file name without .pid
	Pid     int       // valid when Err is nil
	Started time.Time // when the record was written
	Alive   bool      // the pid runs and is the same process (start time matches)
	Err     error     // why the record was refused
}

// Write records pid as dir/NAME.pid and its start time as dir/NAME.start.
func Write(dir, name string, pid int) error {
	st, err := StartTime(pid)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pidfile: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, name+".start"), strconv.FormatUint(st, 10)+"\n"); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, name+".pid"), strconv.Itoa(pid)+"\n")
}

// Remove deletes the record NAME in dir.
func Remove(dir, name string) {
	os.Remove(filepath.Join(dir, name+".pid"))
	os.Remove(filepath.Join(dir, name+".start"))
}

// List returns every record in dir.
func List(dir string) ([]Record, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok {
			continue
		}
		rec := Record{Name: name}
		rec.Pid, rec.Err = Read(filepath.Join(dir, e.Name()))
		if rec.Err == nil {
			rec.Alive, rec.Started, rec.Err = sameProcess(filepath.Join(dir, name+".start"), rec.Pid)
		}
		out = append(out, rec)
	}
	return out, nil
}

func sameProcess(startFile string, pid int) (bool, time.Time, error) {
	b, err := os.ReadFile(startFile)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("start time record: %w", err)
	}
	fi, _ := os.Stat(startFile)
	var started time.Time
	if fi != nil {
		started = fi.ModTime()
	}
	want, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return false, started, fmt.Errorf("start time record %s: not a number", startFile)
	}
	got, zombie, err := stat(pid)
	if err != nil || zombie {
		return false, started, nil // gone, or dead and not reaped yet
	}
	return got == want, started, nil
}

// Read reads a conventional pidfile: one decimal pid > 1, in a file that
// only its owner (root, superd's user, or one of owners) may write.
func Read(path string, owners ...int) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return 0, fmt.Errorf("pidfile %s is writable by others (mode %04o)", path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() && !slices.Contains(owners, int(st.Uid)) {
		return 0, fmt.Errorf("pidfile %s belongs to uid %d, not root or superd's user", path, st.Uid)
	}
	b := make([]byte, 64)
	n, _ := f.Read(b)
	s := strings.TrimSpace(string(b[:n]))
	pid, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("pidfile %s: %q is not a pid", path, s)
	}
	if pid <= 1 {
		return 0, fmt.Errorf("pidfile %s: pid %d refused", path, pid)
	}
	return pid, nil
}

// StartTime is the start time of pid in clock ticks since boot, field 22 of
// /proc/PID/stat.
func StartTime(pid int) (uint64, error) {
	st, _, err := stat(pid)
	return st, err
}

// stat reads the start time of pid and whether it is a zombie (dead, not
// reaped yet: state Z or X).
func stat(pid int) (start uint64, zombie bool, err error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, false, fmt.Errorf("start time of %d: %w", pid, err)
	}
	if len(f) < 20 {
		return 0, false, errors.New("start time: short /proc stat")
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z" || f[0] == "X", err
}

func writeAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("pidfile: %w", err)
	}
	_, err = tmp.WriteString(content)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pidfile %s: %w", path, err)
	}
	return nil
}

// Uid is the real user id pid runs as.
func Uid(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, fmt.Errorf("uid of %d: no Uid line", pid)
}

// Parent is the parent pid of pid.
func Parent(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 2 {
		return 0, errors.New("malformed /proc stat")
	}
	return strconv.Atoi(f[1])
}

// statFields returns the fields of /proc/PID/stat after the command name,
// which may hold spaces and parentheses: the state (field 3) first.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, errors.New("malformed /proc stat")
	}
	return strings.Fields(s[i+1:]), nil
}
