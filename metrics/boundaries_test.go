package metrics

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"
)

// guideOps is each default rule's boundaries as the operations guide's
// key-metrics table states them ("< 8 active", "> 0.8 of max", "< 1%",
// "> 5%", "> 100/min") and, for the rules repops adds, as their
// descriptions do: the comparison a figure within target satisfies, and
// the one a figure beyond the alert threshold satisfies ("" for no alert).
// Every default rule must be listed: a new rule states its boundaries here.
var guideOps = map[string]struct{ target, alert string }{
	"appeal_submission_rate":    {"<", ">"}, // < 100/min, > 100/min
	"appeal_error_rate":         {"<", ">"}, // < 1%, > 5%
	"appeal_processing_latency": {"<", ">"}, // < 500ms p95, > 1000ms p95
	"negotiation_duration":      {"<", ">"}, // < 72 hours avg, > 24 hours p95
	"ml_prediction_latency":     {"<", ">"}, // < 100ms p99, > 500ms p99
	"db_connections":            {"<", ">"}, // < 8 active, > 0.8 of max
	"api_error_rate":            {"<", ">"}, // < 0.1%, > 1%
	"service_cpu":               {"<", ">"},
	"service_down":              {">=", "<"}, // up is 1
	"backup_age":                {"<", ">"},  // older than the RPO
	"disk_free":                 {">=", "<"},
	"integrity_check_failed":    {">=", "<"},
	"integrity_check_age":       {"<", ">"},
	"schema_behind":             {"<=", ">"}, // 0 pending is within target
	"schema_problems":           {"<=", ">"},
	"wal_size":                  {"<", ">"},
	"db_growth":                 {"<", ">"},
	"ml_confidence":             {">=", ""}, // below the threshold warns
	"dr_drill_age":              {"<", ""},
	"replication_lag":           {"<", ">"},  // < 5 s, > 60 s
	"replica_errors":            {"<=", ">"}, // no error is within target
	"replica_verify_age":        {"<", ">"},
	"replica_verify_failed":     {">=", "<"},
}

func holds(op string, v, t float64) bool {
	switch op {
	case "<":
		return v < t
	case "<=":
		return v <= t
	case ">":
		return v > t
	case ">=":
		return v >= t
	}
	panic("op " + op)
}

// judge is the rule's state for a figure held long enough (for elapsed):
// critical beyond the alert threshold, warning outside the target.
func judge(r Rule, v, tv float64) State {
	switch {
	case r.BeyondAlert(v):
		return StateCritical
	case r.OutsideTarget(tv):
		return StateWarning
	}
	return StateOK
}

// boundaryValues are the figures at and just either side of t.
func boundaryValues(t float64) []float64 {
	eps := math.Max(math.Abs(t)*1e-6, 1e-9)
	return []float64{t - eps, t, t + eps}
}

// TestRuleBoundariesAreTheGuides judges every default rule exactly at its
// target and at its alert threshold, and just either side: the guide's
// "< 8" is missed at 8, its "> 100/min" does not fire at 100.
func TestRuleBoundariesAreTheGuides(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range DefaultRules() {
		seen[r.Name] = true
		ops, ok := guideOps[r.Name]
		if !ok {
			t.Errorf("rule %s: state its boundaries in guideOps", r.Name)
			continue
		}
		t.Run(r.Name, func(t *testing.T) {
			if r.HasTarget() {
				if got := r.TargetOp(); got != ops.target {
					t.Errorf("TargetOp %q, the guide's %q", got, ops.target)
				}
				for _, v := range boundaryValues(r.Target) {
					want := holds(ops.target, v, r.Target)
					if got := r.WithinTarget(v); got != want {
						t.Errorf("WithinTarget(%v) = %v, want %v (target %s %v)", v, got, want, ops.target, r.Target)
					}
					if got := r.OutsideTarget(v); got == want {
						t.Errorf("OutsideTarget(%v) = %v, want %v", v, got, !want)
					}
				}
			}
			if ops.alert == "" {
				if r.HasAlert() {
					t.Errorf("an alert threshold %v, the guide has none", r.Alert)
				}
				return
			}
			if got := r.AlertOp(); got != ops.alert {
				t.Errorf("AlertOp %q, the guide's %q", got, ops.alert)
			}
			for _, v := range boundaryValues(r.Alert) {
				if got, want := r.BeyondAlert(v), holds(ops.alert, v, r.Alert); got != want {
					t.Errorf("BeyondAlert(%v) = %v, want %v (alert %s %v)", v, got, want, ops.alert, r.Alert)
				}
			}
		})
	}
	for name := range guideOps {
		if !seen[name] {
			t.Errorf("guideOps lists %s, no default rule of that name", name)
		}
	}
}

