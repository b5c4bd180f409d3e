package metrics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
)

// DatabaseOptions configure the database source.
type DatabaseOptions struct {
	Path      string
	DBOptions db.Options
	StateDir  string
	BackupDir string
	// NegotiationDays: negotiations of appeals created this many days back
	// are measured. Default 7.
	NegotiationDays int
	// NegotiationSample bounds the negotiations measured per final status
	// (the newest). Default 500.
	NegotiationSample int
}

// The database source's windows and refresh periods. The cheap queries
// (counts over an indexed created_at range) run every cycle; negotiation
// durations and table row estimates change slowly and are cached.
const (
	DBRateWindow        = 5 * time.Minute
	negotiationRefresh  = 30 * time.Second
	tableSizesRefresh   = time.Minute
	statusCountRefresh  = 10 * time.Second
	defaultNegotiations = 500
)

// tablesMeasured are the tables whose sizes the source reports.
func tablesMeasured() []string {
	return []string{"appeals", "appeal_negotiation_messages", "ml_predictions", "appeals_archive", "appeal_negotiation_messages_archive"}
}

// DatabaseSource computes what it can from the database and the state dir
// alone, with no monitoring stack: submissions per minute and ML prediction
// confidence and latency over the last 5 minutes (indexed created_at
// ranges), negotiation duration average and p95 (first to last message of
// the newest finished appeals; refreshed every 30 s), pending appeals
// (every 10 s), table row estimates (every minute), backup age,
// last integrity check and drill, schema version, and free disk on the
// database's filesystem. It reads through a read-only connection, opened on
// first use and reopened after a failure.
type DatabaseSource struct {
	opts DatabaseOptions

	mu                   sync.Mutex
	conn                 *sql.DB
	negAt                time.Time
	negAvg               Value
	negP95               Value
	tabAt                time.Time
	tables               []TableFigure
	cntAt                time.Time
	pending, negotiating int64
}

var _ Source = (*DatabaseSource)(nil)

// NewDatabaseSource builds the database source; it opens nothing yet.
func NewDatabaseSource(o DatabaseOptions) *DatabaseSource {
	if o.NegotiationDays <= 0 {
		o.NegotiationDays = 7
	}
	if o.NegotiationSample <= 0 {
		o.NegotiationSample = defaultNegotiations
	}
	return &DatabaseSource{opts: o}
}

// Name implements Source.
func (s *DatabaseSource) Name() string { return "database" }

// Kind implements Source.
func (s *DatabaseSource) Kind() string { return KindDatabase }

// Target implements Source.
func (s *DatabaseSource) Target() string { return s.opts.Path }

// Close closes the read-only connection.
func (s *DatabaseSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// Figures collects once and returns the figures (what the exporter
// serves) and the panel values.
func (s *DatabaseSource) Collect(ctx context.Context, now time.Time) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &DBFigures{Path: s.opts.Path}
	panels := map[string]Value{}
	res := Result{Panels: panels, DB: f}

	s.collectFiles(now, f, panels)

	conn, err := s.open(ctx)
	if err != nil {
		reason := oneLine(err.Error())
		f.Err = reason
		for _, p := range []string{PanelSubmissionRate, PanelNegotiationAvg, PanelNegotiationP95, PanelPredictionLatency,
			PanelMLConfidence, PanelPendingAppeals, PanelSchemaPending} {
			panels[p] = Unknown(reason)
		}
		return res, err
	}
	if err := s.collectQueries(ctx, conn, now, f, panels); err != nil {
		f.Err = oneLine(err.Error())
		if isConnBroken(err) {
			s.conn.Close()
			s.conn = nil
		}
		return res, err
	}
	return res, nil
}

func (s *DatabaseSource) open(ctx context.Context) (*sql.DB, error) {
	if s.conn != nil {
		return s.conn, nil
	}
	c, err := db.OpenRead(ctx, s.opts.Path, s.opts.DBOptions)
	if err != nil {
		return nil, err
	}
	s.conn = c
	return c, nil
}

func isConnBroken(err error) bool {
	var fe *db.FileError
	return errors.As(err, &fe)
}

