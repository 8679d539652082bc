package logs

import (
	"bytes"
	"errors"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
)

// ErrNoJournal is returned when journald's socket is not there.
var ErrNoJournal = errors.New("journald is not running (no /run/systemd/journal/socket)")

// Journal sends output lines to journald through go-systemd's journal
// package, one entry per line, with SYSLOG_IDENTIFIER and PRIORITY. Safe for
// concurrent use.
type Journal struct {
	priority journal.Priority
	vars     map[string]string // read only: journal.Send does not keep or change it
	enabled  func() bool       // journal.Enabled; tests stand in a journald that is absent
}

// NewJournal returns a journal destination for the instance called name:
// priority 6 (info) for stdout, 3 (err) for stderr.
func NewJournal(name string, stderr bool) *Journal {
	p := journal.PriInfo
	if stderr {
		p = journal.PriErr
	}
	return &Journal{priority: p, vars: map[string]string{"SYSLOG_IDENTIFIER": name}, enabled: journal.Enabled}
}

// JournalAvailable reports whether journald listens on its socket.
func JournalAvailable() bool { return journal.Enabled() }

// WriteLines sends each line of p (whole lines) as one journal entry. It
// returns how many bytes were sent before an error.
func (j *Journal) WriteLines(p []byte) (int, error) {
	if !j.enabled() {
		return 0, ErrNoJournal
	}
	n := 0
	for line := range bytes.Lines(p) {
		msg := strings.TrimSuffix(string(line), "\n")
		if err := journal.Send(msg, j.priority, j.vars); err != nil {
			return n, err
		}
		n += len(line)
	}
	return n, nil
}
