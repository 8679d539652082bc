package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/supervisor/pidfile"
)

// Detached processes (detach = true) outlive superd. Each is recorded as a
// conventional pidfile, state_dir/pids/NAME.pid (instance web:1: web-1.pid;
// a job run: RUNID.pid), with its start time (from /proc/PID/stat) beside it
// in NAME.start, both written atomically and removed when the process ends.
// A job run also keeps state_dir/runs/RUNID.json, so a re-adopted run keeps
// its id and arguments.
//
// When superd starts it re-adopts every recorded process that is still the
// same process (pid and start time match): it is no longer superd's child,
// so superd watches it through a pidfd (pidfd_open + poll, no /proc
// polling) and its exit status is unknown. A record whose process is gone,
// or is another process, is removed; a job run that ended while superd was
// away is marked lost.

func (s *Supervisor) pidsDir() string { return filepath.Join(s.cfg.Superd.StateDir, "pids") }
func (s *Supervisor) runsDir() string { return filepath.Join(s.cfg.Superd.StateDir, "runs") }

// credDir is where an instance's or run's credentials are copied.
func (s *Supervisor) credDir(name string) string {
	return filepath.Join(s.cfg.Superd.StateDir, "credentials", fileName(name))
}

// fileName is name as it appears in file names: web:1 → web-1.
func fileName(name string) string { return strings.ReplaceAll(name, ":", "-") }

type runRecord struct {
	ID      string    `json:"id"`
	Job     string    `json:"job"`
	Args    []string  `json:"args"`
	Started time.Time `json:"started_at"`
	Log     string    `json:"log"`
}

// recordPid writes the pidfile and start time of a detached process.
func (s *Supervisor) recordPid(name string, pid int) {
	if err := pidfile.Write(s.pidsDir(), fileName(name), pid); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logger.Warn("record detached process", "instance", name, "pid", pid, "err", err)
	}
}

func (s *Supervisor) forgetPid(name string) {
	pidfile.Remove(s.pidsDir(), fileName(name))
}

// recordDetached records a detached run.
func (s *Supervisor) recordDetached(r *run) {
	s.recordPid(r.id, r.pid)
	b, _ := json.Marshal(runRecord{ID: r.id, Job: r.job.cfg.Name, Args: r.args, Started: r.started, Log: r.log})
	if err := writeAtomic(filepath.Join(s.runsDir(), r.id+".json"), b); err != nil {
		s.logger.Warn("record detached run", "run", r.id, "err", err)
	}
}

func (s *Supervisor) forgetDetached(r *run) {
	if !r.job.prog.Detach {
		return
	}
	s.forgetPid(r.id)
	os.Remove(filepath.Join(s.runsDir(), r.id+".json"))
	if r.pidfd > 0 {
		unix.Close(r.pidfd)
		r.pidfd = 0
	}
}

// adopt re-adopts the detached processes recorded in state_dir, before
// autostart, so none is started twice.
func (s *Supervisor) adopt(now time.Time) {
	recs, err := pidfile.List(s.pidsDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logger.Warn("read detached records", "dir", s.pidsDir(), "err", err)
	}
	seen := make(map[string]bool)
	for _, rec := range recs {
		seen[rec.Name] = true
		if rec.Err != nil {
			s.logger.Warn("detached record refused; removed", "file", rec.Name, "err", rec.Err)
			pidfile.Remove(s.pidsDir(), rec.Name)
			continue
		}
		if rec.Pid == os.Getpid() {
			s.logger.Warn("detached record names superd itself; removed", "file", rec.Name)
			pidfile.Remove(s.pidsDir(), rec.Name)
			continue
		}
		if !rec.Alive {
			s.logger.Info("detached process gone while superd was away; record removed", "file", rec.Name, "pid", rec.Pid)
			pidfile.Remove(s.pidsDir(), rec.Name)
			s.loseRun(rec.Name)
			continue
		}
		if s.adoptRun(rec, now) || s.adoptInstance(rec, now) {
			continue
		}
		s.logger.Warn("detached process belongs to no program or job of the config; left running, record removed", "file", rec.Name, "pid", rec.Pid)
		pidfile.Remove(s.pidsDir(), rec.Name)
	}
	// Run records without a pidfile: the run ended while superd was away.
	ents, _ := os.ReadDir(s.runsDir())
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && !seen[id] {
			s.loseRun(id)
		}
	}
}

