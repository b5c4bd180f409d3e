package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/config"
	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
)

// silenceConfig writes a config whose state dir is stateDir, with
// Alertmanager at amURL when given.
func silenceConfig(t *testing.T, stateDir, amURL string) string {
	t.Helper()
	body := "monitoring:\n  metrics_enabled: false\nconsole:\n  state_dir: " + stateDir + "\n"
	if amURL != "" {
		body += "  sources:\n    alertmanager_url: " + amURL + "\n    timeout: 2s\n"
	}
	p := filepath.Join(t.TempDir(), "silence.yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type silenceListRow struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	Source      string `json:"source"`
	Comment     string `json:"comment"`
	LeftSeconds int64  `json:"left_seconds"`
}

func silenceList(t *testing.T, cfg string) []silenceListRow {
	t.Helper()
	out, errOut, code := runRecovery(t, cfg, "", "silence", "list", "--json")
	if code != 0 {
		t.Fatalf("silence list: code %d: %s", code, errOut)
	}
	var rows []silenceListRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	return rows
}

// TestSilenceCommands: add (dry run, then for real), list, extend and
// expire a silence, locally and in a real Alertmanager, with --json; bad
// input creates nothing; every change is journaled.
func TestSilenceCommands(t *testing.T) {
	for _, backend := range []string{"local", "alertmanager"} {
		t.Run(backend, func(t *testing.T) {
			stateDir := t.TempDir()
			amURL := ""
			if backend == "alertmanager" {
				amURL = amDaemon(t, "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
			}
			cfg := silenceConfig(t, stateDir, amURL)

			out, errOut, code := runRecovery(t, cfg, "", "silence", "add", "--rule", "api_error_rate", "--duration", "4h", "--comment", "INC-3", "--dry-run", "--json")
			if code != 0 || !strings.Contains(out, `"dry_run": true`) {
				t.Fatalf("dry run: code %d\n%s%s", code, out, errOut)
			}
			if rows := silenceList(t, cfg); len(rows) != 0 {
				t.Fatalf("a dry run created %+v", rows)
			}
			for _, bad := range [][]string{
				{"--rule", "api_error_rate", "--comment", ""},
				{"--rule", "api_error_rate", "--comment", "x", "--duration", "48h"},
				{"--match", "alertname=~(", "--comment", "x"},
				{"--rule", "no_such_rule", "--comment", "x"},
				{"--comment", "no matchers"},
			} {
				_, errOut, code := runRecovery(t, cfg, "", append([]string{"silence", "add"}, bad...)...)
				if code != exitUsage || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
					t.Fatalf("add %v: code %d, stderr %q: want one line and exit %d", bad, code, errOut, exitUsage)
				}
			}
			if rows := silenceList(t, cfg); len(rows) != 0 {
				t.Fatalf("bad input created %+v", rows)
			}

			out, errOut, code = runRecovery(t, cfg, "", "silence", "add", "--rule", "api_error_rate", "--duration", "4h", "--comment", "INC-3 rollback", "--json")
			if code != 0 {
				t.Fatalf("add: code %d: %s", code, errOut)
			}
			var added struct {
				Silence struct {
					ID        string `json:"id"`
					Source    string `json:"source"`
					CreatedBy string `json:"created_by"`
				} `json:"silence"`
			}
			if err := json.Unmarshal([]byte(out), &added); err != nil || added.Silence.ID == "" || added.Silence.Source != backend ||
				!strings.Contains(added.Silence.CreatedBy, "@") {
				t.Fatalf("add --json: %v\n%s", err, out)
			}
			rows := silenceList(t, cfg)
			if len(rows) != 1 || rows[0].State != "active" || rows[0].Comment != "INC-3 rollback" || rows[0].LeftSeconds < 4*3600-60 {
				t.Fatalf("list %+v", rows)
			}
			text, _, _ := runRecovery(t, cfg, "", "silence", "list")
			if !strings.Contains(text, "ends in 3h59m") && !strings.Contains(text, "ends in 4h") {
				t.Fatalf("list shows no countdown:\n%s", text)
			}

			out, errOut, code = runRecovery(t, cfg, "", "silence", "extend", added.Silence.ID, "--duration", "1h", "--json")
			if code != 0 {
				t.Fatalf("extend: code %d: %s", code, errOut)
			}
			var ext struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal([]byte(out), &ext)
			rows = silenceList(t, cfg)
			if len(rows) != 1 || rows[0].LeftSeconds < 5*3600-60 {
				t.Fatalf("after extend: %+v", rows)
			}
			// Expire asks first; no answer is no.
			if _, _, code := runRecovery(t, cfg, "", "silence", "expire", ext.ID); code == 0 {
				t.Fatal("expire without --yes and no answer expired")
			}
			if _, errOut, code := runRecovery(t, cfg, "", "silence", "expire", ext.ID, "--yes", "--json"); code != 0 {
				t.Fatalf("expire: code %d: %s", code, errOut)
			}
			if rows := silenceList(t, cfg); len(rows) != 0 {
				t.Fatalf("after expire: %+v", rows)
			}
			_, errOut, code = runRecovery(t, cfg, "", "silence", "expire", ext.ID, "--yes")
			if code == 0 || !strings.Contains(errOut, "already ended") {
				t.Fatalf("expire an expired silence: code %d %q", code, errOut)
			}

			j, err := ops.OpenJournal(stateDir)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			entries, err := j.Entries(time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range entries {
				actions = append(actions, e.Action)
			}
			if got := strings.Join(actions, " "); got != "silence.add silence.extend silence.expire" {
				t.Fatalf("journal %q", got)
			}
		})
	}
}

// TestStatusShowsSilenced: a silenced critical rule is shown silenced,
// with who, until when and why, and stays CRITICAL (exit 2).
func TestStatusShowsSilenced(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 5, 0, 0, time.UTC)
	r := metrics.Rule{Name: "api_error_rate", Title: "API error rate", Severity: "critical", Panel: "api_error_rate"}
	snap := metrics.Snapshot{Time: now, Alerts: []metrics.AlertStatus{{Rule: r, State: metrics.StateCritical, Configured: true,
		Silenced: &metrics.SilenceRef{ID: "abc", CreatedBy: "alice@host", Comment: "INC-3", EndsAt: now.Add(2 * time.Hour), Source: "local"}}}}
	cfg := config.Defaults()
	for _, asJSON := range []bool{false, true} {
		var out bytes.Buffer
		a := &app{cfg: &cfg, out: &out, err: &out}
		err := writeStatus(a, &statusOptions{json: asJSON}, snap, statusFrom{collectorPid: 1})
		if code := exitCode(err); code != exitCritical {
			t.Fatalf("exit %d, want %d: a silence does not change the verdict", code, exitCritical)
		}
		want := `silenced by alice@host until 14:05 UTC (2h left): "INC-3"`
		if asJSON {
			want = `"silenced": {` + "\n" + `        "id": "abc",`
		}
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "CRITICAL") && !asJSON {
			t.Fatalf("json=%v: want %q in\n%s", asJSON, want, out.String())
		}
	}
}

