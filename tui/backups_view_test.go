package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/state"
)

// The detail views (issue 16): a backup's manifest, every field wrapped
// to the width and scrollable; the last DR drill's report (:drill).

// pages is every line the focused pane shows from the top to its end,
// pressing pgdn, each line at most 80 cells.
func pages(t *testing.T, m Model) string {
	t.Helper()
	var all []string
	for i := 0; i < 20; i++ {
		out := plain(m)
		for _, l := range strings.Split(out, "\n") {
			if cellWidth(l) > m.ctx.Width {
				t.Errorf("line wider than %d: %q", m.ctx.Width, l)
			}
		}
		all = append(all, out)
		if !strings.Contains(out, "↓") {
			break
		}
		m, _ = step(t, m, tea.KeyPressMsg{Code: tea.KeyPgDown})
	}
	return strings.Join(strings.Fields(strings.Join(all, "\n")), " ")
}

func TestManifestShowsEveryFieldAt80x24(t *testing.T) {
	m, names, _ := chooserConsole(t)
	if !key.Matches(tea.KeyPressMsg{Code: tea.KeyPgDown}, m.ctx.Keys.PageDown) {
		t.Skip("pgdown is rebound")
	}
	nm, cmd := m.execCommand(parseCommand(":backups"))
	m = drain(t, nm.(Model), cmd)
	if m.runbooks.mode != rbBackups || !strings.Contains(plain(m), names[2]) {
		t.Fatalf(":backups:\n%s", plain(m))
	}
	m, _ = step(t, m, press("enter"))
	if m.runbooks.mode != rbManifest {
		t.Fatalf("enter on a backup: mode %v", m.runbooks.mode)
	}
	text := pages(t, m)
	dir := m.ctx.Config.BackupDir()
	for _, want := range []string{
		filepath.Join(dir, names[2]), "manifest version: 1", "name: " + names[2], "source: " + m.ctx.Config.Database.Path,
		"created: " + backupTimes[2].Format(time.RFC3339), "size (manifest): 12288 bytes", "page size: 4096 bytes", "page count: 3",
		"sha256: " + strings.Repeat("ab", 32), "schema version: 3", "quick_check: ok", "method: wal-copy", "took: 4.2 s",
		"actor: oncall@db1 from 10.0.0.7", "appeals: 1,000,000 rows, max rowid 1000042, newest 2026-11-29T00:59:59Z",
		"appeal_negotiation_messages: 2,800,000 rows", "state: verified",
	} {
		// A long value wraps: its words are on the screen, in order.
		if !strings.Contains(text, strings.Join(strings.Fields(want), " ")) && !strings.Contains(strings.ReplaceAll(text, " ", ""), strings.ReplaceAll(want, " ", "")) {
			t.Errorf("the manifest lacks %q:\n%s", want, text)
		}
	}
	m, _ = step(t, m, press("esc"))
	if m.runbooks.mode != rbBackups {
		t.Fatalf("esc from the manifest: mode %v, want the list", m.runbooks.mode)
	}

	// From the chooser: m shows it, esc goes back to the chooser.
	m, _ = step(t, m, press("esc"))
	m = skipTo(t, m, "verify_backup")
	m, cmd = step(t, m, press("x"))
	m = drain(t, m, cmd)
	m, _ = step(t, m, press("m"))
	if m.runbooks.mode != rbManifest || !strings.Contains(plain(m), "sha256") {
		t.Fatalf("m in the chooser: mode %v\n%s", m.runbooks.mode, plain(m))
	}
	m, _ = step(t, m, press("esc"))
	if m.runbooks.mode != rbChoose {
		t.Fatalf("esc from the chooser's manifest: mode %v", m.runbooks.mode)
	}
}

func TestDrillShowsTheReport(t *testing.T) {
	m, _, _, _ := quitConsole(t)
	stateDir := m.ctx.Config.StateDir()
	dir := filepath.Join(stateDir, "drills")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	at := fixedNow.Add(-3 * 24 * time.Hour)
	report := filepath.Join(dir, "drill-"+at.Format(state.BackupTimeLayout)+".md")
	md := "# DR drill 2026-11-26T03:00:00Z: PASSED\n\n- Backup: `architect_20261126T010000Z.db`\n- Measured RTO (restore and verification): 42s\n\n## Steps\n\n| step | took | result |\n|---|---|---|\n"
	for i := 0; i < 30; i++ {
		md += "| verify table " + itoa(i) + " | 1s | ok |\n"
	}
	md += "\n## Rows restored\n\nthe last line of the report\n"
	if err := os.WriteFile(report, []byte(md), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := state.WriteLastDrill(stateDir, state.DrillRecord{Time: at, Database: m.ctx.Config.Database.Path, Backup: "architect_20261126T010000Z.db",
		OK: true, Verdict: "OK", RTO: 42 * time.Second, RPO: 2 * time.Hour, RTOLimit: 30 * time.Minute, RPOLimit: 5 * time.Minute, ReportPath: report}); err != nil {
		t.Fatal(err)
	}
	nm, cmd := m.execCommand(parseCommand(":drill"))
	m = drain(t, nm.(Model), cmd)
	if m.focus != viewRunbooks || m.runbooks.mode != rbDrill {
		t.Fatalf(":drill: focus %v mode %v", m.focus, m.runbooks.mode)
	}
	text := pages(t, m)
	for _, want := range []string{"Last DR drill", "OK", "backup architect_20261126T010000Z.db", "DR drill 2026-11-26T03:00:00Z: PASSED", "RTO 42.0 s", "verify table 29", "the last line of the report"} {
		if !strings.Contains(text, want) {
			t.Errorf(":drill lacks %q:\n%s", want, text)
		}
	}
	m, _ = step(t, m, press("esc"))
	if m.runbooks.mode == rbDrill {
		t.Fatal("esc did not leave the report")
	}

	// No drill: said so.
	m, _, _, _ = quitConsole(t)
	nm, cmd = m.execCommand(parseCommand(":drill"))
	m = drain(t, nm.(Model), cmd)
	if !strings.Contains(plain(m), "No DR drill on record") {
		t.Fatalf(":drill with none:\n%s", plain(m))
	}
}
