package metrics

import "testing"

// TestRuleUnitsAreTheirPanels: a rule's unit is its alert panel's (the
// alert threshold is judged on that panel), and its target is given in
// the unit of the panel the target is judged on: db_connections alerts
// over 80 % of the pool and targets under 8 connections.
func TestRuleUnitsAreTheirPanels(t *testing.T) {
	unit := map[string]string{}
	for _, p := range PanelDefs() {
		unit[p.Name] = p.Unit
	}
	for _, r := range DefaultRules() {
		t.Run(r.Name, func(t *testing.T) {
			if u, ok := unit[r.Panel]; ok && r.Unit != u {
				t.Errorf("unit %q, its panel %s is in %q", r.Unit, r.Panel, u)
			}
			if u, ok := unit[r.TargetOn()]; ok && r.TargetUnit() != u {
				t.Errorf("target unit %q, its target panel %s is in %q", r.TargetUnit(), r.TargetOn(), u)
			}
		})
	}
}
