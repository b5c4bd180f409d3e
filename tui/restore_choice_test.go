package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
)

// The backup chooser (issue 16): a step that takes a backup offers the
// database's backups, newest first, and the chosen one is given to the
// step.

// paramRun is a fake run that records the parameters set on its steps.
type paramRun struct {
	*fakeRun
	set *[]map[string]string
}

func (r paramRun) SetStepParams(p map[string]string) error {
	*r.set = append(*r.set, p)
	return nil
}

// backupTimes are when the test's backups were taken, oldest first.
var backupTimes = []time.Time{fixedNow.Add(-50 * time.Hour), fixedNow.Add(-26 * time.Hour), fixedNow.Add(-2 * time.Hour)}

// writeBackups makes backups of dbPath in dir, each with a manifest; the
// middle one's manifest is missing.
func writeBackups(t *testing.T, dir, dbPath string) []string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, at := range backupTimes {
		name := fmt.Sprintf("architect_%s.db", at.UTC().Format("20060102T150405Z"))
		path := filepath.Join(dir, name)
		data := []byte(strings.Repeat("x", 4096*(i+1)))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		if i == 1 {
			continue
		}
		m := ops.Manifest{ManifestVersion: 1, Name: name, Source: dbPath, Created: at, Size: int64(len(data)),
			PageSize: 4096, PageCount: int64(i + 1), SHA256: strings.Repeat("ab", 32), SchemaVersion: 3,
			Tables: map[string]ops.TableFigures{
				"appeals":                     {Rows: 1_000_000, MaxRowID: 1_000_042, NewestCreatedAt: "2026-11-29T00:59:59Z"},
				"appeal_negotiation_messages": {Rows: 2_800_000, MaxRowID: 2_800_100},
			},
			QuickCheck: "ok", Method: "wal-copy", DurationSeconds: 4.2, Actor: ops.Actor{User: "oncall", Host: "db1", SSHClient: "10.0.0.7"}}
		b, _ := json.Marshal(m)
		if err := os.WriteFile(ops.ManifestPath(path), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Another database's backup in the same dir is not offered.
	if err := os.WriteFile(filepath.Join(dir, "other_20261129T020000Z.db"), []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	return names
}

// chooserConsole is the console at 80x24 on a restore run over a
// database with three backups; set records the parameters given.
func chooserConsole(t *testing.T) (m Model, names []string, set *[]map[string]string) {
	t.Helper()
	root := t.TempDir()
	dbPath := filepath.Join(root, "architect.db")
	set = new([]map[string]string)
	m = newTestModel(filepath.Join(root, "state"), func(o *Options) {
		o.Config.Database.Path = dbPath
		cat, _ := runbooks.Builtin()
		o.Runbooks = fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) {
			return paramRun{fakeRun: newFakeRun(rb, nil), set: set}, nil
		}}
	})
	names = writeBackups(t, m.ctx.Config.BackupDir(), dbPath)
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, _ = step(t, m, snapshotMsg{gen: 1, snap: testSnapshot()})
	m = runTo(t, m, "restore-from-backup")
	return m, names, set
}

