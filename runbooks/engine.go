package runbooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/repops/repops/ops"
)

// Errors of Do that leave the run exactly as it was: nothing run, nothing
// recorded, the same step still offered.
var (
	// ErrCancelled: a destructive step was offered and not confirmed (an
	// empty confirmation is the default choice, cancel).
	ErrCancelled = errors.New("cancelled: nothing was run")
	// ErrConfirmMismatch: the typed confirmation is not the database's name.
	ErrConfirmMismatch = errors.New("the typed confirmation does not match the database's name: nothing was run")
	// ErrNeedReason: a skip without a reason.
	ErrNeedReason = errors.New("skipping a step needs a reason")
	// ErrInterrupted: the step is destructive, was started before and did
	// not finish; re-running it needs StepInput.Rerun as well as the typed
	// confirmation, after the operator has looked at what it did.
	ErrInterrupted = errors.New("this destructive step was started before and did not finish")
	// ErrRunOver: the run is finished, aborted, failed or paused; resume it
	// (Engine.Resume) to go on.
	ErrRunOver = errors.New("the run is not running")
)

// maxAttempts bounds how often one step runs in one run, so that an
// on_failure goto loop ends.
const maxAttempts = 3

// EngineOptions configures an Engine.
type EngineOptions struct {
	// StateDir keeps run state (StateDir/runbooks/RUNID.json). Required.
	StateDir string
	// Actor is who drives the runs (ops.CurrentActor): recorded with every
	// step.
	Actor ops.Actor
	// Vars fill the placeholders of the runbooks' text (VarsFromConfig).
	Vars Vars
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// CheckTimeout bounds each check step (its query, or its read of the
	// metrics): past it the check is stopped (SQLite is interrupted
	// through the context) and fails with ErrCheckTimeout.
	// DefaultCheckTimeout when zero or negative.
	CheckTimeout time.Duration
}

// DefaultCheckTimeout is how long a check step may run when
// EngineOptions.CheckTimeout is not set. A check is meant to be a quick
// read-only look (the guide's own queries take milliseconds on its
// largest tables); 30 s leaves room for a full-table count on a slow disk
// and still gives the operator their console back.
const DefaultCheckTimeout = 30 * time.Second

// Engine starts and resumes runs of runbooks against an Env.
//
// The contract for a driver (the console, the CLI, a test):
//
//	run, err := engine.Start(rb)         // or engine.Resume(runID, catalogue)
//	defer run.Close()
//	for !run.Done() {
//		cur, _ := run.Current()          // the step to show: text, kind, confirmation needed
//		res, err := run.Do(ctx, StepInput{...}, progress)
//		// err != nil: input refused (cancel, wrong confirmation, skip without
//		// reason, interrupted destructive step): nothing ran, same step.
//		// err == nil: res says what the step did; the run has moved on
//		// (next step, goto, stopped on failure, or finished).
//	}
//
// Every transition is written to the state file before Do returns and
// journalled through Env.Record. A Run is driven by one goroutine at a
// time; a run's lock file keeps two processes from driving it at once.
type Engine struct {
	env  Env
	opts EngineOptions
}

// NewEngine returns an engine over env.
func NewEngine(env Env, opts EngineOptions) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckTimeout <= 0 {
		opts.CheckTimeout = DefaultCheckTimeout
	}
	return &Engine{env: env, opts: opts}
}

// Run is one run of a runbook in progress.
type Run struct {
	e     *Engine
	rb    *Runbook
	st    *RunState
	lock  *runLock
	fresh bool // the current step was started in an earlier process
}

// StepInput is the operator's answer to the current step.
type StepInput struct {
	// Confirm is the typed confirmation of a destructive step: the
	// database's base file name. Empty means cancel.
	Confirm string
	// Note is recorded with the step (who was paged, what was seen).
	Note string
	// Skip skips the step; Reason is then required.
	Skip   bool
	Reason string
	// Rerun confirms re-running a destructive step that was started in an
	// earlier process and did not finish.
	Rerun bool
}

