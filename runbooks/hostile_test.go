package runbooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// TestBadOverrideIsSkipped: a file of the override directory that does
// not load is reported (file:line: message) and skipped; every other
// override and every built-in stays, and a built-in is replaced only by
// an override that parses.
func TestBadOverrideIsSkipped(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An override of restore-from-backup that names an unknown action
	// (line 9), a good override of backup, a good new runbook, a second
	// file with the new runbook's id, and a *.md that cannot be read.
	write("a-restore.md", "---\nid: restore-from-backup\ntitle: Site restore\nseverity: critical\nwhen: [x]\n---\n## Go\n```repops\naction: restor\n```\n")
	write("backup.md", "---\nid: backup\ntitle: Site backup\nseverity: warning\nwhen: [backup_age]\n---\n## Call the storage team\nThey take the snapshot.\n")
	write("extra.md", "---\nid: site-extra\ntitle: Extra\nseverity: info\nwhen: [custom_alert]\n---\n## Look\nLook at it.\n")
	write("extra2.md", "---\nid: site-extra\ntitle: Extra again\nseverity: info\nwhen: [custom_alert]\n---\n## Look\nLook at it.\n")
	if err := os.Mkdir(filepath.Join(dir, "folder.md"), 0o755); err != nil {
		t.Fatal(err)
	}

	cat, err := Load(dir)
	if err != nil {
		t.Fatalf("one bad override failed the whole catalogue: %v", err)
	}
	builtin, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cat.List()), len(builtin.List())+1; got != want {
		t.Errorf("%d runbooks, want the %d built-ins and site-extra", got, want-1)
	}
	if rb, ok := cat.Get("restore-from-backup"); !ok || rb.File != "builtin:catalogue/restore-from-backup.md" {
		t.Errorf("restore-from-backup: %v, want the built-in one kept", rb)
	}
	if rb, ok := cat.Get("backup"); !ok || rb.Title != "Site backup" {
		t.Errorf("backup: %v, want the good override", rb)
	}
	if rb, ok := cat.Get("site-extra"); !ok || rb.Title != "Extra" {
		t.Errorf("site-extra: %v, want extra.md's (the first file by name)", rb)
	}
	if strings.Join(cat.Overridden, ",") != "backup" {
		t.Errorf("Overridden = %v, want only backup", cat.Overridden)
	}

	var msgs []string
	for _, p := range cat.Problems {
		var pe *ParseError
		if !errors.As(p, &pe) {
			t.Errorf("problem %v is a %T, want a *ParseError", p, p)
		}
		msgs = append(msgs, p.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		filepath.Join(dir, "a-restore.md") + `:9: step "Go": unknown action "restor"`,
		filepath.Join(dir, "extra2.md") + `: id "site-extra" is also the id of ` + filepath.Join(dir, "extra.md"),
		filepath.Join(dir, "folder.md") + ": cannot be read",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	if len(cat.Problems) != 3 || cat.SkippedFiles() != 3 {
		t.Errorf("%d problems in %d files, want 3 in 3:\n%s", len(cat.Problems), cat.SkippedFiles(), all)
	}

	t.Run("the built-in catalogue has no problems", func(t *testing.T) {
		if len(builtin.Problems) != 0 {
			t.Errorf("problems: %v", builtin.Problems)
		}
	})
}

// infiniteCheck is a runbook whose check never ends on its own: a
// recursive CTE without a stop, counted.
const infiniteCheck = `---
id: runaway
title: Runaway check
severity: info
when: [x]
---
## Count for ever
` + "```repops" + `
query: WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c
expect: {min: 1}
` + "```" + `

## After
Not reached.
`

// doWithin runs fn and fails the test if it has not returned after a long
// while: a guard so that a check that runs for ever fails the test
// instead of hanging it, not a measure of speed.
func doWithin[T any](t *testing.T, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	select {
	case v := <-done:
		return v
	case <-time.After(2 * time.Minute):
		t.Fatal("the step never returned: the check query was not stopped")
		panic("unreachable")
	}
}

// TestCheckDeadline: a check query runs under the engine's deadline; past
// it SQLite is interrupted and the step fails with ErrCheckTimeout, named,
// and the run goes on as after any failed check. A cancellation by the
// caller (the console's q or esc, Ctrl-C) interrupts the step instead:
// the run is paused and the step offered again.
func TestCheckDeadline(t *testing.T) {
	path := testsupport.MigratedDB(t)
	actor := ops.Actor{User: "tester", Host: "test", Session: "t1"}

	t.Run("the deadline stops the query and fails the step", func(t *testing.T) {
		cfg := testConfig(t, path)
		eng := NewEngine(newEnv(cfg), EngineOptions{StateDir: cfg.StateDir(), Actor: actor, CheckTimeout: 200 * time.Millisecond})
		run, err := eng.Start(mustParse(t, infiniteCheck))
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		type out struct {
			res StepResult
			err error
		}
		o := doWithin(t, func() out {
			res, err := run.Do(context.Background(), StepInput{}, nil)
			return out{res, err}
		})
		if o.err != nil {
			t.Fatalf("Do: %v", o.err)
		}
		if o.res.Outcome != Failed || !errors.Is(o.res.Err, ErrCheckTimeout) {
			t.Fatalf("outcome %s, err %v: want failed with ErrCheckTimeout", o.res.Outcome, o.res.Err)
		}
		for _, want := range []string{`step "Count for ever"`, "stopped after 200ms"} {
			if !strings.Contains(o.res.Err.Error(), want) {
				t.Errorf("the error %q does not say %q", o.res.Err, want)
			}
		}
		if st := run.State(); st.Status != RunFailed || st.Steps[0].Outcome != Failed {
			t.Errorf("run %s, step %s: want the run failed at the step (on_failure: stop)", st.Status, st.Steps[0].Outcome)
		}
	})

	t.Run("a default deadline is set", func(t *testing.T) {
		if e := NewEngine(nil, EngineOptions{}); e.opts.CheckTimeout != DefaultCheckTimeout || DefaultCheckTimeout <= 0 {
			t.Errorf("CheckTimeout %v, want DefaultCheckTimeout", e.opts.CheckTimeout)
		}
	})

	t.Run("the caller's cancellation interrupts the step", func(t *testing.T) {
		cfg := testConfig(t, path)
		eng := NewEngine(newEnv(cfg), EngineOptions{StateDir: cfg.StateDir(), Actor: actor, CheckTimeout: time.Hour})
		run, err := eng.Start(mustParse(t, infiniteCheck))
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		ctx, cancel := context.WithCancel(context.Background())
		// Cancel once the step has started (its state says so).
		go func() {
			for run0, _ := ListRuns(cfg.StateDir()); len(run0) == 0 || run0[0].Steps[0].Outcome != Started; run0, _ = ListRuns(cfg.StateDir()) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
		}()
		err = doWithin(t, func() error {
			_, err := run.Do(ctx, StepInput{}, nil)
			return err
		})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrCheckTimeout) {
			t.Fatalf("Do: %v, want context.Canceled", err)
		}
		if st := run.State(); st.Status != RunPaused || st.Steps[0].Outcome != Started {
			t.Errorf("run %s, step %s: want the run paused with the step to offer again", st.Status, st.Steps[0].Outcome)
		}
	})
}