// collectFiles measures what needs no SQL: file sizes, free disk, backups,
// the last check and drill.
func (s *DatabaseSource) collectFiles(now time.Time, f *DBFigures, panels map[string]Value) {
	if sz, err := db.StatFiles(s.opts.Path); err == nil {
		f.FileBytes, f.WALBytes = sz.DB, sz.WAL
		panels[PanelDatabaseSize] = Known(float64(sz.DB+sz.WAL) / (1 << 20))
		panels[PanelWALSize] = Known(float64(sz.WAL) / (1 << 20))
	} else {
		panels[PanelDatabaseSize] = Unknown(oneLine(err.Error()))
		panels[PanelWALSize] = Unknown(oneLine(err.Error()))
	}

	var st unix.Statfs_t
	dir := filepath.Dir(s.opts.Path)
	if err := unix.Statfs(dir, &st); err == nil && st.Blocks > 0 {
		f.DiskFree = int64(st.Bavail) * int64(st.Bsize)
		f.DiskTotal = int64(st.Blocks) * int64(st.Bsize)
		panels[PanelDiskFree] = Known(100 * float64(st.Bavail) / float64(st.Blocks))
	} else if err != nil {
		panels[PanelDiskFree] = Unknown(fmt.Sprintf("statfs %s: %v", dir, err))
	} else {
		panels[PanelDiskFree] = Unknown(fmt.Sprintf("statfs %s: filesystem reports no blocks", dir))
	}

	backups, err := db.ListBackups(s.opts.BackupDir)
	f.Backups = len(backups)
	switch {
	case err != nil:
		f.BackupAge = Unknown(oneLine(err.Error()))
	case len(backups) == 0:
		// No backup at all: as bad as a backup infinitely old.
		f.BackupAge = Known(math.Inf(1))
	default:
		f.LastBackup, f.LastBackupPath = backups[0].Time, backups[0].Path
		f.BackupAge = Known(math.Max(0, now.Sub(backups[0].Time).Hours()))
	}
	panels[PanelBackupAge] = f.BackupAge

	rec, ok, err := db.ReadLastCheck(s.opts.StateDir)
	switch {
	case err != nil:
		panels[PanelIntegrityOK] = Unknown(oneLine(err.Error()))
		panels[PanelIntegrityAge] = Unknown(oneLine(err.Error()))
	case !ok:
		panels[PanelIntegrityOK] = Unknown("no integrity check recorded yet: run repops check")
		panels[PanelIntegrityAge] = Known(math.Inf(1))
	default:
		f.LastCheck, f.LastCheckOK, f.LastCheckMode, f.CheckProblems = rec.Time, rec.OK, rec.Mode, rec.Problems
		ok := 0.0
		if rec.OK {
			ok = 1
		}
		panels[PanelIntegrityOK] = Known(ok)
		panels[PanelIntegrityAge] = Known(math.Max(0, now.Sub(rec.Time).Hours()/24))
	}

	drill, ok, err := db.ReadLastDrill(s.opts.StateDir)
	switch {
	case err != nil:
		panels[PanelDrillAge] = Unknown(oneLine(err.Error()))
	case !ok:
		panels[PanelDrillAge] = Known(math.Inf(1))
	default:
		f.LastDrill, f.LastDrillOK, f.LastDrillRTO = drill.Time, drill.OK, drill.RTO
		panels[PanelDrillAge] = Known(math.Max(0, now.Sub(drill.Time).Hours()/24))
	}
}

// collectQueries runs the bounded queries.
func (s *DatabaseSource) collectQueries(ctx context.Context, q *sql.DB, now time.Time, f *DBFigures, panels map[string]Value) error {
	since := db.FormatTime(now.Add(-DBRateWindow))
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM appeals WHERE created_at >= ?`, since).Scan(&n); err != nil {
		return s.fail(err, "count recent appeals", panels)
	}
	panels[PanelSubmissionRate] = Known(float64(n) / DBRateWindow.Minutes())

	// Status counts walk an index range as long as the backlog: on a
	// large backlog that is the source's costliest query, so it is cached.
	if s.cntAt.IsZero() || now.Sub(s.cntAt) >= statusCountRefresh || now.Before(s.cntAt) {
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM appeals WHERE status = 'pending'`).Scan(&s.pending); err != nil {
			return s.fail(err, "count pending appeals", panels)
		}
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM appeals WHERE status = 'negotiating'`).Scan(&s.negotiating); err != nil {
			return s.fail(err, "count negotiating appeals", panels)
		}
		s.cntAt = now
	}
	f.PendingAppeals, f.NegotiatingAppeals = s.pending, s.negotiating
	panels[PanelPendingAppeals] = Known(float64(f.PendingAppeals))

	var cnt int64
	var conf, lat sql.NullFloat64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*), AVG(confidence), AVG(latency_ms) FROM ml_predictions WHERE created_at >= ?`, since).Scan(&cnt, &conf, &lat); err != nil {
		return s.fail(err, "read recent predictions", panels)
	}
	if cnt == 0 {
		panels[PanelMLConfidence] = Unknown("no prediction in the last 5 minutes")
		panels[PanelPredictionLatency] = Unknown("no prediction in the last 5 minutes")
	} else {
		panels[PanelMLConfidence] = Known(conf.Float64)
		panels[PanelPredictionLatency] = Known(lat.Float64)
	}

	v, err := db.SchemaVersion(ctx, q)
	if err != nil {
		return s.fail(err, "read schema version", panels)
	}
	f.SchemaVersion, f.LatestSchema = v, db.LatestVersion()
	pending := 0
	for _, m := range db.Migrations() {
		if m.Version > v {
			pending++
		}
	}
	switch {
	case v == 0:
		f.SchemaProblems = append(f.SchemaProblems, "no migration applied: not a reputation database, or never migrated")
	case v > f.LatestSchema:
		f.SchemaProblems = append(f.SchemaProblems, fmt.Sprintf("schema version %d is newer than this repops knows (%d): upgrade repops", v, f.LatestSchema))
	case pending > 0:
		f.SchemaProblems = append(f.SchemaProblems, fmt.Sprintf("%d migration(s) not applied: run repops migrate apply", pending))
	}
	f.SchemaValid = len(f.SchemaProblems) == 0
	panels[PanelSchemaPending] = Known(float64(pending))

	if s.negAt.IsZero() || now.Sub(s.negAt) >= negotiationRefresh || now.Before(s.negAt) {
		s.negAvg, s.negP95 = s.negotiations(ctx, q, now)
		s.negAt = now
	}
	panels[PanelNegotiationAvg] = s.negAvg
	panels[PanelNegotiationP95] = s.negP95

	if s.tabAt.IsZero() || now.Sub(s.tabAt) >= tableSizesRefresh || now.Before(s.tabAt) {
		s.tables = tableRows(ctx, q)
		s.tabAt = now
	}
	f.Tables = append([]TableFigure(nil), s.tables...)
	return nil
}

