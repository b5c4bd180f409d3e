package ops

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"sort"
	"time"
)

// procedure.go is the one runner of a procedure's record: the procedure
// lock, the journal's start and end entries, the note of a lock taken
// over. Every procedure that changes something (backup, restore, drill,
// the optimisations, index creation, archive, migrate) runs its body
// through Run.

// ErrCancelled is a procedure the operator declined (a confirmation not
// given); nothing was changed.
var ErrCancelled = errors.New("cancelled: nothing was changed")

// ErrNoStateDir is what a procedure that writes to the live database meets
// when there is no state dir: without the procedure lock two operators
// could run at once, and without the journal there is no incident record.
var ErrNoStateDir = errors.New("no state dir for the procedure lock and the ops journal")

// Procedure is one run of a procedure as Run records it: what the journal
// calls it, where the lock and the journal are, and whether it writes to
// the live database.
type Procedure struct {
	// Action, Target and Params name the run in the journal ("backup",
	// the database's path, the options); the start and the end entries
	// carry the same ones.
	Action string
	Target string
	Params map[string]any
	// Command is the shell command that runs the procedure (Entry.Command)
	// on its start and end entries; Run takes it from its context
	// (WithCommand) when empty.
	Command string
	// Purpose is what the lock says its holder is doing; Action and
	// Target when empty.
	Purpose string
	// StateDir holds the lock and the journal.
	StateDir string
	// Actor is who runs it; CurrentActor("") when its User is empty.
	Actor Actor
	// Lock, when set, is a lock the caller holds (migrate apply around
	// its backup, a runbook run): Run neither takes nor releases one.
	Lock *Lock
	// Journal, when set, is the caller's open journal: Run neither opens
	// nor closes one.
	Journal *Journal
	// Writes says the procedure writes to the live database (restore,
	// archive, optimize, index creation, migrate). Such a procedure is
	// refused without a state dir; one that only reads it (backup, drill)
	// runs unrecorded and says so.
	Writes bool
	// Unlocked is a procedure that is journaled but takes no lock: it
	// touches nothing another procedure could collide with (a drill
	// works on its own scratch copy of a backup).
	Unlocked bool
	// Progress receives the runner's notices (a run without lock or
	// journal, an end entry the journal refused), one line each; they go
	// to standard error when it is nil.
	Progress Progress
}

// Running is a procedure between its start and its end entries: what its
// body may hand on to a procedure it runs inside (the lock and the
// journal, as migrate does to its backup) and what it adds to the end
// entry.
type Running struct {
	// Lock is the procedure lock held for the run; nil when there is
	// none (an unlocked procedure, or no state dir).
	Lock *Lock
	// Journal is the journal the run is recorded in; nil when it is not
	// recorded (no state dir).
	Journal *Journal
	// Actor is who runs it.
	Actor Actor
	// StateDir is the procedure's state dir.
	StateDir string

	p          Procedure
	params     map[string]any
	message    string
	failure    error
	warning    string
	start      time.Time
	ownLock    bool
	ownJournal bool
}

// SetMessage sets the end entry's message: the whole message on success,
// followed by ": " and the error on failure.
func (r *Running) SetMessage(msg string) { r.message = msg }

// SetParam adds a parameter to the end entry, one the start could not
// know (the backup that migrate took).
func (r *Running) SetParam(key string, v any) { r.params[key] = v }

// SetWarning journals the end as a warning (OutcomeWarning) with msg
// after the message when the run does not fail: the procedure did its work
// but missed what was asked of it (a drill's objective).
func (r *Running) SetWarning(msg string) { r.warning = msg }

// SetFailure journals the end as failed with err although the body
// returns no error: a drill that ran and found problems reports them in
// its result, and its entry says it failed.
func (r *Running) SetFailure(err error) { r.failure = err }

