// Package incident turns the ops journal into a postmortem: it finds an
// incident's window (the incident.start and incident.end markers, or a
// window of time), and builds from the entries in it a report with a
// summary, the alerts' impact, the response times (TTD, TTA, TTM, TTR)
// and a timeline with one row per event. Everything here is a pure
// function over []ops.Entry, so that it is tested on built entry lists.
package incident

import (
	"errors"
	"fmt"
	"time"

	"github.com/repops/repops/ops"
)

// Journal actions this package writes or reads besides the procedures'.
const (
	// ActionStart opens an incident: Target is its id, Message its title.
	ActionStart = "incident.start"
	// ActionNote is an operator's note: Target the incident's id,
	// Message the text, Params["mitigated"] true for a mitigation.
	ActionNote = "incident.note"
	// ActionEnd closes an incident: Target its id, Message the summary.
	ActionEnd = "incident.end"
	// ActionAlert is a rule's alert transition, journaled by the
	// collector: Target the alert's name, Outcome the new state
	// (ops.OutcomePending, OutcomeFiring, OutcomeWarning, OutcomeUnknown,
	// OutcomeResolved), Figures value (threshold, worst), Message the
	// rule's reason, Params rule, title, unit, compare, from.
	ActionAlert = "alert"
	// ActionScenario is the simulated service's switch to a scenario
	// (the demo's incidents): Target the scenario, Params["from"].
	ActionScenario = "scenario"
	// The silences' entries (another part journals them).
	ActionSilenceAdd    = "silence.add"
	ActionSilenceExpire = "silence.expire"
	ActionAcknowledged  = "alert.acknowledged"
)

// ScenarioNormal is the simulated service's scenario without incident:
// a switch back to it is the demo's mitigation.
const ScenarioNormal = "normal"

// NewID is an incident id made from its start time: inc-20260102-0304,
// readable and sortable; a second incident started in the same minute
// gets the seconds too.
func NewID(start time.Time, taken func(string) bool) string {
	id := "inc-" + start.UTC().Format("20060102-1504")
	if taken != nil && taken(id) {
		id = "inc-" + start.UTC().Format("20060102-150405")
	}
	return id
}

// Window is the span of journal a report covers.
type Window struct {
	ID      string    `json:"id,omitempty"`
	Title   string    `json:"title"`
	Summary string    `json:"summary,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	// Open: the incident has no end marker yet (End is the report's time).
	Open bool `json:"open"`
	// Explicit: an incident marked with 'repops incident start', not a
	// window of time.
	Explicit  bool      `json:"explicit"`
	StartedBy ops.Actor `json:"started_by,omitempty"`
}

// ErrNoIncident: the journal has no incident to report on.
var ErrNoIncident = errors.New("no incident in the ops journal")

// Incidents lists the incidents marked in entries, oldest first; one
// without an end is Open with End zero.
func Incidents(entries []ops.Entry) []Window {
	var out []Window
	idx := map[string]int{}
	for _, e := range entries {
		switch e.Action {
		case ActionStart:
			idx[e.Target] = len(out)
			out = append(out, Window{ID: e.Target, Title: e.Message, Start: e.Time.UTC(), Open: true, Explicit: true, StartedBy: e.Actor})
		case ActionEnd:
			if i, ok := idx[e.Target]; ok && out[i].Open {
				out[i].Open, out[i].End, out[i].Summary = false, e.Time.UTC(), e.Message
			}
		}
	}
	return out
}

// OpenIncident is the incident started and not ended, ok false when none.
// Decision: one open incident at a time ('repops incident start' refuses
// a second), so that notes and the end need no id.
func OpenIncident(entries []ops.Entry) (Window, bool) {
	inc := Incidents(entries)
	for i := len(inc) - 1; i >= 0; i-- {
		if inc[i].Open {
			return inc[i], true
		}
	}
	return Window{}, false
}

// Find is the incident id, or the newest one when id is empty; an open
// incident ends at now.
func Find(entries []ops.Entry, id string, now time.Time) (Window, error) {
	inc := Incidents(entries)
	if len(inc) == 0 {
		return Window{}, fmt.Errorf("%w: mark one with 'repops incident start', or report on a window of time with --since 2h", ErrNoIncident)
	}
	w := inc[len(inc)-1]
	if id != "" {
		found := false
		for _, c := range inc {
			if c.ID == id {
				w, found = c, true
			}
		}
		if !found {
			return Window{}, fmt.Errorf("no incident %q in the ops journal: 'repops incident report' without --id reports on the newest (%s)", id, inc[len(inc)-1].ID)
		}
	}
	if w.Open {
		w.End = now.UTC()
	}
	return w, nil
}

// Since is a window of time with no incident marked: from since to now.
func Since(since, now time.Time) Window {
	return Window{Title: "Incident from " + since.UTC().Format("2006-01-02 15:04") + " UTC", Start: since.UTC(), End: now.UTC(), Open: false}
}
