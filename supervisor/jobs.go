package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/superd/superd/config"
	"github.com/superd/superd/ipc/apitype"
	"github.com/superd/superd/supervisor/logs"
)

// Jobs run on demand (`superctl job run NAME`). Each run gets an id JOB-N
// (N counting up per job, kept in state_dir/jobs.json across restarts of
// superd), its own output file log_dir/jobs/RUNID.log, and a state. At most
// max_concurrent runs of a job are live; more wait in a queue of queue_max;
// beyond it a run is refused (apitype.ErrQueueFull). The loop owns every
// run, like every instance.

// maxArgBytes bounds the total size of a run's extra arguments.
const maxArgBytes = 128 << 10

// runRing is how much of a run's output superd keeps in memory.
const runRing = 16 << 10

type job struct {
	cfg  *config.Job
	prog *config.Program // the job as a program, for the spawner
	runs []*run          // oldest first; queued ones included
}

type run struct {
	id       string
	job      *job
	state    apitype.RunState
	pid      int
	args     []string
	started  time.Time
	ended    time.Time
	exitCode *int
	exitSig  *string
	log      string
	out      *output

	deadline  time.Time // running: the timeout, then (stopping) the SIGKILL
	stopping  bool      // stop_signal sent (timeout or an operator)
	killed    bool
	endAs     apitype.RunState // what a stopped run ends as: timed_out or stopped
	adopted   bool             // re-adopted after a restart of superd: exit status unknown
	pidfd     int              // adopted: its pidfd; 0: none
	stopWatch func()
}

type runExit struct {
	r  *run
	st ExitStatus
}

// jobProgram is a job as the spawner sees it: a program of one instance.
func jobProgram(j *config.Job) *config.Program {
	return &config.Program{
		Name: j.Name, File: j.File, Line: j.Line, Col: j.Col,
		Command: j.Command, Shell: j.Shell, Directory: j.Directory,
		User: j.User, Group: j.Group, Umask: j.Umask,
		Environment: j.Environment, EnvFiles: j.EnvFiles,
		InheritEnvironment: j.InheritEnvironment, EnvExclude: j.EnvExclude,
		Credentials: j.Credentials, Limits: j.Limits,
		Stdout: j.Stdout, Stderr: j.Stderr,
		LogMaxSize: j.LogMaxSize, LogMaxFiles: j.LogMaxFiles,
		StopSignal: j.StopSignal, StopTimeout: j.StopTimeout, KillGroup: j.KillGroup,
		Detach: j.Detach, Instances: 1, Type: config.TypeSimple,
	}
}

func (s *Supervisor) newJob(j *config.Job) *job {
	return &job{cfg: j, prog: jobProgram(j)}
}

// RunJob starts a run of job name with args (or queues it), and returns it.
// Unknown job: apitype.ErrNotFound; arguments refused: apitype.ErrBadRequest;
// queue full: apitype.ErrQueueFull.
func (s *Supervisor) RunJob(ctx context.Context, name string, args []string) (apitype.JobRun, error) {
	if err := checkArgs(args); err != nil {
		return apitype.JobRun{}, err
	}
	var out apitype.JobRun
	var opErr error
	err := s.do(ctx, func() {
		if s.draining {
			opErr = apitype.ErrShuttingDown
			return
		}
		j := s.jobs[name]
		if j == nil {
			opErr = fmt.Errorf("%w: no job %q", apitype.ErrNotFound, name)
			return
		}
		if len(args) > 0 && j.cfg.Args != "append" {
			opErr = fmt.Errorf("%w: job %s takes no arguments (args = \"none\")", apitype.ErrBadRequest, name)
			return
		}
		live, queued := j.counts()
		if live >= j.cfg.MaxConcurrent && queued >= j.cfg.QueueMax {
			opErr = fmt.Errorf("%w: job %s has %d runs live and %d queued (queue_max = %d)", apitype.ErrQueueFull, name, live, queued, j.cfg.QueueMax)
			return
		}
		r := s.newRun(j, args)
		now := time.Now()
		if live < j.cfg.MaxConcurrent {
			s.startRun(r, now)
		}
		out = r.snapshot()
		s.trimRuns(j)
	})
	if err == nil {
		err = opErr
	}
	return out, err
}

// checkArgs refuses arguments no argv can carry, and too many bytes.
func checkArgs(args []string) error {
	total := 0
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("%w: an argument holds a NUL byte", apitype.ErrBadRequest)
		}
		total += len(a) + 1
	}
	if total > maxArgBytes {
		return fmt.Errorf("%w: arguments total %d bytes; at most %d", apitype.ErrBadRequest, total, maxArgBytes)
	}
	return nil
}

func (j *job) counts() (live, queued int) {
	for _, r := range j.runs {
		switch r.state {
		case apitype.RunRunning:
			live++
		case apitype.RunQueued:
			queued++
		}
	}
	return live, queued
}

