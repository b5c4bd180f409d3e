package runbooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/repops/repops/config"
	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/state"
	"golang.org/x/sys/unix"
)

// EnvConfig is what OpsEnv needs: the effective config (database path,
// backup dir, archive policy), the connection options, who acts, and where
// metric readings come from.
type EnvConfig struct {
	Config *config.Config
	DB     db.Options
	// StateDir holds the journal and the procedure lock; default
	// Config.StateDir().
	StateDir string
	Actor    ops.Actor
	// ReadOnly refuses every action that writes (ActionSpec.Writes).
	ReadOnly bool
	// Metrics returns the current metric readings for metric checks and
	// gather_state; nil means no metrics source (metric checks fail with
	// "no data", never read as zero). SnapshotReader adapts a
	// metrics.Snapshot.
	Metrics func(ctx context.Context) (MetricReader, error)
}

// OpsEnv is the real Env: queries through db.OpenRead, actions through
// the ops and db procedures, journal entries through ops.Journal.
//
// Every query and action opens its own connection and closes it: a
// restore replaces the database file, and a connection kept open across
// it would go on reading the old one.
type OpsEnv struct {
	cfg  EnvConfig
	acts map[string]actionFunc
}

type actionFunc func(ctx context.Context, params map[string]string, progress ops.Progress) (ActionResult, error)

var _ Env = (*OpsEnv)(nil)

// NewOpsEnv returns the real Env for cfg.
func NewOpsEnv(cfg EnvConfig) *OpsEnv {
	if cfg.StateDir == "" {
		cfg.StateDir = cfg.Config.StateDir()
	}
	if cfg.Actor.User == "" {
		cfg.Actor = ops.CurrentActor("")
	}
	e := &OpsEnv{cfg: cfg}
	e.acts = e.actions()
	return e
}

// Target implements Env.
func (e *OpsEnv) Target() string { return e.cfg.Config.Database.Path }

func (e *OpsEnv) recorder() ops.Recorder {
	return ops.Recorder{StateDir: e.cfg.StateDir, Actor: e.cfg.Actor}
}

// Query implements Env: one statement through a read-only connection
// (mode=ro, query_only), rows as text.
func (e *OpsEnv) Query(ctx context.Context, query string) (QueryResult, error) {
	r, err := db.OpenRead(ctx, e.Target(), e.cfg.DB)
	if err != nil {
		return QueryResult{}, err
	}
	defer r.Close()
	return QueryReadOnly(ctx, r, e.Target(), query)
}

// QueryReadOnly runs query on one connection of r and returns its rows as
// text. It does not check the statement: r must be read-only
// (db.OpenRead: mode=ro and query_only), which is what makes SQLite itself
// refuse a write. On top of that the connection is given a limit of zero
// attached databases, because mode=ro covers only the main file: an ATTACH
// on a read-only connection would otherwise create a new database file.
func QueryReadOnly(ctx context.Context, r *sql.DB, path, query string) (QueryResult, error) {
	q, err := r.Conn(ctx)
	if err != nil {
		return QueryResult{}, db.Classify(path, fmt.Errorf("run check query on %s: %w", path, err))
	}
	defer q.Close()
	if err := q.Raw(func(dc any) error {
		c, ok := db.SQLiteConn(dc)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		c.SetLimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
		return nil
	}); err != nil {
		return QueryResult{}, fmt.Errorf("run check query on %s: %w", path, err)
	}
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return QueryResult{}, db.Classify(path, fmt.Errorf("run check query on %s: %w", path, err))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return QueryResult{}, fmt.Errorf("run check query on %s: %w", path, err)
	}
	res := QueryResult{Columns: cols}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		res.Count++
		if len(res.Rows) >= MaxQueryRows {
			res.Trunc = true
			continue
		}
		if err := rows.Scan(ptrs...); err != nil {
			return res, fmt.Errorf("run check query on %s: %w", path, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if v.Valid {
				row[i] = v.String
			} else {
				row[i] = "NULL"
			}
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return res, db.Classify(path, fmt.Errorf("run check query on %s: %w", path, err))
	}
	return res, nil
}

