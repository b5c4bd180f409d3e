package metrics

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/repops/repops/state"
)

func ruleByName(t *testing.T, name string) Rule {
	t.Helper()
	for _, r := range DefaultRules() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rule %s", name)
	return Rule{}
}

func yamlQuote(s string) string {
	b, _ := yaml.Marshal(s)
	return strings.TrimSpace(string(b))
}

// expAlert renders one expected alert of a promtool alert_rule_test.
func expAlert(r Rule, target bool, summary string) string {
	state, sev, panel := "critical", r.Severity, r.Panel
	if target {
		state, sev, panel = "warning", SeverityInfo, r.TargetOn()
	}
	s := fmt.Sprintf("          - exp_labels:\n              severity: %s\n              state: %s\n              rule: %s\n              panel: %s\n", sev, state, r.Name, panel)
	s += fmt.Sprintf("            exp_annotations:\n              summary: %s\n              description: %s\n", yamlQuote(summary), yamlQuote(r.Description))
	if r.Runbook != "" {
		s += "              runbook: " + r.Runbook + "\n"
	}
	return s
}

// TestRulesExportPromtool writes the default rules as the export does and
// has promtool check them and run unit tests: the console's thresholds,
// for durations and severities fire the same alerts in Prometheus.
func TestRulesExportPromtool(t *testing.T) {
	promtool := requirePromtool(t)
	dir := t.TempDir()
	b, err := ExportRules(DefaultRules(), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "repops.rules.yml")
	if err := os.WriteFile(rulesFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, b)
	}

	sub := ruleByName(t, "appeal_submission_rate")
	backup := ruleByName(t, "backup_age")
	disk := ruleByName(t, "disk_free")
	test := `rule_files: [repops.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'reputation_appeals_submitted_total'
        values: '0+150x12'
      - series: 'reputation_appeal_errors_total'
        values: '0x12'
      - series: 'repops_backup_age_seconds'
        values: '7200x12'
      - series: 'repops_disk_free_bytes'
        values: '5x12'
      - series: 'repops_disk_total_bytes'
        values: '100x12'
    promql_expr_test:
      - expr: round(repops:appeal_submission_rate, 0.001)
        eval_time: 8m
        exp_samples:
          - labels: '{}'
            value: 150
    alert_rule_test:
      - eval_time: 3m
        alertname: ReputationAppealSubmissionRate
        exp_alerts: []
      - eval_time: 8m
        alertname: ReputationAppealSubmissionRate
        exp_alerts:
` + expAlert(sub, false, "Appeal submission rate: 150/min > alert threshold 100/min") + `
      - eval_time: 2m
        alertname: ReputationAppealSubmissionRateOutsideTarget
        exp_alerts:
` + expAlert(sub, true, "Appeal submission rate: 150/min outside target < 100/min") + `
      - eval_time: 8m
        alertname: ReputationAppealErrorRate
        exp_alerts: []
      - eval_time: 8m
        alertname: ReputationAppealErrorRateOutsideTarget
        exp_alerts: []
      - eval_time: 1m
        alertname: ReputationBackupAge
        exp_alerts:
` + expAlert(backup, false, "Backup age: 2 h > alert threshold 1 h") + `
      - eval_time: 3m
        alertname: ReputationDiskFree
        exp_alerts: []
      - eval_time: 10m
        alertname: ReputationDiskFree
        exp_alerts:
` + expAlert(disk, false, "Disk free: 5 % < alert threshold 10 %") + `
      - eval_time: 10m
        alertname: ReputationNegotiationDuration
        exp_alerts: []
`
	runPromtoolTest(t, dir, test)
}

func TestAlertName(t *testing.T) {
	if got := AlertName("appeal_error_rate", false); got != "ReputationAppealErrorRate" {
		t.Fatal(got)
	}
	if got := AlertName("disk_free", true); got != "ReputationDiskFreeOutsideTarget" {
		t.Fatal(got)
	}
}

