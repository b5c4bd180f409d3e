package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/incident"
	"github.com/repops/repops/ops"
)

// incidentUsage is the ':incident' command's help line.
const incidentUsage = "incident start [title] · incident note [--mitigated] text · incident end [summary]"

// incidentCommand runs ':incident start|note|end ...': the entries 'repops
// incident' journals, with the same shell equivalent, which the flash
// shows. The journal is read and written in the Cmd, never in Update.
func (m Model) incidentCommand(arg string) (tea.Model, tea.Cmd) {
	j := m.opts.Journal
	if j == nil {
		return m, flash("no ops journal, so no incident: the state dir could not be opened", true)
	}
	verb, rest, _ := strings.Cut(strings.TrimSpace(arg), " ")
	rest = strings.TrimSpace(rest)
	now := m.ctx.Now()
	actor := m.opts.Actor
	var do func(ops.Actor) (string, error)
	switch strings.ToLower(verb) {
	case "start":
		do = func(a ops.Actor) (string, error) {
			w, err := incident.Start(j, a, rest, now)
			return "incident " + w.ID + " started · same as: " + incident.StartCommand(rest), err
		}
	case "note", "mitigated":
		mitigated := strings.ToLower(verb) == "mitigated"
		if r, ok := strings.CutPrefix(rest, "--mitigated"); ok {
			mitigated, rest = true, strings.TrimSpace(r)
		}
		do = func(a ops.Actor) (string, error) {
			w, err := incident.Note(j, a, rest, mitigated, now)
			return "noted in " + w.ID + " · same as: " + incident.NoteCommand(rest, mitigated), err
		}
	case "end":
		do = func(a ops.Actor) (string, error) {
			w, err := incident.End(j, a, rest, now)
			return "incident " + w.ID + " ended · same as: " + incident.EndCommand(rest), err
		}
	default:
		return m, flash(incidentUsage, verb != "")
	}
	return m, func() tea.Msg {
		a := actor
		if a.User == "" {
			a = ops.CurrentActor("")
		}
		text, err := do(a)
		if err != nil {
			return flashMsg{text: err.Error(), err: true}
		}
		return flashMsg{text: text}
	}
}
