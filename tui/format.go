package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/metrics"
)

// fmtNum formats v with a precision that suits its size.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "—"
	case math.IsInf(v, 0):
		return "∞"
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// fmtValue is a panel's value with its unit, "—" when unknown. Ages and
// durations (units h and d) read in the unit that suits them ("27 s",
// "4 min", "2.1 h", "3 d"), sizes in MiB in binary units.
func fmtValue(v metrics.Value, unit string) string {
	if !v.OK {
		return "—"
	}
	return fmtFigure(v.V, unit)
}

// fmtPanel is a panel's value as fmtValue writes it, with "~" in front
// while it is the last collector's (the console has not measured it
// itself yet since it started: a rate needs two scrapes).
// An age under a minute reads "<1 min" (humanize.GlanceAge: a live
// screen's ages move once a minute, not at every refresh).
//
// A figure within its target is drawn at glance precision (glanceRound):
// whole numbers from 10 up, two significant digits below.
//
// Decision: the dashboard's idle cost over SSH is mostly figures that
// move in their last digit at every refresh (a rate over the last
// minute, a gauge's noise); at glance precision they are rewritten when
// they move by a unit a reader would act on. Measured on the 1M-appeal
// demo database at 120x40 and a 1 s refresh, before this: 351 bytes a
// second. A figure beyond its target keeps its full precision (a rate
// just over 100/min never reads "100/min" beside CRITICAL), and the
// detail views (enter, the alerts view) always give it.
func fmtPanel(p metrics.Panel) string {
	v := p.Value
	if v.OK && p.State == metrics.StateOK && p.Unit != "h" && p.Unit != "d" {
		v.V = glanceRound(v.V)
	}
	s := fmtValue(v, p.Unit)
	if p.Value.OK && p.Unit == "h" && p.Value.V >= 0 && p.Value.V*3600 < 59.5 {
		s = humanize.GlanceAge(time.Duration(p.Value.V * float64(time.Hour)))
	}
	if p.Value.OK && !p.Carried.IsZero() {
		return "~" + s
	}
	return s
}

// fmtFigure is a known figure with its unit, as fmtValue writes it.
func fmtFigure(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case unit == "h":
		return fmtHours(v)
	case unit == "d":
		return fmtHours(v * 24)
	case unit == "MiB" && v >= 0 && !math.IsInf(v, 0):
		return humanize.Bytes(int64(math.Round(v * 1024 * 1024)))
	}
	return metrics.FormatValue(metrics.Known(v), unit)
}

// fmtHours is a duration given in hours, in the unit that suits it, as
// humanize.Hours writes every age-like figure: "27 s", "4 min", "2.1 h",
// "45.7 h", "3 d"; "never" for +Inf (an age of something that never
// happened).
func fmtHours(h float64) string { return humanize.Hours(h) }

// fmtThreshold is a rule's threshold with its unit: ages as fmtHours
// writes them, the rest with the precision of the guide's tables.
func fmtThreshold(t float64, unit string) string {
	switch unit {
	case "h":
		return fmtHours(t)
	case "d":
		return fmtHours(t * 24)
	}
	return strings.TrimSpace(fmtWithUnit(t, unit))
}

func fmtWithUnit(v float64, unit string) string {
	switch unit {
	case "":
		return fmtNum(v)
	case "/min":
		return fmtNum(v) + "/min"
	case "MiB":
		return humanize.Bytes(int64(v * 1024 * 1024))
	default:
		return fmtNum(v) + " " + unit
	}
}

// fmtCount is a row count, 1.2M style.
func fmtCount(n int64) string {
	switch {
	case n < 0:
		return "—"
	case n >= 10_000_000:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	case n >= 1_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	default:
		return fmt.Sprintf("%d", n)
	}
}

// fmtClock is a duration as h:mm:ss or m:ss, for the RTO timer.
func fmtClock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// fmtTarget is where a figure is fine, as the engine judges it, with the
// rule's own comparison (metrics.Rule.TargetOp): the guide's targets are
// strict, so "<100/min" and "<8"; an inclusive target reads "≥20 %".
func fmtTarget(t float64, unit string, r metrics.Rule) string {
	if math.IsNaN(t) {
		return ""
	}
	return opSign(r.TargetOp()) + fmtThreshold(t, unit)
}

