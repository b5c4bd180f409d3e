package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/runbooks"
	"github.com/repops/repops/tui"
)

// TestRunbookCheckTimeout: a check query that never ends is stopped at
// the check deadline (--check-timeout); the step fails, named, and the
// command ends.
func TestRunbookCheckTimeout(t *testing.T) {
	_, cfg, _ := runbookTestEnv(t)
	dir := filepath.Join(filepath.Dir(cfg), "runbooks")
	rb := "---\nid: runaway\ntitle: Runaway\nseverity: info\nwhen: [x]\n---\n" +
		"## Count for ever\n```repops\nquery: WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c\nexpect: {min: 1}\n```\n\n" +
		"## After\nNot reached.\n"
	if err := os.WriteFile(filepath.Join(dir, "runaway.md"), []byte(rb), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "run", "runaway", "--yes", "--check-timeout", "200ms")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailure, out, errOut)
	}
	for _, want := range []string{"FAIL", `step "Count for ever"`, "stopped after 200ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
}

// TestConsoleRunbookProblems: the console's catalogue, while and after it
// loads, passes the skipped override files on to the runbooks view
// (tui.RunbookProblems) and keeps every other runbook.
func TestConsoleRunbookProblems(t *testing.T) {
	dir := t.TempDir()
	bad := "---\nid: broken\ntitle: Broken\nseverity: info\nwhen: [x]\n---\n## Go\n```repops\naction: restor\n```\n"
	if err := os.WriteFile(filepath.Join(dir, "broken.md"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	l := newLazyRunbooks(nil, func() (tui.RunbookService, error) {
		cat, err := runbooks.Load(dir)
		if err != nil {
			return nil, err
		}
		return tui.RunbookEngine{Catalogue: cat}, nil
	})
	var _ tui.RunbookProblems = l
	probs := l.Problems()
	if len(probs) != 1 || !strings.Contains(probs[0].Error(), "broken.md:9:") {
		t.Errorf("problems %v", probs)
	}
	if _, ok := l.Get("restore-from-backup"); !ok {
		t.Error("restore-from-backup is gone")
	}
}
