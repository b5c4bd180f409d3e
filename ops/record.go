package ops

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// journalFor returns j when set, else opens the journal in stateDir (nil
// when stateDir is empty: nothing is journaled). The returned func closes
// what was opened here.
func journalFor(stateDir string, j *Journal) (*Journal, func(), error) {
	if j != nil || stateDir == "" {
		return j, func() {}, nil
	}
	opened, err := OpenJournal(stateDir)
	if err != nil {
		return nil, nil, err
	}
	return opened, func() { opened.Close() }, nil
}

// journalRun records the start of action and returns the func that
// records its end (ok, failed or cancelled, with figures). A nil journal
// records nothing. A journal that refuses the end entry cannot fail a
// procedure that has already done its work; the start entry's refusal is
// caught by the caller's first Append in journalFor's OpenJournal.
func journalRun(j *Journal, actor Actor, action, target string, params map[string]any) func(map[string]float64, error) {
	if j == nil {
		return func(map[string]float64, error) {}
	}
	start := time.Now()
	_, _ = j.Append(Entry{Actor: actor, Action: action, Target: target, Params: params, Outcome: OutcomeStarted})
	return func(figures map[string]float64, err error) {
		e := Entry{Actor: actor, Action: action, Target: target, Params: params, Outcome: OutcomeOK, Figures: figures}
		if figures == nil {
			e.Figures = map[string]float64{}
		}
		e.Figures["duration_seconds"] = time.Since(start).Seconds()
		if err != nil {
			e.Outcome, e.Message = OutcomeFailed, err.Error()
			if errors.Is(err, context.Canceled) || errors.Is(err, ErrCancelled) {
				e.Outcome = OutcomeCancelled
			}
		}
		_, _ = j.Append(e)
	}
}

// ErrCancelled is a procedure the operator declined (a confirmation not
// given); nothing was changed.
var ErrCancelled = errors.New("cancelled: nothing was changed")

// lockFor takes the lock in stateDir for purpose unless the caller holds
// held (or stateDir is empty). The returned func releases what was taken.
func lockFor(stateDir string, actor Actor, purpose string, held *Lock) (*Lock, func(), error) {
	if held != nil || stateDir == "" {
		return held, func() {}, nil
	}
	l, err := AcquireLock(stateDir, actor, purpose)
	if err != nil {
		return nil, nil, err
	}
	if l.TookOver != nil {
		if j, err := OpenJournal(stateDir); err == nil {
			_, _ = j.Append(Entry{Actor: actor, Action: "lock.takeover", Target: purpose, Outcome: OutcomeNote,
				Message: fmt.Sprintf("took over a stale lock of %s@%s (pid %d, since %s, for %s)", l.TookOver.Actor.User,
					l.TookOver.Host, l.TookOver.PID, l.TookOver.Since.UTC().Format(time.RFC3339), l.TookOver.Purpose)})
			j.Close()
		}
	}
	return l, func() { l.Release() }, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
