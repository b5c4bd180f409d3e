package runbooks

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/metrics"
)

func TestCatalogueParsesAndDryRuns(t *testing.T) {
	cat, err := Builtin()
	if err != nil {
		t.Fatalf("builtin catalogue: %v", err)
	}
	want := []string{
		"deployment", "appeal-submission-failing", "high-negotiation-latency", "ml-prediction-timeouts",
		"database-growing-too-fast", "high-cpu-usage", "backup", "restore-from-backup",
		"database-optimization", "data-archival", "migration-management", "daily-maintenance",
		"weekly-maintenance", "monthly-maintenance", "quarterly-maintenance", "database-corruption",
		"data-loss", "complete-system-failure", "dr-drill", "performance-tuning", "restart-service",
		"scale-horizontally", "emergency-escalation", "replication-lag",
	}
	for _, id := range want {
		t.Run(id, func(t *testing.T) {
			rb, ok := cat.Get(id)
			if !ok {
				t.Fatalf("runbook %s missing from the catalogue", id)
			}
			if len(rb.When) == 0 {
				t.Errorf("runbook %s states no when:", id)
			}
			plan := Plan(rb, "/var/lib/gaia/architect.db")
			if len(plan) != len(rb.Steps) || len(plan) == 0 {
				t.Fatalf("plan has %d steps, runbook %d", len(plan), len(rb.Steps))
			}
			for _, p := range plan {
				if p.Does == "" || p.Changes == "" {
					t.Errorf("step %q: plan says nothing: %+v", p.Name, p)
				}
				if rb.Steps[p.Index].Destructive() && p.Confirm != "architect.db" {
					t.Errorf("step %q is destructive but the plan asks for %q", p.Name, p.Confirm)
				}
			}
			exp := rb.Expand(VarsFromConfig(testConfig(t, "/var/lib/gaia/architect.db")))
			for _, s := range exp.Steps {
				if left := placeholders(s.Text); len(left) > 0 {
					t.Errorf("step %q: placeholders left after Expand: %v", s.Name, left)
				}
			}
		})
	}
	if got := len(cat.List()); got != len(want) {
		t.Errorf("catalogue has %d runbooks, want %d", got, len(want))
	}
}

// Every alert rule the metrics package defines leads to a runbook, and
// every rule's Runbook is the canonical id (the console shows it as is) of
// a runbook that names the rule in its when:.
func TestEveryAlertRuleHasARunbook(t *testing.T) {
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range AlertRules() {
		if len(cat.ForAlert(name)) == 0 {
			t.Errorf("no runbook for alert %s", name)
		}
	}
	for _, r := range metrics.DefaultRules() {
		t.Run(r.Name, func(t *testing.T) {
			offered := cat.ForAlert(r.Name)
			if len(offered) == 0 {
				t.Errorf("no runbook names rule %s in when:", r.Name)
			}
			if r.Runbook == "" {
				t.Fatalf("rule %s offers no runbook", r.Name)
			}
			rb, ok := cat.Get(r.Runbook)
			switch {
			case !ok:
				t.Fatalf("rule %s offers runbook %q, which is not in the catalogue", r.Name, r.Runbook)
			case rb.ID != r.Runbook:
				t.Fatalf("rule %s offers %q, an alias of %s: use the id", r.Name, r.Runbook, rb.ID)
			}
			var ids []string
			for _, o := range offered {
				if o.ID == r.Runbook {
					return
				}
				ids = append(ids, o.ID)
			}
			t.Errorf("rule %s offers runbook %s, whose when: does not name the rule (ForAlert: %v)", r.Name, r.Runbook, ids)
		})
	}
	got := cat.ForAlert("integrity_check")
	if len(got) < 2 || got[len(got)-1].ID != "emergency-escalation" {
		var ids []string
		for _, rb := range got {
			ids = append(ids, rb.ID)
		}
		t.Errorf("ForAlert(integrity_check) = %v, want the specific runbooks first and escalation last", ids)
	}
}

const goodHeader = "---\nid: t\ntitle: T\nseverity: info\nwhen: [x]\n---\n"

