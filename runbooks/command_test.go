package runbooks

import (
	"testing"

	"github.com/repops/repops/ops"
)

func TestActionCommand(t *testing.T) {
	const db = "/var/lib/gaia/architect.db"
	for _, tc := range []struct {
		action string
		params map[string]string
		want   string
	}{
		{"backup", nil, "repops backup --db /var/lib/gaia/architect.db"},
		{"backup", map[string]string{"dir": "/mnt/backups x"}, "repops backup --dir '/mnt/backups x' --db /var/lib/gaia/architect.db"},
		{"restore", map[string]string{"backup": "latest"}, "repops restore --latest --db /var/lib/gaia/architect.db"},
		{"restore", map[string]string{"backup": "architect-20260101.db"}, "repops restore architect-20260101.db --db /var/lib/gaia/architect.db"},
		{"check", map[string]string{"mode": "full"}, "repops check --full --db /var/lib/gaia/architect.db"},
		{"reindex", map[string]string{"target": "appeals"}, "repops optimize reindex --target appeals --db /var/lib/gaia/architect.db"},
		{"incremental_vacuum", nil, "repops optimize incremental-vacuum --db /var/lib/gaia/architect.db"},
		{"archive", map[string]string{"appeals_older_than": "365d"}, "repops archive --older-than 365d --db /var/lib/gaia/architect.db"},
		{"disk_space", nil, "df -h /var/lib/gaia"},
		{"gather_state", nil, ""},
	} {
		t.Run(tc.action, func(t *testing.T) {
			if got := ActionCommand(tc.action, tc.params, db); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if got := StepCommand(&Step{Kind: Check, Query: "SELECT COUNT(*) FROM appeals"}, db); got != "sqlite3 -readonly /var/lib/gaia/architect.db 'SELECT COUNT(*) FROM appeals'" {
		t.Errorf("query check: %s", got)
	}
	if got := StepCommand(&Step{Kind: Manual}, db); got != "" {
		t.Errorf("manual step: %q", got)
	}
}

// TestStepJournalsCommandAndMitigates: a step's journal entries carry its
// shell equivalent, and the end of a step marked mitigates: true says so.
func TestStepJournalsCommandAndMitigates(t *testing.T) {
	cfg := demoDB(t)
	rb, err := Parse("mitigate.md", []byte("---\nid: mitigate\ntitle: Mitigate\nseverity: warning\n---\n# Mitigate\n\n## Take a backup\n\n```repops\naction: backup\nmitigates: true\n```\n"))
	if err != nil {
		t.Fatal(err)
	}
	run, err := newEngine(cfg, newEnv(cfg)).Start(rb)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	drive(t, run, nil)
	var steps int
	for _, e := range journal(t, cfg) {
		if e.Action != "runbook.step" {
			continue
		}
		steps++
		if e.Command != "repops backup --db "+cfg.Database.Path {
			t.Errorf("step entry command %q", e.Command)
		}
		if e.Outcome == ops.OutcomeOK && e.Params["mitigates"] != true {
			t.Errorf("the step's end is not marked mitigating: %+v", e.Params)
		}
	}
	if steps != 2 {
		t.Errorf("%d step entries, want started and finished", steps)
	}
	if _, err := Parse("bad.md", []byte("---\nid: bad\ntitle: Bad\nseverity: warning\n---\n# Bad\n\n## Step\n\n```repops\naction: backup\nmitigates: maybe\n```\n")); err == nil {
		t.Error("mitigates: maybe parsed")
	}
}
