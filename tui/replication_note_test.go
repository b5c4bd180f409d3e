package tui

import (
	"context"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/metrics"
)

// TestReplicationNoteOnInfra: while replication is off (no Litestream
// source), the Infrastructure tab says so and, from the note the console
// gives, how to install Litestream; with a Litestream source it does not.
func TestReplicationNoteOnInfra(t *testing.T) {
	for _, watched := range []bool{false, true} {
		snap := testSnapshot()
		if watched {
			snap.Sources = append(snap.Sources, metrics.SourceHealth{Name: "litestream", Kind: metrics.KindLitestream, Up: true})
		}
		m := newTestModel(t.TempDir(), func(o *Options) {
			o.Figures = fakeFigures{cycle: func(context.Context) metrics.Snapshot { return snap }}
			o.ReplicationNote = "off · Litestream not installed: make litestream"
		})
		m, _ = step(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
		m, _ = step(t, m, snapshotMsg{gen: 1, snap: snap})
		m, _ = step(t, m, press("5"))
		out := plain(m)
		if got := strings.Contains(out, "replication off · Litestream not installed: make litestream"); got == watched {
			t.Errorf("replication watched %v: note shown %v\n%s", watched, got, out)
		}
	}
}