// Metrics implements Env.
func (e *OpsEnv) Metrics(ctx context.Context) (MetricReader, error) {
	if e.cfg.Metrics == nil {
		return MetricMap{}, nil
	}
	return e.cfg.Metrics(ctx)
}

// Record implements Env: one entry appended to the ops journal in the
// state dir.
func (e *OpsEnv) Record(en ops.Entry) error {
	j, err := ops.OpenJournal(e.cfg.StateDir)
	if err != nil {
		return err
	}
	_, err = j.Append(en)
	return errorsJoin(err, j.Close())
}

// Act implements Env.
func (e *OpsEnv) Act(ctx context.Context, action string, params map[string]string, progress ops.Progress) (ActionResult, error) {
	spec, ok := Actions()[action]
	f, wired := e.acts[action]
	if !ok || !wired {
		return ActionResult{}, fmt.Errorf("unknown action %q", action)
	}
	if err := spec.checkParams(params); err != nil {
		return ActionResult{}, err
	}
	if spec.Writes && e.cfg.ReadOnly {
		refusal := ErrReadOnly
		if action == "backup" {
			refusal = ops.ErrReadOnlyBackup
		}
		return ActionResult{}, fmt.Errorf("action %s: %w", action, refusal)
	}
	return f(ctx, params, progress)
}

// actions wires each catalogue name to its procedure (every name of
// Actions has one: TestEveryActionIsWired).
func (e *OpsEnv) actions() map[string]actionFunc {
	return map[string]actionFunc{
		"prerequisites":      e.prerequisites,
		"health":             e.health,
		"disk_space":         e.diskSpace,
		"list_backups":       e.listBackups,
		"backup":             e.backup,
		"verify_backup":      e.verifyBackup,
		"restore":            e.restore,
		"check":              e.check,
		"drill":              e.drill,
		"analyze":            e.optimize(ops.OpAnalyze),
		"optimize":           e.optimize(ops.OpOptimize),
		"reindex":            e.optimize(ops.OpReindex),
		"vacuum":             e.optimize(ops.OpVacuum),
		"incremental_vacuum": e.optimize(ops.OpIncrementalVacuum),
		"checkpoint":         e.optimize(ops.OpCheckpoint),
		"archive":            e.archive,
		"migrate":            e.migrate,
		"migration_status":   e.migrationStatus,
		"validate_schema":    e.validateSchema,
		"table_sizes":        e.tableSizes,
		"index_report":       e.indexReport,
		"create_index":       e.createIndex,
		"explain":            e.explain,
		"gather_state":       e.gatherState,
	}
}

func (e *OpsEnv) openRead(ctx context.Context) (*sql.DB, error) {
	return db.OpenRead(ctx, e.Target(), e.cfg.DB)
}

