package runbooks

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/repops/repops/internal/humanize"
)

// PlanStep is one step of a dry run: what the step would do and what it
// would change. Nothing is run to build it.
type PlanStep struct {
	Index   int
	Name    string
	Kind    Kind
	Does    string // what it does, one line
	Changes string // what it changes; "nothing" for reads and manual steps
	// Confirm is the word a destructive step needs typed, "" otherwise.
	Confirm   string
	OnFailure string
	// Cost is the step's estimated cost on the database, filled by
	// PlanWithCosts for the actions that have one (the optimisations and
	// create_index); nil otherwise.
	Cost *StepCost
}

// StepCost is what an action would cost, estimated from the database as
// it is now (ops.EstimateCost) without running it: steps before it in the
// runbook may change what it finds.
type StepCost struct {
	// LockHold is the longest single hold of the write lock: how long the
	// service's writes would wait. Total is the time in all (an
	// incremental vacuum's steps, several indexes).
	LockHold time.Duration
	Total    time.Duration
	// Summary says in one line what it would change and hold.
	Summary string
	// Lines are the estimate in full: the write lock, the space needed
	// and free, the cheaper way, what the rates are based on.
	Lines []string
	// Refused is why the action would be refused (not enough free space).
	Refused string
	// Err is why no estimate could be made (the database cannot be read,
	// a target not in its schema); the step itself would fail the same.
	Err string
}

// Estimator estimates what an action would cost on the database Target
// without running it. OpsEnv is one; it only reads.
type Estimator interface {
	Target() string
	// Estimate returns nil and no error for an action without a cost to
	// estimate.
	Estimate(ctx context.Context, action string, params map[string]string) (*StepCost, error)
}

// PlanWithCosts is Plan for est's database with each step's estimated
// cost where its action has one: how long it would hold the write lock
// and what it would change, added to the step's Changes and kept in Cost.
// Nothing is written.
func PlanWithCosts(ctx context.Context, rb *Runbook, est Estimator) []PlanStep {
	plan := Plan(rb, est.Target())
	for i := range plan {
		s := rb.Steps[plan[i].Index]
		if s.Kind != Action {
			continue
		}
		c, err := est.Estimate(ctx, s.Action, s.Params)
		switch {
		case err != nil:
			c = &StepCost{Err: err.Error()}
			plan[i].Changes += "; cost not estimated: " + err.Error()
		case c == nil:
			continue
		default:
			plan[i].Changes += "; on this database now: " + c.Summary
		}
		plan[i].Cost = c
	}
	return plan
}

// Plan is the dry run of a runbook against a target database, from the
// runbook and the action catalogue alone: it reads nothing (PlanWithCosts
// adds what the database says the steps would cost).
func Plan(rb *Runbook, target string) []PlanStep {
	specs := Actions()
	var out []PlanStep
	for i, s := range rb.Steps {
		p := PlanStep{Index: i, Name: s.Name, Kind: s.Kind, Changes: "nothing", OnFailure: onFailureText(s.OnFailure)}
		switch s.Kind {
		case Manual:
			p.Does = "operator does it by hand and ticks it off (done, or skipped with a reason); the note is journalled"
			p.Changes = "nothing by repops; whatever the operator does by hand"
			p.OnFailure = ""
		case Check:
			if s.Metric != nil {
				p.Does = "metric check: " + metricText(*s.Metric)
			} else {
				p.Does = fmt.Sprintf("read-only query %s; expect %s", humanize.OneLine(s.Query), expectText(s.Expect))
			}
		case Action:
			spec := specs[s.Action]
			p.Does = fmt.Sprintf("action %s%s: %s", s.Action, paramsText(s.Params), spec.Summary)
			if spec.Changes != "" {
				p.Changes = spec.Changes + " (" + target + ")"
			}
			if s.Expect.Figure != "" {
				p.Does += "; expect " + expectText(s.Expect)
			}
		}
		if s.Destructive() {
			p.Confirm = ConfirmWord(target)
		}
		out = append(out, p)
	}
	return out
}

func onFailureText(f OnFailure) string {
	switch f.Mode {
	case Continue:
		return "on failure: continue"
	case Goto:
		return fmt.Sprintf("on failure: go to %q", f.Goto)
	}
	return "on failure: stop"
}

func metricText(m MetricCond) string {
	var parts []string
	if m.Below != nil {
		parts = append(parts, fmt.Sprintf("below %g", *m.Below))
	}
	if m.Above != nil {
		parts = append(parts, fmt.Sprintf("above %g", *m.Above))
	}
	if m.Within != "" {
		parts = append(parts, withinText(m.Within))
	}
	if m.State != "" {
		parts = append(parts, "state "+m.State)
	}
	if m.StateNot != "" {
		parts = append(parts, "state not "+m.StateNot)
	}
	return m.Name + " " + strings.Join(parts, ", ")
}

func expectText(e Expect) string {
	var parts []string
	if e.Rows != nil {
		parts = append(parts, fmt.Sprintf("%d row(s)", *e.Rows))
	}
	if e.MaxRows != nil {
		parts = append(parts, fmt.Sprintf("at most %d row(s)", *e.MaxRows))
	}
	if e.Value != nil {
		parts = append(parts, fmt.Sprintf("value %q", *e.Value))
	}
	subject := "value"
	if e.Figure != "" {
		subject = e.Figure
	}
	if e.Min != nil {
		parts = append(parts, fmt.Sprintf("%s >= %g", subject, *e.Min))
	}
	if e.Max != nil {
		parts = append(parts, fmt.Sprintf("%s <= %g", subject, *e.Max))
	}
	if len(parts) == 0 {
		return "it runs"
	}
	return strings.Join(parts, ", ")
}

func paramsText(p map[string]string) string {
	if len(p) == 0 {
		return ""
	}
	var keys []string
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+p[k])
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
