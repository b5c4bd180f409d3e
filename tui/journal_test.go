package tui

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/repops/repops/ops"
)

// failingJournal is a JournalStore whose reads fail.
type failingJournal struct{ err error }

var _ JournalStore = failingJournal{}

func (j failingJournal) Entries(time.Time) ([]ops.Entry, error) { return nil, j.err }
func (j failingJournal) Append(e ops.Entry) (ops.Entry, error)  { return e, j.err }

// journalEntries are n entries a minute apart, ending at fixedNow: every
// third a runbook step.
func journalEntries(n int) []ops.Entry {
	out := make([]ops.Entry, n)
	for i := range out {
		e := ops.Entry{
			Seq: int64(i + 1), Time: fixedNow.Add(time.Duration(i-n+1) * time.Minute),
			Actor: ops.Actor{User: "oncall", Host: "db1"}, Action: "backup", Outcome: ops.OutcomeOK,
			Message: fmt.Sprintf("entry %02d", i),
		}
		if i%3 == 1 {
			e.Action, e.Runbook, e.Step, e.Outcome = "runbook.step", "restore-from-backup", "Verify the backup", ops.OutcomeFailed
		}
		out[i] = e
	}
	return out
}

// journalCtx is a context of w x h cells whose state dir is dir.
func journalCtx(dir string, w, h int) *ProgramContext {
	c := tablesCtx(w, h)
	c.Config = testConfig(dir)
	return c
}

// loadedJournal runs the view's load Cmd and gives its message to Update.
func loadedJournal(t *testing.T, v journalView) journalView {
	t.Helper()
	msg := runWithTimeout(t, v.load())
	env, ok := msg.(envelope)
	if !ok || env.to != viewJournal {
		t.Fatalf("load gave %T, want an envelope to the journal view", msg)
	}
	v, _ = v.Update(env.msg)
	return v
}

// rows are the messages of the entries shown, in order.
func rows(v journalView) []string {
	var out []string
	for _, l := range strings.Split(ansi.Strip(v.View()), "\n") {
		if i := strings.Index(l, "entry "); i >= 0 {
			out = append(out, l[i:i+len("entry 00")])
		}
	}
	return out
}

