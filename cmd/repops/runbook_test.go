package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
	"github.com/repops/repops/sim"
)

// runbookTestEnv is an isolated environment with a small demo database,
// a runbook directory holding one test runbook, and a config naming both.
func runbookTestEnv(t *testing.T) (dbPath, configPath, stateDir string) {
	t.Helper()
	work := migTestEnv(t)
	dbPath = filepath.Join(work, "architect.db")
	if _, err := sim.GenerateDemo(context.Background(), dbPath, sim.DemoOptions{Appeals: 500, Seed: 2}, nil); err != nil {
		t.Fatal(err)
	}
	rbDir := filepath.Join(work, "runbooks")
	stateDir = filepath.Join(work, "state")
	if err := os.Mkdir(rbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rb := "---\nid: cli-test\ntitle: CLI test\nseverity: info\nwhen: [test_alert]\n---\n" +
		"## Look\nLook at the dashboard.\n\n" +
		"## Count\n```repops\nquery: SELECT COUNT(*) FROM appeals\nexpect: {min: 1}\n```\n\n" +
		"## Apply migrations\n```repops\naction: migrate\nconfirm: typed\n```\n\n" +
		"## After\nTick it.\n"
	if err := os.WriteFile(filepath.Join(rbDir, "cli-test.md"), []byte(rb), 0o644); err != nil {
		t.Fatal(err)
	}
	configPath = filepath.Join(work, "repops.yml")
	cfg := "database:\n  path: " + dbPath + "\nmonitoring:\n  metrics_enabled: false\nconsole:\n  state_dir: " + stateDir + "\n  runbook_dir: " + rbDir + "\n"
	if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dbPath, configPath, stateDir
}

func TestRunbookCommands(t *testing.T) {
	dbPath, cfg, stateDir := runbookTestEnv(t)
	before, _ := os.ReadFile(dbPath)

	t.Run("list", func(t *testing.T) {
		out, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "list")
		if code != 0 || !strings.Contains(out, "restore-from-backup") || !strings.Contains(out, "cli-test") {
			t.Fatalf("code %d\n%s%s", code, out, errOut)
		}
		out, _, _ = runRepopsIn(t, "", "--config", cfg, "runbook", "list", "--alert", "test_alert")
		if strings.Contains(out, "restore-from-backup") || !strings.Contains(out, "cli-test") {
			t.Errorf("--alert test_alert:\n%s", out)
		}
	})
	t.Run("show", func(t *testing.T) {
		out, _, code := runRepopsIn(t, "", "--config", cfg, "runbook", "show", "emergency-escalation")
		if code != 0 || !strings.Contains(out, "Page on-call engineer") || !strings.Contains(out, "/etc/opsgenie/contacts") {
			t.Errorf("code %d\n%s", code, out)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		_, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "run", "nope")
		if code != exitUsage || !strings.Contains(errOut, `no runbook "nope"`) {
			t.Errorf("code %d: %s", code, errOut)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		out, _, code := runRepopsIn(t, "", "--config", cfg, "runbook", "run", "restore-from-backup", "--dry-run")
		if code != 0 || !strings.Contains(out, "confirm: type architect.db") || !strings.Contains(out, "replaces the live database") {
			t.Errorf("code %d\n%s", code, out)
		}
		if runs, _ := runbooks.ListRuns(stateDir); len(runs) != 0 {
			t.Errorf("the dry run started %d runs", len(runs))
		}
	})
	t.Run("dry run shows the costs", func(t *testing.T) {
		out, _, code := runRepopsIn(t, "", "--config", cfg, "runbook", "run", "database-optimization", "--dry-run")
		if code != 0 || strings.Count(out, "on this database now: write lock about") != 4 || !strings.Contains(out, "cost:    needs") {
			t.Errorf("code %d: want the write lock of analyze, reindex, checkpoint and vacuum and the space they need\n%s", code, out)
		}
	})
	if after, _ := os.ReadFile(dbPath); !bytes.Equal(before, after) {
		t.Error("list, show or the dry run changed the database")
	}

	t.Run("wrong confirmation stops, resume continues", func(t *testing.T) {
		out, errOut, code := runRepopsIn(t, "d looked at it\ny\narchitect\n", "--config", cfg, "runbook", "run", "cli-test")
		if code != exitFailure || !strings.Contains(out, "does not match") || !strings.Contains(errOut, "repops runbook resume") {
			t.Fatalf("code %d\n%s\n%s", code, out, errOut)
		}
		runs, _ := runbooks.ListRuns(stateDir)
		if len(runs) != 1 || runs[0].Status != runbooks.RunPaused || runs[0].CurrentStep() != "Apply migrations" {
			t.Fatalf("runs %+v", runs)
		}
		out, errOut, code = runRepopsIn(t, "architect.db\nd all good\n", "--config", cfg, "runbook", "resume")
		if code != 0 || !strings.Contains(out, "finished") {
			t.Fatalf("resume: code %d\n%s\n%s", code, out, errOut)
		}
		notes := map[string]string{}
		j, err := ops.OpenJournal(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		es, _ := j.Entries(time.Time{})
		for _, e := range es {
			if e.RunID == runs[0].RunID && e.Outcome == ops.OutcomeOK && e.Params["note"] != nil {
				notes[e.Step] = e.Params["note"].(string)
			}
		}
		if notes["Look"] != "looked at it" || notes["After"] != "all good" {
			t.Errorf("notes in the journal: %v", notes)
		}
	})
	t.Run("headless needs --yes", func(t *testing.T) {
		_, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "run", "cli-test")
		if code != exitFailure || !strings.Contains(errOut, "--yes") {
			t.Errorf("code %d: %s", code, errOut)
		}
	})
	t.Run("--yes runs unattended", func(t *testing.T) {
		out, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "run", "cli-test", "--yes")
		if code != 0 || strings.Count(out, "=> done: acknowledged by --yes") != 2 {
			t.Errorf("code %d\n%s\n%s", code, out, errOut)
		}
	})
	t.Run("read-only mode refuses the destructive action", func(t *testing.T) {
		out, _, code := runRepopsIn(t, "", "--config", cfg, "--read-only", "runbook", "run", "cli-test", "--yes")
		if code == 0 || !strings.Contains(out, "read-only mode") {
			t.Errorf("code %d\n%s", code, out)
		}
	})
}