// TestStatusAfterSilenceAdd: a rule not OK on a fresh database, silenced
// with 'repops silence add --rule', is shown silenced by 'repops status'
// (the engine matches it) with the same exit code as before.
func TestStatusAfterSilenceAdd(t *testing.T) {
	stateDir := t.TempDir()
	cfg := silenceConfig(t, stateDir, "")
	db := testsupport.MigratedDB(t)
	status := func() (statusDoc, int) {
		out, errOut, code := runRecovery(t, cfg, "", "--db", db, "status", "--json", "--interval", "0")
		var doc statusDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("status --json: %v\n%s%s", err, out, errOut)
		}
		return doc, code
	}
	before, code := status()
	if code == exitOK {
		t.Fatal("every rule is OK on a fresh database: nothing to silence")
	}
	var rule string
	for _, al := range before.Alerts {
		if al.Configured && (al.State == "critical" || al.State == "warning") {
			rule = al.Rule
			break
		}
	}
	if rule == "" {
		t.Fatalf("no rule firing: %+v", before.Alerts)
	}
	if _, errOut, code := runRecovery(t, cfg, "", "silence", "add", "--rule", rule, "--duration", "1h", "--comment", "known: fresh database"); code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	after, code2 := status()
	if code2 != code {
		t.Fatalf("exit %d after the silence, %d before: a silence must not change the verdict", code2, code)
	}
	for _, al := range after.Alerts {
		if al.Rule == rule {
			if al.Silenced == nil || al.Silenced.Comment != "known: fresh database" || al.State == "ok" {
				t.Fatalf("rule %s after the silence: %+v", rule, al)
			}
			return
		}
	}
	t.Fatalf("rule %s missing after the silence", rule)
}

type statusDoc struct {
	Alerts []struct {
		Rule       string `json:"rule"`
		State      string `json:"state"`
		Configured bool   `json:"configured"`
		Silenced   *struct {
			Comment string `json:"comment"`
		} `json:"silenced"`
	} `json:"alerts"`
}