// prerequisites: the guide's "checks prerequisites (Go, SQLite)", for
// repops: the SQLite library, the database, the state and backup dirs,
// free space.
func (e *OpsEnv) prerequisites(ctx context.Context, _ map[string]string, _ ops.Progress) (ActionResult, error) {
	res := ActionResult{Figures: map[string]float64{}}
	var problems []string
	r, err := e.openRead(ctx)
	if err != nil {
		return res, fmt.Errorf("prerequisites: %w", err)
	}
	defer r.Close()
	var version string
	if err := r.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version); err != nil {
		return res, fmt.Errorf("prerequisites: read the SQLite version: %w", err)
	}
	res.Details = append(res.Details, "SQLite "+version, "database "+e.Target()+" opens")
	v, err := db.RequireSchema(ctx, r, e.Target())
	if err != nil {
		problems = append(problems, err.Error())
	} else {
		res.Details = append(res.Details, fmt.Sprintf("schema version %d (this repops knows up to %d)", v, db.LatestVersion()))
		res.Figures["schema_version"] = float64(v)
	}
	for _, d := range []struct{ what, dir string }{{"state dir", e.cfg.StateDir}, {"backup dir", e.cfg.Config.BackupDir()}} {
		if e.cfg.ReadOnly {
			// Read-only mode creates nothing, not even a probe file:
			// access(2) answers for the directory as it is.
			switch err := unix.Access(d.dir, unix.W_OK); {
			case errors.Is(err, os.ErrNotExist):
				res.Details = append(res.Details, d.what+" "+d.dir+" does not exist yet (the first write creates it; read-only mode does not)")
			case err != nil:
				problems = append(problems, fmt.Sprintf("%s %s is not writable: %v", d.what, d.dir, err))
			default:
				res.Details = append(res.Details, d.what+" "+d.dir+" writable (access check: read-only mode writes no probe)")
			}
			continue
		}
		if err := os.MkdirAll(d.dir, 0o700); err != nil {
			problems = append(problems, fmt.Sprintf("%s %s cannot be created: %v", d.what, d.dir, err))
			continue
		}
		f, err := os.CreateTemp(d.dir, ".repops-prereq-*")
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %s is not writable: %v", d.what, d.dir, err))
			continue
		}
		f.Close()
		os.Remove(f.Name())
		res.Details = append(res.Details, d.what+" "+d.dir+" writable")
	}
	free, err := e.diskSpace(ctx, nil, nil)
	if err == nil {
		res.Details = append(res.Details, free.Message)
		for k, v := range free.Figures {
			res.Figures[k] = v
		}
	}
	res.Figures["problems"] = float64(len(problems))
	if len(problems) > 0 {
		res.Details = append(res.Details, problems...)
		return res, fmt.Errorf("prerequisites: %s", strings.Join(problems, "; "))
	}
	res.Message = "prerequisites met: SQLite " + version
	return res, nil
}

// health: open read-only, schema known, quick_check, row counts.
func (e *OpsEnv) health(ctx context.Context, _ map[string]string, _ ops.Progress) (ActionResult, error) {
	res := ActionResult{Figures: map[string]float64{}}
	r, err := e.openRead(ctx)
	if err != nil {
		return res, fmt.Errorf("health check: %w", err)
	}
	defer r.Close()
	v, err := db.RequireSchema(ctx, r, e.Target())
	if err != nil {
		return res, fmt.Errorf("health check: %w", err)
	}
	res.Figures["schema_version"] = float64(v)
	var qc string
	if err := r.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&qc); err != nil {
		return res, fmt.Errorf("health check: %w", db.Classify(e.Target(), err))
	}
	ok := qc == "ok"
	res.Figures["quick_check_ok"] = boolFigure(ok)
	for _, t := range []string{"appeals", "appeal_negotiation_messages", "ml_predictions"} {
		var n int64
		if err := r.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return res, fmt.Errorf("health check: count %s: %w", t, db.Classify(e.Target(), err))
		}
		res.Figures[t+"_rows"] = float64(n)
		res.Details = append(res.Details, fmt.Sprintf("%s: %d rows", t, n))
	}
	if !ok {
		return res, fmt.Errorf("health check: quick_check says %q: run the database-corruption runbook", qc)
	}
	res.Message = fmt.Sprintf("healthy: schema version %d, quick_check ok, %d appeals", v, int64(res.Figures["appeals_rows"]))
	return res, nil
}

func (e *OpsEnv) diskSpace(_ context.Context, _ map[string]string, _ ops.Progress) (ActionResult, error) {
	dir := filepath.Dir(e.Target())
	ds, err := ops.SystemStatFS(dir)
	if err != nil {
		return ActionResult{}, err
	}
	pct := 0.0
	if ds.Total > 0 {
		pct = 100 * float64(ds.Free) / float64(ds.Total)
	}
	return ActionResult{
		Message: fmt.Sprintf("%s free of %s on %s (%.1f%%)", humanize.Bytes(ds.Free), humanize.Bytes(ds.Total), dir, pct),
		Figures: map[string]float64{"free_bytes": float64(ds.Free), "total_bytes": float64(ds.Total), "free_percent": pct},
	}, nil
}

