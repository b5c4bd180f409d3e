package runbooks

import (
	"strings"
	"testing"

	"github.com/repops/repops/metrics"
)

// builtinStep is the named step of a built-in runbook.
func builtinStep(t *testing.T, id, name string) Step {
	t.Helper()
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	rb, ok := cat.Get(id)
	if !ok {
		t.Fatalf("no runbook %s", id)
	}
	for _, s := range rb.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("runbook %s has no step %q", id, name)
	return Step{}
}

// TestBackUnderAlertThresholdJudgesTheValue: the appeal error rate at
// 32.5 % with its alert still pending (not critical yet) fails "Error rate
// is back under the alert threshold", so the runbook goes on to the
// restart instead of telling the operator to skip it; the value is shown
// with its unit, the alert state beside it.
func TestBackUnderAlertThresholdJudgesTheValue(t *testing.T) {
	s := builtinStep(t, "appeal-submission-failing", "Error rate is back under the alert threshold")
	if s.Metric == nil || s.Metric.Within != WithinAlert || s.Metric.StateNot != "" {
		t.Fatalf("the step's condition: %+v", s.Metric)
	}
	for _, state := range []string{"pending", "critical", "warning", "ok"} {
		res := evalMetric(*s.Metric, MetricMap{metrics.PanelAppealErrorRate: {Value: 32.49999999999999, State: state}})
		if res.Outcome != Failed {
			t.Errorf("state %s: %s, want failed: %s", state, res.Outcome, res.Message)
		}
		text := res.Message + " " + errText(res.Err)
		if !strings.Contains(text, "32.5 %") || strings.Contains(text, "32.49") {
			t.Errorf("state %s: the value, with its unit: %q", state, text)
		}
		if !strings.Contains(res.Message, "state "+state) || !strings.Contains(text, "> 5 %") {
			t.Errorf("state %s: the threshold and the state beside the value: %q", state, text)
		}
	}
	// At the threshold (the guide's "> 5 %" does not fire at 5) and below
	// it the check passes, whatever the alert's state still says.
	for _, v := range []float64{5, 4.99, 0} {
		res := evalMetric(*s.Metric, MetricMap{metrics.PanelAppealErrorRate: {Value: v, State: "critical"}})
		if res.Outcome != Passed {
			t.Errorf("%v %%: %s (%v), want passed", v, res.Outcome, res.Err)
		}
	}
	if res := evalMetric(*s.Metric, MetricMap{metrics.PanelAppealErrorRate: {Value: 5.01, State: "ok"}}); res.Outcome != Failed {
		t.Errorf("5.01 %%: %s, want failed", res.Outcome)
	}
	// No data fails, never read as 0.
	if res := evalMetric(*s.Metric, MetricMap{}); res.Outcome != Failed {
		t.Errorf("no data: %s, want failed", res.Outcome)
	}
}

// TestBuiltinMetricChecksJudgeValues: no built-in runbook judges a
// metric by its alert state: every metric check compares the value.
func TestBuiltinMetricChecksJudgeValues(t *testing.T) {
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rb := range cat.List() {
		for _, s := range rb.Steps {
			if s.Metric == nil {
				continue
			}
			n++
			if s.Metric.State != "" || s.Metric.StateNot != "" {
				t.Errorf("%s %q: judges the alert state (%+v); use within: alert", rb.ID, s.Name, *s.Metric)
			}
			if _, err := MetricRule(s.Metric.Name, s.Metric.Within, metrics.DefaultRules()); s.Metric.Within != "" && err != nil {
				t.Errorf("%s %q: %v", rb.ID, s.Name, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no metric checks in the catalogue")
	}
}

// TestWithinUsesTheRulesInForce: the thresholds are the snapshot's rules
// (the config's overrides), and a rule's target is judged on its target
// panel (negotiation duration: the average, in hours).
func TestWithinUsesTheRulesInForce(t *testing.T) {
	rules := metrics.DefaultRules()
	for i := range rules {
		if rules[i].Name == "appeal_error_rate" {
			rules[i].Alert = 40
		}
	}
	snap := metrics.Snapshot{
		Panels: []metrics.Panel{
			{Name: metrics.PanelAppealErrorRate, Unit: "%", Value: metrics.Known(32.5), State: metrics.StateWarning},
			{Name: metrics.PanelNegotiationAvg, Unit: "h", Value: metrics.Known(72), State: metrics.StateWarning},
			{Name: metrics.PanelNegotiationP95, Unit: "h", Value: metrics.Known(20), State: metrics.StateOK},
		},
	}
	for _, r := range rules {
		a := metrics.AlertStatus{Rule: r, State: metrics.StateOK}
		if p, ok := snap.Panel(r.Panel); ok {
			a.Value = p.Value
		}
		if p, ok := snap.Panel(r.TargetOn()); ok {
			a.TargetValue = p.Value
		}
		snap.Alerts = append(snap.Alerts, a)
	}
	rd := SnapshotReader(snap)
	if res := evalMetric(MetricCond{Name: "appeal_error_rate", Within: WithinAlert}, rd); res.Outcome != Passed {
		t.Errorf("under the overridden 40 %%: %s (%v)", res.Outcome, res.Err)
	}
	res := evalMetric(MetricCond{Name: "negotiation_duration", Within: WithinTarget}, rd)
	if res.Outcome != Failed || !strings.Contains(errText(res.Err), "72 h") || !strings.Contains(errText(res.Err), "< 72 h") {
		t.Errorf("the average at exactly the guide's < 72 h: %s %q %v", res.Outcome, res.Message, res.Err)
	}
	if res := evalMetric(MetricCond{Name: "negotiation_duration", Within: WithinAlert}, rd); res.Outcome != Passed {
		t.Errorf("p95 20 h under > 24 h: %s (%v)", res.Outcome, res.Err)
	}
}

// TestStateNotStillJudgesTheState: state_not keeps its meaning for custom
// runbooks (the alert state, pending is not critical), with the value
// formatted in its unit.
func TestStateNotStillJudgesTheState(t *testing.T) {
	res := evalMetric(MetricCond{Name: metrics.PanelAppealErrorRate, StateNot: "critical"},
		MetricMap{metrics.PanelAppealErrorRate: {Value: 32.49999999999999, State: "pending"}})
	if res.Outcome != Passed {
		t.Errorf("state_not critical at pending: %s, want passed (it judges the state)", res.Outcome)
	}
	if !strings.Contains(res.Message, "appeal_error_rate = 32.5 % (state pending)") {
		t.Errorf("message %q", res.Message)
	}
}

func TestParseWithin(t *testing.T) {
	for _, c := range []struct{ spec, err string }{
		{"metric: appeal_error_rate\nwithin: alert\n", ""},
		{"metric: db_connections_active\nwithin: target\n", ""},
		{"metric: appeal_error_rate\nwithin: below\n", `within "below" is not one of alert, target`},
		{"metric: ml_confidence_avg\nwithin: alert\n", "no rule judges metric ml_confidence_avg against an alert threshold"},
		{"metric: pending_appeals\nwithin: target\n", "no rule judges metric pending_appeals against a target"},
		{"query: SELECT 1\nwithin: alert\n", "within applies to a metric condition"},
	} {
		_, err := Parse("t.md", []byte(goodHeader+"## S\n```repops\n"+c.spec+"```\n"))
		if c.err == "" {
			if err != nil {
				t.Errorf("%q: %v", c.spec, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: error %v, want %q", c.spec, err, c.err)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
