package supervisor

import (
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/superd/superd/config"
	"github.com/superd/superd/supervisor/logs"
)

// ringSize is how much of every instance's recent output superd keeps in
// memory for `superctl logs`, whatever the output mode.
const ringSize = 64 << 10

// output is where one instance's output goes, kept across its restarts.
type output struct {
	ring  *logs.Ring
	stats *logs.Stats

	mu     sync.Mutex // guards the fields below
	stdout *logs.File // nil until opened (stdout = "file")
	stderr *logs.File // nil until opened (stderr = "file")
}

// OutputFactory makes the output of each instance.
type OutputFactory interface {
	Output(name string) *output
}

// memoryOutputs keeps output in the ring only (tests).
type memoryOutputs struct{}

func (memoryOutputs) Output(string) *output {
	return &output{ring: logs.NewRing(ringSize), stats: &logs.Stats{}}
}

// Outputs makes file-backed outputs under a log directory and tracks them
// for Reopen (SIGUSR1) and Close. It is safe for concurrent use.
type Outputs struct {
	dir    string
	logger *slog.Logger
	stdout *logs.Console
	stderr *logs.Console

	mu   sync.Mutex // guards the field below
	outs map[string]*output
}

// NewOutputs returns an OutputFactory writing files under dir and inherit
// output to the two consoles.
func NewOutputs(dir string, stdout, stderr *logs.Console, logger *slog.Logger) *Outputs {
	return &Outputs{dir: dir, logger: logger, stdout: stdout, stderr: stderr, outs: make(map[string]*output)}
}

// Output returns the output of the instance called name: the same one for
// the same name, so an instance replaced by a reload keeps its ring, files
// and counters.
func (o *Outputs) Output(name string) *output {
	o.mu.Lock()
	defer o.mu.Unlock()
	if out := o.outs[name]; out != nil {
		return out
	}
	out := &output{ring: logs.NewRing(ringSize), stats: &logs.Stats{}}
	o.outs[name] = out
	return out
}

// filePath is log_dir/NAME.log (web:1 → web-1.log), or NAME.err.log.
func (o *Outputs) filePath(name string, stderr bool) string {
	base := fileName(name)
	if stderr {
		return filepath.Join(o.dir, base+".err.log")
	}
	return filepath.Join(o.dir, base+".log")
}

// file returns the instance's file for a stream, made on first use (the
// file itself is created at the first write), with p's rotation limits.
func (o *Outputs) file(out *output, name string, p *config.Program, stderr bool) *logs.File {
	out.mu.Lock()
	defer out.mu.Unlock()
	slot := &out.stdout
	if stderr {
		slot = &out.stderr
	}
	if *slot != nil {
		// A reload may have changed the limits; the file, and its size so
		// far, carry over.
		(*slot).SetLimits(p.LogMaxSize, p.LogMaxFiles)
		return *slot
	}
	// Opened at the first write; a failure then is a drop the pump reports.
	f := logs.NewFile(o.filePath(name, stderr), p.LogMaxSize, p.LogMaxFiles)
	*slot = f
	return f
}

// Reopen reopens every output file (SIGUSR1, after logrotate moved them).
func (o *Outputs) Reopen() {
	for _, f := range o.files() {
		if err := f.Reopen(); err != nil {
			o.logger.Warn("reopen log file", "path", f.Path(), "err", err)
		}
	}
}

// Close closes every output file.
func (o *Outputs) Close() {
	for _, f := range o.files() {
		f.Close()
	}
}

func (o *Outputs) files() []*logs.File {
	o.mu.Lock()
	defer o.mu.Unlock()
	var fs []*logs.File
	for _, out := range o.outs {
		out.mu.Lock()
		for _, f := range []*logs.File{out.stdout, out.stderr} {
			if f != nil {
				fs = append(fs, f)
			}
		}
		out.mu.Unlock()
	}
	return fs
}