func (e *OpsEnv) listBackups(_ context.Context, _ map[string]string, _ ops.Progress) (ActionResult, error) {
	dir := e.cfg.Config.BackupDir()
	// Only this database's backups (state.IsBackupOf): another's in a shared
	// dir is no backup of this one.
	list, _, err := state.ListBackupsOf(dir, e.Target())
	if err != nil {
		return ActionResult{}, err
	}
	res := ActionResult{Figures: map[string]float64{"count": float64(len(list))}}
	for i, b := range list {
		if i < 10 {
			res.Details = append(res.Details, fmt.Sprintf("%s  %s  %s", b.Time.Format(time.RFC3339), humanize.Bytes(b.Size), b.Name))
		}
	}
	if len(list) == 0 {
		res.Message = "no backups of " + filepath.Base(e.Target()) + " in " + dir
		return res, fmt.Errorf("no backups of %s in %s: take one with 'repops backup'", filepath.Base(e.Target()), dir)
	}
	age := time.Since(list[0].Time)
	res.Figures["newest_age_seconds"] = age.Seconds()
	res.Message = fmt.Sprintf("%d backup(s) in %s; newest %s, %s old", len(list), dir, list[0].Name, age.Round(time.Second))
	return res, nil
}

func (e *OpsEnv) archive(ctx context.Context, params map[string]string, progress ops.Progress) (ActionResult, error) {
	now := time.Now()
	ac := e.cfg.Config.Console.Archive
	o := ops.ArchiveOptions{
		DBPath: e.Target(), DB: e.cfg.DB, ArchiveFile: ac.File,
		AppealsBefore: now.Add(-ac.AppealsOlderThan), MessagesBefore: now.Add(-ac.MessagesOlderThan),
		BatchRows: ac.BatchRows, BatchPause: ac.BatchPause, Recorder: e.recorder(),
	}
	var err error
	if v, ok := params["appeals_older_than"]; ok {
		if o.AppealsBefore, err = ops.ParseCutoff(v, now); err != nil {
			return ActionResult{}, err
		}
	}
	if v, ok := params["messages_older_than"]; ok {
		if o.MessagesBefore, err = ops.ParseCutoff(v, now); err != nil {
			return ActionResult{}, err
		}
	}
	if v, ok := params["batch_rows"]; ok {
		o.BatchRows, _ = strconv.Atoi(v)
	}
	r, err := ops.Archive(ctx, o, progress)
	if r == nil {
		return ActionResult{}, err
	}
	res := ActionResult{
		Message: fmt.Sprintf("archived %d rows (%s) in %d batches, longest transaction %s, verified %v",
			r.Rows(), humanize.Bytes(r.Bytes()), r.Batches, r.LongestTx.Round(time.Millisecond), r.Verified),
		Figures: map[string]float64{
			"rows": float64(r.Rows()), "bytes": float64(r.Bytes()), "batches": float64(r.Batches),
			"longest_tx_ms": float64(r.LongestTx.Milliseconds()), "verified": boolFigure(r.Verified),
			"seconds": r.Duration.Seconds(),
		},
	}
	for _, t := range r.Tables {
		res.Details = append(res.Details, fmt.Sprintf("%s -> %s: %d rows", t.Table, t.ArchiveTable, t.Rows))
		res.Figures[t.Table+"_rows"] = float64(t.Rows)
	}
	res.Details = append(res.Details, r.Problems...)
	if err == nil && !r.Verified {
		err = fmt.Errorf("archive did not verify: %s", strings.Join(r.Problems, "; "))
	}
	return res, err
}