func (s *Supervisor) newRun(j *job, args []string) *run {
	s.runIDs[j.cfg.Name]++
	s.saveRunIDs()
	id := j.cfg.Name + "-" + strconv.Itoa(s.runIDs[j.cfg.Name])
	r := &run{
		id: id, job: j, state: apitype.RunQueued, args: slices.Clone(args),
		log: filepath.Join(s.cfg.Superd.LogDir, "jobs", id+".log"),
	}
	if r.args == nil {
		r.args = []string{}
	}
	j.runs = append(j.runs, r)
	return r
}

// startRun spawns r now.
func (s *Supervisor) startRun(r *run, now time.Time) {
	j := r.job
	r.out = &output{ring: logs.NewRing(runRing), stats: &logs.Stats{}}
	if j.prog.Stdout == config.OutputFile {
		f, err := logs.OpenFile(r.log, j.cfg.LogMaxSize, j.cfg.LogMaxFiles)
		if err != nil {
			s.logger.Warn("job output dropped: cannot open its log", "run", r.id, "err", err)
		}
		r.out.stdout = f
	}
	req := spawnReq{name: r.id, prog: j.prog, out: r.out, socket: s.cfg.Superd.Socket, args: r.args, logPath: r.log, credDir: s.credDir(r.id)}
	req.exited = func(st ExitStatus) {
		select {
		case s.runExits <- runExit{r: r, st: st}:
		case <-s.done:
		}
	}
	res := s.spawner.Spawn([]spawnReq{req})[0]
	pid, err := res.pid, res.err
	r.started = now
	if err != nil {
		s.logger.Warn("job run failed to start", "run", r.id, "err", err)
		code := 127
		r.exitCode = &code
		noteInLog(r.log, fmt.Sprintf("superd: start %s: %v\n", r.id, err))
		s.endRun(r, apitype.RunFailed, now)
		return
	}
	r.pid = pid
	r.state = apitype.RunRunning
	if t := j.cfg.Timeout; t > 0 {
		r.deadline = now.Add(t)
	}
	if j.prog.Detach {
		s.recordDetached(r)
	}
	s.logger.Info("job run started", "run", r.id, "pid", pid, "args", len(r.args))
}

// noteInLog appends superd's own note (a failed start) to a run's log.
func noteInLog(path, note string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	f.WriteString(note)
	f.Close()
}

// onRunExit takes a run's exit on the loop.
func (s *Supervisor) onRunExit(m runExit, now time.Time) {
	r := m.r
	if r.state != apitype.RunRunning || m.st.Pid != r.pid {
		return
	}
	switch {
	case m.st.Unknown: // re-adopted: superd could not learn the status
	case m.st.Signal != 0:
		name := signalName(m.st.Signal)
		r.exitSig = &name
	default:
		code := m.st.Code
		r.exitCode = &code
	}
	end := apitype.RunFailed
	switch {
	case r.endAs != "":
		end = r.endAs
	case r.adopted:
		end = apitype.RunLost
	case m.st.Signal == 0 && m.st.Code == 0:
		end = apitype.RunSucceeded
	}
	if r.job.prog.KillGroup && s.spawner.GroupAlive(r.pid) {
		s.spawner.Signal(r.pid, syscall.SIGKILL, true)
	}
	s.endRun(r, end, now)
}

// endRun ends r as state, starts the next queued run of its job, and trims
// the history.
func (s *Supervisor) endRun(r *run, state apitype.RunState, now time.Time) {
	r.state = state
	r.ended = now
	r.pid = 0
	r.deadline = time.Time{}
	s.forgetDetached(r)
	if len(r.job.prog.Credentials) > 0 {
		os.RemoveAll(s.credDir(r.id))
	}
	s.logger.Info("job run ended", "run", r.id, "state", string(state))
	s.notify()
	j := r.job
	for _, q := range j.runs {
		if live, _ := j.counts(); live >= j.cfg.MaxConcurrent || s.draining {
			break
		}
		if q.state == apitype.RunQueued {
			s.startRun(q, now)
		}
	}
	s.trimRuns(j)
}

// trimRuns drops the oldest finished runs beyond keep_runs, and their logs.
func (s *Supervisor) trimRuns(j *job) {
	done := 0
	for _, r := range j.runs {
		if r.state.Done() {
			done++
		}
	}
	for i := 0; done > j.cfg.KeepRuns && i < len(j.runs); {
		r := j.runs[i]
		if !r.state.Done() {
			i++
			continue
		}
		os.Remove(r.log)
		j.runs = slices.Delete(j.runs, i, i+1)
		done--
	}
}

// StopRun stops run id: a queued run is dropped, a live one gets its
// stop_signal, then SIGKILL after stop_timeout. Unknown id:
// apitype.ErrNotFound.
func (s *Supervisor) StopRun(ctx context.Context, id string) (apitype.JobRun, error) {
	var out apitype.JobRun
	var opErr error
	err := s.do(ctx, func() {
		r := s.findRun(id)
		if r == nil {
			opErr = fmt.Errorf("%w: no run %q", apitype.ErrNotFound, id)
			return
		}
		s.stopRun(r, apitype.RunStopped, time.Now())
		out = r.snapshot()
	})
	if err == nil {
		err = opErr
	}
	return out, err
}

