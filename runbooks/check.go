package runbooks

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
)

// ErrCheckTimeout is the error, wrapped, of a check step stopped at its
// deadline (EngineOptions.CheckTimeout): its query was interrupted, or the
// metrics did not answer in time. The step fails; its on_failure applies.
var ErrCheckTimeout = errors.New("check deadline exceeded")

// check runs a check step: its query through Env.Query or its metric
// condition through Env.Metrics, and evaluates what is expected. Either
// runs under the engine's check deadline: a context that go-sqlite3 turns
// into sqlite3_interrupt on the running statement when it is done, so a
// runaway query (a recursive CTE without an end) stops there.
func (r *Run) check(ctx context.Context, s Step) StepResult {
	limit := r.e.opts.CheckTimeout
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// timedOut: the deadline stopped it, not the caller (a caller's
	// cancellation is an interruption, which Do handles).
	timedOut := func() bool { return ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) }
	if s.Metric != nil {
		m, err := r.e.env.Metrics(cctx)
		if err != nil {
			if timedOut() {
				return StepResult{Outcome: Failed, Message: fmt.Sprintf("stopped after %s", limit),
					Err: fmt.Errorf("step %q: %w: reading the metrics was stopped after %s; check the metrics source ('repops status')", s.Name, ErrCheckTimeout, limit)}
			}
			return StepResult{Outcome: Failed, Message: "metrics unavailable", Err: fmt.Errorf("read metrics: %w", err)}
		}
		return evalMetric(*s.Metric, m)
	}
	// The parser already refused write SQL; check again so that a Runbook
	// built in code gets the same guard before the read-only connection.
	if err := CheckReadOnlySQL(s.Query); err != nil {
		return StepResult{Outcome: Failed, Message: "refused", Err: err}
	}
	qr, err := r.e.env.Query(cctx, s.Query)
	if err != nil {
		if timedOut() {
			return StepResult{Outcome: Failed, Message: fmt.Sprintf("stopped after %s", limit),
				Err: fmt.Errorf("step %q: %w: the query was stopped after %s; make it cheaper (an index, a LIMIT), or run it with a longer deadline ('repops runbook run --check-timeout')", s.Name, ErrCheckTimeout, limit)}
		}
		return StepResult{Outcome: Failed, Message: "query failed", Err: err}
	}
	res := evalQuery(s.Expect, qr)
	res.Data = &qr
	return res
}

func evalQuery(e Expect, qr QueryResult) StepResult {
	figures := map[string]float64{"rows": float64(qr.Count)}
	var first string
	haveFirst := len(qr.Rows) > 0 && len(qr.Rows[0]) > 0
	if haveFirst {
		first = qr.Rows[0][0]
		if f, err := strconv.ParseFloat(first, 64); err == nil {
			figures["value"] = f
		}
	}
	msg := fmt.Sprintf("%d row(s)", qr.Count)
	if haveFirst {
		msg += fmt.Sprintf(", first value %q", first)
	}
	var fails []string
	if e.Rows != nil && qr.Count != *e.Rows {
		fails = append(fails, fmt.Sprintf("expected %d row(s)", *e.Rows))
	}
	if e.MaxRows != nil && qr.Count > *e.MaxRows {
		fails = append(fails, fmt.Sprintf("expected at most %d row(s)", *e.MaxRows))
	}
	if e.Value != nil || e.Min != nil || e.Max != nil {
		switch {
		case !haveFirst:
			fails = append(fails, "expected a value, the query returned no rows")
		default:
			if e.Value != nil && first != *e.Value {
				fails = append(fails, fmt.Sprintf("expected %q", *e.Value))
			}
			fails = append(fails, bounds(e, figures["value"], figures["value"] == 0 && first != "0" && !isNumber(first))...)
		}
	}
	res := StepResult{Outcome: Passed, Message: msg, Figures: figures}
	if len(fails) > 0 {
		res.Outcome = Failed
		res.Err = errors.New(strings.Join(fails, "; "))
	}
	return res
}

func isNumber(s string) bool { _, err := strconv.ParseFloat(s, 64); return err == nil }

// bounds checks min and max; notNumber says the value is not a number.
func bounds(e Expect, v float64, notNumber bool) []string {
	var fails []string
	if (e.Min != nil || e.Max != nil) && notNumber {
		return []string{"expected a number"}
	}
	if e.Min != nil && v < *e.Min {
		fails = append(fails, fmt.Sprintf("expected at least %g", *e.Min))
	}
	if e.Max != nil && v > *e.Max {
		fails = append(fails, fmt.Sprintf("expected at most %g", *e.Max))
	}
	return fails
}

