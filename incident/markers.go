package incident

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/repops/repops/ops"
)

// Store is the part of the ops journal the markers need: *ops.Journal,
// and the console's journal store.
type Store interface {
	Entries(since time.Time) ([]ops.Entry, error)
	Append(e ops.Entry) (ops.Entry, error)
}

// Lookback is how far back the markers look for the open incident.
// Decision: a quarter; an incident open longer than that is forgotten,
// and 'repops incident report --id' still finds it by id.
const Lookback = 92 * 24 * time.Hour

// ErrOpen: an incident is already open (one at a time).
var ErrOpen = errors.New("an incident is already open")

// ErrNotOpen: no incident is open for a note or an end.
var ErrNotOpen = errors.New("no incident is open")

// StartCommand and the others are the shell equivalents of the markers,
// journaled with them and printed by the console.
func StartCommand(title string) string {
	if title == "" {
		return ops.ShellCommand("repops", "incident", "start")
	}
	return ops.ShellCommand("repops", "incident", "start", "--title", title)
}

// NoteCommand is 'repops incident note TEXT [--mitigated]'.
func NoteCommand(text string, mitigated bool) string {
	if mitigated {
		return ops.ShellCommand("repops", "incident", "note", "--mitigated", text)
	}
	return ops.ShellCommand("repops", "incident", "note", text)
}

// EndCommand is 'repops incident end [--summary S]'.
func EndCommand(summary string) string {
	if summary == "" {
		return ops.ShellCommand("repops", "incident", "end")
	}
	return ops.ShellCommand("repops", "incident", "end", "--summary", summary)
}

// Start journals the start of an incident titled title (a default title
// when empty) at now, refusing when one is open (ErrOpen, naming it).
func Start(s Store, actor ops.Actor, title string, now time.Time) (Window, error) {
	es, err := s.Entries(now.Add(-Lookback))
	if err != nil {
		return Window{}, err
	}
	if w, ok := OpenIncident(es); ok {
		return w, fmt.Errorf("%w: %s %q, started %s UTC by %s: end it first (repops incident end)", ErrOpen, w.ID, w.Title,
			w.Start.Format("2006-01-02 15:04:05"), w.StartedBy.String())
	}
	title = strings.TrimSpace(title)
	cmd := StartCommand(title)
	if title == "" {
		title = "Incident of " + now.UTC().Format("2006-01-02 15:04") + " UTC"
	}
	taken := map[string]bool{}
	for _, w := range Incidents(es) {
		taken[w.ID] = true
	}
	id := NewID(now, func(id string) bool { return taken[id] })
	e, err := s.Append(ops.Entry{Time: now, Actor: actor, Action: ActionStart, Target: id, Outcome: ops.OutcomeNote, Message: title, Command: cmd})
	if err != nil {
		return Window{}, err
	}
	return Window{ID: id, Title: title, Start: e.Time, Open: true, Explicit: true, StartedBy: actor}, nil
}

// Note journals an operator's note to the open incident; mitigated marks
// the moment the impact stopped (TTM). Without an open incident it
// refuses (ErrNotOpen).
func Note(s Store, actor ops.Actor, text string, mitigated bool, now time.Time) (Window, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return Window{}, errors.New("an incident note needs its text: repops incident note 'what was seen or done'")
	}
	w, err := openOne(s, now)
	if err != nil {
		return w, err
	}
	e := ops.Entry{Time: now, Actor: actor, Action: ActionNote, Target: w.ID, Outcome: ops.OutcomeNote, Message: text, Command: NoteCommand(text, mitigated)}
	if mitigated {
		e.Params = map[string]any{"mitigated": true}
	}
	_, err = s.Append(e)
	return w, err
}

// End journals the end of the open incident with its summary.
func End(s Store, actor ops.Actor, summary string, now time.Time) (Window, error) {
	w, err := openOne(s, now)
	if err != nil {
		return w, err
	}
	summary = strings.TrimSpace(summary)
	e, err := s.Append(ops.Entry{Time: now, Actor: actor, Action: ActionEnd, Target: w.ID, Outcome: ops.OutcomeNote, Message: summary, Command: EndCommand(summary)})
	if err != nil {
		return w, err
	}
	w.Open, w.End, w.Summary = false, e.Time, summary
	return w, nil
}

func openOne(s Store, now time.Time) (Window, error) {
	es, err := s.Entries(now.Add(-Lookback))
	if err != nil {
		return Window{}, err
	}
	w, ok := OpenIncident(es)
	if !ok {
		return Window{}, fmt.Errorf("%w: start one first (repops incident start --title '...')", ErrNotOpen)
	}
	return w, nil
}