// StepResult is what one Do did.
type StepResult struct {
	Index   int
	Step    string
	Kind    Kind
	Outcome Outcome
	Message string
	Figures map[string]float64
	Details []string
	Data    *QueryResult // a query check's rows
	// Err is why a check or action failed; nil when it did not.
	Err     error
	Started time.Time
	Ended   time.Time
	// Next is the index of the step now offered, -1 when the run is over;
	// Status is the run's status after this step.
	Next   int
	Status RunStatus
}

// Current is the step a run now offers and what it needs.
type Current struct {
	Index, Total int
	Step         Step
	// NeedsConfirm: the step is destructive; ConfirmWord is what must be
	// typed (the database's base file name).
	NeedsConfirm bool
	ConfirmWord  string
	// Interrupted: the step was started (in this or an earlier process)
	// and never finished. Show Record; a destructive one needs Rerun.
	Interrupted bool
	Record      StepRecord
}

// ConfirmWord is what the operator types to confirm a destructive step on
// target: its base file name, e.g. architect.db.
func ConfirmWord(target string) string { return filepath.Base(target) }

// Start begins a new run of rb: a run id, a state file, a journal entry.
// The runbook's placeholders are filled from the engine's Vars.
func (e *Engine) Start(rb *Runbook) (*Run, error) {
	now := e.opts.Now().UTC()
	id := fmt.Sprintf("%s-%s-%s", rb.ID, now.Format("20060102T150405Z"), randHex(2))
	st := &RunState{
		RunID: id, RunbookID: rb.ID, Title: rb.Title, File: rb.File, Source: rb.Source,
		Target: e.env.Target(), Actor: e.opts.Actor.String(), Status: RunRunning,
		StartedAt: now, UpdatedAt: now,
	}
	for _, s := range rb.Steps {
		st.Steps = append(st.Steps, StepRecord{Name: s.Name, Kind: s.Kind})
	}
	lock, err := lockRun(e.opts.StateDir, id)
	if err != nil {
		return nil, err
	}
	r := &Run{e: e, rb: rb.Expand(e.opts.Vars), st: st, lock: lock}
	if err := r.record("runbook.start", -1, "started", rb.Title, nil, nil); err != nil {
		lock.release()
		return nil, fmt.Errorf("start runbook %s: %w", rb.ID, err)
	}
	if err := saveState(e.opts.StateDir, st); err != nil {
		lock.release()
		return nil, err
	}
	return r, nil
}

// Resume continues a run kept in the state dir, at the step where it
// stopped. runID "" picks the newest resumable run. The run's own copy of
// the runbook is used (cat is only consulted when that copy is missing).
func (e *Engine) Resume(runID string, cat *Catalogue) (*Run, error) {
	if runID == "" {
		runs, err := ListRuns(e.opts.StateDir)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if r.Status.Resumable() {
				runID = r.RunID
				break
			}
		}
		if runID == "" {
			return nil, fmt.Errorf("no run to resume in %s: start one with 'repops runbook run ID'", runDir(e.opts.StateDir))
		}
	}
	st, err := LoadRun(e.opts.StateDir, runID)
	if err != nil {
		return nil, err
	}
	if !st.Status.Resumable() {
		return nil, fmt.Errorf("run %s is %s: nothing to resume; start a new run with 'repops runbook run %s'", runID, st.Status, st.RunbookID)
	}
	var rb *Runbook
	if st.Source != "" {
		rb, err = Parse(st.File, []byte(st.Source))
		if err != nil {
			return nil, fmt.Errorf("resume run %s: its runbook no longer parses: %w", runID, err)
		}
	} else if cat != nil {
		var ok bool
		if rb, ok = cat.Get(st.RunbookID); !ok {
			return nil, fmt.Errorf("resume run %s: runbook %s is not in the catalogue", runID, st.RunbookID)
		}
	}
	if rb == nil || len(rb.Steps) != len(st.Steps) {
		return nil, fmt.Errorf("resume run %s: its state does not match runbook %s; start a new run", runID, st.RunbookID)
	}
	if !samePath(st.Target, e.env.Target()) {
		return nil, fmt.Errorf("resume run %s: it was started on %s, not %s; resume it with --db %s", runID, st.Target, e.env.Target(), st.Target)
	}
	lock, err := lockRun(e.opts.StateDir, runID)
	if err != nil {
		return nil, err
	}
	r := &Run{e: e, rb: rb.Expand(e.opts.Vars), st: st, lock: lock}
	r.fresh = st.Current < len(st.Steps) && st.Steps[st.Current].Outcome == Started
	prev := st.Status
	st.Status, st.Note = RunRunning, ""
	msg := fmt.Sprintf("resumed (was %s) at step %q", prev, st.Steps[st.Current].Name)
	if r.fresh {
		msg += " (started before and not finished)"
	}
	if err := r.record("runbook.resume", -1, "resumed", msg, nil, nil); err != nil {
		lock.release()
		return nil, fmt.Errorf("resume run %s: %w", runID, err)
	}
	if err := r.save(); err != nil {
		lock.release()
		return nil, err
	}
	return r, nil
}