// Run runs fn as the procedure p, recorded:
//
//  1. the policy for a missing state dir (p.StateDir empty, and the
//     caller did not hand over p.Lock and p.Journal): a procedure that writes to the live
//     database (p.Writes: restore, archive, optimize, index creation,
//     migrate) is refused with ErrNoStateDir and nothing is done: no lock
//     means two operators could collide, no journal means no incident
//     record. One that only reads it (backup, drill) runs without lock
//     and journal, and says so in one line (p.Progress, else stderr);
//  2. it takes the procedure lock in p.StateDir (unless p.Lock is held or
//     p.Unlocked); a holder refuses it with ErrLockHeld, journaled as one
//     failed entry ("not started: locked by ...");
//  3. it journals a "lock.takeover" note when the lock was a dead
//     process's, then the start (outcome "started", p.Params); a journal
//     that cannot be opened or refuses the start refuses the run;
//  4. it runs fn; fn's figures go into the end entry, with
//     "duration_seconds" (from the lock to the end);
//  5. it journals the end: "ok"; "warning" when the body set one
//     (Running.SetWarning) and did not fail; "cancelled" for an error that is
//     context.Canceled or ErrCancelled; else "failed" with the error as
//     the message. A journal that refuses the end entry cannot fail a
//     procedure that has done its work: that is a notice;
//  6. it releases what it took, even when fn panics.
//
// It returns fn's error as is.
func Run(ctx context.Context, p Procedure, fn func(ctx context.Context, r *Running) (map[string]float64, error)) error {
	if p.Command == "" {
		p.Command = CommandFrom(ctx)
	}
	r, err := begin(p)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done { // fn panicked: the panic goes on once this is recorded
			r.end(fmt.Errorf("%s: the procedure panicked", p.Action), nil)
		}
	}()
	figures, err := fn(ctx, r)
	done = true
	return r.end(err, figures)
}

// missing names what the procedure would run without for want of a state
// dir (the lock, the journal or both, that the caller did not hand over);
// "" when nothing is missing.
func (p Procedure) missing() string {
	if p.StateDir != "" {
		return ""
	}
	noLock := p.Lock == nil && !p.Unlocked
	switch {
	case noLock && p.Journal == nil:
		return "the procedure lock and the ops journal"
	case noLock:
		return "the procedure lock"
	case p.Journal == nil:
		return "the ops journal"
	}
	return ""
}

// checkRecorded is step 1 of Run's policy: the refusal of a procedure
// that writes to the live database without a state dir. A procedure
// calls it first too, so that it refuses before its pre-flight.
func (p Procedure) checkRecorded() error {
	if p.Writes && p.missing() != "" {
		return fmt.Errorf("%s refused: %w: set console.state_dir (or --config with one) and retry; nothing was changed", p.Action, ErrNoStateDir)
	}
	return nil
}

// notice reports one line to the operator.
func (p Procedure) notice(msg string) {
	if p.Progress != nil {
		p.Progress(ProgressEvent{Phase: "note", Message: msg})
		return
	}
	fmt.Fprintln(os.Stderr, "note: "+msg)
}

// begin is Run's steps 1 to 3.
func begin(p Procedure) (*Running, error) {
	if p.Actor.User == "" {
		p.Actor = CurrentActor("")
	}
	if p.Purpose == "" {
		p.Purpose = p.Action + " " + p.Target
	}
	if err := p.checkRecorded(); err != nil {
		return nil, err
	}
	if m := p.missing(); m != "" {
		p.notice(fmt.Sprintf("%s runs without %s: no state dir (set console.state_dir)", p.Action, m))
	}
	r := &Running{Lock: p.Lock, Journal: p.Journal, Actor: p.Actor, StateDir: p.StateDir, p: p, params: maps.Clone(p.Params)}
	if r.params == nil {
		r.params = map[string]any{}
	}
	if r.Journal == nil && p.StateDir != "" {
		j, err := OpenJournal(p.StateDir)
		if err != nil {
			return nil, fmt.Errorf("%s (nothing done): %w", p.Action, err)
		}
		r.Journal, r.ownJournal = j, true
	}
	if r.Lock == nil && !p.Unlocked && p.StateDir != "" {
		l, err := AcquireLock(p.StateDir, p.Actor, p.Purpose)
		if err != nil {
			if r.Journal != nil {
				_, _ = r.Journal.Append(Entry{Actor: p.Actor, Action: p.Action, Target: p.Target, Params: p.Params,
					Outcome: OutcomeFailed, Message: "not started: " + err.Error()})
			}
			r.closeJournal()
			return nil, fmt.Errorf("%s: %w", p.Action, err)
		}
		r.Lock, r.ownLock = l, true
		if t := l.TookOver; t != nil && r.Journal != nil {
			_, _ = r.Journal.Append(Entry{Actor: p.Actor, Action: "lock.takeover", Target: p.Target, Outcome: OutcomeNote,
				Message: fmt.Sprintf("took over a stale lock of %s@%s (pid %d, since %s, for %s)", t.Actor.User,
					t.Host, t.PID, t.Since.UTC().Format(time.RFC3339), t.Purpose)})
		}
	}
	r.start = time.Now()
	if r.Journal != nil {
		if _, err := r.Journal.Append(Entry{Actor: p.Actor, Action: p.Action, Target: p.Target, Params: p.Params, Outcome: OutcomeStarted, Command: p.Command}); err != nil {
			r.release()
			return nil, fmt.Errorf("%s (nothing done): journal the start: %w", p.Action, err)
		}
	}
	return r, nil
}

