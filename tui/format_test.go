package tui

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/metrics"
)

func TestFmtHours(t *testing.T) {
	for _, c := range []struct {
		name  string
		hours float64
		want  string
	}{
		{"seconds", 0.00745, "27 s"},
		{"minutes", 4.0 / 60, "4 min"},
		{"hours with a decimal", 2.13, "2.1 h"},
		{"whole hours", 24, "24 h"},
		{"the guide's 72 h", 72, "72 h"},
		{"days", 72.5 * 1.5, "4.5 d"},
		{"whole days", 7 * 24, "7 d"},
		{"never", math.Inf(1), "never"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fmtHours(c.hours); got != c.want {
				t.Errorf("fmtHours(%v) = %q, want %q", c.hours, got, c.want)
			}
		})
	}
}

// TestFmtTargetAndAlert: the displayed target is the guide's, strict
// where the guide says "<" ("<8", never "≤8"), inclusive only where the
// rule's target is; alerts are strictly beyond.
func TestFmtTargetAndAlert(t *testing.T) {
	rule := func(name string) metrics.Rule {
		for _, r := range metrics.DefaultRules() {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("no rule %s", name)
		return metrics.Rule{}
	}
	for _, c := range []struct {
		name        string
		t           float64
		unit        string
		rule        metrics.Rule
		target, alt string
	}{
		{"the guide's < 100/min and > 100/min", 100, "/min", rule("appeal_submission_rate"), "<100/min", ">100/min"},
		{"the guide's < 8 active", 8, "", rule("db_connections"), "<8", ""},
		{"the guide's < 1 %", 1, "%", rule("appeal_error_rate"), "<1 %", ">1 %"},
		{"bad below, inclusive target: up is 1", 1, "", rule("service_down"), "≥1", "<1"},
		{"an age in days", 7, "d", rule("integrity_check_age"), "<7 d", ">7 d"},
		{"nothing pending: inclusive", 0, "", rule("schema_behind"), "≤0", ">0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fmtTarget(c.t, c.unit, c.rule); got != c.target {
				t.Errorf("fmtTarget = %q, want %q", got, c.target)
			}
			if c.alt == "" {
				return
			}
			if got := fmtAlert(c.t, c.unit, c.rule); got != c.alt {
				t.Errorf("fmtAlert = %q, want %q", got, c.alt)
			}
		})
	}
}

func TestAlertFigure(t *testing.T) {
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	snap := metrics.Snapshot{Panels: []metrics.Panel{
		{Name: metrics.PanelDBConnectionsUsage, Unit: "%"},
		{Name: metrics.PanelDBConnections, Unit: ""},
		{Name: metrics.PanelBackupAge, Unit: "h"},
	}}
	rule := func(name string) metrics.Rule {
		for _, r := range metrics.DefaultRules() {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("no rule %s", name)
		return metrics.Rule{}
	}
	neg := rule("negotiation_duration")
	for _, c := range []struct {
		name string
		a    metrics.AlertStatus
		want string
	}{
		{"never backed up", metrics.AlertStatus{Rule: rule("backup_age"), State: metrics.StateCritical,
			Value: metrics.Known(math.Inf(1)), TargetValue: metrics.Known(math.Inf(1))}, "never backed up (max "},
		{"pending says when it turns critical", metrics.AlertStatus{Rule: neg, State: metrics.StatePending,
			Value: metrics.Known(45.7), ActiveSince: now.Add(-16 * time.Second)}, "45.7 h > 24 h, critical in "},
		{"pool usage in %", metrics.AlertStatus{Rule: rule("db_connections"), State: metrics.StateCritical,
			Value: metrics.Known(90), TargetValue: metrics.Known(12)}, "90 % > 80 %"},
		{"ok against the target", metrics.AlertStatus{Rule: rule("db_connections"), State: metrics.StateOK,
			Value: metrics.Known(40), TargetValue: metrics.Known(3)}, "3 < 8"},
		{"exactly at the strict target is outside it", metrics.AlertStatus{Rule: rule("db_connections"), State: metrics.StateWarning,
			Value: metrics.Known(40), TargetValue: metrics.Known(8)}, "8 ≥ 8"},
		{"exactly at the alert threshold does not alert", metrics.AlertStatus{Rule: rule("service_cpu"), State: metrics.StateWarning,
			Value: metrics.Known(90), TargetValue: metrics.Known(90)}, "90 % > 80 %"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := alertFigure(c.a, snap, now)
			if !strings.HasPrefix(got, c.want) || strings.Contains(got, "for:") {
				t.Errorf("alertFigure = %q, want it to start %q", got, c.want)
			}
		})
	}
}

// TestCarriedValueIsMarked: a value the console has from the last
// collector's state, not measured itself yet, reads with "~".
func TestCarriedValueIsMarked(t *testing.T) {
	p := metrics.Panel{Value: metrics.Known(7.5), Unit: "%"}
	if got := fmtPanel(p); strings.HasPrefix(got, "~") {
		t.Fatalf("measured: %q", got)
	}
	p.Carried = time.Now()
	if got := fmtPanel(p); got != "~"+fmtValue(p.Value, p.Unit) {
		t.Fatalf("carried: %q", got)
	}
}