// ID is the run's id.
func (r *Run) ID() string { return r.st.RunID }

// Runbook is the runbook being run, its placeholders filled.
func (r *Run) Runbook() *Runbook { return r.rb }

// State returns a copy of the run's state.
func (r *Run) State() RunState {
	st := *r.st
	st.Steps = append([]StepRecord(nil), r.st.Steps...)
	return st
}

// Done reports whether the run stands still: finished, aborted, failed or
// paused. A failed or paused run can be resumed.
func (r *Run) Done() bool { return r.st.Status != RunRunning }

// Close releases the run's lock. The state stays in the state dir.
func (r *Run) Close() { r.lock.release() }

// Current returns the step the run offers; false when the run is over.
func (r *Run) Current() (Current, bool) {
	i := r.st.Current
	if !r.st.Status.Resumable() || i < 0 || i >= len(r.rb.Steps) {
		return Current{}, false
	}
	s := r.rb.Steps[i]
	return Current{
		Index: i, Total: len(r.rb.Steps), Step: s,
		NeedsConfirm: s.Destructive(), ConfirmWord: ConfirmWord(r.st.Target),
		Interrupted: r.st.Steps[i].Outcome == Started, Record: r.st.Steps[i],
	}, true
}

// Do carries out the current step with the operator's input: a manual step
// is ticked off, a check runs and passes or fails, an action runs with
// progress. Skip (with a reason) skips any step. A destructive step runs
// only when Confirm is the database's base name; an empty Confirm cancels.
//
// An error means the input was refused and nothing happened (see the Err
// variables). Otherwise the step's start and end are in the journal and
// the state file, and the result says where the run went.
func (r *Run) Do(ctx context.Context, in StepInput, progress ops.Progress) (StepResult, error) {
	if r.st.Status != RunRunning {
		return StepResult{}, fmt.Errorf("%w: run %s is %s", ErrRunOver, r.st.RunID, r.st.Status)
	}
	i := r.st.Current
	s := r.rb.Steps[i]
	rec := &r.st.Steps[i]
	if in.Skip {
		if strings.TrimSpace(in.Reason) == "" {
			return StepResult{}, fmt.Errorf("step %q: %w", s.Name, ErrNeedReason)
		}
		return r.finish(i, StepResult{Outcome: Skipped, Message: "skipped: " + in.Reason}, in, r.now())
	}
	if s.Destructive() {
		word := ConfirmWord(r.st.Target)
		switch {
		case in.Confirm == "":
			return StepResult{}, fmt.Errorf("step %q: %w (type %s to run it)", s.Name, ErrCancelled, word)
		case in.Confirm != word:
			return StepResult{}, fmt.Errorf("step %q: typed %q, expected %q: %w", s.Name, in.Confirm, word, ErrConfirmMismatch)
		}
		if rec.Outcome == Started && !in.Rerun {
			return StepResult{}, fmt.Errorf("step %q: %w (at %s): look at what it did (journal, 'repops backups', 'repops check'), then re-run it explicitly or skip it with a reason", s.Name, ErrInterrupted, rec.StartedAt.Format(time.RFC3339))
		}
	}
	if rec.Attempts >= maxAttempts {
		r.st.Status, r.st.Note = RunFailed, fmt.Sprintf("step %q ran %d times in this run", s.Name, rec.Attempts)
		if err := r.save(); err != nil {
			return StepResult{}, err
		}
		return StepResult{}, fmt.Errorf("step %q already ran %d times in this run (an on_failure goto loop?): the run is stopped; resolve by hand, then start a new run", s.Name, rec.Attempts)
	}

	started := r.now()
	if err := r.record("runbook.step", i, string(Started), s.Text0(), nil, &in); err != nil {
		return StepResult{}, fmt.Errorf("step %q: not run: %w", s.Name, err)
	}
	rec.Outcome, rec.StartedAt, rec.EndedAt, rec.Actor = Started, started, time.Time{}, r.st.Actor
	rec.Attempts++
	if err := r.save(); err != nil {
		return StepResult{}, fmt.Errorf("step %q: not run: %w", s.Name, err)
	}

	var res StepResult
	switch s.Kind {
	case Manual:
		res = StepResult{Outcome: Done, Message: "done"}
		if in.Note != "" {
			res.Message = "done: " + in.Note
		}
	case Check:
		res = r.check(ctx, s)
	case Action:
		res = r.act(ctx, s, progress)
	}
	if ctx.Err() != nil && res.Outcome == Failed {
		// Interrupted (Ctrl-C, shutdown): not a verdict on the step. Keep
		// it started so that resume re-offers it.
		r.st.Status, r.st.Note = RunPaused, "interrupted during step "+strconv.Quote(s.Name)
		rec.Message = "interrupted: " + errString(res.Err)
		err := r.save()
		_ = r.record("runbook.step", i, "interrupted", rec.Message, res.Figures, &in)
		res.Index, res.Step, res.Kind, res.Started, res.Ended, res.Next, res.Status = i, s.Name, s.Kind, started, r.now(), i, RunPaused
		return res, errors.Join(ctx.Err(), err)
	}
	return r.finish(i, res, in, started)
}