// A broken runbook in the runbook dir is reported on stderr with its file
// and line, as a warning, and skipped: the other runbooks stay and the
// commands work. (Issue 13: this test used to assert that the broken file
// failed every runbook command.)
func TestRunbookBrokenOverride(t *testing.T) {
	_, cfg, stateDir := runbookTestEnv(t)
	dir := filepath.Join(filepath.Dir(cfg), "runbooks")
	bad := "---\nid: broken\ntitle: Broken\nseverity: info\nwhen: [x]\n---\n## Go\n```repops\naction: restor\n```\n"
	if err := os.WriteFile(filepath.Join(dir, "broken.md"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	// A broken override of a built-in leaves the built-in in place.
	badRestore := "---\nid: restore-from-backup\ntitle: Site restore\nseverity: critical\nwhen: [x]\n---\n## Go\n```repops\naction: restore\n```\n"
	if err := os.WriteFile(filepath.Join(dir, "restore.md"), []byte(badRestore), 0o644); err != nil {
		t.Fatal(err)
	}
	warned := func(t *testing.T, errOut string) {
		t.Helper()
		for _, want := range []string{"warning", "broken.md:9:", `unknown action "restor"`, "restore.md:9:", "confirm: typed", "2 files of " + dir} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	}

	t.Run("list", func(t *testing.T) {
		out, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "list")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		warned(t, errOut)
		if !strings.Contains(out, "restore-from-backup") || !strings.Contains(out, "cli-test") || strings.Contains(out, "broken") {
			t.Errorf("want every runbook but the broken one:\n%s", out)
		}
		if strings.Contains(out, "replaced from") {
			t.Errorf("the broken override is listed as replacing a built-in:\n%s", out)
		}
	})
	t.Run("the built-in stays", func(t *testing.T) {
		out, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "show", "restore-from-backup")
		if code != 0 || !strings.Contains(out, "source: builtin:catalogue/restore-from-backup.md") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
		warned(t, errOut)
	})
	t.Run("the broken one is not there", func(t *testing.T) {
		_, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "run", "broken", "--yes")
		if code != exitUsage || !strings.Contains(errOut, `no runbook "broken"`) {
			t.Errorf("exit %d: %s", code, errOut)
		}
		if runs, _ := runbooks.ListRuns(stateDir); len(runs) != 0 {
			t.Errorf("%d runs started", len(runs))
		}
	})
}