// migrate is 'repops migrate apply' (ops.Migrate, without --create: a
// runbook never makes a database): the pre-flight, then under the
// procedure lock and journaled, the pre-migration backup as 'repops
// backup' takes it, then each pending migration in its own transaction.
func (e *OpsEnv) migrate(ctx context.Context, _ map[string]string, progress ops.Progress) (ActionResult, error) {
	bc := e.cfg.Config.Console.Backup
	r, err := ops.Migrate(ctx, ops.MigrateOptions{
		DBPath: e.Target(), DB: e.cfg.DB, BackupDir: e.cfg.Config.BackupDir(), KeepLast: bc.KeepLast, KeepWithin: bc.KeepWithin,
		StateDir: e.cfg.StateDir, Actor: e.cfg.Actor,
	}, progress)
	if r == nil {
		if ops.PreflightRefused(err) {
			err = fmt.Errorf("migrate refused: %w", err)
		}
		return ActionResult{}, err
	}
	res := ActionResult{Figures: map[string]float64{"applied": float64(len(r.Applied)), "seconds": r.Took.Seconds()}}
	if r.Backup != nil {
		res.Details = append(res.Details, "backup "+r.Backup.Path)
		res.Figures["backup_bytes"] = float64(r.Backup.Manifest.Size)
	}
	for _, m := range r.Applied {
		res.Details = append(res.Details, "applied "+m.Name)
	}
	if err != nil {
		return res, err
	}
	res.Figures["schema_version"] = float64(r.Version)
	res.Message = fmt.Sprintf("%d migration(s) applied; schema version %d", len(r.Applied), r.Version)
	if r.Backup != nil {
		res.Message += "; backup " + filepath.Base(r.Backup.Path) + " taken first"
	}
	return res, nil
}

func (e *OpsEnv) migrationStatus(ctx context.Context, _ map[string]string, _ ops.Progress) (ActionResult, error) {
	r, err := e.openRead(ctx)
	if err != nil {
		return ActionResult{}, err
	}
	defer r.Close()
	states, unknown, err := db.Status(ctx, r)
	if err != nil {
		return ActionResult{}, db.Classify(e.Target(), err)
	}
	res := ActionResult{Figures: map[string]float64{}}
	var applied, pending, drift int
	for _, s := range states {
		st := "pending"
		switch {
		case s.Drift:
			st, drift, applied = "applied, DRIFT (its SQL differs from this repops')", drift+1, applied+1
		case s.Applied:
			st, applied = "applied "+s.AppliedAt.Format(time.RFC3339), applied+1
		default:
			pending++
		}
		res.Details = append(res.Details, fmt.Sprintf("%05d %s: %s", s.Version, s.Name, st))
	}
	for _, v := range unknown {
		res.Details = append(res.Details, fmt.Sprintf("%05d: applied, unknown to this repops (newer)", v))
	}
	res.Figures["applied"], res.Figures["pending"], res.Figures["drift"], res.Figures["unknown"] = float64(applied), float64(pending), float64(drift), float64(len(unknown))
	res.Message = fmt.Sprintf("%d applied, %d pending, %d drifted, %d unknown", applied, pending, drift, len(unknown))
	return res, nil
}

// explain shows the query plan of a read-only query and flags full scans.
func (e *OpsEnv) explain(ctx context.Context, params map[string]string, _ ops.Progress) (ActionResult, error) {
	q := params["query"]
	if err := CheckReadOnlySQL(q); err != nil {
		return ActionResult{}, err
	}
	r, err := e.openRead(ctx)
	if err != nil {
		return ActionResult{}, err
	}
	defer r.Close()
	qr, err := QueryReadOnly(ctx, r, e.Target(), "EXPLAIN QUERY PLAN "+strings.TrimSuffix(strings.TrimSpace(q), ";"))
	if err != nil {
		return ActionResult{}, err
	}
	res := ActionResult{Figures: map[string]float64{}}
	scans := 0
	for _, row := range qr.Rows {
		detail := row[len(row)-1]
		if strings.HasPrefix(detail, "SCAN ") && !strings.Contains(detail, "USING") {
			scans++
			detail += "   <- full table scan"
		}
		res.Details = append(res.Details, detail)
	}
	res.Figures["full_scans"] = float64(scans)
	res.Message = fmt.Sprintf("%d plan step(s), %d full table scan(s)", len(qr.Rows), scans)
	return res, nil
}