// end is Run's steps 5 and 6; it returns err.
func (r *Running) end(err error, figures map[string]float64) error {
	if r.Journal != nil {
		e := Entry{Actor: r.Actor, Action: r.p.Action, Target: r.p.Target, Params: r.params, Outcome: OutcomeOK,
			Figures: maps.Clone(figures), Message: r.message, Command: r.p.Command}
		if e.Figures == nil {
			e.Figures = map[string]float64{}
		}
		e.Figures["duration_seconds"] = time.Since(r.start).Seconds()
		failure := err
		if failure == nil {
			failure = r.failure
		}
		if failure == nil && r.warning != "" {
			e.Outcome = OutcomeWarning
			if e.Message == "" {
				e.Message = r.warning
			} else {
				e.Message += ": " + r.warning
			}
		}
		if failure != nil {
			e.Outcome = OutcomeFailed
			if errors.Is(failure, context.Canceled) || errors.Is(failure, ErrCancelled) {
				e.Outcome = OutcomeCancelled
			}
			if e.Message == "" {
				e.Message = failure.Error()
			} else {
				e.Message += ": " + failure.Error()
			}
		}
		if _, jerr := r.Journal.Append(e); jerr != nil {
			r.p.notice(fmt.Sprintf("%s ended (%s) but the journal refused its end entry: %v", r.p.Action, e.Outcome, jerr))
		}
	}
	r.release()
	return err
}

// release releases the lock and closes the journal when Run took them.
func (r *Running) release() {
	if r.ownLock {
		if err := r.Lock.Release(); err != nil {
			r.p.notice(fmt.Sprintf("%s: release the procedure lock: %v", r.p.Action, err))
		}
		r.ownLock = false
	}
	r.closeJournal()
}

func (r *Running) closeJournal() {
	if r.ownJournal {
		r.Journal.Close()
		r.ownJournal = false
	}
}

// JournalNotRun records a procedure that stopped before Run started it
// (refused, or cancelled by the operator), as one entry with outcome and
// message and no figures: the incident timeline shows what was not done,
// and why. It takes no lock and cannot fail the caller; without a journal
// (p.Journal) or a state dir it records nothing.
func JournalNotRun(p Procedure, outcome, message string) {
	if p.Actor.User == "" {
		p.Actor = CurrentActor("")
	}
	j := p.Journal
	if j == nil {
		if p.StateDir == "" {
			return
		}
		var err error
		if j, err = OpenJournal(p.StateDir); err != nil {
			return
		}
		defer j.Close()
	}
	_, _ = j.Append(Entry{Actor: p.Actor, Action: p.Action, Target: p.Target, Params: p.Params, Outcome: outcome, Message: message})
}

// Recorder says where a maintenance procedure (optimize, index creation,
// archive) takes the procedure lock and writes its journal entries: the
// console's state dir and the operator.
type Recorder struct {
	StateDir string
	Actor    Actor
}

// Procedure is the maintenance procedure action on target, recorded by
// rec: it writes to the live database, so it is refused without a state
// dir.
func (rec Recorder) Procedure(action, target string, params map[string]any) Procedure {
	return Procedure{Action: action, Target: target, Params: params, StateDir: rec.StateDir, Actor: rec.Actor, Writes: true}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