func TestChooserListsBackupsAndPassesTheChoice(t *testing.T) {
	m, names, set := chooserConsole(t)
	m = skipTo(t, m, "verify_backup")
	m, cmd := step(t, m, press("x"))
	m = drain(t, m, cmd)
	if m.runbooks.mode != rbChoose {
		t.Fatalf("x on verify_backup: mode %v, want the chooser", m.runbooks.mode)
	}
	out := plain(m)
	at := func(s string) int { return strings.Index(out, s) }
	if at(names[2]) < 0 || at(names[1]) < 0 || at(names[0]) < 0 || !(at(names[2]) < at(names[1]) && at(names[1]) < at(names[0])) {
		t.Fatalf("the backups are not listed newest first:\n%s", out)
	}
	for _, want := range []string{"2 h", "✓ verified", "✗ no-manifest", "(latest)", "12.0 KiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("the chooser lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "other_") {
		t.Errorf("another database's backup is offered:\n%s", out)
	}
	// The default is the newest (latest); j then enter picks the next.
	if m.runbooks.bk.sel != 0 {
		t.Fatalf("selection %d, want the newest (latest)", m.runbooks.bk.sel)
	}
	m, _ = step(t, m, press("j"))
	m, cmd = step(t, m, press("enter"))
	m = drain(t, m, cmd)
	if len(*set) != 1 || (*set)[0]["backup"] != names[1] {
		t.Fatalf("params given %v, want backup=%s", *set, names[1])
	}
	if m.runbooks.cur.Step.Action == "verify_backup" {
		t.Fatalf("the step did not run")
	}

	// The restore: chosen, then the typed confirmation.
	m = skipTo(t, m, "restore")
	m, cmd = step(t, m, press("x"))
	m = drain(t, m, cmd)
	if m.runbooks.mode != rbChoose {
		t.Fatalf("x on restore: mode %v, want the chooser", m.runbooks.mode)
	}
	m, _ = step(t, m, press("G"))
	m, _ = step(t, m, press("enter"))
	if m.runbooks.reading != inConfirm || !strings.Contains(plain(m), names[0]) {
		t.Fatalf("after the choice: reading %v, want the confirmation naming %s:\n%s", m.runbooks.reading, names[0], plain(m))
	}
	m = typeText(t, m, "architect.db")
	m, cmd = step(t, m, press("enter"))
	m = drain(t, m, cmd)
	if len(*set) != 2 || (*set)[1]["backup"] != names[0] {
		t.Fatalf("params given %v, want backup=%s for the restore", *set, names[0])
	}
}

func TestChooserEscCancels(t *testing.T) {
	m, _, set := chooserConsole(t)
	m = skipTo(t, m, "verify_backup")
	m, cmd := step(t, m, press("x"))
	m = drain(t, m, cmd)
	m, _ = step(t, m, press("esc"))
	if m.runbooks.mode != rbRun || m.runbooks.running || len(*set) != 0 {
		t.Fatalf("esc: mode %v running %v set %v", m.runbooks.mode, m.runbooks.running, *set)
	}
	if m.runbooks.cur.Step.Action != "verify_backup" {
		t.Fatalf("esc moved the run on")
	}
}

func TestEngineRunSetsTheStepsBackup(t *testing.T) {
	cat, _ := runbooks.Builtin()
	rb, _ := cat.Get("restore-from-backup")
	dir := t.TempDir()
	env := &recordingEnv{}
	eng := runbooks.NewEngine(env, runbooks.EngineOptions{StateDir: dir, Now: clock})
	svc := RunbookEngine{Catalogue: cat, Engine: eng}
	run, err := svc.Start(rb)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	for {
		cur, _ := run.Current()
		if cur.Step.Action == "verify_backup" {
			break
		}
		if _, err := run.Do(context.Background(), runbooks.StepInput{Skip: true, Reason: "test"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := run.(StepParamsSetter).SetStepParams(map[string]string{"backup": "architect_20261128T010000Z.db"}); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Do(context.Background(), runbooks.StepInput{}, nil); err != nil {
		t.Fatal(err)
	}
	if env.params["backup"] != "architect_20261128T010000Z.db" {
		t.Fatalf("the action got %v", env.params)
	}
	if rb.Steps[2].Params["backup"] != "latest" {
		t.Fatalf("the catalogue's runbook was changed: %v", rb.Steps[2].Params)
	}
}

// recordingEnv is a runbooks.Env recording the last action's parameters.
type recordingEnv struct{ params map[string]string }

func (e *recordingEnv) Target() string { return "/var/lib/gaia/architect.db" }
func (e *recordingEnv) Query(context.Context, string) (runbooks.QueryResult, error) {
	return runbooks.QueryResult{}, nil
}
func (e *recordingEnv) Metrics(context.Context) (runbooks.MetricReader, error) {
	return runbooks.MetricMap{}, nil
}
func (e *recordingEnv) Record(ops.Entry) error { return nil }
func (e *recordingEnv) Act(_ context.Context, _ string, p map[string]string, _ ops.Progress) (runbooks.ActionResult, error) {
	e.params = p
	return runbooks.ActionResult{Message: "ok"}, nil
}
