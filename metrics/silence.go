package metrics

import "time"

// RuleChange is one rule's state transition in a cycle, with the reason
// the rule gave for its new state.
type RuleChange struct {
	Rule       Rule
	Transition Transition
	Reason     string
}

// SilenceRef names the silence (or acknowledgement) that covers an alert.
type SilenceRef struct {
	ID        string
	CreatedBy string
	Comment   string
	EndsAt    time.Time
	// Ack is set for an acknowledgement: a short silence tied to the
	// runbook run RunID, ending when the run ends.
	Ack   bool
	RunID string
	// Source is where the silence lives: "alertmanager" or "local".
	Source string
}

// SilenceMatcher says which silence covers a rule's alert at now, given
// the labels the alert carries (AlertLabels). It is called once per rule
// per cycle, with the engine's lock held: it must answer from memory.
type SilenceMatcher interface {
	Match(labels map[string]string, now time.Time) (SilenceRef, bool)
}

// AlertLabels are the labels of a rule's alert as 'repops rules export'
// gives them to Prometheus (and so as Alertmanager sees them): what a
// silence's matchers are matched against.
// A rule in WARNING is outside its target: the target's alert
// (…OutsideTarget, severity info, state="warning"); in any other state
// the alert beyond the threshold (the rule's severity, state="critical").
func AlertLabels(r Rule, st State) map[string]string {
	if st == StateWarning && r.HasTarget() {
		return map[string]string{"alertname": AlertName(r.Name, true), "severity": SeverityInfo,
			"state": "warning", "rule": r.Name, "panel": r.TargetOn()}
	}
	return map[string]string{"alertname": AlertName(r.Name, false), "severity": r.Severity,
		"state": "critical", "rule": r.Name, "panel": r.Panel}
}

// silencedAt is the silence covering r's alert at now, nil when none does
// or the rule is OK (an OK rule has nothing to silence).
func (e *Engine) silencedAt(r Rule, st State, now time.Time) *SilenceRef {
	if e.opts.Silences == nil || st == StateOK {
		return nil
	}
	ref, ok := e.opts.Silences.Match(AlertLabels(r, st), now)
	if !ok {
		return nil
	}
	return &ref
}
