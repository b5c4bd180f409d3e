package incident

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/repops/repops/ops"
)

// timeline is one row per event of the window's entries: an alert
// transition, a scenario switch, an operator's marker or note, a runbook
// step (its started and finished entries merged), a procedure (merged
// likewise; folded into the runbook step that ran it).
//
// Decision: no parameters in the rows. They are the journal's internals
// (step_index, kind, the action's own parameters); the operator's words
// (a note, a skip reason) are kept, and the journal keeps the rest.
func timeline(in []ops.Entry) []Row {
	rows := []Row{}
	openStep := map[string]int{} // run id + step -> row
	openProc := map[string]int{} // action + target + session -> row
	stepOf := map[string]int{}   // actor -> the row of its running step
	folded := map[int]string{}   // step row -> its procedures' messages
	for _, e := range in {
		t := e.Time.UTC()
		switch {
		case e.Action == ActionAlert:
			rows = append(rows, Row{Time: t, Source: SourceAlert, What: alertWhat(e), Outcome: e.Outcome, Who: "collector", Seqs: []int64{e.Seq}})
		case e.Action == ActionScenario:
			what := "simulated service switched to scenario " + e.Target
			if from, ok := e.Params["from"].(string); ok && from != "" {
				what += " (from " + from + ")"
			}
			rows = append(rows, Row{Time: t, Source: SourceScenario, What: what, Outcome: ops.OutcomeOK, Who: e.Actor.String(), Command: e.Command, Seqs: []int64{e.Seq}})
		case e.Action == "runbook.step":
			key := e.RunID + "\x00" + e.Step
			if e.Outcome == ops.OutcomeStarted {
				openStep[key] = len(rows)
				stepOf[actorKey(e.Actor)] = len(rows)
				rows = append(rows, Row{Time: t, Source: SourceStep, What: stepWhat(e), Outcome: "running", Who: e.Actor.String(), Command: e.Command, Seqs: []int64{e.Seq}})
				continue
			}
			i, ok := openStep[key]
			if !ok {
				i = len(rows)
				rows = append(rows, Row{Time: t, Source: SourceStep, What: stepWhat(e), Who: e.Actor.String()})
			}
			delete(openStep, key)
			delete(stepOf, actorKey(e.Actor))
			row := &rows[i]
			row.Finished, row.Seqs = &t, append(row.Seqs, e.Seq)
			row.Outcome = worse(stepOutcome(e), row.Outcome)
			row.What = stepWhat(e) + folded[i]
			if e.Command != "" {
				row.Command = e.Command
			}
		case isMarker(e.Action):
			rows = append(rows, Row{Time: t, Source: SourceOperator, What: markerWhat(e), Outcome: markerOutcome(e), Who: e.Actor.String(), Command: e.Command, Seqs: []int64{e.Seq}})
		default:
			rows = procRow(rows, e, openProc, stepOf, folded)
		}
	}
	return rows
}

// procRow adds or completes a procedure's row; a procedure run by a
// runbook step of the same operator's session is folded into the step.
func procRow(rows []Row, e ops.Entry, open, stepOf map[string]int, folded map[int]string) []Row {
	t := e.Time.UTC()
	if i, ok := stepOf[actorKey(e.Actor)]; ok && e.Runbook == "" {
		row := &rows[i]
		row.Seqs = append(row.Seqs, e.Seq)
		if e.Outcome != ops.OutcomeStarted {
			// The truth of the step is the procedure's: a drill that
			// missed its objective is a warning, whatever the step says.
			row.Outcome = worse(row.Outcome, e.Outcome)
			if e.Message != "" && !strings.Contains(folded[i], e.Message) {
				folded[i] += "; " + e.Action + ": " + oneLine(e.Message)
				row.What += "; " + e.Action + ": " + oneLine(e.Message)
			}
		}
		return rows
	}
	key := e.Action + "\x00" + e.Target + "\x00" + actorKey(e.Actor)
	if e.Outcome == ops.OutcomeStarted {
		open[key] = len(rows)
		return append(rows, Row{Time: t, Source: SourceProc, What: procWhat(e), Outcome: "running", Who: e.Actor.String(), Command: e.Command, Seqs: []int64{e.Seq}})
	}
	i, ok := open[key]
	if !ok {
		i = len(rows)
		rows = append(rows, Row{Time: t, Source: SourceProc, Who: e.Actor.String()})
	}
	delete(open, key)
	row := &rows[i]
	row.What, row.Outcome, row.Seqs = procWhat(e), e.Outcome, append(row.Seqs, e.Seq)
	if e.Outcome != ops.OutcomeNote {
		row.Finished = &t
	}
	if e.Command != "" {
		row.Command = e.Command
	}
	return rows
}

func actorKey(a ops.Actor) string { return a.User + "@" + a.Host + "/" + a.Session }