func TestPerInstance(t *testing.T) {
	cases := map[string]string{
		`sum(rate(x[1m])) * 60`: `sum by (instance) (rate(x[1m])) * 60`,
		`1000 * histogram_quantile(0.95, sum by (le) (rate(b[1m])))`:                  `1000 * histogram_quantile(0.95, sum by (le, instance) (rate(b[1m])))`,
		`100 * sum(rate(e[1m])) / clamp_min(sum(rate(s[1m])), 1e-9)`:                  `100 * sum by (instance) (rate(e[1m])) / clamp_min(sum by (instance) (rate(s[1m])), 1e-9)`,
		`min(up{job="reputation"})`:                                                   `min by (instance) (up{job="reputation"})`,
		`100 * max(reputation_db_connections_active / reputation_db_connections_max)`: `100 * max by (instance) (reputation_db_connections_active / reputation_db_connections_max)`,
	}
	for in, want := range cases {
		if got := PerInstance(in); got != want {
			t.Errorf("PerInstance(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

// TestRulesExportBoundariesPromtool: the exported rules judge the guide's
// boundaries exactly as the console does, in Prometheus: exactly at a
// strict target ("< 8 active", "< 1%") is outside it, exactly at an alert
// threshold ("> 0.8 of max", "> 5%") does not fire, just beyond fires,
// and what was never done (no backup, no check, no drill: the exporter's
// series absent) counts as infinitely old.
func TestRulesExportBoundariesPromtool(t *testing.T) {
	promtool := requirePromtool(t)
	dir := t.TempDir()
	b, err := ExportRules(DefaultRules(), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "repops.rules.yml")
	if err := os.WriteFile(rulesFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, b)
	}
	r := func(name string) Rule { return ruleByName(t, name) }
	none := func(alert string) string {
		return "      - eval_time: 10m\n        alertname: " + alert + "\n        exp_alerts: []\n"
	}
	fires := func(alert string, rule Rule, target bool, summary string) string {
		return "      - eval_time: 10m\n        alertname: " + alert + "\n        exp_alerts:\n" + expAlert(rule, target, summary)
	}
	// At the boundaries. time() is 600 at 10m: the check 7 days old.
	at := `  - interval: 1m
    input_series:
      - series: 'reputation_db_connections_active'
        values: '8x12'
      - series: 'reputation_db_connections_max'
        values: '10x12'
      - series: 'reputation_appeals_submitted_total'
        values: '0+1200x12'
      - series: 'reputation_appeal_errors_total'
        values: '0+60x12'
      - series: 'repops_backups'
        values: '3x12'
      - series: 'repops_backup_age_seconds'
        values: '3600x12'
      - series: 'repops_disk_free_bytes'
        values: '10x12'
      - series: 'repops_disk_total_bytes'
        values: '100x12'
      - series: 'repops_db_wal_bytes'
        values: '67108864x12'
      - series: 'repops_integrity_check_recorded'
        values: '1x12'
      - series: 'repops_integrity_check_timestamp_seconds'
        values: '-604200x12'
      - series: 'repops_schema_pending_migrations'
        values: '0x12'
    alert_rule_test:
` + none("ReputationDbConnections") +
		fires("ReputationDbConnectionsOutsideTarget", r("db_connections"), true, "Database connections: 8 outside target < 8") +
		none("ReputationAppealErrorRate") +
		fires("ReputationAppealErrorRateOutsideTarget", r("appeal_error_rate"), true, "Appeal error rate: 5 % outside target < 1 %") +
		none("ReputationBackupAge") +
		fires("ReputationBackupAgeOutsideTarget", r("backup_age"), true, "Backup age: 1 h outside target < 1 h") +
		none("ReputationDiskFree") +
		fires("ReputationDiskFreeOutsideTarget", r("disk_free"), true, "Disk free: 10 % outside target >= 20 %") +
		none("ReputationWalSize") +
		fires("ReputationWalSizeOutsideTarget", r("wal_size"), true, "WAL size: 64 MiB outside target < 64 MiB") +
		none("ReputationIntegrityCheckAge") +
		fires("ReputationIntegrityCheckAgeOutsideTarget", r("integrity_check_age"), true, "Integrity check age: 7 d outside target < 7 d") +
		none("ReputationSchemaBehind") +
		none("ReputationSchemaBehindOutsideTarget")
	// Exactly 100/min with exactly 1 % failing: outside both targets
	// ("< 100/min", "< 1%"), not beyond "> 100/min".
	at2 := `  - interval: 1m
    input_series:
      - series: 'reputation_appeals_submitted_total'
        values: '0+100x12'
      - series: 'reputation_appeal_errors_total'
        values: '0+1x12'
    alert_rule_test:
` + none("ReputationAppealSubmissionRate") +
		fires("ReputationAppealSubmissionRateOutsideTarget", r("appeal_submission_rate"), true, "Appeal submission rate: 100/min outside target < 100/min") +
		fires("ReputationAppealErrorRateOutsideTarget", r("appeal_error_rate"), true, "Appeal error rate: 1 % outside target < 1 %")
	// Just beyond the alert thresholds, and never backed up, checked or
	// drilled (the series absent, the counts 0).
	beyond := `  - interval: 1m
    input_series:
      - series: 'reputation_db_connections_active'
        values: '8.01x12'
      - series: 'reputation_db_connections_max'
        values: '10x12'
      - series: 'repops_backups'
        values: '0x12'
      - series: 'repops_integrity_check_recorded'
        values: '0x12'
      - series: 'repops_drill_recorded'
        values: '0x12'
      - series: 'repops_disk_free_bytes'
        values: '9x12'
      - series: 'repops_disk_total_bytes'
        values: '100x12'
    alert_rule_test:
` + fires("ReputationDbConnections", r("db_connections"), false, "Database connections: 80.1 % > alert threshold 80 %") +
		fires("ReputationBackupAge", r("backup_age"), false, "Backup age: +Inf h > alert threshold 1 h") +
		fires("ReputationIntegrityCheckAge", r("integrity_check_age"), false, "Integrity check age: +Inf d > alert threshold 31 d") +
		fires("ReputationDrDrillAgeOutsideTarget", r("dr_drill_age"), true, "DR drill age: +Inf d outside target < 92 d") +
		fires("ReputationDiskFree", r("disk_free"), false, "Disk free: 9 % < alert threshold 10 %")
	// Just within the targets.
	within := `  - interval: 1m
    input_series:
      - series: 'reputation_db_connections_active'
        values: '7.99x12'
      - series: 'reputation_db_connections_max'
        values: '10x12'
      - series: 'repops_backups'
        values: '1x12'
      - series: 'repops_backup_age_seconds'
        values: '3599x12'
      - series: 'repops_disk_free_bytes'
        values: '20x12'
      - series: 'repops_disk_total_bytes'
        values: '100x12'
    alert_rule_test:
` + none("ReputationDbConnectionsOutsideTarget") + none("ReputationBackupAgeOutsideTarget") + none("ReputationDiskFreeOutsideTarget")
	runPromtoolTest(t, dir, "rule_files: [repops.rules.yml]\nevaluation_interval: 1m\ntests:\n"+at+at2+beyond+within)
}

// TestExporterPromtoolLint: 'promtool check metrics' accepts the
// exporter's output (names and units as Prometheus' conventions want:
// base units, no _ms, _hours or _avg), before any check, drill or backup
// (their timestamps and ages absent, not 0) and after them.
func TestExporterPromtoolLint(t *testing.T) {
	promtool := requirePromtool(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path, stateDir, backupDir := testDB(t, now)
	lint := func(t *testing.T) string {
		t.Helper()
		exp := NewExporter(ExporterOptions{
			Database:       DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir, WaitSizes: time.Minute},
			JournalEntries: func(ctx context.Context) (int64, error) { return 3, nil },
			Now:            func() time.Time { return now },
		})
		defer exp.Close()
		rec := httptest.NewRecorder()
		exp.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		text := rec.Body.String()
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
		return text
	}
	t.Run("before any check or drill", func(t *testing.T) {
		text := lint(t)
		for _, absent := range []string{"repops_integrity_check_timestamp_seconds", "repops_drill_timestamp_seconds",
			"repops_backup_age_seconds", "repops_backup_last_timestamp_seconds"} {
			if strings.Contains(text, absent+" ") {
				t.Errorf("%s before there is any: want it absent (a timestamp of 0 reads as 1970)\n%s", absent, grepLines(text, "repops_"))
			}
		}
		for _, want := range []string{"repops_integrity_check_recorded 0", "repops_drill_recorded 0", "repops_backups 0"} {
			if !strings.Contains(text, want) {
				t.Errorf("lacks %q\n%s", want, grepLines(text, "repops_"))
			}
		}
	})
	t.Run("after a check and a drill", func(t *testing.T) {
		// Another database checked since: this one's record still counts.
		if err := state.WriteLastCheck(stateDir, state.CheckRecord{Time: now.Add(-time.Hour), Database: path, OK: true, Mode: "quick"}); err != nil {
			t.Fatal(err)
		}
		if err := state.WriteLastCheck(stateDir, state.CheckRecord{Time: now.Add(-time.Minute), Database: filepath.Join(t.TempDir(), "copy.db"), OK: false, Mode: "quick"}); err != nil {
			t.Fatal(err)
		}
		if err := state.WriteLastDrill(stateDir, state.DrillRecord{Time: now.Add(-24 * time.Hour), Database: path, OK: true, RTO: 90 * time.Second}); err != nil {
			t.Fatal(err)
		}
		text := lint(t)
		for _, want := range []string{"repops_integrity_check_recorded 1", "repops_integrity_check_timestamp_seconds 1.7723628e+09", "repops_drill_timestamp_seconds 1.77228e+09", "repops_drill_recorded 1"} {
			if !strings.Contains(text, want) {
				t.Errorf("lacks %q\n%s", want, grepLines(text, "repops_"))
			}
		}
	})
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
