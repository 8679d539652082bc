package apitype

import "time"

// RunState is the state of a job run (SPEC §7).
type RunState string

// The run states.
const (
	RunQueued    RunState = "queued"
	RunRunning   RunState = "running"
	RunSucceeded RunState = "succeeded"
	RunFailed    RunState = "failed"
	RunTimedOut  RunState = "timed_out"
	RunStopped   RunState = "stopped"
	RunLost      RunState = "lost"
)

// Done reports whether a run in state s has ended.
func (s RunState) Done() bool { return s != RunQueued && s != RunRunning }

// JobRun is the JSON object of one run of a job (SPEC §4). Pid is nil
// unless running; EndedAt, ExitCode and ExitSignal are nil until it ends
// (and stay nil for a lost run).
type JobRun struct {
	ID         string     `json:"id"`
	Job        string     `json:"job"`
	State      RunState   `json:"state"`
	Pid        *int       `json:"pid"`
	Args       []string   `json:"args"`
	StartedAt  *time.Time `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	ExitCode   *int       `json:"exit_code"`
	ExitSignal *string    `json:"exit_signal"`
	Log        string     `json:"log"`
	Detached   bool       `json:"detached"`
}

// RunRequest is the optional body of POST /v1/jobs/{name}/run.
type RunRequest struct {
	Args []string `json:"args"`
}
