package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/incident"
	"github.com/repops/repops/ops"
)

// TestIncidentCommand: ':incident start|note|end' journal what 'repops
// incident' does, in the real journal, with the shell equivalent shown in
// the flash and kept in the entry; a second start is refused, naming the
// open incident.
func TestIncidentCommand(t *testing.T) {
	dir := t.TempDir()
	j, err := ops.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	actor := ops.Actor{User: "oncall", Host: "db1", SSHClient: "10.0.0.9:5022", Session: "tui"}
	m := newTestModel(dir, func(o *Options) { o.Journal, o.Actor = j, actor })
	run := func(line string) flashMsg {
		t.Helper()
		_, cmd := m.execCommand(parseCommand(line))
		if cmd == nil {
			t.Fatalf("%s: no command", line)
		}
		msg, ok := cmd().(flashMsg)
		if !ok {
			t.Fatalf("%s: %T, want a flash", line, cmd())
		}
		return msg
	}
	if f := run(":incident start Appeals failing"); f.err || !strings.Contains(f.text, "same as: repops incident start --title 'Appeals failing'") {
		t.Errorf("start: %+v", f)
	}
	if f := run(":incident start another"); !f.err || !strings.Contains(f.text, "Appeals failing") {
		t.Errorf("a second start: %+v, want refused naming the open incident", f)
	}
	if f := run(":incident note --mitigated rolled back"); f.err || !strings.Contains(f.text, "repops incident note --mitigated 'rolled back'") {
		t.Errorf("note: %+v", f)
	}
	if f := run(":incident end bad deploy"); f.err || !strings.Contains(f.text, "ended") {
		t.Errorf("end: %+v", f)
	}
	if f := run(":incident note too late"); !f.err {
		t.Errorf("a note with no incident open: %+v, want refused", f)
	}
	if f := run(":incident"); f.err || f.text != incidentUsage {
		t.Errorf("bare: %+v, want the usage", f)
	}
	es, err := j.Entries(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{incident.ActionStart, incident.ActionNote, incident.ActionEnd}
	if len(es) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(es), len(want), es)
	}
	for i, e := range es {
		if e.Action != want[i] || e.Actor.SSHClient != "10.0.0.9:5022" || !strings.HasPrefix(e.Command, "repops incident ") {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	if es[1].Params["mitigated"] != true {
		t.Errorf("the note is not marked mitigated: %+v", es[1].Params)
	}
}
