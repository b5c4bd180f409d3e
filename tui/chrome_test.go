package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// TestTabBarKeepsTheOverallState: the overall state is the headline; the
// tabs give way to it at every width the console is used at.
func TestTabBarKeepsTheOverallState(t *testing.T) {
	st := tablesCtx(80, 24).Styles
	for _, w := range []int{40, 60, 80, 120} {
		for _, state := range []string{"ok", "warning", "pending", "critical", "unknown"} {
			for active := range tabCount {
				t.Run(fmt.Sprintf("%d_%s_tab%d", w, state, active+1), func(t *testing.T) {
					bar := tabBar(st, w, active, state)
					plain := ansi.Strip(bar)
					if bw := ansi.StringWidth(bar); bw > w {
						t.Errorf("%d cells wide, more than %d: %q", bw, w, plain)
					}
					if !strings.HasSuffix(plain, " "+strings.ToUpper(state)+" ") {
						t.Errorf("the state %s is not whole at the right: %q", strings.ToUpper(state), plain)
					}
					if w >= 60 && !strings.Contains(plain, "overall ") {
						t.Errorf("no \"overall\" at %d columns: %q", w, plain)
					}
					if !strings.Contains(plain, fmt.Sprintf("%d %s", active+1, tabTitles[active])) {
						t.Errorf("the active tab's name is not shown: %q", plain)
					}
					for i := range tabCount {
						if !strings.Contains(plain, fmt.Sprint(i+1)) {
							t.Errorf("tab %d is missing: %q", i+1, plain)
						}
					}
				})
			}
		}
	}
}

func TestTabBarShortensOnlyWhenItMust(t *testing.T) {
	st := tablesCtx(120, 40).Styles
	full := "1 Overview │ 2 Appeals │ 3 Negotiation │ 4 ML │ 5 Infrastructure"
	if got := ansi.Strip(tabBar(st, 120, 0, "critical")); !strings.HasPrefix(got, full) {
		t.Errorf("120 columns: %q, want the full tab names", got)
	}
	if got := ansi.Strip(tabBar(st, 80, 0, "ok")); !strings.HasPrefix(got, full) {
		t.Errorf("80 columns, OK: %q, want the full tab names", got)
	}
	if got := ansi.Strip(tabBar(st, 80, 2, "critical")); strings.HasPrefix(got, full) || !strings.Contains(got, "overall  CRITICAL ") {
		t.Errorf("80 columns, CRITICAL: %q, want shorter tabs and the whole state", got)
	}
	// Before the first refresh there is no state: the tabs alone.
	if got := ansi.Strip(tabBar(st, 80, 0, "")); got != full {
		t.Errorf("no state yet: %q, want %q", got, full)
	}
	if got := ansi.Strip(tabBar(st, 30, 4, "")); ansi.StringWidth(got) > 30 || !strings.Contains(got, "5 Infra") {
		t.Errorf("no state yet, 30 columns: %q", got)
	}
	// Narrower than the console is meant for, the state still wins.
	for _, w := range []int{12, 20, 30} {
		got := ansi.Strip(tabBar(st, w, 4, "critical"))
		if ansi.StringWidth(got) > w || !strings.Contains(got, "CRITICAL") {
			t.Errorf("%d columns: %q", w, got)
		}
	}
}
