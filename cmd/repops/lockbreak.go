package main

import (
	"errors"
	"fmt"

	"github.com/repops/repops/ops"
)

// forceUsage is the help of --force on every command that takes the
// procedure lock.
const forceUsage = "break another operator's procedure lock (journaled as lock.break); nothing else"

// runBreakingLock runs fn, a procedure that takes the procedure lock.
// When fn fails because another operator holds the lock and force is set
// (the operator's --force), it says whose lock it breaks, breaks it with
// a journal entry, and runs fn once more. Without force the refusal,
// naming the holder, is returned as is.
func runBreakingLock(a *app, actor ops.Actor, force bool, fn func() error) error {
	err := fn()
	if !force || !errors.Is(err, ops.ErrLockHeld) {
		return err
	}
	fmt.Fprintf(a.err, "breaking the lock (--force): %v\n", err)
	if err := breakLockJournaled(a, actor); err != nil {
		return err
	}
	return fn()
}

// breakLockJournaled breaks the procedure lock, recording it.
func breakLockJournaled(a *app, actor ops.Actor) error {
	j, err := ops.OpenJournal(a.cfg.StateDir())
	if err != nil {
		return err
	}
	defer j.Close()
	return ops.BreakLock(a.cfg.StateDir(), actor, j)
}

// lockBreaker is the console's :lockbreak (tui.Options.BreakLock): the
// lock broken as actor and journaled. Decision: without a journal the
// lock is not broken at all (as breakLockJournaled), so that every break
// leaves its entry.
func lockBreaker(stateDir string, actor ops.Actor, j *ops.Journal, jerr error) func() error {
	return func() error {
		if j == nil {
			return fmt.Errorf("the journal cannot be opened (%v): the lock is not broken without its entry", jerr)
		}
		return ops.BreakLock(stateDir, actor, j)
	}
}