// fmtAlert is where a figure alerts, as the engine judges it (strictly
// beyond): ">100/min" for a rule whose figure is bad above 100.
func fmtAlert(t float64, unit string, r metrics.Rule) string {
	if math.IsNaN(t) {
		return ""
	}
	return opSign(r.AlertOp()) + fmtThreshold(t, unit)
}

// opSign is a comparison as the console prints it: "<=" as "≤", ">=" as
// "≥", "<" and ">" as they are.
func opSign(op string) string {
	switch op {
	case "<=":
		return "≤"
	case ">=":
		return "≥"
	}
	return op
}

// fmtCountdown is a short remaining time with seconds: 14m44s, 40s, 1h05m.
func fmtCountdown(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d <= 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// neverWhat says what never happened for an age panel ("backed up").
func neverWhat(panel string) string {
	switch panel {
	case metrics.PanelBackupAge:
		return "never backed up"
	case metrics.PanelIntegrityAge:
		return "never checked"
	case metrics.PanelDrillAge:
		return "never drilled"
	}
	return "never"
}

// unitOf is the unit of panel name in snap, or fallback when the snapshot
// has no such panel: a rule's target and alert may judge panels with
// different units (connections and % of the pool).
func unitOf(snap metrics.Snapshot, name, fallback string) string {
	if p, ok := snap.Panel(name); ok {
		return p.Unit
	}
	return fallback
}

// alertFigure says in words an operator reads in one go where a rule's
// figure stands against its thresholds: "0.31 % > 0.10 %", "never backed
// up (max 1 h)", "45.7 h > 24 h, critical in 14m44s", "3 < 8", "8 ≥ 8".
func alertFigure(a metrics.AlertStatus, snap metrics.Snapshot, now time.Time) string {
	r := a.Rule
	alertUnit := unitOf(snap, r.Panel, r.Unit)
	targetUnit := unitOf(snap, r.TargetOn(), r.Unit)
	compare := func(v metrics.Value, t float64, unit, op, limit string) string {
		if !v.OK {
			if a.State != metrics.StateUnknown && a.Reason != "" {
				return a.Reason
			}
			reason := v.Reason
			if reason == "" {
				reason = a.Reason
			}
			return strings.TrimSuffix("no data: "+reason, ": ")
		}
		if math.IsInf(v.V, 1) && (unit == "h" || unit == "d") {
			return neverWhat(r.Panel) + " (" + limit + " " + fmtThreshold(t, unit) + ")"
		}
		return fmtFigure(v.V, unit) + " " + op + " " + fmtThreshold(t, unit)
	}
	limitWord := "max"
	if r.Compare == metrics.Below {
		limitWord = "min"
	}
	tv := a.TargetValue
	if !tv.OK && r.TargetOn() == r.Panel {
		tv = a.Value
	}
	switch a.State {
	case metrics.StateCritical, metrics.StatePending:
		if !r.HasAlert() {
			break
		}
		s := compare(a.Value, r.Alert, alertUnit, opSign(r.AlertOp()), limitWord)
		if a.State == metrics.StatePending && !a.ActiveSince.IsZero() {
			s += ", critical in " + fmtCountdown(a.ActiveSince.Add(r.For).Sub(now))
		}
		return s
	case metrics.StateWarning:
		if r.HasTarget() {
			// Outside a strict target: "80 h > 72 h", and "8 ≥ 8" exactly
			// at it (the guide's "< 8": 8 is outside).
			op := r.AlertOp()
			if tv.OK && tv.V == r.Target {
				op = r.OutsideTargetOp()
			}
			return compare(tv, r.Target, targetUnit, opSign(op), "target")
		}
	case metrics.StateOK:
		if r.HasTarget() {
			return compare(tv, r.Target, targetUnit, opSign(r.TargetOp()), "target")
		}
		if r.HasAlert() {
			return compare(a.Value, r.Alert, alertUnit, opSign(r.WithinAlertOp()), limitWord)
		}
	}
	if !a.Value.OK {
		return compare(a.Value, 0, alertUnit, "", "")
	}
	return fmtFigure(a.Value.V, alertUnit)
}

// glanceRound is v at glance precision: whole from 10 up, two
// significant digits below (0.787 -> 0.79, 4.83 -> 4.8).
func glanceRound(v float64) float64 {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0) || a == 0:
		return v
	case a >= 10:
		return math.Round(v)
	}
	p := math.Pow(10, 1-math.Floor(math.Log10(a)))
	return math.Round(v*p) / p
}
