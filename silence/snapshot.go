package silence

import (
	"github.com/repops/repops/metrics"
)

// Firing reports whether a rule in state st has an alert that fires (or
// is about to): warning, pending or critical. An unknown rule has no
// data, and Prometheus fires nothing on no data.
func Firing(st metrics.State) bool {
	return st == metrics.StateWarning || st == metrics.StatePending || st == metrics.StateCritical
}

// FiringLabels are the labels of snap's firing alerts (metrics.AlertLabels).
func FiringLabels(snap metrics.Snapshot) []map[string]string {
	var out []map[string]string
	for _, al := range snap.Alerts {
		if al.Configured && Firing(al.State) {
			out = append(out, metrics.AlertLabels(al.Rule, al.State))
		}
	}
	return out
}

// Apply sets Silenced on snap's non-OK alerts from m at snap's time, as
// the engine does in a cycle: for a snapshot that did not come from an
// engine holding the set (a collector's persisted state).
func Apply(snap *metrics.Snapshot, m metrics.SilenceMatcher) {
	for i := range snap.Alerts {
		al := &snap.Alerts[i]
		if al.State == metrics.StateOK {
			al.Silenced = nil
			continue
		}
		if ref, ok := m.Match(metrics.AlertLabels(al.Rule, al.State), snap.Time); ok {
			al.Silenced = &ref
		} else {
			al.Silenced = nil
		}
	}
}