// Text0 is the first line of the step's text, for journal messages.
func (s Step) Text0() string {
	line, _, _ := strings.Cut(strings.TrimSpace(s.Text), "\n")
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	return line
}

// finish records the step's outcome and moves the run on.
func (r *Run) finish(i int, res StepResult, in StepInput, started time.Time) (StepResult, error) {
	s := r.rb.Steps[i]
	rec := &r.st.Steps[i]
	ended := r.now()
	res.Figures = finite(res.Figures)
	if res.Outcome == Skipped {
		rec.Attempts++
		rec.StartedAt = ended
		started = ended
	}
	rec.Outcome, rec.EndedAt, rec.Note, rec.Message, rec.Figures, rec.Actor = res.Outcome, ended, in.Note, res.Message, res.Figures, r.st.Actor
	if res.Outcome == Skipped {
		rec.Reason = in.Reason
	}
	next := i + 1
	if res.Outcome == Failed {
		switch s.OnFailure.Mode {
		case Continue:
		case Goto:
			next = r.rb.StepIndex(s.OnFailure.Goto)
		default:
			next = -1
		}
	}
	switch {
	case next < 0:
		r.st.Status, r.st.Note = RunFailed, fmt.Sprintf("step %q failed", s.Name)
	case next >= len(r.rb.Steps):
		r.st.Status, r.st.Current, r.st.EndedAt = RunFinished, len(r.rb.Steps), ended
	default:
		r.st.Current = next
		if r.st.Steps[next].Outcome != Pending && next <= i {
			// Going back: the target is offered afresh.
			r.st.Steps[next].Outcome = Pending
		}
	}
	res.Index, res.Step, res.Kind, res.Started, res.Ended, res.Status = i, s.Name, s.Kind, started, ended, r.st.Status
	res.Next = r.st.Current
	if r.st.Status != RunRunning {
		res.Next = -1
	}
	saveErr := r.save()
	msg := res.Message
	if res.Err != nil && !strings.Contains(msg, res.Err.Error()) {
		msg = strings.TrimSpace(msg + ": " + res.Err.Error())
	}
	jerr := r.record("runbook.step", i, string(res.Outcome), msg, res.Figures, &in)
	if r.st.Status == RunFinished || r.st.Status == RunFailed {
		jerr = errors.Join(jerr, r.record("runbook.end", -1, string(r.st.Status), r.summary(), nil, nil))
	}
	if err := errors.Join(saveErr, jerr); err != nil {
		return res, fmt.Errorf("step %q %s, but recording it failed: %w", s.Name, res.Outcome, err)
	}
	return res, nil
}

