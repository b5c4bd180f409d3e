package tui

import (
	"testing"

	tea "charm.land/bubbletea/v2"
)

// BenchmarkDashboardRender is the cost of drawing the 120x40 dashboard
// once, as after each refresh.
func BenchmarkDashboardRender(b *testing.B) {
	m := newTestModel(b.TempDir(), nil)
	nm, _ := m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	nm, _ = nm.(Model).Update(snapshotMsg{gen: 1, snap: testSnapshot()})
	m = nm.(Model)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.render()
	}
}
