package metrics

// Prometheus' own verdicts. When the Prometheus source is configured and
// Prometheus evaluates the rules 'repops rules export' wrote (the same
// thresholds and for as repops' config), repops takes each such rule's
// state from Prometheus (its rules API: the data behind ALERTS and
// ALERTS_FOR_STATE, with which rules are loaded) instead of timing the
// rule's for itself. One verdict, whoever asks: the console, the
// exporter, 'repops status' and Alertmanager agree, and a one-shot
// 'repops status' says CRITICAL for an alert that has been firing for
// an hour.
//
// Decisions:
//   - A rule is adopted only when Prometheus has its alert loaded with the
//     config's threshold and for, and Prometheus computes its panel (the
//     recording rule has data): an alert that is "inactive" because its
//     expression has no data is not OK, it is unknown to Prometheus, and
//     repops judges the rule itself as before.
//   - A loaded rule that differs from the config (another threshold or
//     for) is not adopted; the reason says to re-export the rules.

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// PromRuleState is what Prometheus says of one of repops' rules.
type PromRuleState struct {
	// Loaded: Prometheus evaluates the rule's alert (labels rule=<name>,
	// state="critical") with the config's threshold and for.
	Loaded bool
	// Mismatch says how the loaded alert differs from the config ("" when
	// it does not, or when it is not loaded).
	Mismatch string
	// Alert is the alert's state: inactive, pending or firing; ActiveAt
	// when it became active (pending).
	Alert    string
	ActiveAt time.Time
	// TargetLoaded and TargetFiring are the target's alert (state=
	// "warning"), when the rule has a target.
	TargetLoaded bool
	TargetFiring bool
	// Evaluated is the group's last evaluation.
	Evaluated time.Time
	// adopted is set by the engine when the rule's verdict is this one;
	// noData when Prometheus evaluates the rule without data and repops
	// has none either (the verdict is then unknown, Prometheus').
	adopted      bool
	noData       bool
	noDataReason string
}

// JudgePrometheus is AlertStatus.Judge for a state taken from Prometheus.
const JudgePrometheus = "prometheus"

// promRuleStates asks Prometheus' rules API for the alerts of rules.
func promRuleStates(ctx context.Context, api v1.API, rules []Rule) (map[string]PromRuleState, error) {
	res, err := api.Rules(ctx, nil)
	if err != nil {
		return nil, err
	}
	byName := map[string]Rule{}
	for _, r := range rules {
		byName[r.Name] = r
	}
	out := map[string]PromRuleState{}
	for _, g := range res.Groups {
		for _, raw := range g.Rules {
			ar, ok := raw.(v1.AlertingRule)
			if !ok {
				continue
			}
			name := string(ar.Labels["rule"])
			r, ok := byName[name]
			if !ok {
				continue
			}
			ps := out[name]
			if ar.LastEvaluation.After(ps.Evaluated) {
				ps.Evaluated = ar.LastEvaluation
			}
			switch string(ar.Labels["state"]) {
			case "critical":
				if ar.Name != AlertName(r.Name, false) || !r.HasAlert() {
					continue
				}
				if m := alertMismatch(ar, r.Alert, r.For); m != "" {
					ps.Mismatch = m
					break
				}
				ps.Loaded, ps.Alert = true, "inactive"
				for _, a := range ar.Alerts {
					st := string(a.State)
					if st == "firing" || (st == "pending" && ps.Alert != "firing") {
						ps.Alert, ps.ActiveAt = st, a.ActiveAt
					}
				}
			case "warning":
				if ar.Name != AlertName(r.Name, true) || !r.HasTarget() {
					continue
				}
				if m := alertMismatch(ar, r.Target, 0); m != "" {
					ps.Mismatch = m
					break
				}
				ps.TargetLoaded = true
				for _, a := range ar.Alerts {
					if string(a.State) == "firing" {
						ps.TargetFiring = true
					}
				}
			}
			out[name] = ps
		}
	}
	return out, nil
}

// alertMismatch says how Prometheus' alert ar differs from a threshold and
// a for ("" when it does not): the threshold is the number at the end of
// its expression (repops:<panel> <op> <number>, as the export writes it).
func alertMismatch(ar v1.AlertingRule, threshold float64, forDur time.Duration) string {
	q := strings.TrimSpace(ar.Query)
	i := strings.LastIndexAny(q, "<>= ")
	got, err := strconv.ParseFloat(strings.TrimSpace(q[i+1:]), 64)
	switch {
	case err != nil:
		return fmt.Sprintf("Prometheus' %s is %q, not an export of this repops", ar.Name, q)
	case math.Abs(got-threshold) > 1e-9*math.Max(1, math.Abs(threshold)):
		return fmt.Sprintf("Prometheus' %s has threshold %s, the config %s: re-export with 'repops rules export'",
			ar.Name, strconv.FormatFloat(got, 'g', -1, 64), strconv.FormatFloat(threshold, 'g', -1, 64))
	}
	if d := time.Duration(ar.Duration * float64(time.Second)); d.Round(time.Millisecond) != forDur.Round(time.Millisecond) {
		return fmt.Sprintf("Prometheus' %s has for %s, the config %s: re-export with 'repops rules export'", ar.Name, fmtDur(d), fmtDur(forDur))
	}
	return ""
}

// adopt reports whether the rule's verdict is Prometheus', and if so the
// state, since when it is active and the reason; promValue is the
// Prometheus source's value of the rule's panel.
func (ps PromRuleState) adopt(r Rule, v, tv Value, now time.Time) (State, time.Time, string, bool) {
	if !ps.Loaded || !v.OK || (r.HasTarget() && !ps.TargetLoaded) {
		return StateUnknown, time.Time{}, "", false
	}
	age := ""
	if !ps.Evaluated.IsZero() {
		age = fmt.Sprintf(", evaluated %s ago", fmtDur(max(0, now.Sub(ps.Evaluated))))
	}
	switch ps.Alert {
	case "pending":
		return StatePending, ps.ActiveAt, fmt.Sprintf("Prometheus: %s %s %s for %s (for: %s)%s", fmtValue(v.V, r.Unit), cmpSign(r.Compare),
			fmtValue(r.Alert, r.Unit), fmtDur(max(0, now.Sub(ps.ActiveAt))), fmtDur(r.For), age), true
	case "firing":
		return StateCritical, ps.ActiveAt, fmt.Sprintf("Prometheus: firing, %s %s %s since %s%s", fmtValue(v.V, r.Unit), cmpSign(r.Compare),
			fmtValue(r.Alert, r.Unit), ps.ActiveAt.UTC().Format("15:04:05Z"), age), true
	}
	if ps.TargetFiring {
		tvs := "?"
		if tv.OK {
			tvs = fmtValue(tv.V, r.TargetUnit())
		}
		return StateWarning, time.Time{}, fmt.Sprintf("Prometheus: %s outside target %s %s%s", tvs, r.TargetOp(), fmtValue(r.Target, r.TargetUnit()), age), true
	}
	return StateOK, time.Time{}, "Prometheus: within " + map[bool]string{true: "target", false: "the alert threshold"}[r.HasTarget()] + age, true
}