func evalMetric(c MetricCond, m MetricReader) StepResult {
	v, ok, state := m.Panel(c.Name)
	if state == "" {
		state = "unknown"
	}
	unit := metricUnit(c.Name)
	var rule metrics.Rule
	if c.Within != "" {
		r, err := MetricRule(c.Name, c.Within, readerRules(m))
		if err != nil {
			return StepResult{Outcome: Failed, Message: fmt.Sprintf("%s: %v", c.Name, err), Err: err}
		}
		rule = r
		// The value judged is the panel the threshold applies to: the
		// metric named (a panel, or a rule: the reader gives a rule's
		// alert panel), or the target's panel when a rule's target is
		// judged on another one (negotiation_duration: p95 and average).
		unit = r.Unit
		if c.Within == WithinTarget {
			unit = r.TargetUnit()
			if c.Name == r.Name && r.TargetOn() != r.Panel {
				v, ok, _ = m.Panel(r.TargetOn())
			}
		}
	}
	if !ok {
		return StepResult{Outcome: Failed, Message: fmt.Sprintf("%s: no data (state %s)", c.Name, state),
			Err: fmt.Errorf("metric %s has no data: the source is down or the series is missing (never read as zero)", c.Name)}
	}
	figures := map[string]float64{c.Name: v}
	val := metrics.FormatValue(metrics.Known(v), unit)
	th := func(t float64) string { return metrics.FormatValue(metrics.Known(t), unit) }
	var fails []string
	var judged string
	switch c.Within {
	case WithinAlert:
		judged = fmt.Sprintf("alert threshold %s %s", rule.AlertOp(), th(rule.Alert))
		if rule.BeyondAlert(v) {
			fails = append(fails, fmt.Sprintf("beyond the alert threshold: %s %s %s", val, rule.AlertOp(), th(rule.Alert)))
		}
	case WithinTarget:
		judged = fmt.Sprintf("target %s %s", rule.TargetOp(), th(rule.Target))
		if !rule.WithinTarget(v) {
			fails = append(fails, fmt.Sprintf("outside the target: %s, the target %s %s", val, rule.TargetOp(), th(rule.Target)))
		}
	}
	// The alert state is shown beside the value, for information: the
	// verdict of a within condition is the value's.
	msg := fmt.Sprintf("%s = %s (state %s)", c.Name, val, state)
	if judged != "" {
		msg = fmt.Sprintf("%s = %s, %s (state %s)", c.Name, val, judged, state)
	}
	if c.Below != nil && !(v < *c.Below) {
		fails = append(fails, fmt.Sprintf("expected below %s", th(*c.Below)))
	}
	if c.Above != nil && !(v > *c.Above) {
		fails = append(fails, fmt.Sprintf("expected above %s", th(*c.Above)))
	}
	if c.State != "" && state != c.State {
		fails = append(fails, fmt.Sprintf("expected state %s", c.State))
	}
	if c.StateNot != "" && state == c.StateNot {
		fails = append(fails, fmt.Sprintf("expected state other than %s", c.StateNot))
	}
	res := StepResult{Outcome: Passed, Message: msg, Figures: figures}
	if len(fails) > 0 {
		res.Outcome = Failed
		res.Err = errors.New(strings.Join(fails, "; "))
	}
	return res
}

// RuleReader is implemented by a MetricReader that knows the rules in
// force (the config's overrides applied): a within condition judges with
// their thresholds. A MetricReader without it is judged with
// metrics.DefaultRules.
type RuleReader interface {
	Rules() []metrics.Rule
}

func readerRules(m MetricReader) []metrics.Rule {
	if rr, ok := m.(RuleReader); ok {
		if rules := rr.Rules(); len(rules) > 0 {
			return rules
		}
	}
	return metrics.DefaultRules()
}

// MetricRule is the rule a within condition on metric name judges with:
// the rule of that name, or else the one rule whose alert threshold
// (within "alert") or target (within "target") applies to the panel of
// that name.
func MetricRule(name, within string, rules []metrics.Rule) (metrics.Rule, error) {
	for _, r := range rules {
		if r.Name == name {
			if within == WithinAlert && !r.HasAlert() || within == WithinTarget && !r.HasTarget() {
				return metrics.Rule{}, fmt.Errorf("rule %s has no %s threshold", name, within)
			}
			return r, nil
		}
	}
	var found []metrics.Rule
	for _, r := range rules {
		if within == WithinAlert && r.Panel == name && r.HasAlert() || within == WithinTarget && r.TargetOn() == name && r.HasTarget() {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		what := "an alert threshold"
		if within == WithinTarget {
			what = "a target"
		}
		return metrics.Rule{}, fmt.Errorf("no rule judges metric %s against %s (name a rule, or a panel a rule judges: 'repops rules list')", name, what)
	}
	names := make([]string, len(found))
	for i, r := range found {
		names[i] = r.Name
	}
	return metrics.Rule{}, fmt.Errorf("metric %s: several rules judge it (%s): name the rule", name, strings.Join(names, ", "))
}

// metricUnit is the unit of a panel or rule named name, for display; ""
// when unknown.
func metricUnit(name string) string {
	for _, p := range metrics.PanelDefs() {
		if p.Name == name {
			return p.Unit
		}
	}
	for _, r := range metrics.DefaultRules() {
		if r.Name == name {
			return r.Unit
		}
	}
	return ""
}

func withinText(within string) string {
	if within == WithinTarget {
		return "within its target"
	}
	return "not beyond its alert threshold"
}

// act runs an action step through Env.Act and checks its expected figure.
func (r *Run) act(ctx context.Context, s Step, progress ops.Progress) StepResult {
	ar, err := r.e.env.Act(ctx, s.Action, s.Params, progress)
	res := StepResult{Outcome: Done, Message: ar.Message, Figures: ar.Figures, Details: ar.Details}
	if res.Message == "" {
		res.Message = s.Action + " done"
	}
	if err != nil {
		res.Outcome, res.Err = Failed, err
		if ar.Message == "" {
			res.Message = s.Action + " failed"
		}
		return res
	}
	if e := s.Expect; e.Figure != "" {
		v, ok := ar.Figures[e.Figure]
		var fails []string
		if !ok {
			fails = []string{fmt.Sprintf("the action reported no figure %s (it reported: %s)", e.Figure, figureNames(ar.Figures))}
		} else {
			fails = bounds(e, v, false)
		}
		if len(fails) > 0 {
			res.Outcome = Failed
			res.Err = fmt.Errorf("%s = %g: %s", e.Figure, v, strings.Join(fails, "; "))
		}
	}
	return res
}

func figureNames(f map[string]float64) string {
	var names []string
	for k := range f {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