// isMarker: an operator's own entry about the incident (not a procedure).
func isMarker(action string) bool {
	switch action {
	case ActionStart, ActionNote, ActionEnd, ActionSilenceAdd, ActionSilenceExpire, ActionAcknowledged,
		"runbook.start", "runbook.resume", "runbook.end", "lock.break", "lock.takeover", "journal.set-aside", "journal.dropped":
		return true
	}
	return false
}

func markerWhat(e ops.Entry) string {
	msg := oneLine(e.Message)
	switch e.Action {
	case ActionStart:
		return "incident " + e.Target + " started: " + msg
	case ActionNote:
		if truthy(e.Params["mitigated"]) {
			return "note (mitigated): " + msg
		}
		return "note: " + msg
	case ActionEnd:
		if msg == "" {
			return "incident " + e.Target + " ended"
		}
		return "incident " + e.Target + " ended: " + msg
	case "runbook.start":
		return "runbook " + e.Runbook + " started on " + filepath.Base(e.Target)
	case "runbook.resume":
		return "runbook " + e.Runbook + " resumed: " + msg
	case "runbook.end":
		return "runbook " + e.Runbook + " ended: " + msg
	}
	s := strings.ReplaceAll(e.Action, ".", " ")
	if e.Target != "" {
		s += " " + e.Target
	}
	if msg != "" {
		s += ": " + msg
	}
	return s
}

func markerOutcome(e ops.Entry) string {
	if e.Action == "runbook.end" {
		if o, ok := e.Params["outcome"].(string); ok && o != "" {
			return o
		}
	}
	return e.Outcome
}

// stepWhat is "runbook R step "S"", with the operator's note or skip
// reason and the step's result message.
func stepWhat(e ops.Entry) string {
	s := fmt.Sprintf("%s: step %q", e.Runbook, e.Step)
	if e.Outcome == ops.OutcomeStarted {
		return s
	}
	if r, ok := e.Params["reason"].(string); ok && r != "" {
		s += ", skipped: " + oneLine(r)
	} else if e.Message != "" {
		s += ": " + oneLine(e.Message)
	}
	if n, ok := e.Params["note"].(string); ok && n != "" {
		s += " (note: " + oneLine(n) + ")"
	}
	if e.Outcome == ops.OutcomeOK && truthy(e.Params["mitigates"]) {
		s += " [mitigation]"
	}
	return s
}

// stepOutcome is the step's precise outcome word (done, passed, failed,
// skipped, interrupted), as the runbook engine journals it.
func stepOutcome(e ops.Entry) string {
	if o, ok := e.Params["outcome"].(string); ok && o != "" {
		return o
	}
	return e.Outcome
}

func procWhat(e ops.Entry) string {
	s := e.Action
	if e.Target != "" {
		s += " " + filepath.Base(e.Target)
	}
	if e.Message != "" {
		s += ": " + oneLine(e.Message)
	}
	if d, ok := e.Figures["duration_seconds"]; ok {
		s += " (" + ops.FormatFigure("duration_seconds", d) + ")"
	}
	return s
}

// alertWhat is "Appeal error rate (AppealErrorRateHigh) 24.8 %, threshold 5 %: reason".
func alertWhat(e ops.Entry) string {
	title, _ := e.Params["title"].(string)
	s := e.Target
	if title != "" {
		s = title + " (" + e.Target + ")"
	}
	unit, _ := e.Params["unit"].(string)
	if v, ok := e.Figures["value"]; ok {
		s += " " + formatValue(v, unit)
		if th, ok := e.Figures["threshold"]; ok {
			s += ", threshold " + formatValue(th, unit)
		}
	}
	if w, ok := e.Figures["worst"]; ok && e.Outcome == ops.OutcomeResolved {
		s += ", worst " + formatValue(w, unit)
	}
	if from, ok := e.Params["from"].(string); ok && from != "" {
		s += " (was " + from + ")"
	}
	return s
}

// formatValue is a figure with its unit, three significant digits.
func formatValue(v float64, unit string) string {
	s := fmt.Sprintf("%.3g", v)
	if v >= 1000 || v <= -1000 {
		s = fmt.Sprintf("%.0f", v)
	}
	switch unit {
	case "":
		return s
	case "%":
		return s + " %"
	}
	return s + " " + unit
}

// worse is the worse of two outcome words, so that a row never reads
// better than any entry it merges.
func worse(a, b string) string {
	rank := func(o string) int {
		switch o {
		case ops.OutcomeFailed, "interrupted":
			return 5
		case ops.OutcomeCancelled:
			return 4
		case ops.OutcomeWarning:
			return 3
		case "running", "":
			return 0
		}
		return 1
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// duration is d to the second, as 1h2m3s.
func duration(d time.Duration) string {
	return d.Round(time.Second).String()
}
