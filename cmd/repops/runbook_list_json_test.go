package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/repops/repops/runbooks"
)

// TestRunbookListJSON: 'runbook list --json' prints one JSON document on
// standard output: every runbook with its id, title, severity, step
// count, whether it is destructive, its when: and the alert rules that
// open it, and the override files that were skipped, with file and line.
func TestRunbookListJSON(t *testing.T) {
	work := migTestEnv(t)
	dir := filepath.Join(work, "runbooks")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"cli-test.md": "---\nid: cli-test\ntitle: CLI test\nseverity: info\nwhen: [test_alert]\n---\n" +
			"## Look\nLook at the dashboard.\n\n" +
			"## Apply migrations\n```repops\naction: migrate\nconfirm: typed\n```\n",
		"broken.md": "---\nid: broken\ntitle: Broken\nseverity: info\nwhen: [x]\n---\n## Go\n```repops\naction: restor\n```\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(work, "repops.yml")
	yml := "database:\n  path: " + filepath.Join(work, "architect.db") + "\nmonitoring:\n  metrics_enabled: false\nconsole:\n  state_dir: " +
		filepath.Join(work, "state") + "\n  runbook_dir: " + dir + "\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	builtin, err := runbooks.Builtin()
	if err != nil {
		t.Fatal(err)
	}

	parse := func(t *testing.T, out string) runbookListJSON {
		t.Helper()
		var got runbookListJSON
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("standard output is not the JSON document: %v\n%s", err, out)
		}
		if dec.More() {
			t.Fatalf("more than one document on standard output:\n%s", out)
		}
		return got
	}

	t.Run("every runbook, its alerts, and the skipped file", func(t *testing.T) {
		out, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "list", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		got := parse(t, out)
		if want := len(builtin.List()) + 1; len(got.Runbooks) != want {
			t.Errorf("%d runbooks, want %d (the built-in ones and cli-test)", len(got.Runbooks), want)
		}
		byID := map[string]runbookJSON{}
		for _, rb := range got.Runbooks {
			byID[rb.ID] = rb
		}
		if _, ok := byID["broken"]; ok {
			t.Error("the broken file is listed as a runbook")
		}
		ct, ok := byID["cli-test"]
		if !ok {
			t.Fatalf("cli-test is not listed:\n%s", out)
		}
		if ct.Title != "CLI test" || ct.Severity != "info" || ct.Steps != 2 || !ct.Destructive ||
			!slices.Equal(ct.When, []string{"test_alert"}) || ct.Alerts == nil || len(ct.Alerts) != 0 || !strings.HasSuffix(ct.File, "cli-test.md") {
			t.Errorf("cli-test: %+v", ct)
		}
		// The default rules open these runbooks (metrics.DefaultRules).
		sub, ok := byID["appeal-submission-failing"]
		if !ok {
			t.Fatalf("appeal-submission-failing is not listed")
		}
		for _, rule := range []string{"appeal_submission_rate", "appeal_error_rate"} {
			if !slices.Contains(sub.Alerts, rule) {
				t.Errorf("appeal-submission-failing's alerts %v lack %s", sub.Alerts, rule)
			}
		}
		if rb, ok := builtin.Get("restore-from-backup"); ok {
			r := byID["restore-from-backup"]
			if r.Steps != len(rb.Steps) || r.Destructive != rb.Destructive() || r.Title != rb.Title {
				t.Errorf("restore-from-backup: %+v, want %d steps, destructive %v", r, len(rb.Steps), rb.Destructive())
			}
		}
		if got.SkippedFiles != 1 || len(got.Problems) != 1 {
			t.Fatalf("skipped %d, problems %+v: want broken.md", got.SkippedFiles, got.Problems)
		}
		p := got.Problems[0]
		if filepath.Base(p.File) != "broken.md" || p.Line != 9 || !strings.Contains(p.Message, `unknown action "restor"`) || !strings.HasPrefix(p.Error, p.File+":9: ") {
			t.Errorf("problem %+v", p)
		}
		if got.Overridden == nil {
			t.Error("overridden is null, want []")
		}
		// The warning still goes to standard error, for people.
		if !strings.Contains(errOut, "broken.md:9:") {
			t.Errorf("standard error lacks the warning: %q", errOut)
		}
	})

	t.Run("--alert keeps the runbooks for the alert", func(t *testing.T) {
		out, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "list", "--json", "--alert", "test_alert")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		got := parse(t, out)
		if len(got.Runbooks) != 1 || got.Runbooks[0].ID != "cli-test" {
			t.Errorf("runbooks %+v, want cli-test alone", got.Runbooks)
		}
	})

	t.Run("the text list is unchanged without --json", func(t *testing.T) {
		out, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "list")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if strings.HasPrefix(strings.TrimSpace(out), "{") || !strings.Contains(out, "cli-test") {
			t.Errorf("text list:\n%s", out)
		}
	})
}
