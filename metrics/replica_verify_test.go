package metrics

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/replicate"
)

// writeVerifyRecord records a verification of dbPath at t through
// replicate.WriteVerify (the writer 'repops replicate verify' uses, so
// that the panels read the format it writes).
func writeVerifyRecord(t *testing.T, stateDir, dbPath string, at time.Time, status string, problems ...string) {
	t.Helper()
	rec := &replicate.VerifyRecord{Database: dbPath, Time: at, Status: status, Check: "quick_check", Problems: problems}
	if err := replicate.WriteVerify(stateDir, rec); err != nil {
		t.Fatal(err)
	}
}

func verifyAlert(t *testing.T, s Snapshot, rule string) AlertStatus {
	t.Helper()
	for _, a := range s.Alerts {
		if a.Rule.Name == rule {
			return a
		}
	}
	t.Fatalf("no rule %s in the snapshot", rule)
	return AlertStatus{}
}

// TestReplicaVerifyRules: the replica verification rules from the record
// in the state dir, as the engine judges them with replication configured
// (a replica verification source) and without (none: not configured).
func TestReplicaVerifyRules(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	dbPath, stateDir := filepath.Join(dir, "architect.db"), filepath.Join(dir, "state")
	cycle := func(t *testing.T, srcs ...Source) Snapshot {
		t.Helper()
		e, err := NewEngine(EngineOptions{Sources: srcs, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		return e.Cycle(context.Background())
	}
	src := NewReplicaVerifySource(stateDir, dbPath)
	type want struct {
		age, failed State
		ageV        float64 // NaN: unknown
	}
	check := func(t *testing.T, w want) {
		t.Helper()
		s := cycle(t, src)
		age, failed := verifyAlert(t, s, "replica_verify_age"), verifyAlert(t, s, "replica_verify_failed")
		if !age.Configured || !failed.Configured {
			t.Fatalf("not configured with the replica verification source: %+v %+v", age, failed)
		}
		if age.State != w.age || failed.State != w.failed {
			t.Fatalf("replica_verify_age %s (%s), replica_verify_failed %s (%s); want %s, %s", age.State, age.Reason, failed.State, failed.Reason, w.age, w.failed)
		}
		switch {
		case math.IsNaN(w.ageV):
			if age.Value.OK {
				t.Fatalf("age %v, want unknown", age.Value.V)
			}
		case !age.Value.OK || math.Abs(age.Value.V-w.ageV) > 1e-9 && !(math.IsInf(w.ageV, 1) && math.IsInf(age.Value.V, 1)):
			t.Fatalf("age %+v, want %v h", age.Value, w.ageV)
		}
	}
	for _, r := range DefaultRules() {
		if r.Name == "replica_verify_age" && (r.Target != 2 || r.Alert != 25 || r.Severity != SeverityWarning || r.Runbook != "replication-lag") {
			t.Fatalf("replica_verify_age: %+v", r)
		}
	}

	t.Run("never verified: unknown, saying so", func(t *testing.T) {
		check(t, want{StateUnknown, StateUnknown, math.NaN()})
		a := verifyAlert(t, cycle(t, src), "replica_verify_age")
		if !strings.Contains(a.Reason, "no replica verification of this database recorded") {
			t.Fatalf("reason %q", a.Reason)
		}
	})
	t.Run("another database's record is not this one's", func(t *testing.T) {
		other := filepath.Join(dir, "other.db")
		writeVerifyRecord(t, stateDir, other, now.Add(-10*time.Minute), replicate.VerifyOK)
		check(t, want{StateUnknown, StateUnknown, math.NaN()})
	})
	t.Run("fresh success: OK", func(t *testing.T) {
		writeVerifyRecord(t, stateDir, dbPath, now.Add(-30*time.Minute), replicate.VerifyOK)
		check(t, want{StateOK, StateOK, 0.5})
	})
	t.Run("3 h: outside the target", func(t *testing.T) {
		writeVerifyRecord(t, stateDir, dbPath, now.Add(-3*time.Hour), replicate.VerifyOK)
		check(t, want{StateWarning, StateOK, 3})
	})
	t.Run("30 h: alerting, severity warning", func(t *testing.T) {
		writeVerifyRecord(t, stateDir, dbPath, now.Add(-30*time.Hour), replicate.VerifyOK)
		check(t, want{StateCritical, StateOK, 30})
	})
	t.Run("the last one failed: failed alerts, the age since the last success goes on", func(t *testing.T) {
		writeVerifyRecord(t, stateDir, dbPath, now.Add(-90*time.Minute), replicate.VerifyOK)
		writeVerifyRecord(t, stateDir, dbPath, now.Add(-10*time.Minute), replicate.VerifyCritical, "rows: table appeals differs")
		check(t, want{StateOK, StateCritical, 1.5})
	})
	t.Run("the last one could not run: failed unknown, age from the last success", func(t *testing.T) {
		writeVerifyRecord(t, stateDir, dbPath, now.Add(-5*time.Minute), replicate.VerifyUnknown, "litestream is not installed")
		check(t, want{StateOK, StateUnknown, 1.5})
	})
	t.Run("never succeeded: infinitely old", func(t *testing.T) {
		other := filepath.Join(dir, "never.db")
		writeVerifyRecord(t, stateDir, other, now.Add(-5*time.Minute), replicate.VerifyCritical, "quick_check: damaged")
		s := cycle(t, NewReplicaVerifySource(stateDir, other))
		if a := verifyAlert(t, s, "replica_verify_age"); a.State != StateCritical || !math.IsInf(a.Value.V, 1) {
			t.Fatalf("never succeeded: %s %+v", a.State, a.Value)
		}
	})
	t.Run("replication off: not configured, status unaffected", func(t *testing.T) {
		path, sd, bd := testDB(t, now)
		writeVerifyRecord(t, sd, path, now.Add(-30*time.Hour), replicate.VerifyCritical, "rows differ")
		db := NewDatabaseSource(DatabaseOptions{Path: path, StateDir: sd, BackupDir: bd, NoSizes: true})
		defer db.Close()
		s := cycle(t, db)
		for _, name := range []string{"replica_verify_age", "replica_verify_failed"} {
			a := verifyAlert(t, s, name)
			if a.Configured || a.State != StateUnknown {
				t.Fatalf("%s without replication: configured %v, %s (%s)", name, a.Configured, a.State, a.Reason)
			}
		}
	})
}

// TestExporterReplicaVerify: repops_replica_verify_last_success_timestamp_seconds
// is absent until a verification succeeded (never 0), then the last
// success's time, kept through a failed verification; the rules export
// has both rules and promtool accepts it.
func TestExporterReplicaVerify(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	path, stateDir, backupDir := testDB(t, now)
	exp := NewExporter(ExporterOptions{
		Database: DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir, NoSizes: true},
		Now:      func() time.Time { return now },
	})
	defer exp.Close()
	srv := httptest.NewServer(exp.Handler())
	defer srv.Close()
	scrape := func() string {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	text := scrape()
	if !strings.Contains(text, "repops_replica_verify_recorded 0\n") {
		t.Fatalf("no repops_replica_verify_recorded 0 before any record:\n%s", text)
	}
	for _, absent := range []string{"repops_replica_verify_last_success_timestamp_seconds", "repops_replica_verify_ok", "repops_replica_verify_timestamp_seconds"} {
		if strings.Contains(text, absent) {
			t.Fatalf("%s before any verification:\n%s", absent, text)
		}
	}

	ok := now.Add(-time.Hour)
	writeVerifyRecord(t, stateDir, path, ok, replicate.VerifyOK)
	text = scrape()
	for _, want := range []string{"repops_replica_verify_recorded 1\n", "repops_replica_verify_ok 1\n",
		"repops_replica_verify_last_success_timestamp_seconds " + promInt(ok) + "\n"} {
		if !strings.Contains(text, want) {
			t.Fatalf("after a success, no %q:\n%s", want, text)
		}
	}
	failed := now.Add(-time.Minute)
	writeVerifyRecord(t, stateDir, path, failed, replicate.VerifyCritical, "quick_check: damaged")
	text = scrape()
	for _, want := range []string{"repops_replica_verify_ok 0\n", "repops_replica_verify_timestamp_seconds " + promInt(failed) + "\n",
		"repops_replica_verify_last_success_timestamp_seconds " + promInt(ok) + "\n"} {
		if !strings.Contains(text, want) {
			t.Fatalf("after a failure, no %q:\n%s", want, text)
		}
	}

	b, err := ExportRules(DefaultRules(), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"repops:replica_verify_age", "repops_replica_verify_last_success_timestamp_seconds", "repops:replica_verify_ok"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("rules export lacks %q", want)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found: install it: apt-get install prometheus")
	}
	f := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func promInt(t time.Time) string { return strconv.FormatFloat(float64(t.Unix()), 'g', -1, 64) }