func TestJournalView(t *testing.T) {
	since := fixedNow.Add(-24 * time.Hour)

	t.Run("loading, then the entries", func(t *testing.T) {
		v := newJournalView(journalCtx(t.TempDir(), 120, 40), &fakeJournal{entries: journalEntries(3)}, since)
		if out := ansi.Strip(v.View()); !strings.Contains(out, "loading the ops journal") || !strings.Contains(out, "since 2026-11-28 03:00 UTC") {
			t.Fatalf("no loading state:\n%s", out)
		}
		v = loadedJournal(t, v)
		out := ansi.Strip(v.View())
		if v.state != stateReady {
			t.Fatalf("state %v err %v", v.state, v.err)
		}
		for _, tc := range []struct{ line, want string }{
			{"entry 00", "02:58:00 oncall"},
			{"entry 00", "backup"},
			{"entry 01", "Verify the backup · restore-from-backup"},
			{"entry 01", "failed"},
			{"entry 02", "03:00:00"},
		} {
			if l := lineWith(out, tc.line); !strings.Contains(l, tc.want) {
				t.Errorf("the %s line %q lacks %q", tc.line, l, tc.want)
			}
		}
		if !strings.Contains(out, "action / step") || !strings.Contains(out, "outcome") {
			t.Errorf("no column heads:\n%s", out)
		}
	})

	t.Run("an entry without a message shows its target", func(t *testing.T) {
		v := newJournalView(journalCtx(t.TempDir(), 120, 40), &fakeJournal{entries: []ops.Entry{
			{Time: fixedNow, Actor: ops.Actor{User: "cron"}, Action: "check", Target: "/var/lib/gaia/architect.db", Outcome: ops.OutcomeSkipped},
		}}, since)
		v = loadedJournal(t, v)
		if l := lineWith(ansi.Strip(v.View()), "cron"); !strings.Contains(l, "skipped") || !strings.Contains(l, "/var/lib/gaia/architect.db") {
			t.Errorf("line %q", l)
		}
	})

	t.Run("empty", func(t *testing.T) {
		v := loadedJournal(t, newJournalView(journalCtx(t.TempDir(), 120, 40), &fakeJournal{}, since))
		if out := ansi.Strip(v.View()); !strings.Contains(out, "no entries yet") {
			t.Fatalf("empty journal:\n%s", out)
		}
	})

	t.Run("errors are shown where the entries would be", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			store JournalStore
			want  string
		}{
			{"no store", nil, "journal unavailable: no ops journal: the state dir could not be opened"},
			{"a read that fails", failingJournal{err: errors.New("read journal: database is locked")}, "journal unavailable: read journal: database is locked"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				v := loadedJournal(t, newJournalView(journalCtx(t.TempDir(), 120, 40), tc.store, since))
				if out := ansi.Strip(v.View()); v.state != stateError || !strings.Contains(out, tc.want) {
					t.Fatalf("state %v:\n%s", v.state, out)
				}
			})
		}
	})

	t.Run("it follows the newest; up, top, page keys and bottom move it", func(t *testing.T) {
		ctx := journalCtx(t.TempDir(), 120, 24)
		v := loadedJournal(t, newJournalView(ctx, &fakeJournal{entries: journalEntries(50)}, since))
		room := v.listHeight() // 19 rows at 24 lines
		r := rows(v)
		if len(r) != room || r[len(r)-1] != "entry 49" || r[0] != fmt.Sprintf("entry %02d", 50-room) {
			t.Fatalf("at first: %d rows %v, want the newest %d", len(r), r, room)
		}
		v, _ = v.Update(press("k"))
		if r := rows(v); v.follow || r[len(r)-1] != "entry 48" {
			t.Errorf("after up: follow %v, last %q, want entry 48", v.follow, r[len(r)-1])
		}
		v, _ = v.Update(press("g"))
		if r := rows(v); v.follow || r[0] != "entry 00" {
			t.Errorf("after top: follow %v, first %q", v.follow, r[0])
		}
		v, _ = v.Update(press("k")) // stays at the top
		if r := rows(v); r[0] != "entry 00" || v.offset != 0 {
			t.Errorf("up at the top: first %q offset %d", r[0], v.offset)
		}
		page := ctx.bodyHeight() - 3
		v, _ = v.Update(tea.KeyPressMsg{Code: tea.KeyPgDown})
		if r := rows(v); r[0] != fmt.Sprintf("entry %02d", page) {
			t.Errorf("after page down: first %q, want entry %02d", r[0], page)
		}
		v, _ = v.Update(tea.KeyPressMsg{Code: tea.KeyPgUp})
		if r := rows(v); r[0] != "entry 00" {
			t.Errorf("after page up: first %q", r[0])
		}
		for i := 0; i < 100; i++ {
			v, _ = v.Update(press("j"))
		}
		if r := rows(v); !v.follow || r[len(r)-1] != "entry 49" {
			t.Errorf("down to the end: follow %v, last %q", v.follow, r[len(r)-1])
		}
		// Back at the bottom it follows: a new entry shows at once.
		v, _ = v.Update(press("g"))
		v, _ = v.Update(press("G"))
		v, _ = v.Update(journalLoadedMsg{entries: journalEntries(51)})
		if r := rows(v); !v.follow || r[len(r)-1] != "entry 50" {
			t.Errorf("after bottom and a new entry: follow %v, last %q", v.follow, r[len(r)-1])
		}
	})

	t.Run("e exports the entries as Markdown and JSON into the state dir", func(t *testing.T) {
		dir := t.TempDir()
		v := loadedJournal(t, newJournalView(journalCtx(dir, 120, 40), &fakeJournal{entries: journalEntries(4)}, since))
		v, cmd := v.Update(press("e"))
		if cmd == nil {
			t.Fatal("e returned no Cmd")
		}
		env := runWithTimeout(t, cmd).(envelope)
		done, ok := env.msg.(journalExportedMsg)
		if !ok || done.err != nil || len(done.paths) != 2 {
			t.Fatalf("export: %#v", env.msg)
		}
		for _, p := range done.paths {
			if filepath.Dir(p) != filepath.Join(dir, "exports") || !strings.Contains(filepath.Base(p), "20261129T030000Z") {
				t.Errorf("exported to %s", p)
			}
			b, err := os.ReadFile(p)
			if err != nil || !strings.Contains(string(b), "entry 03") || !strings.Contains(string(b), "Verify the backup") {
				t.Errorf("%s: %v\n%s", p, err, b)
			}
		}
		_, fl := v.Update(done)
		if f, ok := fl().(flashMsg); !ok || f.err || !strings.Contains(f.text, "journal exported: "+done.paths[0]) {
			t.Errorf("flash %#v", f)
		}
	})

	t.Run("an export that fails says why", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "exports"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		v := loadedJournal(t, newJournalView(journalCtx(dir, 120, 40), &fakeJournal{entries: journalEntries(1)}, since))
		_, cmd := v.Update(press("e"))
		done := runWithTimeout(t, cmd).(envelope).msg.(journalExportedMsg)
		if done.err == nil || !strings.Contains(done.err.Error(), "export journal: create") {
			t.Fatalf("err %v", done.err)
		}
		_, fl := v.Update(done)
		if f, ok := fl().(flashMsg); !ok || !f.err || !strings.Contains(f.text, "export journal") {
			t.Errorf("flash %#v", f)
		}
	})

	t.Run(":export before the entries loaded waits for them", func(t *testing.T) {
		v := newJournalView(journalCtx(t.TempDir(), 120, 40), &fakeJournal{entries: journalEntries(2)}, since)
		v, cmd := v.Update(exportRequestMsg{})
		if cmd != nil || !v.exportPending {
			t.Fatalf("cmd %v pending %v: want the export held", cmd != nil, v.exportPending)
		}
		msg := runWithTimeout(t, v.load()).(envelope)
		v, cmd = v.Update(msg.msg)
		if cmd == nil || v.exportPending {
			t.Fatalf("cmd %v pending %v: want the export once loaded", cmd != nil, v.exportPending)
		}
		if done, ok := runWithTimeout(t, cmd).(envelope).msg.(journalExportedMsg); !ok || done.err != nil {
			t.Fatalf("export: %#v", done)
		}
		// Loaded: an export request exports at once.
		if _, cmd = v.Update(exportRequestMsg{}); cmd == nil {
			t.Fatal("no export once loaded")
		}
	})

	t.Run("ctrl+r reads the journal again", func(t *testing.T) {
		j := &fakeJournal{entries: journalEntries(2)}
		v := loadedJournal(t, newJournalView(journalCtx(t.TempDir(), 120, 40), j, since))
		j.entries = journalEntries(3)
		v, cmd := v.Update(ctrl('r'))
		if cmd == nil {
			t.Fatal("ctrl+r returned no Cmd")
		}
		v, _ = v.Update(runWithTimeout(t, cmd).(envelope).msg)
		if len(v.entries) != 3 || !strings.Contains(ansi.Strip(v.View()), "entry 02") {
			t.Errorf("%d entries after ctrl+r", len(v.entries))
		}
	})

	t.Run("outcomes are coloured as states", func(t *testing.T) {
		for o, want := range map[string]string{
			ops.OutcomeOK: "ok", ops.OutcomeFailed: "critical", ops.OutcomeCancelled: "warning",
			ops.OutcomeSkipped: "warning", ops.OutcomeStarted: "unknown", ops.OutcomeNote: "unknown",
		} {
			if got := outcomeState(o); got != want {
				t.Errorf("outcomeState(%q) = %q, want %q", o, got, want)
			}
		}
	})
}

// TestJournalInTheConsole: l opens the journal and reads it; at 80
// columns no line is wider than the terminal, long names and messages
// are cut.
func TestJournalInTheConsole(t *testing.T) {
	entries := journalEntries(30)
	entries[29].Actor.User = "an-operator-with-a-very-long-name"
	entries[29].Step, entries[29].Runbook = "Restore the newest verified backup into place", "restore-from-backup"
	entries[29].Message = strings.Repeat("a long message that goes on ", 10)
	m := loaded(t, func(o *Options) { o.Journal = &fakeJournal{entries: entries} })
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, cmd := step(t, m, press("l"))
	if m.focus != viewJournal {
		t.Fatalf("focus %v", m.focus)
	}
	m = drain(t, m, cmd)
	out := plain(m)
	lines := strings.Split(out, "\n")
	if len(lines) != 24 {
		t.Errorf("%d lines, want 24", len(lines))
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("line %d is %d cells wide: %q", i+1, w, l)
		}
	}
	for _, want := range []string{"Journal", "entry 28", "an-operator-w", "a long message", "e export"} {
		if !strings.Contains(out, want) {
			t.Errorf("the screen lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "entry 00") {
		t.Errorf("the oldest entry is shown, want the newest that fit:\n%s", out)
	}
}
