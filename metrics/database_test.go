package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
)

// testDB creates a migrated database in a temp dir with a known workload
// around now, and returns its path, the state dir and the backup dir.
func testDB(t testing.TB, now time.Time) (path, stateDir, backupDir string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "architect.db")
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := db.Migrate(ctx, w, path); err != nil {
		t.Fatal(err)
	}
	err = db.Tx(ctx, w, func(tx *sql.Tx) error {
		ins := func(q string, args ...any) error {
			_, err := tx.ExecContext(ctx, q, args...)
			return err
		}
		// 50 appeals in the last 5 minutes (10/min), 20 older ones.
		for i := 0; i < 70; i++ {
			created := now.Add(-time.Duration(i) * 5 * time.Second)
			if i >= 50 {
				created = now.Add(-time.Hour - time.Duration(i)*time.Minute)
			}
			status := "pending"
			if i%2 == 1 {
				status = "negotiating"
			}
			if err := ins(`INSERT INTO appeals(user_id, reason, status, created_at, updated_at) VALUES (?, 'r', ?, ?, ?)`,
				fmt.Sprintf("u%d", i), status, db.FormatTime(created), db.FormatTime(created)); err != nil {
				return err
			}
		}
		// Three finished negotiations of 2, 10 and 30 hours.
		for i, h := range []float64{2, 10, 30} {
			created := now.Add(-48 * time.Hour)
			res, err := tx.ExecContext(ctx, `INSERT INTO appeals(user_id, reason, status, created_at, updated_at, resolved_at) VALUES (?, 'r', 'approved', ?, ?, ?)`,
				fmt.Sprintf("n%d", i), db.FormatTime(created), db.FormatTime(created), db.FormatTime(created))
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			for _, at := range []time.Time{created, created.Add(time.Duration(h * float64(time.Hour) / 2)), created.Add(time.Duration(h * float64(time.Hour)))} {
				if err := ins(`INSERT INTO appeal_negotiation_messages(appeal_id, sender, body, created_at) VALUES (?, 'user', 'b', ?)`, id, db.FormatTime(at)); err != nil {
					return err
				}
			}
		}
		for i, c := range []float64{0.5, 0.7, 0.5, 0.7} {
			if err := ins(`INSERT INTO ml_predictions(user_id, prediction_type, confidence, latency_ms, model_version, created_at) VALUES ('u', 'appeal', ?, ?, 'v1', ?)`,
				c, 10+20*float64(i%2), db.FormatTime(now.Add(-time.Minute))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stateDir = filepath.Join(dir, "state")
	backupDir = filepath.Join(dir, "backups")
	if err := os.MkdirAll(backupDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, stateDir, backupDir
}

func TestDatabaseSource(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path, stateDir, backupDir := testDB(t, now)
	src := NewDatabaseSource(DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir})
	defer src.Close()
	ctx := context.Background()

	t.Run("no backup, no check", func(t *testing.T) {
		res, err := src.Collect(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if v := res.Panels[PanelBackupAge]; !v.OK || !math.IsInf(v.V, 1) {
			t.Fatalf("backup age %+v, want +Inf (no backup is as bad as an infinitely old one)", v)
		}
		if v := res.Panels[PanelIntegrityOK]; v.OK || !strings.Contains(v.Reason, "repops check") {
			t.Fatalf("integrity %+v, want unknown telling to run repops check", v)
		}
	})

	if err := os.WriteFile(filepath.Join(backupDir, db.BackupFileName("architect.db", now.Add(-2*time.Hour))), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteLastCheck(stateDir, db.CheckRecord{Time: now.Add(-36 * time.Hour), Database: path, Mode: "quick", OK: false, Problems: []string{"page 3: bad"}}); err != nil {
		t.Fatal(err)
	}
	res, err := src.Collect(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		panel string
		want  float64
	}{
		{PanelSubmissionRate, 10},
		{PanelPendingAppeals, 35},
		{PanelNegotiationAvg, 14},
		{PanelNegotiationP95, 10 + 20*0.9}, // interpolated between 10 and 30
		{PanelMLConfidence, 0.6},
		{PanelPredictionLatency, 20},
		{PanelBackupAge, 2},
		{PanelIntegrityOK, 0},
		{PanelIntegrityAge, 1.5},
		{PanelSchemaPending, 0},
	}
	for _, c := range cases {
		t.Run(c.panel, func(t *testing.T) {
			v := res.Panels[c.panel]
			if !v.OK || !approx(v.V, c.want, 1e-6) {
				t.Fatalf("%s = %+v, want %g", c.panel, v, c.want)
			}
		})
	}
	f := res.DB
	if f.SchemaVersion != db.LatestVersion() || !f.SchemaValid || f.DiskTotal <= 0 || f.FileBytes <= 0 || f.Backups != 1 {
		t.Fatalf("figures %+v", f)
	}
	rows := map[string]int64{}
	for _, tf := range f.Tables {
		rows[tf.Name] = tf.Rows
	}
	if rows["appeals"] != 73 || rows["appeal_negotiation_messages"] != 9 {
		t.Fatalf("table rows %v", rows)
	}
	if v := res.Panels[PanelDiskFree]; !v.OK || v.V <= 0 || v.V > 100 {
		t.Fatalf("disk free %+v", v)
	}
}

func TestDatabaseSourceBadFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body string
	}{
		{"missing", ""},
		{"not sqlite", "this is not a database, just text long enough to have a header................................................"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".db")
			if c.body != "" {
				if err := os.WriteFile(path, []byte(c.body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			src := NewDatabaseSource(DatabaseOptions{Path: path, StateDir: dir, BackupDir: dir})
			defer src.Close()
			res, err := src.Collect(context.Background(), time.Now())
			if err == nil {
				t.Fatal("want an error")
			}
			if v := res.Panels[PanelSubmissionRate]; v.OK || v.Reason == "" {
				t.Fatalf("submission rate %+v, want unknown with reason", v)
			}
			if v := res.Panels[PanelDiskFree]; !v.OK {
				t.Fatalf("disk free should not need the database: %+v", v)
			}
		})
	}
}

func TestExporter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path, stateDir, backupDir := testDB(t, now)
	if err := db.WriteLastDrill(stateDir, db.DrillRecord{Time: now.Add(-24 * time.Hour), OK: true, RTO: 90 * time.Second, RPO: time.Hour, RTOLimit: 30 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	exp := NewExporter(ExporterOptions{
		Database:       DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir},
		JournalEntries: func(ctx context.Context) (int64, error) { return 42, nil },
		Now:            func() time.Time { return now },
	})
	defer exp.Close()
	srv := httptest.NewServer(exp.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		"repops_database_up 1",
		"repops_backup_age_seconds +Inf",
		"repops_backup_last_timestamp_seconds 0",
		"repops_integrity_check_timestamp_seconds 0",
		"repops_drill_rto_seconds 90",
		"repops_drill_ok 1",
		"repops_journal_entries 42",
		"repops_db_appeals_per_minute 10",
		`repops_db_negotiation_duration_hours{stat="avg"} 14`,
		`repops_db_table_rows{table="appeals"} 73`,
		"repops_db_appeals_pending 35",
		"repops_schema_pending_migrations 0",
		"repops_disk_total_bytes ",
		"process_cpu_seconds_total",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exporter output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
	// The exporter's own output parses through the scrape source's parser.
	ps := newPayloadServer(t)
	ps.set(text)
	sc, _ := NewScrapeSource(ScrapeOptions{URL: ps.url()})
	if _, err := sc.Collect(context.Background(), now); err != nil {
		t.Fatalf("exporter output does not parse: %v", err)
	}
}
