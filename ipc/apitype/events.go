package apitype

import "time"

// Event is one state change of an instance, as streamed by GET /v1/events
// (newline-delimited JSON). ExitCode and ExitSignal describe the exit that
// caused the change, if any; at most one is non-nil.
type Event struct {
	Time       time.Time `json:"time"`
	Instance   string    `json:"instance"`
	Program    string    `json:"program"`
	From       State     `json:"from"`
	To         State     `json:"to"`
	Pid        *int      `json:"pid"`
	ExitCode   *int      `json:"exit_code"`
	ExitSignal *string   `json:"exit_signal"`
	Message    string    `json:"message"`
}

// ReloadResult is the body of a successful POST /v1/reload: which programs
// were added (and started if autostart), removed (stopped, then gone from
// status), changed (restarted with the new config) and left unchanged.
// RestartRequired names [superd] settings that changed in the file but only
// take effect when superd restarts.
type ReloadResult struct {
	Added           []string `json:"added"`
	Removed         []string `json:"removed"`
	Changed         []string `json:"changed"`
	Unchanged       []string `json:"unchanged"`
	RestartRequired []string `json:"restart_required"`
}

// InstanceStats are the counters of one instance that /metrics exports
// beside the Instance fields.
type InstanceStats struct {
	Name          string `json:"name"`
	Program       string `json:"program"`
	LogWritten    uint64 `json:"log_bytes_written"`
	LogDropped    uint64 `json:"log_bytes_dropped"`
	SpawnFailures uint64 `json:"spawn_failures"`
}
