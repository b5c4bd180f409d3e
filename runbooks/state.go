package runbooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/internal/fsutil"
)

// RunStatus is where a run stands.
type RunStatus string

// Run statuses. A running, paused or failed run can be resumed; a finished
// or aborted one cannot.
const (
	// RunRunning: steps remain. A state file left "running" by a process that
	// died is resumed as it is.
	RunRunning RunStatus = "running"
	// RunPaused: the operator stopped, or declined a step (the default,
	// cancel), or the process was interrupted; resumable.
	RunPaused RunStatus = "paused"
	// RunFailed: a step failed with on_failure stop; resuming re-offers it.
	RunFailed   RunStatus = "failed"
	RunFinished RunStatus = "finished"
	RunAborted  RunStatus = "aborted"
)

// Resumable reports whether a run in this status can be resumed.
func (s RunStatus) Resumable() bool { return s == RunRunning || s == RunPaused || s == RunFailed }

// Outcome is a step's result.
type Outcome string

// Step outcomes. Pending is a step not yet reached; Started is one begun
// and not finished: after a crash, resume re-offers it.
const (
	Pending Outcome = ""
	Started Outcome = "started"
	Done    Outcome = "done"
	Skipped Outcome = "skipped"
	Passed  Outcome = "passed"
	Failed  Outcome = "failed"
)

// RunState is a run as kept in the state dir: enough to resume it in
// another process. It holds the runbook's source as it was when the run
// started, so editing the runbook file later does not change a run under
// way. It is written atomically after every transition.
type RunState struct {
	RunID     string       `json:"run_id"`
	RunbookID string       `json:"runbook_id"`
	Title     string       `json:"title"`
	File      string       `json:"file"`
	Source    string       `json:"source"`
	Target    string       `json:"target"`
	Actor     string       `json:"actor"`
	Status    RunStatus    `json:"status"`
	Current   int          `json:"current"` // index of the step now offered
	StartedAt time.Time    `json:"started_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	EndedAt   time.Time    `json:"ended_at,omitzero"`
	Note      string       `json:"note,omitempty"` // why it was paused or aborted
	Steps     []StepRecord `json:"steps"`
}

// StepRecord is one step's record in a run.
type StepRecord struct {
	Name      string             `json:"name"`
	Kind      Kind               `json:"kind"`
	Outcome   Outcome            `json:"outcome,omitempty"`
	Attempts  int                `json:"attempts,omitempty"`
	StartedAt time.Time          `json:"started_at,omitzero"`
	EndedAt   time.Time          `json:"ended_at,omitzero"`
	Note      string             `json:"note,omitempty"`   // the operator's note
	Reason    string             `json:"reason,omitempty"` // why it was skipped
	Message   string             `json:"message,omitempty"`
	Figures   map[string]float64 `json:"figures,omitempty"`
	Actor     string             `json:"actor,omitempty"`
}

// CurrentStep is the name of the step the run stands at, "" when over.
func (s RunState) CurrentStep() string {
	if s.Current >= 0 && s.Current < len(s.Steps) && s.Status.Resumable() {
		return s.Steps[s.Current].Name
	}
	return ""
}

// runDir is where run state files live.
func runDir(stateDir string) string { return filepath.Join(stateDir, "runbooks") }

func statePath(stateDir, runID string) string {
	return filepath.Join(runDir(stateDir), runID+".json")
}

// saveState writes st atomically: temp file, fsync, rename, fsync dir.
func saveState(stateDir string, st *RunState) error {
	dir := runDir(stateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save run %s: create %s: %w", st.RunID, dir, err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save run %s: %w", st.RunID, err)
	}
	if err := fsutil.WriteAtomic(statePath(stateDir, st.RunID), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save run %s in %s: %w", st.RunID, dir, err)
	}
	return nil
}

// ErrNoSuchRun is LoadRun's (and Engine.Resume's) answer to a run id that
// names no kept run, or is no valid id: the caller's mistake, which the
// command line reports as a usage error.
var ErrNoSuchRun = errors.New("no such run")

// MaxRunStateSize is the largest run state LoadRun reads: the runbook's
// text and a record per step, tens of KiB; 8 MiB leaves room for long
// notes and messages, and refuses what is not a run's state.
const MaxRunStateSize = 8 << 20

// LoadRun reads a run's state from stateDir. Only a regular file of at
// most MaxRunStateSize is read: a named pipe, a device or a huge file in
// its place is refused at once, never read without end.
func LoadRun(stateDir, runID string) (*RunState, error) {
	if runID == "" || strings.ContainsAny(runID, `/\`) || strings.HasPrefix(runID, ".") {
		return nil, fmt.Errorf("run id %q is not valid: %w: see 'repops runbook runs'", runID, ErrNoSuchRun)
	}
	path := statePath(stateDir, runID)
	b, err := fsutil.ReadRegularFile(context.Background(), path, MaxRunStateSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no run %s in %s: %w: list the runs with 'repops runbook runs'", runID, runDir(stateDir), ErrNoSuchRun)
	}
	if errors.Is(err, fsutil.ErrNotRegular) || errors.Is(err, fsutil.ErrTooLarge) {
		return nil, fmt.Errorf("read run %s from %s: %w: it is not a run's state (move it away; start a new run)", runID, path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", runID, &fs.PathError{Op: "open", Path: path, Err: err})
	}
	var st RunState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read run %s from %s: %w (the file is damaged; start a new run)", runID, statePath(stateDir, runID), err)
	}
	return &st, nil
}

// ListRuns returns every run kept in stateDir, newest first.
func ListRuns(stateDir string) ([]RunState, error) {
	files, err := filepath.Glob(filepath.Join(runDir(stateDir), "*.json"))
	if err != nil {
		return nil, err
	}
	var out []RunState
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".json")
		st, err := LoadRun(stateDir, id)
		if err != nil {
			return nil, err
		}
		st.Source = ""
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.After(out[j].StartedAt) })
	return out, nil
}

// runLock is an exclusive flock on a run's lock file, held while one
// process drives the run, so two consoles never drive the same run.
type runLock struct{ f *os.File }

func lockRun(stateDir, runID string) (*runLock, error) {
	dir := runDir(stateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock run %s: %w", runID, err)
	}
	path := filepath.Join(dir, runID+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock run %s: %w", runID, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("run %s is being driven by another repops (%s): wait for it, or stop it there", runID, strings.TrimSpace(string(owner)))
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "pid %d since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	return &runLock{f: f}, nil
}

func (l *runLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	_ = l.f.Close()
	l.f = nil
}