func (s *Supervisor) stopRun(r *run, as apitype.RunState, now time.Time) {
	switch r.state {
	case apitype.RunQueued:
		s.endRun(r, apitype.RunStopped, now)
	case apitype.RunRunning:
		if r.stopping {
			return
		}
		p := r.job.prog
		r.stopping, r.endAs = true, as
		if r.adopted && !p.KillGroup {
			signalAdopted(r.pidfd, p.StopSignal)
			signalAdopted(r.pidfd, syscall.SIGCONT)
		} else {
			s.spawner.Signal(r.pid, p.StopSignal, p.KillGroup)
			s.spawner.Signal(r.pid, syscall.SIGCONT, p.KillGroup)
		}
		r.deadline = now.Add(p.StopTimeout)
	}
}

func (s *Supervisor) findRun(id string) *run {
	for _, j := range s.jobs {
		for _, r := range j.runs {
			if r.id == id {
				return r
			}
		}
	}
	return nil
}

// onRunTimers handles due run deadlines: a timeout starts the stop, a stop
// past stop_timeout gets SIGKILL to the group.
func (s *Supervisor) onRunTimers(now time.Time) {
	for _, j := range s.jobs {
		for _, r := range j.runs {
			if r.state != apitype.RunRunning || r.deadline.IsZero() || now.Before(r.deadline) {
				continue
			}
			switch {
			case !r.stopping:
				s.logger.Warn("job run timed out", "run", r.id, "timeout", j.cfg.Timeout)
				s.stopRun(r, apitype.RunTimedOut, now)
			case !r.killed:
				r.killed = true
				r.deadline = time.Time{}
				s.spawner.Signal(r.pid, syscall.SIGKILL, true)
			}
		}
	}
}

// nextRunDeadline is the earliest run deadline, or zero.
func (s *Supervisor) nextRunDeadline() time.Time {
	var next time.Time
	for _, j := range s.jobs {
		for _, r := range j.runs {
			if r.state == apitype.RunRunning && !r.deadline.IsZero() && (next.IsZero() || r.deadline.Before(next)) {
				next = r.deadline
			}
		}
	}
	return next
}

// drainRuns, in a drain, drops queued runs and stops live non-detached
// ones; detached runs are left running. It reports whether a run that
// holds the drain is still live.
func (s *Supervisor) drainRuns(now time.Time) bool {
	holding := false
	for _, j := range s.jobs {
		for _, r := range j.runs {
			switch {
			case r.state == apitype.RunQueued:
				s.endRun(r, apitype.RunStopped, now)
			case r.state == apitype.RunRunning && !j.prog.Detach:
				s.stopRun(r, apitype.RunStopped, now)
				if s.killedAll && !r.killed {
					r.killed = true
					s.spawner.Signal(r.pid, syscall.SIGKILL, true)
				}
				holding = true
			}
		}
	}
	return holding
}

// Jobs returns every kept run, newest first.
func (s *Supervisor) Jobs(ctx context.Context) ([]apitype.JobRun, error) {
	var out []apitype.JobRun
	err := s.do(ctx, func() {
		out = []apitype.JobRun{}
		for _, j := range s.jobs {
			for _, r := range j.runs {
				out = append(out, r.snapshot())
			}
		}
		slices.SortFunc(out, func(a, b apitype.JobRun) int {
			ta, tb := runOrder(a), runOrder(b)
			if c := tb.Compare(ta); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
	})
	return out, err
}

func runOrder(r apitype.JobRun) time.Time {
	if r.StartedAt != nil {
		return *r.StartedAt
	}
	return time.Now().Add(time.Hour) // queued: newest
}

func (r *run) snapshot() apitype.JobRun {
	a := apitype.JobRun{
		ID: r.id, Job: r.job.cfg.Name, State: r.state, Args: r.args,
		ExitCode: r.exitCode, ExitSignal: r.exitSig, Log: r.log, Detached: r.job.prog.Detach,
	}
	if r.pid > 0 {
		pid := r.pid
		a.Pid = &pid
	}
	if !r.started.IsZero() {
		t := r.started.UTC()
		a.StartedAt = &t
	}
	if !r.ended.IsZero() {
		t := r.ended.UTC()
		a.EndedAt = &t
	}
	return a
}

// Run ids count up per job across restarts of superd: state_dir/jobs.json.

func (s *Supervisor) runIDsPath() string { return filepath.Join(s.cfg.Superd.StateDir, "jobs.json") }

func (s *Supervisor) loadRunIDs() {
	s.runIDs = make(map[string]int)
	b, err := os.ReadFile(s.runIDsPath())
	if err != nil {
		return
	}
	if err := json.Unmarshal(b, &s.runIDs); err != nil {
		s.logger.Warn("read run ids", "path", s.runIDsPath(), "err", err)
		s.runIDs = make(map[string]int)
	}
}

func (s *Supervisor) saveRunIDs() {
	b, _ := json.Marshal(s.runIDs)
	if err := writeAtomic(s.runIDsPath(), b); err != nil {
		s.logger.Warn("save run ids", "err", err)
	}
}

// writeAtomic writes b to path through a temporary file and a rename.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
