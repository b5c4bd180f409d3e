package runbooks

import (
	"strings"
	"testing"
)

// TestBackupTextSaysHowItCopies: what the runbooks and the action
// catalogue tell the operator about a backup matches what ops.Backup
// does: a copy of the file with the WAL's committed frames applied,
// falling back to SQLite's backup API; not "through the backup API".
func TestBackupTextSaysHowItCopies(t *testing.T) {
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"backup", "deployment"} {
		t.Run(id, func(t *testing.T) {
			rb, ok := cat.Get(id)
			if !ok {
				t.Fatalf("no runbook %s", id)
			}
			text := rb.Intro
			for _, s := range rb.Steps {
				text += "\n" + s.Text
			}
			text = strings.Join(strings.Fields(text), " ")
			if strings.Contains(text, "through SQLite's backup API") {
				t.Errorf("says the backup goes through SQLite's backup API:\n%s", text)
			}
			if !strings.Contains(text, "committed frames") || !strings.Contains(text, "falling back to SQLite's backup API") {
				t.Errorf("does not say how the backup copies:\n%s", text)
			}
		})
	}
	if s := Actions()["backup"].Summary; strings.Contains(s, "SQLite backup API") && !strings.Contains(s, "falling back") {
		t.Errorf("the backup action's summary: %q", s)
	}
}