// Stop pauses the run where it stands (the operator stepped away or
// declined a step); it can be resumed.
func (r *Run) Stop(reason string) error {
	if r.st.Status != RunRunning {
		return nil
	}
	r.st.Status, r.st.Note = RunPaused, reason
	if err := r.save(); err != nil {
		return err
	}
	return r.record("runbook.end", -1, string(RunPaused), strings.TrimSpace("paused at step "+strconv.Quote(r.rb.Steps[r.st.Current].Name)+"; "+reason), nil, nil)
}

// Abort ends the run for good; it cannot be resumed.
func (r *Run) Abort(reason string) error {
	if !r.st.Status.Resumable() {
		return fmt.Errorf("%w: run %s is %s", ErrRunOver, r.st.RunID, r.st.Status)
	}
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("aborting a run: %w", ErrNeedReason)
	}
	r.st.Status, r.st.Note, r.st.EndedAt = RunAborted, reason, r.now()
	if err := r.save(); err != nil {
		return err
	}
	return r.record("runbook.end", -1, string(RunAborted), reason, nil, nil)
}

func (r *Run) summary() string {
	counts := map[Outcome]int{}
	for _, s := range r.st.Steps {
		counts[s.Outcome]++
	}
	var parts []string
	for _, o := range []Outcome{Done, Passed, Failed, Skipped, Pending} {
		if n := counts[o]; n > 0 {
			name := string(o)
			if o == Pending {
				name = "not reached"
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, name))
		}
	}
	return fmt.Sprintf("%s %s: %s", r.rb.ID, r.st.Status, strings.Join(parts, ", "))
}

func (r *Run) save() error {
	r.st.UpdatedAt = r.now()
	return saveState(r.e.opts.StateDir, r.st)
}

func (r *Run) now() time.Time { return r.e.opts.Now().UTC() }

// journalOutcome maps the engine's outcomes and run statuses onto the ops
// journal's outcome vocabulary; the precise word goes in Params["outcome"].
func journalOutcome(o string) string {
	switch o {
	case string(Started):
		return ops.OutcomeStarted
	case string(Done), string(Passed), string(RunFinished):
		return ops.OutcomeOK
	case string(Failed):
		return ops.OutcomeFailed
	case string(Skipped):
		return ops.OutcomeSkipped
	case string(RunAborted), "interrupted":
		return ops.OutcomeCancelled
	}
	return ops.OutcomeNote
}

// record writes one journal entry for the run (step -1: the run itself).
func (r *Run) record(action string, step int, outcome, msg string, figures map[string]float64, in *StepInput) error {
	e := ops.Entry{
		Time: r.now(), Action: action, Target: r.st.Target, Outcome: journalOutcome(outcome), Message: msg,
		Figures: figures, Runbook: r.rb.ID, RunID: r.st.RunID, Actor: r.e.opts.Actor,
		Params: map[string]any{"outcome": outcome},
	}
	if step >= 0 {
		s := r.rb.Steps[step]
		e.Step = s.Name
		e.Command = StepCommand(&s, r.st.Target)
		if s.Mitigates {
			e.Params["mitigates"] = true
		}
		e.Params["kind"] = string(s.Kind)
		e.Params["step_index"] = step + 1
		if s.Action != "" {
			e.Params["action"] = s.Action
			for k, v := range s.Params {
				e.Params[k] = v
			}
		}
		if in != nil && in.Note != "" {
			e.Params["note"] = in.Note
		}
		if in != nil && in.Skip {
			e.Params["reason"] = in.Reason
		}
	}
	return r.e.env.Record(e)
}

// samePath compares two database paths once made absolute.
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && filepath.Clean(aa) == filepath.Clean(bb)
}

// finite drops the figures that are NaN or infinite (an unknown or a
// division by zero): JSON cannot carry them and they mean "no figure".
func finite(f map[string]float64) map[string]float64 {
	for k, v := range f {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(f, k)
		}
	}
	return f
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
