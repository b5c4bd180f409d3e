package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLineMistakes: every mistake on the command line exits 64
// (EX_USAGE) with one line that says where to look, never 1 (a failed
// procedure) nor 0 with the help (a typo'd subcommand in a script must not
// pass for success).
func TestCommandLineMistakes(t *testing.T) {
	migTestEnv(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown command", []string{"bogus"}, exitUsage, `unknown command "bogus" for "repops"`},
		{"typo of a command", []string{"bakup"}, exitUsage, "did you mean backup"},
		{"typo of a subcommand", []string{"migrate", "aply"}, exitUsage, `unknown command "aply" for "repops migrate" (did you mean apply?)`},
		{"unknown subcommand of a group without its own check", []string{"rules", "exprt"}, exitUsage, `unknown command "exprt" for "repops rules"`},
		{"argument to a command that takes none", []string{"backup", "x"}, exitUsage, "see 'repops backup --help'"},
		{"missing argument", []string{"backups", "verify"}, exitUsage, "backups verify: accepts 1 arg(s), received 0"},
		{"unknown flag", []string{"check", "--nope"}, exitUsage, "unknown flag: --nope (see 'repops check --help')"},
		{"bad flag value", []string{"status", "--interval", "soon"}, exitUsage, "see 'repops status --help'"},
		{"a group alone prints its help", []string{"migrate"}, exitOK, "Available Commands"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, code, err := runRepopsCmd(t, tt.args...)
			msg := out
			if err != nil {
				msg += err.Error()
			}
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Fatalf("repops %s: exit %d (want %d), %q; want it to say %q", strings.Join(tt.args, " "), code, tt.code, msg, tt.want)
			}
			if strings.Count(strings.TrimSpace(msg), "\n") > 0 && tt.code != exitOK {
				t.Errorf("want one line, got %q", msg)
			}
		})
	}
}

// TestCheckBadConfigIsUnknown: 'repops check' and 'repops status' speak
// the Nagios convention, so a config that stops them before they look is
// UNKNOWN (3) on standard output (a JSON document with --json), not a
// usage error.
func TestCheckBadConfigIsUnknown(t *testing.T) {
	dir := migTestEnv(t)
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("database:\n  max_connections: -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"check", "status"} {
		t.Run(cmd, func(t *testing.T) {
			out, _, code, _ := runRepopsCmd(t, "--config", bad, cmd)
			if code != exitUnknown || !strings.HasPrefix(out, "UNKNOWN bad config: "+bad+":2: database.max_connections") {
				t.Fatalf("exit %d, stdout %q; want 3 and UNKNOWN naming %s:2", code, out, bad)
			}
			out, _, code, _ = runRepopsCmd(t, "--config", bad, cmd, "--json")
			var doc struct {
				Status   string `json:"status"`
				ExitCode int    `json:"exit_code"`
				Error    string `json:"error"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitUnknown || doc.Status != "UNKNOWN" || doc.ExitCode != exitUnknown ||
				!strings.Contains(doc.Error, "database.max_connections") {
				t.Fatalf("--json: exit %d, %v, stdout %q", code, err, out)
			}
		})
	}
	if _, _, code, _ := runRepopsCmd(t, "--config", bad, "backup"); code != exitUsage {
		t.Errorf("backup with a bad config: exit %d, want %d", code, exitUsage)
	}
}
