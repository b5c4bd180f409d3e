package incident

import (
	"time"

	"github.com/repops/repops/ops"
)

// Sources of a timeline row.
const (
	SourceAlert    = "alert"
	SourceOperator = "operator"
	SourceStep     = "runbook step"
	SourceProc     = "procedure"
	SourceScenario = "scenario"
)

// Report is an incident's postmortem, built from the journal by Build.
type Report struct {
	Window
	// Summary is the incident end's summary, or one written from the
	// figures when the operator gave none.
	Summary string `json:"summary"`
	// From is where the timeline starts: the window's start, or earlier
	// when an alert was already out of OK then (see episodeStart).
	From time.Time `json:"from"`
	// The response's instants; nil when it did not happen in the window.
	AlertStart time.Time `json:"alert_start"`
	// AlertStartFrom says what AlertStart is: "alert" (the first alert
	// transition out of OK) or "incident start" (none in the window).
	AlertStartFrom string     `json:"alert_start_from"`
	FirstFiring    *time.Time `json:"first_firing,omitempty"`
	FirstAction    *time.Time `json:"first_action,omitempty"`
	Mitigated      *time.Time `json:"mitigated,omitempty"`
	Resolved       *time.Time `json:"resolved,omitempty"`
	// TT* in whole seconds from AlertStart; nil when the instant is
	// missing (not detected, no action, not mitigated, not resolved).
	TTD *int64 `json:"ttd_seconds"`
	TTA *int64 `json:"tta_seconds"`
	TTM *int64 `json:"ttm_seconds"`
	TTR *int64 `json:"ttr_seconds"`
	// Unresolved names the alerts still not OK at the window's end.
	Unresolved  []string `json:"unresolved,omitempty"`
	Impact      []Impact `json:"impact"`
	Timeline    []Row    `json:"timeline"`
	Commands    []string `json:"commands,omitempty"`
	Definitions []string `json:"definitions"`
	// Generated is when the report was built.
	Generated time.Time `json:"generated"`
}

// Impact is one alert's share of the incident.
type Impact struct {
	Alert string `json:"alert"`
	Title string `json:"title,omitempty"`
	Unit  string `json:"unit,omitempty"`
	// Worst is the worst value the collector saw (highest, or lowest for
	// a rule whose bad side is below); nil when none was known.
	Worst     *float64 `json:"worst,omitempty"`
	Threshold *float64 `json:"threshold,omitempty"`
	// WorstState is the worst state reached: firing, pending, warning.
	WorstState string `json:"worst_state"`
	// BeyondSeconds is how long it was beyond its alert threshold
	// (pending or firing), to the second; Ongoing when it still was at
	// the window's end.
	BeyondSeconds int64 `json:"beyond_seconds"`
	Ongoing       bool  `json:"ongoing,omitempty"`
}

// Row is one event of the timeline.
type Row struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"`
	What    string    `json:"what"`
	Outcome string    `json:"outcome"`
	Who     string    `json:"who,omitempty"`
	// Finished is when a runbook step or procedure ended (nil: no end
	// journaled).
	Finished *time.Time `json:"finished,omitempty"`
	Command  string     `json:"command,omitempty"`
	// Seqs are the journal entries the row was built from.
	Seqs []int64 `json:"journal_seqs"`
}

// Definitions are the report's footer and the README's: how each time
// is measured.
var Definitions = []string{
	"Alert start: the first alert transition out of OK (to warning, pending or firing) in the incident's window; an alert already out of OK when the incident was started opens the window at its own start. Without one, the incident's start.",
	"TTD (time to detect): first firing - alert start.",
	"TTA (time to acknowledge): first operator action (a note, a silence or acknowledgement, a runbook started, a procedure) - alert start.",
	"TTM (time to mitigate): the first mitigating event (a runbook step marked mitigating that finished ok, 'repops incident note --mitigated', or in the demo the switch back to the normal scenario) - alert start.",
	"TTR (time to resolve): the last alert resolved (every alert back to OK) - alert start.",
	"Times are UTC, from the ops journal, to the second; an alert's unknown state (no data) is not counted as an alert.",
}

// Build is the report of w from entries (the journal, oldest first; it
// may hold entries before w, which say which alerts were already out of
// OK when w starts). now is the report's time.
func Build(entries []ops.Entry, w Window, now time.Time) Report {
	r := Report{Window: w, Generated: now.UTC(), Definitions: Definitions, Impact: []Impact{}, Timeline: []Row{}}
	from := episodeStart(entries, w.Start)
	r.From = from.UTC()
	var in []ops.Entry
	for _, e := range entries {
		if t := e.Time; !t.Before(from) && !t.After(w.End) {
			in = append(in, e)
		}
	}
	r.AlertStart, r.AlertStartFrom = w.Start, "incident start"
	for _, e := range in {
		if e.Action == ActionAlert && beyondOK(e.Outcome) {
			r.AlertStart, r.AlertStartFrom = e.Time.UTC(), "alert"
			break
		}
	}
	r.measure(in)
	r.Impact = impacts(in, w.End)
	r.Timeline = timeline(in)
	for _, row := range r.Timeline {
		if row.Command != "" {
			r.Commands = append(r.Commands, row.Command)
		}
	}
	r.Summary = w.Summary
	if r.Summary == "" {
		r.Summary = autoSummary(r)
	}
	return r
}

