package tui

import (
	"testing"
	"time"

	"github.com/repops/repops/metrics"
)

// TestHoldOthers: the other figures keep the values of up to 5 s ago
// while no figure changes state; a change of state, a figure appearing or
// going, or 5 s passing, gives the new values at once.
func TestHoldOthers(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	snap := func(at time.Time, v float64, st metrics.State) metrics.Snapshot {
		return metrics.Snapshot{Time: at, Panels: []metrics.Panel{{Name: "ml_latency_avg", Value: metrics.Known(v), State: st}}}
	}
	held := holdOthers(metrics.Snapshot{}, snap(t0, 18, metrics.StateOK))
	for _, tc := range []struct {
		name string
		next metrics.Snapshot
		want float64
	}{
		{"1 s later, same state: held", snap(t0.Add(time.Second), 19, metrics.StateOK), 18},
		{"4 s later, same state: held", snap(t0.Add(4*time.Second), 21, metrics.StateOK), 18},
		{"a change of state: at once", snap(t0.Add(2*time.Second), 600, metrics.StateWarning), 600},
		{"5 s later: the new values", snap(t0.Add(5*time.Second), 22, metrics.StateOK), 22},
		{"a clock gone back: the new values", snap(t0.Add(-time.Second), 17, metrics.StateOK), 17},
	} {
		if got := holdOthers(held, tc.next).Panels[0].Value.V; got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	grown := snap(t0.Add(time.Second), 19, metrics.StateOK)
	grown.Panels = append(grown.Panels, metrics.Panel{Name: "wal_size", Value: metrics.Known(4), State: metrics.StateOK})
	if got := holdOthers(held, grown); len(got.Panels) != 2 {
		t.Errorf("a figure appearing: %d panels drawn, want 2", len(got.Panels))
	}
}