// loseRun marks the recorded run id lost, if it has a record.
func (s *Supervisor) loseRun(id string) {
	path := filepath.Join(s.runsDir(), id+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	os.Remove(path)
	var rec runRecord
	if json.Unmarshal(b, &rec) != nil {
		return
	}
	j := s.jobs[rec.Job]
	if j == nil {
		return
	}
	r := &run{id: rec.ID, job: j, state: apitype.RunLost, args: rec.Args, started: rec.Started, log: rec.Log}
	if r.args == nil {
		r.args = []string{}
	}
	j.runs = append(j.runs, r)
	s.logger.Warn("detached job run ended while superd was not running; exit status unknown", "run", rec.ID)
}

func (s *Supervisor) adoptRun(rec pidfile.Record, now time.Time) bool {
	b, err := os.ReadFile(filepath.Join(s.runsDir(), rec.Name+".json"))
	if err != nil {
		return false
	}
	var rr runRecord
	if json.Unmarshal(b, &rr) != nil {
		return false
	}
	j := s.jobs[rr.Job]
	if j == nil {
		return false
	}
	if err := ownedBy(rec.Pid, j.prog.User); err != nil {
		s.logger.Warn("detached record refused; removed", "run", rr.ID, "err", err)
		pidfile.Remove(s.pidsDir(), rec.Name)
		s.loseRun(rec.Name)
		return true
	}
	fd, err := unix.PidfdOpen(rec.Pid, 0)
	if err != nil {
		return false
	}
	r := &run{id: rr.ID, job: j, state: apitype.RunRunning, pid: rec.Pid, args: rr.Args, started: rr.Started, log: rr.Log, adopted: true, pidfd: fd}
	if t := j.cfg.Timeout; t > 0 && !rr.Started.IsZero() {
		r.deadline = rr.Started.Add(t) // one already past stops the run at once
	}
	if r.args == nil {
		r.args = []string{}
	}
	j.runs = append(j.runs, r)
	pid := rec.Pid
	s.watchPidfd(fd, func() {
		select {
		case s.runExits <- runExit{r: r, st: ExitStatus{Pid: pid, Code: -1, Unknown: true}}:
		case <-s.runCtx.Done():
		}
	})
	s.logger.Info("re-adopted detached job run", "run", r.id, "pid", pid)
	return true
}

func (s *Supervisor) adoptInstance(rec pidfile.Record, now time.Time) bool {
	for _, in := range s.all {
		if fileName(in.name) != rec.Name || !in.prog.Detach {
			continue
		}
		if err := ownedBy(rec.Pid, in.prog.User); err != nil {
			s.logger.Warn("detached record refused; removed", "instance", in.name, "err", err)
			pidfile.Remove(s.pidsDir(), rec.Name)
			return true
		}
		fd, err := unix.PidfdOpen(rec.Pid, 0)
		if err != nil {
			return false
		}
		in.state = apitype.StateRunning
		in.pid, in.pgid = rec.Pid, rec.Pid
		if pg, err := unix.Getpgid(rec.Pid); err == nil {
			in.pgid = pg
		}
		in.started = rec.Started
		in.adopted, in.pidfd = true, fd
		in.upOK, in.readyOK = true, true
		pid := rec.Pid
		s.watchPidfd(fd, func() {
			select {
			case s.exits <- exitMsg{in: in, st: ExitStatus{Pid: pid, Code: -1, Unknown: true}}:
			case <-s.runCtx.Done():
			}
		})
		s.logger.Info("re-adopted detached process", "instance", in.name, "pid", pid)
		return true
	}
	return false
}

// ownedBy refuses to adopt pid unless it runs as the program's user (or
// superd's, without one): a recycled pid of another user's process is
// never taken over.
func ownedBy(pid int, userName string) error {
	want, err := programUid(userName)
	if err != nil {
		return err
	}
	return ownedByUid(pid, want)
}

// programUid is the uid a program runs as: its user's, or superd's
// effective uid without one.
func programUid(userName string) (int, error) {
	if userName == "" {
		return os.Geteuid(), nil
	}
	u, err := lookupUser(userName)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(u.Uid)
}

// ownedByUid is ownedBy with the user's uid looked up already.
func ownedByUid(pid, want int) error {
	got, err := pidfile.Uid(pid)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("pid %d runs as uid %d, not %d: not ours", pid, got, want)
	}
	return nil
}