// gatherState records the system state: metric panels, table counts,
// backups, the last integrity check and the procedure lock.
func (e *OpsEnv) gatherState(ctx context.Context, _ map[string]string, _ ops.Progress) (ActionResult, error) {
	res := ActionResult{Figures: map[string]float64{}}
	if m, err := e.Metrics(ctx); err != nil {
		res.Details = append(res.Details, "metrics: "+err.Error())
	} else {
		names := append(AlertRules(), metrics.PanelServiceUp, metrics.PanelDBConnections, metrics.PanelWALSize, metrics.PanelDatabaseSize)
		unit := map[string]string{}
		for _, p := range metrics.PanelDefs() {
			names = append(names, p.Name)
			unit[p.Name] = p.Unit
		}
		seen := map[string]bool{}
		sort.Strings(names)
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			v, ok, state := m.Panel(n)
			if !ok {
				if state != "" && state != "unknown" {
					res.Details = append(res.Details, fmt.Sprintf("%s: no data (%s)", n, state))
				}
				continue
			}
			res.Figures[n] = v
			// As the console shows it: with the panel's unit and a
			// readable precision (the figure keeps the exact value).
			res.Details = append(res.Details, fmt.Sprintf("%s = %s (%s)", n, metrics.FormatValue(metrics.Known(v), unit[n]), state))
		}
	}
	if h, err := e.health(ctx, nil, nil); err != nil {
		res.Details = append(res.Details, "database: "+err.Error())
	} else {
		for k, v := range h.Figures {
			res.Figures[k] = v
		}
		res.Details = append(res.Details, "database: "+h.Message)
	}
	if b, err := e.listBackups(ctx, nil, nil); err == nil {
		res.Figures["backups"] = b.Figures["count"]
		res.Figures["backup_age_seconds"] = b.Figures["newest_age_seconds"]
		res.Details = append(res.Details, "backups: "+b.Message)
	} else {
		res.Details = append(res.Details, "backups: "+err.Error())
	}
	if c, ok, err := state.ReadCheckOf(e.cfg.StateDir, e.Target()); err == nil && ok {
		res.Details = append(res.Details, fmt.Sprintf("last integrity check: %s, ok=%v", c.Time.Format(time.RFC3339), c.OK))
	} else if err == nil {
		res.Details = append(res.Details, "last integrity check: none of this database recorded (repops check)")
	}
	if l, ok, err := ops.ReadLock(e.cfg.StateDir); err == nil && ok && l != nil {
		res.Details = append(res.Details, fmt.Sprintf("procedure lock held by %s since %s for %s", l.Actor, l.Since.Format(time.RFC3339), l.Purpose))
	}
	res.Message = fmt.Sprintf("system state gathered: %d figures", len(res.Figures))
	return res, nil
}

// SnapshotReader adapts a metrics snapshot to MetricReader: a name is a
// panel's name, or else an alert rule's (its judged value and state).
func SnapshotReader(s metrics.Snapshot) MetricReader { return snapshotReader{s} }

type snapshotReader struct{ s metrics.Snapshot }

func (r snapshotReader) Panel(name string) (float64, bool, string) {
	if p, ok := r.s.Panel(name); ok {
		return p.Value.V, p.Value.OK, p.State.String()
	}
	for _, a := range r.s.Alerts {
		if a.Rule.Name == name {
			return a.Value.V, a.Value.OK, a.State.String()
		}
	}
	return 0, false, "unknown"
}

// Rules implements RuleReader: the rules the snapshot was judged with.
func (r snapshotReader) Rules() []metrics.Rule {
	rules := make([]metrics.Rule, 0, len(r.s.Alerts))
	for _, a := range r.s.Alerts {
		rules = append(rules, a.Rule)
	}
	return rules
}

func boolFigure(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func errorsJoin(errs ...error) error { return errors.Join(errs...) }