func (s *DatabaseSource) fail(err error, what string, panels map[string]Value) error {
	err = fmt.Errorf("%s in %s: %w", what, s.opts.Path, db.Classify(s.opts.Path, err))
	reason := oneLine(err.Error())
	for _, p := range []string{PanelSubmissionRate, PanelNegotiationAvg, PanelNegotiationP95, PanelPredictionLatency,
		PanelMLConfidence, PanelPendingAppeals, PanelSchemaPending} {
		if _, done := panels[p]; !done {
			panels[p] = Unknown(reason)
		}
	}
	return err
}

// negotiations measures, for the newest finished appeals of each final
// status created in the last NegotiationDays (at most NegotiationSample
// each), the time from their first to their last negotiation message.
// Each appeal is one index seek on idx_messages_appeal_created.
func (s *DatabaseSource) negotiations(ctx context.Context, q *sql.DB, now time.Time) (avg, p95 Value) {
	since := db.FormatTime(now.Add(-time.Duration(s.opts.NegotiationDays) * 24 * time.Hour))
	var hours []float64
	for _, status := range []string{"approved", "denied", "expired"} {
		rows, err := q.QueryContext(ctx, `
SELECT (SELECT (julianday(MAX(m.created_at)) - julianday(MIN(m.created_at))) * 24
          FROM appeal_negotiation_messages m WHERE m.appeal_id = a.id)
  FROM appeals a
 WHERE a.status = ? AND a.created_at >= ?
 ORDER BY a.created_at DESC
 LIMIT ?`, status, since, s.opts.NegotiationSample)
		if err != nil {
			r := Unknown(fmt.Sprintf("measure negotiations: %v", db.Classify(s.opts.Path, err)))
			return r, r
		}
		for rows.Next() {
			var h sql.NullFloat64
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				r := Unknown(fmt.Sprintf("measure negotiations: %v", err))
				return r, r
			}
			if h.Valid && !math.IsNaN(h.Float64) {
				hours = append(hours, h.Float64)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			r := Unknown(fmt.Sprintf("measure negotiations: %v", err))
			return r, r
		}
	}
	if len(hours) == 0 {
		r := Unknown(fmt.Sprintf("no finished negotiation in the last %d days", s.opts.NegotiationDays))
		return r, r
	}
	sum := 0.0
	for _, h := range hours {
		sum += h
	}
	sort.Float64s(hours)
	return Known(sum / float64(len(hours))), Known(percentile(hours, 0.95))
}

// percentile is the q-quantile of sorted xs, linearly interpolated between
// closest ranks.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 1 {
		return xs[0]
	}
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	if lo >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	frac := pos - float64(lo)
	return xs[lo] + (xs[lo+1]-xs[lo])*frac
}

// tableRows estimates row counts cheaply: MAX(rowid) is one seek on the
// table's b-tree (exact while rows are only appended, an upper bound after
// deletes such as archival). Bytes are left unknown here: measuring them
// reads every page (dbstat), which 'repops migrate stats' does on demand.
func tableRows(ctx context.Context, q *sql.DB) []TableFigure {
	tables := tablesMeasured()
	out := make([]TableFigure, 0, len(tables))
	for _, t := range tables {
		tf := TableFigure{Name: t, Rows: -1, Bytes: -1}
		var n sql.NullInt64
		// t comes from the fixed list above, never from input.
		if err := q.QueryRowContext(ctx, `SELECT MAX(rowid) FROM `+t).Scan(&n); err == nil {
			tf.Rows = n.Int64
		}
		out = append(out, tf)
	}
	return out
}
