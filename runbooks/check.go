package runbooks

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

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
	if !ok {
		return StepResult{Outcome: Failed, Message: fmt.Sprintf("%s: no data (state %s)", c.Name, state),
			Err: fmt.Errorf("metric %s has no data: the source is down or the series is missing (never read as zero)", c.Name)}
	}
	figures := map[string]float64{c.Name: v}
	msg := fmt.Sprintf("%s = %g (state %s)", c.Name, v, state)
	var fails []string
	if c.Below != nil && !(v < *c.Below) {
		fails = append(fails, fmt.Sprintf("expected below %g", *c.Below))
	}
	if c.Above != nil && !(v > *c.Above) {
		fails = append(fails, fmt.Sprintf("expected above %g", *c.Above))
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