// TestGuideBoundaryStates: the guide's table, row by row, at its
// boundary values.
func TestGuideBoundaryStates(t *testing.T) {
	for _, c := range []struct {
		rule  string
		v, tv float64 // alert panel's and target panel's figures
		want  State
	}{
		{"appeal_submission_rate", 99.99, 99.99, StateOK},
		{"appeal_submission_rate", 100, 100, StateWarning}, // not < 100, not > 100
		{"appeal_submission_rate", 100.01, 100.01, StateCritical},
		{"appeal_error_rate", 0.999, 0.999, StateOK},
		{"appeal_error_rate", 1, 1, StateWarning},
		{"appeal_error_rate", 5, 5, StateWarning},
		{"appeal_error_rate", 5.001, 5.001, StateCritical},
		{"appeal_processing_latency", 500, 500, StateWarning},
		{"appeal_processing_latency", 1000, 1000, StateWarning},
		{"appeal_processing_latency", 1000.1, 1000.1, StateCritical},
		{"negotiation_duration", 24, 71.9, StateOK},
		{"negotiation_duration", 24, 72, StateWarning},
		{"negotiation_duration", 24.01, 10, StateCritical},
		{"ml_prediction_latency", 99.9, 99.9, StateOK},
		{"ml_prediction_latency", 100, 100, StateWarning},
		{"ml_prediction_latency", 500, 500, StateWarning},
		{"ml_prediction_latency", 500.1, 500.1, StateCritical},
		{"db_connections", 50, 7, StateOK},
		{"db_connections", 50, 8, StateWarning}, // the guide: < 8 active
		{"db_connections", 80, 7, StateOK},      // > 0.8 of max: 80 % does not alert
		{"db_connections", 80.01, 7, StateCritical},
		{"api_error_rate", 0.0999, 0.0999, StateOK},
		{"api_error_rate", 0.1, 0.1, StateWarning},
		{"api_error_rate", 1, 1, StateWarning},
		{"api_error_rate", 1.001, 1.001, StateCritical},
		{"service_down", 1, 1, StateOK},
		{"service_down", 0, 0, StateCritical},
		{"disk_free", 20, 20, StateOK},
		{"disk_free", 19.9, 19.9, StateWarning},
		{"disk_free", 10, 10, StateWarning},
		{"disk_free", 9.9, 9.9, StateCritical},
		{"schema_behind", 0, 0, StateOK},
		{"schema_behind", 1, 1, StateCritical},
		{"backup_age", 0.99, 0.99, StateOK},
		{"backup_age", 1, 1, StateWarning},
		{"backup_age", math.Inf(1), math.Inf(1), StateCritical},
		{"ml_confidence", math.NaN(), 0.60, StateOK},
		{"ml_confidence", math.NaN(), 0.59, StateWarning},
		{"dr_drill_age", math.NaN(), 92, StateWarning},
		{"dr_drill_age", math.NaN(), 91.9, StateOK},
		{"replication_lag", 4.9, 4.9, StateOK},
		{"replication_lag", 5, 5, StateWarning},   // < 5 s: 5 s is outside
		{"replication_lag", 60, 60, StateWarning}, // > 60 s: 60 s does not alert
		{"replication_lag", 60.5, 60.5, StateCritical},
		{"replica_errors", 0, 0, StateOK},
		{"replica_errors", 0.5, 0.5, StateCritical}, // any error, held for 5 m
	} {
		r := ruleByName(t, c.rule)
		if got := judge(r, c.v, c.tv); got != c.want {
			t.Errorf("%s at %v (target figure %v): %s, want %s", c.rule, c.v, c.tv, got, c.want)
		}
	}
}

// TestEngineJudgesGuideBoundaries: the engine's states at the boundary
// values are the rules' (Rule.WithinTarget, Rule.BeyondAlert).
func TestEngineJudgesGuideBoundaries(t *testing.T) {
	for _, r := range DefaultRules() {
		var cases [][2]float64 // alert panel's, target panel's figures
		if r.HasTarget() {
			for _, v := range boundaryValues(r.Target) {
				av := v
				if r.HasAlert() && r.TargetOn() != r.Panel {
					av = r.Alert // held at the threshold: never beyond it
				}
				cases = append(cases, [2]float64{av, v})
			}
		}
		if r.HasAlert() {
			for _, v := range boundaryValues(r.Alert) {
				tv := v
				if r.TargetOn() != r.Panel {
					tv = r.Target
				}
				cases = append(cases, [2]float64{v, tv})
			}
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%v/%v", r.Name, c[0], c[1]), func(t *testing.T) {
				vs := &valueSource{vals: map[string]Value{r.Panel: Known(c[0]), r.TargetOn(): Known(c[1])}}
				clock := newFakeClock()
				e, err := NewEngine(EngineOptions{Sources: []Source{vs.source(KindScrape), vs.source(KindDatabase), vs.source(KindLitestream)}, Now: clock.now, Rules: []Rule{r}})
				if err != nil {
					t.Fatal(err)
				}
				var snap Snapshot
				for i := 0; i < 2; i++ { // the second cycle after the rule's for
					snap = e.Cycle(context.Background())
					clock.add(r.For + time.Second)
				}
				want := judge(r, c[0], c[1])
				for _, a := range snap.Alerts {
					if a.Rule.Name == r.Name && a.State != want {
						t.Errorf("engine: %s (%s), the rule: %s", a.State, a.Reason, want)
					}
				}
			})
		}
	}
}