// watchPidfd calls exited once the process behind fd ends, unless Run ends
// first. The loop owns fd and closes it once it has taken the exit.
func (s *Supervisor) watchPidfd(fd int, exited func()) {
	if s.wakeR == nil {
		r, w, err := os.Pipe()
		if err != nil {
			s.logger.Error("pidfd watch", "err", err)
			return
		}
		s.wakeR, s.wakeW = r, w
	}
	wake := int(s.wakeR.Fd())
	s.probes.Add(1)
	// exits when the process ends or Run closes wakeW; Run waits on s.probes
	go func() {
		defer s.probes.Done()
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wake), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || fds[1].Revents != 0 {
				return
			}
			if fds[0].Revents != 0 {
				exited()
				return
			}
		}
	}()
}

// signalAdopted signals a re-adopted leader through its pidfd.
func signalAdopted(fd int, sig syscall.Signal) error {
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("pidfd_send_signal %s: %w", signalName(sig), err)
	}
	return nil
}

// adopter registers a daemon a forking program left behind with the reaper;
// ProcSpawner is one.
type adopter interface {
	Adopt(pid int, exited func(ExitStatus)) error
}

// errCannotAdopt is superviseDaemon's error with a spawner that is no
// adopter.
var errCannotAdopt = errors.New("this spawner cannot adopt daemons")

// superviseDaemon has the reaper supervise pid, a daemon in's program left
// behind (a forking program's, or a notify program's MAINPID), its exit
// going to in as its leader's would.
func (s *Supervisor) superviseDaemon(in *instance, pid int) error {
	a, ok := s.spawner.(adopter)
	if !ok {
		return errCannotAdopt
	}
	return a.Adopt(pid, s.exitsOf(in))
}

// childOfSuperd checks that pid runs and is superd's child: a daemon whose
// parent exited is reparented to superd as subreaper (a recycled pid is
// not).
func childOfSuperd(pid int) error {
	ppid, err := pidfile.Parent(pid)
	if err != nil {
		return fmt.Errorf("pid %d is not running", pid)
	}
	if ppid != os.Getpid() {
		return fmt.Errorf("pid %d is not a child of superd (parent %d; is subreaper off?)", pid, ppid)
	}
	return nil
}

// adoptForked reads the pidfile of a forking program whose command exited
// 0, checks the pid (a number > 1, not superd, a child of superd as
// subreaper, running as the program's user) and supervises it.
func (s *Supervisor) adoptForked(in *instance, now time.Time) {
	pid, err := s.forkedPid(in)
	if err == nil {
		err = s.superviseDaemon(in, pid)
	}
	if err != nil {
		s.apply(in, event{kind: evSpawnErr, err: err}, now)
		return
	}
	pgid, err := unix.Getpgid(pid)
	if err != nil {
		pgid = pid
	}
	s.logger.Info("forking program: daemon adopted", "instance", in.name, "pid", pid, "pidfile", in.prog.PidFile)
	s.apply(in, event{kind: evSpawned, pid: pid, forked: true, pgid: pgid}, now)
}

func (s *Supervisor) forkedPid(in *instance) (int, error) {
	p := in.prog
	uid, uidErr := programUid(p.User) // looked up once for both checks
	var owners []int
	if p.User != "" && uidErr == nil {
		owners = append(owners, uid)
	}
	pid, err := pidfile.Read(p.PidFile, owners...)
	if err != nil {
		return 0, fmt.Errorf("pidfile: %w", err)
	}
	if pid == os.Getpid() {
		return 0, fmt.Errorf("pidfile %s names superd itself (pid %d): refused", p.PidFile, pid)
	}
	if err := childOfSuperd(pid); err != nil {
		return 0, fmt.Errorf("pidfile %s: %w", p.PidFile, err)
	}
	if uidErr != nil {
		return 0, fmt.Errorf("pidfile %s: %w", p.PidFile, uidErr)
	}
	if err := ownedByUid(pid, uid); err != nil {
		return 0, fmt.Errorf("pidfile %s: %w", p.PidFile, err)
	}
	return pid, nil
}