func TestParseBadInput(t *testing.T) {
	cases := []struct {
		name string
		src  string
		line int
		want string
	}{
		{"unknown action", goodHeader + "## A\n\n```repops\naction: restor\n```\n", 10, `unknown action "restor"`},
		{"missing parameter", goodHeader + "## A\n\n```repops\naction: restore\nconfirm: typed\n```\n", 10, `missing the required parameter "backup"`},
		{"unknown parameter", goodHeader + "## A\n\n```repops\naction: backup\nparams: {bogus: 1}\n```\n", 11, `no parameter "bogus"`},
		{"duplicate step name", goodHeader + "## A\nDo it.\n## a\nAgain.\n", 9, `duplicate step name "a"`},
		{"goto missing step", goodHeader + "## A\n\n```repops\nquery: SELECT 1\non_failure: {goto: Nowhere}\n```\n", 11, `goto "Nowhere": no step has that name`},
		{"broken front matter", "---\nid: t\ntitle: [unclosed\nseverity: info\n---\n## A\nDo it.\n", 0, "broken YAML"},
		{"front matter not closed", "---\nid: t\ntitle: T\n## A\nDo it.\n", 1, "front matter not closed"},
		{"no front matter", "## A\nDo it.\n", 1, "no front matter"},
		{"unknown front matter key", "---\nid: t\ntitle: T\nseverity: info\ncolour: red\n---\n## A\nDo it.\n", 5, `unknown key "colour"`},
		{"unknown spec key", goodHeader + "## A\n\n```repops\naction: backup\nshell: rm -rf /\n```\n", 11, `unknown key "shell"`},
		{"bad severity", "---\nid: t\ntitle: T\nseverity: meh\n---\n## A\nDo it.\n", 4, `severity "meh"`},
		{"destructive without confirm", goodHeader + "## A\n\n```repops\naction: vacuum\n```\n", 10, "needs confirm: typed"},
		{"check with DELETE", goodHeader + "## A\n\n```repops\nquery: DELETE FROM appeals\n```\n", 10, "DELETE is not allowed"},
		{"check with INSERT", goodHeader + "## A\n\n```repops\nquery: INSERT INTO appeals(id) VALUES (1)\n```\n", 10, "INSERT is not allowed"},
		{"check with PRAGMA assignment", goodHeader + "## A\n\n```repops\nquery: PRAGMA journal_mode=DELETE\n```\n", 10, "not allowed"},
		{"check with PRAGMA write", goodHeader + "## A\n\n```repops\nquery: PRAGMA user_version = 7\n```\n", 10, "assigns a value"},
		{"check with ATTACH", goodHeader + "## A\n\n```repops\nquery: ATTACH 'x.db' AS x\n```\n", 10, "ATTACH is not allowed"},
		{"check with two statements", goodHeader + "## A\n\n```repops\nquery: SELECT 1; SELECT 2\n```\n", 10, "more than one statement"},
		{"check with CTE delete", goodHeader + "## A\n\n```repops\nquery: WITH x AS (SELECT 1) DELETE FROM appeals\n```\n", 10, "DELETE is not allowed"},
		{"bad kind", goodHeader + "## A\n\n```repops\nkind: shell\n```\n", 10, `kind "shell"`},
		{"unknown placeholder", goodHeader + "## A\nRun on {{db.nme}}.\n", 7, "unknown placeholder {{db.nme}}"},
		{"manual without text", goodHeader + "## A\n## B\nDo it.\n", 7, "has no text"},
		{"unclosed repops block", goodHeader + "## A\n```repops\naction: backup\n", 8, "not closed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rb, err := Parse("bad.md", []byte(c.src))
			if err == nil {
				t.Fatalf("parsed: %+v", rb)
			}
			if rb != nil {
				t.Errorf("a runbook came back with the error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "bad.md" {
				t.Fatalf("error %v is not a ParseError naming the file", err)
			}
			if c.line > 0 && pe.Line != c.line {
				t.Errorf("error at line %d, want %d: %v", pe.Line, c.line, err)
			}
			if !strings.HasPrefix(err.Error(), "bad.md:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestBrokenFrontMatterLine(t *testing.T) {
	_, err := Parse("bad.md", []byte("---\nid: t\ntitle: T\nseverity: info\nwhen: [x\n---\n## A\nDo it.\n"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line < 2 || pe.Line > 6 {
		t.Fatalf("want a parse error inside the front matter (lines 2-6), got %v", err)
	}
}

func TestParseStep(t *testing.T) {
	src := goodHeader + `Intro text.

## Check rows
Reads.

` + "```repops" + `
query: |
  SELECT COUNT(*) FROM appeals -- DELETE in a comment is fine
  WHERE reason <> 'DROP TABLE'
expect: {max: 100, rows: 1}
on_failure: {goto: Fix}
` + "```" + `

## Metric
` + "```repops" + `
metric: appeal_error_rate
below: 5
state_not: critical
on_failure: continue
` + "```" + `

## Fix
Fix it by hand.

` + "```sh" + `
## not a step heading inside a code block
` + "```" + `
`
	rb, err := Parse("ok.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if rb.Intro != "Intro text." || len(rb.Steps) != 3 {
		t.Fatalf("intro %q, %d steps", rb.Intro, len(rb.Steps))
	}
	s := rb.Steps[0]
	if s.Kind != Check || *s.Expect.Max != 100 || *s.Expect.Rows != 1 || s.OnFailure.Goto != "Fix" || s.Text != "Reads." {
		t.Errorf("step 0 = %+v", s)
	}
	m := rb.Steps[1]
	if m.Kind != Check || m.Metric == nil || *m.Metric.Below != 5 || m.Metric.StateNot != "critical" || m.OnFailure.Mode != Continue {
		t.Errorf("step 1 = %+v", m)
	}
	if f := rb.Steps[2]; f.Kind != Manual || !strings.Contains(f.Text, "## not a step") {
		t.Errorf("step 2 = %+v", f)
	}
}

func TestCheckReadOnlySQL(t *testing.T) {
	for _, q := range []string{
		"SELECT 1", "select count(*) from appeals;", "WITH x AS (SELECT 1) SELECT * FROM x",
		"PRAGMA integrity_check", "PRAGMA quick_check(1)", "PRAGMA main.page_count",
		"SELECT 'DELETE FROM appeals'", `SELECT "update" FROM appeals`,
	} {
		if err := CheckReadOnlySQL(q); err != nil {
			t.Errorf("%q refused: %v", q, err)
		}
	}
	for _, q := range []string{
		"DELETE FROM appeals", "INSERT INTO appeals VALUES (1)", "UPDATE appeals SET status='x'",
		"PRAGMA journal_mode=DELETE", "PRAGMA wal_checkpoint(TRUNCATE)", "ATTACH 'x' AS y",
		"SELECT 1; DROP TABLE appeals", "VACUUM", "REPLACE INTO appeals VALUES (1)", "",
		"SELECT 1 /* unterminated", "CREATE TABLE x(a)", "PRAGMA optimize",
	} {
		if err := CheckReadOnlySQL(q); !errors.Is(err, ErrWriteSQL) {
			t.Errorf("%q accepted (err %v)", q, err)
		}
	}
}

func TestOverrideDirectory(t *testing.T) {
	dir := t.TempDir()
	override := "---\nid: backup\ntitle: Site backup\nseverity: warning\nwhen: [backup_age]\n---\n## Call the storage team\nThey take the snapshot.\n"
	extra := "---\nid: site-extra\ntitle: Extra\nseverity: info\nwhen: [custom_alert]\n---\n## Look\nLook at it.\n"
	if err := os.WriteFile(filepath.Join(dir, "backup.md"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.md"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := cat.Get("backup")
	if rb.Title != "Site backup" || len(rb.Steps) != 1 || rb.File != filepath.Join(dir, "backup.md") {
		t.Errorf("backup not overridden: %+v", rb)
	}
	if alias, _ := cat.Get("backup-and-restore"); alias != nil {
		t.Errorf("the override has no alias, yet backup-and-restore resolves to %s", alias.ID)
	}
	if _, ok := cat.Get("site-extra"); !ok {
		t.Error("extra runbook not added")
	}
	if len(cat.Overridden) != 1 || cat.Overridden[0] != "backup" {
		t.Errorf("Overridden = %v", cat.Overridden)
	}
	if got := cat.ForAlert("custom_alert"); len(got) != 1 {
		t.Errorf("ForAlert(custom_alert) = %d runbooks", len(got))
	}

	// Issue 13: a bad file used to fail the whole load; it is now skipped
	// and reported, and the other runbooks stay (TestBadOverrideIsSkipped).
	t.Run("bad file is reported and skipped", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "broken.md"), []byte("---\nid: x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cat, err := Load(dir)
		if err != nil {
			t.Fatalf("err = %v", err)
		}
		if len(cat.Problems) != 1 || !strings.Contains(cat.Problems[0].Error(), "broken.md:1:") {
			t.Errorf("Problems = %v", cat.Problems)
		}
		if _, ok := cat.Get("site-extra"); !ok || len(cat.Overridden) != 1 {
			t.Errorf("the good files were not kept: Overridden %v", cat.Overridden)
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		if _, err := Load(filepath.Join(dir, "nope")); err == nil {
			t.Error("a missing runbook dir loaded")
		}
	})
}
