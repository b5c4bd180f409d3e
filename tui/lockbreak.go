package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/ops"
)

// :lockbreak breaks the procedure lock from the console, as the CLI's
// --force does: it shows who holds the lock, asks the word "break" typed
// out, reads the lock again, and breaks it only if the same holder still
// has it (Options.BreakLock: ops.BreakLock as this console's actor,
// journaled as lock.break).
//
// Decision: the permission is Options.BreakLock itself (nil: not
// allowed), so a console can never be allowed to break the lock without
// knowing as whom and into which journal. The local console sets it
// unless read-only (its Unix user is trusted as the CLI's); repops serve
// only for an admin key.

// lockBreakWord is the typed confirmation.
const lockBreakWord = "break"

// lockBreakAsk is the open question: the holder shown, what is typed.
type lockBreakAsk struct {
	holder ops.LockInfo
	typed  string
}

// lockReadMsg is the lock as read for :lockbreak.
type lockReadMsg struct {
	info *ops.LockInfo
	held bool
	err  error
}

// lockBrokenMsg is how the break went.
type lockBrokenMsg struct {
	holder ops.LockInfo
	err    error
}

// lockHolder names a holder in one line: who, where, pid, since, why.
func lockHolder(i ops.LockInfo) string {
	s := fmt.Sprintf("%s@%s (pid %d) since %s for %s", i.Actor.User, i.Host, i.PID, i.Since.UTC().Format(time.RFC3339), i.Purpose)
	if i.Stale {
		s += " (stale: its holder is gone)"
	}
	return s
}

// sameHolder: the lock read at confirmation is the one shown.
func sameHolder(a, b ops.LockInfo) bool {
	return a.PID == b.PID && a.Host == b.Host && a.Since.Equal(b.Since) && a.Actor.User == b.Actor.User
}

// lockBreakCommand is :lockbreak: refused in one line where not allowed,
// else the lock is read (a Cmd: it is a file) to ask.
func (m Model) lockBreakCommand() (Model, tea.Cmd) {
	if m.opts.BreakLock == nil {
		// An admin key of a server started --read-only is told why, not
		// that it needs an admin key.
		if p := m.opts.Presence; p != nil && !p.Self().Role.IsAdmin() {
			return m, flash("only an admin key may break the procedure lock: ask an admin, or wait for its holder", true)
		}
		return m, flash("read-only console: the procedure lock cannot be broken here", true)
	}
	read := m.opts.Lock
	if read == nil {
		return m, flash("this console cannot read the procedure lock: nothing was broken", true)
	}
	return m, func() tea.Msg {
		info, held, err := read()
		return lockReadMsg{info: info, held: held, err: err}
	}
}

// onLockRead opens the question, or says there is nothing to break.
func (m Model) onLockRead(msg lockReadMsg) (Model, tea.Cmd) {
	switch {
	case msg.err != nil:
		return m, flash(msg.err.Error()+": nothing was broken", true)
	case !msg.held || msg.info == nil:
		return m, flash("no procedure lock is held: nothing to break", false)
	}
	m.lockAsk = &lockBreakAsk{holder: *msg.info}
	return m, nil
}

// lockBreakKey answers the keys while the question is open: the word is
// typed, enter breaks (only on the exact word), esc keeps the lock.
func (m Model) lockBreakKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	a := *m.lockAsk
	switch msg.String() {
	case "esc":
		m.lockAsk = nil
		m.flash, m.flashIsErr = "the lock is kept: nothing was broken", false
		return m, nil
	case "backspace":
		if r := []rune(a.typed); len(r) > 0 {
			a.typed = string(r[:len(r)-1])
		}
	case "enter":
		if a.typed != lockBreakWord {
			m.lockAsk = nil
			m.flash, m.flashIsErr = fmt.Sprintf("not broken: type %s exactly to break the lock (:lockbreak asks again)", lockBreakWord), true
			return m, nil
		}
		m.lockAsk = nil
		read, brk, holder := m.opts.Lock, m.opts.BreakLock, a.holder
		return m, func() tea.Msg {
			// The lock may have been released, or taken by someone
			// else, while the word was typed: only the holder shown is
			// broken.
			info, held, err := read()
			switch {
			case err != nil:
				return lockBrokenMsg{holder: holder, err: err}
			case !held || info == nil:
				return lockBrokenMsg{holder: holder, err: fmt.Errorf("the lock was released meanwhile")}
			case !sameHolder(*info, holder):
				return lockBrokenMsg{holder: holder, err: fmt.Errorf("the lock changed hands meanwhile, now %s: :lockbreak asks again", lockHolder(*info))}
			}
			return lockBrokenMsg{holder: holder, err: brk()}
		}
	default:
		if msg.Text != "" && len([]rune(a.typed)) < 40 {
			a.typed += msg.Text
		}
	}
	m.lockAsk = &a
	return m, nil
}

// onLockBroken says how the break went.
func (m Model) onLockBroken(msg lockBrokenMsg) (Model, tea.Cmd) {
	if msg.err != nil {
		return m, flash("lock not broken: "+msg.err.Error(), true)
	}
	return m, flash("broke the procedure lock of "+lockHolder(msg.holder)+" (journaled as lock.break)", false)
}

// lockBreakView is the body while the question is open.
func (m Model) lockBreakView() string {
	st := m.ctx.Styles
	a := m.lockAsk
	return strings.Join([]string{
		st.Title.Render("Break the procedure lock") + st.Muted.Render("  esc keeps it"), "",
		"  held by " + st.State("warning").Render(lockHolder(a.holder)), "",
		"  Breaking it lets another procedure start while the holder may still be",
		"  working: do it only when the holder is gone or agrees. It is journaled",
		"  as lock.break, in your name.",
	}, "\n")
}

// lockBreakLine is the bottom line while the question is open.
func (m Model) lockBreakLine() string {
	return fmt.Sprintf("type %s and press enter to break the lock · esc keeps it › %s", lockBreakWord, m.lockAsk.typed)
}
