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
	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/state"
)

// testDB creates a migrated database in a temp dir with a known workload
// around now, and returns its path, the state dir and the backup dir.
func testDB(t testing.TB, now time.Time) (path, stateDir, backupDir string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "architect.db")
	ctx := context.Background()
	w := testsupport.OpenMigrated(t, path)
	defer w.Close()
	err := db.Tx(ctx, w, func(tx *sql.Tx) error {
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
		// Three negotiations of 2, 10 and 30 hours finished 10 s ago (in
		// the negotiation window).
		for i, h := range []float64{2, 10, 30} {
			end := now.Add(-10 * time.Second)
			created := end.Add(-time.Duration(h * float64(time.Hour)))
			res, err := tx.ExecContext(ctx, `INSERT INTO appeals(user_id, reason, status, created_at, updated_at, resolved_at) VALUES (?, 'r', 'approved', ?, ?, ?)`,
				fmt.Sprintf("n%d", i), db.FormatTime(created), db.FormatTime(end), db.FormatTime(end))
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
	// Waiting for the size measurement makes the figures deterministic.
	src := NewDatabaseSource(DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir, WaitSizes: time.Minute})
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

	if err := os.WriteFile(filepath.Join(backupDir, state.BackupFileName("architect.db", now.Add(-2*time.Hour))), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := state.WriteLastCheck(stateDir, state.CheckRecord{Time: now.Add(-36 * time.Hour), Database: path, Mode: "quick", OK: false, Problems: []string{"page 3: bad"}}); err != nil {
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
		{PanelSchemaProblems, 0},
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
	if f.SchemaVersion != db.LatestVersion() || !f.SchemaValid || len(f.SchemaProblems) != 0 || !f.SchemaCheckedAt.Equal(now) ||
		f.DiskTotal <= 0 || f.DiskFree <= 0 || f.FileBytes <= 0 || f.Backups != 1 {
		t.Fatalf("figures %+v", f)
	}
	t.Run("sizes", func(t *testing.T) {
		// The first collection measured them, waiting for it.
		if f.SizesErr != "" || f.SizesAt.IsZero() || f.PageSize <= 0 || f.PageCount <= 0 || f.FreePages < 0 {
			t.Fatalf("size figures: at %v err %q page size %d count %d free %d", f.SizesAt, f.SizesErr, f.PageSize, f.PageCount, f.FreePages)
		}
		tables := map[string]TableFigure{}
		for _, tf := range f.Tables {
			if strings.HasPrefix(tf.Name, "sqlite_") || tf.Kind != "table" {
				t.Errorf("table list holds %+v", tf)
			}
			tables[tf.Name] = tf
		}
		for name, rows := range map[string]int64{"appeals": 73, "appeal_negotiation_messages": 9, "ml_predictions": 4, "appeals_archive": 0} {
			tf, ok := tables[name]
			// Small tables are counted: exact.
			if !ok || tf.Rows != rows || tf.Estimated || tf.RowSource != db.RowsCounted || tf.Pages < 1 || tf.Bytes != tf.Pages*f.PageSize {
				t.Errorf("%s: %+v, want %d rows counted, pages and bytes", name, tf, rows)
			}
		}
		var ix *TableFigure
		for i := range f.Indexes {
			if f.Indexes[i].Name == "idx_messages_appeal_created" {
				ix = &f.Indexes[i]
			}
		}
		if ix == nil || ix.Kind != "index" || ix.Table != "appeal_negotiation_messages" || ix.Rows != 9 || ix.Pages < 1 || ix.Bytes <= 0 {
			t.Fatalf("index idx_messages_appeal_created: %+v in %+v", ix, f.Indexes)
		}
	})
	if v := res.Panels[PanelDiskFree]; !v.OK || v.V <= 0 || v.V > 100 {
		t.Fatalf("disk free %+v", v)
	}
}

// TestDatabaseSourceSchema changes the schema under a running source: each
// change is seen at the next cycle (the schema cookie changed), and the
// rule judging the schema reflects it.
func TestDatabaseSourceSchema(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path, stateDir, backupDir := testDB(t, now)
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	src := NewDatabaseSource(DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir, NoSizes: true})
	defer src.Close()
	clock := newFakeClock()
	e, err := NewEngine(EngineOptions{Sources: []Source{src}, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	rule := func(s Snapshot) AlertStatus {
		for _, a := range s.Alerts {
			if a.Rule.Name == "schema_problems" {
				return a
			}
		}
		t.Fatal("no rule schema_problems")
		return AlertStatus{}
	}
	step := func(sqlText string, advance time.Duration) Snapshot {
		t.Helper()
		if sqlText != "" {
			if _, err := w.ExecContext(ctx, sqlText); err != nil {
				t.Fatal(err)
			}
		}
		clock.add(advance)
		return e.Cycle(ctx)
	}
	cases := []struct {
		name    string
		sql     string
		advance time.Duration
		valid   bool
		kinds   []string // problem kinds, in order
		problem string   // a problem line contains it
		panel   float64
		state   State
	}{
		{name: "valid", valid: true, state: StateOK, advance: time.Second},
		{name: "critical index dropped", sql: `DROP INDEX idx_messages_appeal_created`, advance: time.Second,
			kinds: []string{db.ProblemMissingIndex}, problem: "critical index (operations guide) idx_messages_appeal_created", panel: 1, state: StatePending},
		{name: "still missing after the rule's for", advance: 3 * time.Minute,
			kinds: []string{db.ProblemMissingIndex}, problem: "idx_messages_appeal_created", panel: 1, state: StateCritical},
		{name: "duplicate index added", sql: `CREATE INDEX idx_dup_user_status ON appeals(user_id, status)`, advance: time.Second,
			kinds: []string{db.ProblemMissingIndex, db.ProblemDuplicateIndex}, problem: "idx_dup_user_status duplicates idx_appeals_user_status", panel: 2, state: StateCritical},
		{name: "repaired", sql: `DROP INDEX idx_dup_user_status; CREATE INDEX idx_messages_appeal_created ON appeal_negotiation_messages(appeal_id, created_at)`,
			advance: time.Second, valid: true, state: StateOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := step(c.sql, c.advance)
			d := snap.DB
			if d.SchemaValid != c.valid || len(d.SchemaProblems) != len(c.kinds) {
				t.Fatalf("valid %v problems %q; want valid %v, %d problem(s)", d.SchemaValid, d.SchemaProblems, c.valid, len(c.kinds))
			}
			for i, k := range c.kinds {
				if !strings.HasPrefix(d.SchemaProblems[i], k+": ") {
					t.Errorf("problem %d %q, want kind %s", i, d.SchemaProblems[i], k)
				}
			}
			if c.problem != "" && !strings.Contains(strings.Join(d.SchemaProblems, "\n"), c.problem) {
				t.Errorf("problems %q lack %q", d.SchemaProblems, c.problem)
			}
			if !d.SchemaCheckedAt.Equal(snap.Time) && c.sql != "" {
				t.Errorf("schema checked at %v, want this cycle (%v): the change must be seen at once", d.SchemaCheckedAt, snap.Time)
			}
			p, _ := snap.Panel(PanelSchemaProblems)
			if !p.Value.OK || p.Value.V != c.panel {
				t.Errorf("panel %+v, want %g", p.Value, c.panel)
			}
			a := rule(snap)
			if a.State != c.state || a.Rule.Severity != SeverityWarning {
				t.Errorf("rule %s (severity %s): %s, want %s", a.State, a.Rule.Severity, a.Reason, c.state)
			}
		})
	}

	t.Run("cached for a minute", func(t *testing.T) {
		first := step("", time.Second).DB.SchemaCheckedAt
		if got := step("", 30*time.Second).DB.SchemaCheckedAt; !got.Equal(first) {
			t.Fatalf("validated again after 30 s with no schema change (%v, then %v)", first, got)
		}
		snap := step("", 31*time.Second)
		if got := snap.DB.SchemaCheckedAt; !got.Equal(snap.Time) {
			t.Fatalf("not validated again after a minute (%v at %v)", got, snap.Time)
		}
	})
}

// TestDatabaseSourceSizesBackground checks the size measurement runs
// beside the cycle: a cycle that does not wait returns at once, the
// figures appear in a later cycle, the next measurement waits for its
// cadence, and Close stops a running one.
func TestDatabaseSourceSizesBackground(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path, stateDir, backupDir := testDB(t, now)
	ctx := context.Background()
	src := NewDatabaseSource(DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir})
	defer src.Close()
	var res Result
	var err error
	at := now
	// Bounded: 2000 cycles of 10 ms of real time at most.
	for i := 0; i < 2000; i++ {
		if res, err = src.Collect(ctx, at); err != nil {
			t.Fatal(err)
		}
		if !res.DB.SizesAt.IsZero() {
			break
		}
		time.Sleep(10 * time.Millisecond)
		at = at.Add(time.Second)
	}
	if res.DB.SizesErr != "" || !res.DB.SizesAt.Equal(now) || len(res.DB.Tables) == 0 {
		t.Fatalf("sizes at %v (want %v, the first cycle's), err %q, %d tables", res.DB.SizesAt, now, res.DB.SizesErr, len(res.DB.Tables))
	}
	src.mu.Lock()
	next := src.sizesNext
	src.mu.Unlock()
	if !next.Equal(now.Add(sizesMinRefresh)) {
		t.Fatalf("next measurement at %v, want %v (a quick measurement waits the minimum)", next, now.Add(sizesMinRefresh))
	}
	res, _ = src.Collect(ctx, now.Add(4*time.Minute))
	if src.sizesRun != nil || !res.DB.SizesAt.Equal(now) {
		t.Fatal("a measurement started before its cadence")
	}
	res, _ = src.Collect(ctx, now.Add(sizesMinRefresh))
	if src.sizesRun == nil && !res.DB.SizesAt.Equal(now.Add(sizesMinRefresh)) {
		t.Fatal("no measurement started at its cadence")
	}
	// Close while it may still run: it returns, and nothing is left running.
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSizesCadence feeds the source measurement results of given
// durations: the next one waits the minimum, or 200 times the last
// duration when that is longer; a failure is reported and keeps the
// previous figures.
func TestSizesCadence(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		took time.Duration
		err  error
		next time.Duration
	}{
		{"quick", 500 * time.Millisecond, nil, sizesMinRefresh},
		{"slow", 3 * time.Second, nil, 10 * time.Minute},
		{"timed out", sizesTimeout, context.DeadlineExceeded, 400 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prev := &db.Sizes{PageSize: 4096}
			s := &DatabaseSource{sizes: prev, sizesStarted: start, sizesRun: make(chan sizeResult, 1)}
			var got *db.Sizes
			if c.err == nil {
				got = &db.Sizes{PageSize: 4096, Took: c.took}
			}
			s.sizesRun <- sizeResult{sizes: got, took: c.took, err: c.err}
			s.takeSizes(context.Background(), 0)
			if s.sizesRun != nil || !s.sizesNext.Equal(start.Add(c.next)) {
				t.Fatalf("next at %v, want %v", s.sizesNext.Sub(start), c.next)
			}
			var f DBFigures
			s.sizeFigures(&f)
			if c.err != nil {
				if s.sizes != prev || !strings.Contains(f.SizesErr, "deadline exceeded") {
					t.Fatalf("after a failure: sizes %p (want the previous %p), err %q", s.sizes, prev, f.SizesErr)
				}
				return
			}
			if s.sizes != got || f.SizesErr != "" || !f.SizesAt.Equal(start) || f.SizesTook != c.took {
				t.Fatalf("figures %+v", f)
			}
		})
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
	if err := state.WriteLastDrill(stateDir, state.DrillRecord{Time: now.Add(-24 * time.Hour), Database: path, OK: true, RTO: 90 * time.Second, RPO: time.Hour, RTOLimit: 30 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	exp := NewExporter(ExporterOptions{
		Database:       DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir, WaitSizes: time.Minute},
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
		"repops_backups 0",
		"repops_integrity_check_recorded 0",
		"repops_drill_recorded 1",
		"repops_drill_timestamp_seconds ",
		"repops_drill_rto_seconds 90",
		"repops_drill_ok 1",
		"repops_journal_entries 42",
		"repops_db_appeals_submitted_per_second 0.1666",
		`repops_db_negotiation_duration_seconds{stat="avg"} 50400`,
		`repops_db_table_rows{table="appeals"} 73`,
		`repops_db_table_bytes{table="appeals"} `,
		`repops_db_index_bytes{index="idx_messages_appeal_created",table="appeal_negotiation_messages"} `,
		"repops_db_page_size_bytes 4096",
		"repops_db_sizes_timestamp_seconds ",
		"repops_schema_problems 0",
		"repops_db_appeals_pending 35",
		"repops_schema_pending_migrations 0",
		"repops_disk_total_bytes ",
		"process_cpu_seconds_total",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exporter output lacks %q", want)
		}
	}
	// Not known yet, so absent (never 0: a timestamp of 0 is a check in
	// 1970, an age of +Inf a number): no backup, no integrity check.
	for _, absent := range []string{"repops_backup_age_seconds", "repops_backup_last_timestamp_seconds",
		"repops_integrity_check_timestamp_seconds", "repops_integrity_check_ok", "_hours", "_ms_", "_avg"} {
		if strings.Contains(text, absent) {
			t.Errorf("exporter output has %q", absent)
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

// TestDatabaseSourceWindows: the negotiation panels judge only the
// negotiations finished in the window (a slow one finished before it no
// longer counts), and db_growth is the rows inserted per minute over the
// last minute, from the main tables' largest rowids.
func TestDatabaseSourceWindows(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path, stateDir, backupDir := testDB(t, now)
	src := NewDatabaseSource(DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir, NoSizes: true})
	defer src.Close()
	ctx := context.Background()
	w := testsupport.OpenMigrated(t, path)
	defer w.Close()
	// A 60-hour negotiation finished 31 s ago: just outside the window.
	end := now.Add(-DefaultNegotiationWindow - time.Second)
	start := end.Add(-60 * time.Hour)
	res, err := w.Exec(`INSERT INTO appeals(user_id, reason, status, created_at, updated_at, resolved_at) VALUES ('slow', 'r', 'expired', ?, ?, ?)`,
		db.FormatTime(start), db.FormatTime(end), db.FormatTime(end))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	for _, at := range []time.Time{start, end} {
		if _, err := w.Exec(`INSERT INTO appeal_negotiation_messages(appeal_id, sender, body, created_at) VALUES (?, 'system', 'b', ?)`, id, db.FormatTime(at)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := src.Collect(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Panels[PanelNegotiationP95]; !v.OK || !approx(v.V, 28, 1e-6) {
		t.Fatalf("p95 %+v, want 28 (the 60 h negotiation finished before the window)", v)
	}
	if v := r.Panels[PanelDBGrowth]; v.OK {
		t.Fatalf("db_growth %+v after one reading, want unknown", v)
	}
	// A second earlier: the slow one is in the window.
	src2 := NewDatabaseSource(DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir, NoSizes: true})
	defer src2.Close()
	if r, err := src2.Collect(ctx, now.Add(-2*time.Second)); err != nil {
		t.Fatal(err)
	} else if v := r.Panels[PanelNegotiationP95]; !v.OK || v.V <= 30 {
		t.Fatalf("p95 %+v, want the 60 h negotiation counted", v)
	}

	// 300 rows in the next 30 s: 600 rows/min.
	for i := 0; i < 300; i++ {
		if _, err := w.Exec(`INSERT INTO ml_predictions(user_id, prediction_type, confidence, latency_ms, model_version, created_at) VALUES ('u', 'x', 0.9, 10, 'v1', ?)`, db.FormatTime(now)); err != nil {
			t.Fatal(err)
		}
	}
	r, err = src.Collect(ctx, now.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Panels[PanelDBGrowth]; !v.OK || !approx(v.V, 600, 1e-6) {
		t.Fatalf("db_growth %+v, want 600 rows/min", v)
	}
	// Nothing more for 90 s: the window no longer holds the inserts.
	for _, at := range []time.Duration{60 * time.Second, 120 * time.Second} {
		r, err = src.Collect(ctx, now.Add(at))
		if err != nil {
			t.Fatal(err)
		}
	}
	if v := r.Panels[PanelDBGrowth]; !v.OK || v.V != 0 {
		t.Fatalf("db_growth %+v a minute after the inserts, want 0", v)
	}
}
