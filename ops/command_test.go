package ops

import (
	"strings"
	"testing"
)

func TestShellCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"repops", "backup", "--db", "/srv/architect.db"}, "repops backup --db /srv/architect.db"},
		{[]string{"repops", "incident", "note", "it's the deploy"}, `repops incident note 'it'\''s the deploy'`},
		{[]string{"repops", "incident", "start", "--title", ""}, "repops incident start --title ''"},
		{[]string{"curl", "http://127.0.0.1:9090/scenario?name=normal"}, "curl 'http://127.0.0.1:9090/scenario?name=normal'"},
	} {
		if got := ShellCommand(tc.args...); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// TestExportMarkdownShowsCommand: 'repops journal' shows an entry's shell
// equivalent.
func TestExportMarkdownShowsCommand(t *testing.T) {
	var b strings.Builder
	if err := ExportMarkdown(&b, []Entry{{Seq: 1, Action: "runbook.step", Outcome: OutcomeOK, Command: "repops backup --db /x.db"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "same as: `repops backup --db /x.db`") {
		t.Errorf("no command in:\n%s", b.String())
	}
}