// beyondOK: an alert outcome that is out of OK and counts as an alert
// (unknown, no data, does not).
func beyondOK(o string) bool {
	return o == ops.OutcomePending || o == ops.OutcomeFiring || o == ops.OutcomeWarning
}

// episodeStart is where the window really opens: start, or earlier when
// an alert was already out of OK at start, the time it left OK.
//
// Decision: an operator usually starts the incident after the alert
// fired; the report then starts at the alert, so that TTD and TTA are
// measured from when the trouble began, not from when someone noticed.
// Likewise a scenario of the simulated service (not normal) in effect
// when the window opens is its cause, and opens it at its switch; TTD and
// the others are still measured from the alert start.
func episodeStart(entries []ops.Entry, start time.Time) time.Time {
	left := map[string]time.Time{} // alert -> when it left OK, for those not OK
	for _, e := range entries {
		if !e.Time.Before(start) {
			break
		}
		if e.Action != ActionAlert {
			continue
		}
		switch {
		case beyondOK(e.Outcome):
			if _, ok := left[e.Target]; !ok {
				left[e.Target] = e.Time
			}
		default:
			delete(left, e.Target)
		}
	}
	from := start
	for _, t := range left {
		if t.Before(from) {
			from = t
		}
	}
	// The simulated service's incident scenario in effect then is the
	// cause: its switch opens the window too.
	var scenarioAt time.Time
	for _, e := range entries {
		if !e.Time.Before(from) {
			break
		}
		if e.Action == ActionScenario {
			scenarioAt = e.Time
			if e.Target == ScenarioNormal {
				scenarioAt = time.Time{}
			}
		}
	}
	if !scenarioAt.IsZero() {
		from = scenarioAt
	}
	return from
}

// measure sets the response's instants and times.
func (r *Report) measure(in []ops.Entry) {
	at := r.AlertStart
	var notOK = map[string]bool{}
	var resolved *time.Time
	scenario := ""
	for _, e := range in {
		t := e.Time.UTC()
		if e.Action == ActionAlert {
			if beyondOK(e.Outcome) {
				notOK[e.Target] = true
				resolved = nil
			} else if notOK[e.Target] {
				delete(notOK, e.Target)
				if len(notOK) == 0 {
					resolved = &t
				}
			}
		}
		if t.Before(at) {
			if e.Action == ActionScenario {
				scenario = e.Target
			}
			continue
		}
		if e.Action == ActionAlert && e.Outcome == ops.OutcomeFiring && r.FirstFiring == nil {
			r.FirstFiring = &t
		}
		if r.FirstAction == nil && isOperatorAction(e) {
			r.FirstAction = &t
		}
		prev := scenario
		if from, ok := e.Params["from"].(string); ok && prev == "" {
			prev = from
		}
		if r.Mitigated == nil && mitigates(e, prev) {
			r.Mitigated = &t
		}
		if e.Action == ActionScenario {
			scenario = e.Target
		}
	}
	for a := range notOK {
		r.Unresolved = append(r.Unresolved, a)
	}
	sortStrings(r.Unresolved)
	if len(notOK) == 0 && resolved != nil {
		r.Resolved = resolved
	}
	r.TTD, r.TTA, r.TTM, r.TTR = since(at, r.FirstFiring), since(at, r.FirstAction), since(at, r.Mitigated), since(at, r.Resolved)
}

// since is t - from in whole seconds (rounded), nil when t is nil.
func since(from time.Time, t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	s := int64(t.Sub(from).Round(time.Second) / time.Second)
	return &s
}

// isOperatorAction: an entry an operator caused, that counts as the
// response's first action: a note, a silence or acknowledgement, a
// runbook started or one of its steps, a procedure. The incident's own
// markers, alerts, scenario switches and the journal's housekeeping do
// not count.
func isOperatorAction(e ops.Entry) bool {
	switch e.Action {
	case ActionAlert, ActionScenario, ActionStart, ActionEnd, "journal.set-aside", "journal.dropped", "lock.takeover", "runbook.end":
		return false
	}
	return true
}

// mitigates: a runbook step marked mitigating (Params["mitigates"]) that
// finished ok, a note marked mitigated, or a switch of the simulated
// service back to normal from an incident scenario (prev).
func mitigates(e ops.Entry, prev string) bool {
	switch {
	case e.Action == ActionNote:
		return truthy(e.Params["mitigated"])
	case e.Action == ActionScenario:
		return e.Target == ScenarioNormal && prev != "" && prev != ScenarioNormal
	case e.Outcome == ops.OutcomeOK:
		return truthy(e.Params["mitigates"])
	}
	return false
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "true" || x == "yes"
	}
	return false
}
