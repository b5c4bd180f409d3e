package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/repops/repops/metrics"
)

func TestAlertWords(t *testing.T) {
	t.Run("the count agrees with the rows listed", func(t *testing.T) {
		warn := func(s metrics.State) metrics.AlertStatus { return metrics.AlertStatus{State: s} }
		cases := []struct {
			name   string
			listed []metrics.AlertStatus
			total  int
			width  int
			want   string
		}{
			{"two warnings", []metrics.AlertStatus{warn(metrics.StateWarning), warn(metrics.StateWarning)}, 18, 80,
				"2 not OK (0 critical, 2 warning) of 18 rules"},
			{"every state", []metrics.AlertStatus{warn(metrics.StateCritical), warn(metrics.StatePending), warn(metrics.StateWarning),
				warn(metrics.StateUnknown), warn(metrics.StateOK)}, 19, 80,
				"4 not OK (1 critical, 1 pending, 1 warning, 1 unknown) of 19 rules"},
			{"all clear", nil, 18, 80, "all 18 rules OK"},
			{"narrow", []metrics.AlertStatus{warn(metrics.StateCritical), warn(metrics.StateWarning)}, 19, 34,
				"2 not OK (1 critical) of 19 rules"},
			{"narrowest", []metrics.AlertStatus{warn(metrics.StateCritical), warn(metrics.StateWarning)}, 19, 20,
				"2 not OK of 19"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got := alertCountWords(c.listed, c.total, c.width); got != c.want {
					t.Errorf("got %q, want %q", got, c.want)
				}
			})
		}
	})

	t.Run("the dashboard counts the warning rows it lists", func(t *testing.T) {
		for _, size := range [][2]int{{80, 24}, {60, 20}, {120, 40}} {
			m := fitModel(t, size[0], size[1], testSnapshot())
			alerts := dashSections(plain(m))["Alerts"]
			if len(alerts) == 0 {
				t.Fatalf("no alerts section at %dx%d:\n%s", size[0], size[1], plain(m))
			}
			hdr := alerts[0]
			if strings.Contains(hdr, "active") || !strings.Contains(hdr, "3 not OK") {
				t.Errorf("at %dx%d the header says %q: want 3 not OK (critical, warning, unknown listed)", size[0], size[1], hdr)
			}
			if size[0] >= 80 && !strings.Contains(hdr, fmt.Sprintf("3 not OK (1 critical, 1 warning, 1 unknown) of %d rules", len(metrics.DefaultRules()))) {
				t.Errorf("at %dx%d the header says %q", size[0], size[1], hdr)
			}
		}
	})

	t.Run("the alerts view counts its rows too", func(t *testing.T) {
		m := fitModel(t, 80, 24, testSnapshot())
		m, _ = step(t, m, press("a"))
		if s := plain(m); !strings.Contains(s, fmt.Sprintf("3 not OK (1 critical, 1 warning, 1 unknown) of %d rules", len(metrics.DefaultRules()))) {
			t.Errorf("no honest count in the alerts view:\n%s", s)
		}
	})

	t.Run("a rule's state and severity do not read as contradicting", func(t *testing.T) {
		snap := testSnapshot()
		for _, a := range snap.Alerts {
			s := alertThresholds(snap, a)
			if strings.Contains(s, "critical when") {
				t.Errorf("%s: %q says \"critical when\"", a.Rule.Name, s)
			}
			if a.Rule.HasAlert() && !strings.Contains(s, "fires when") {
				t.Errorf("%s: %q does not say when it fires", a.Rule.Name, s)
			}
			if a.Rule.HasAlert() && !strings.Contains(s, "as a severity "+a.Rule.Severity+" alert") {
				t.Errorf("%s: %q does not name the severity as the alert's", a.Rule.Name, s)
			}
		}
		for _, a := range snap.Alerts {
			if a.Rule.Name == "appeal_submission_rate" {
				want := "fires when >100/min for 5 min, as a severity warning alert (respond within 30 minutes)"
				if s := alertThresholds(snap, a); !strings.Contains(s, want) {
					t.Errorf("got %q, want it to contain %q", s, want)
				}
			}
		}
	})
}
