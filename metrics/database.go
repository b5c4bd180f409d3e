package metrics

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/state"
)

// DatabaseOptions configure the database source.
type DatabaseOptions struct {
	Path      string
	DBOptions db.Options
	StateDir  string
	BackupDir string
	// NegotiationWindow: the negotiation panels measure the appeals whose
	// negotiation finished (status approved, denied or expired, resolved_at
	// and the last message) this long before now. Default
	// DefaultNegotiationWindow.
	NegotiationWindow time.Duration
	// NegotiationDays is no longer used: the negotiation panels judge a
	// time window of finished negotiations (NegotiationWindow), not the
	// appeals created in the last days.
	NegotiationDays int
	// WaitSizes is how long Collect waits for a table size measurement it
	// finds running before returning without it (bounded by its context).
	// 0, the console's choice, never waits: the figures appear one cycle
	// later. A one-shot command that wants them waits.
	WaitSizes time.Duration
	// NoSizes disables the table size measurement (Tables and Indexes stay
	// empty): for a one-shot command that does not show them.
	NoSizes bool
}

// DefaultNegotiationWindow is the negotiation panels' window: the
// negotiations finished in the last 30 seconds. Decision: short, so that
// the panels follow the service as the rules need (slow-negotiations
// crosses 24 h within seconds of starting and clears about 30 s after
// normal, refreshed every 5 s: both within a minute, TestScenariosCrossAndClearWithinAMinute),
// instead of the newest 500 finished appeals, which kept slow ones for
// 18 minutes after the incident. At the guide's normal load (about 40
// appeals a minute) the window holds about 20 negotiations; with none
// finished in it the panels are unknown, not 0.
const DefaultNegotiationWindow = 30 * time.Second

// The database source's windows and refresh periods. The cheap queries
// (counts over an indexed created_at range) run every cycle; negotiation
// durations, status counts and schema validation change slowly and are
// cached; table sizes are measured in the background.
const (
	DBRateWindow       = 5 * time.Minute
	negotiationRefresh = 5 * time.Second
	statusCountRefresh = 10 * time.Second
	schemaRefresh      = time.Minute
	// growthKeep bounds the rowid samples kept for db_growth.
	growthKeep = 512
	// Table sizes: at most every sizesMinRefresh, and never more often
	// than sizesDuty times the last measurement's duration (so that they
	// use at most 1/sizesDuty of the time); a measurement longer than
	// sizesTimeout is abandoned.
	sizesMinRefresh = 5 * time.Minute
	sizesDuty       = 200
	sizesTimeout    = 2 * time.Minute
)

// DatabaseSource computes what it can from the database and the state dir
// alone, with no monitoring stack: submissions per minute and ML prediction
// confidence and latency over the last 5 minutes (indexed created_at
// ranges), rows inserted per minute over the last minute (the main
// tables' largest rowids, every cycle), negotiation duration average and
// p95 (first to last message of the appeals whose negotiation finished in
// the last NegotiationWindow, 30 s by default; refreshed every 5 s), pending appeals
// (every 10 s), backup age, last integrity check and drill, schema version
// and validation, file and WAL sizes and free disk on the database's
// filesystem, and the size of every table and index. It reads through a
// read-only connection, opened on first use and reopened after a failure.
//
// Schema validation (db.Validate: reads the schema only, 4.2 ms on the
// 1M-appeal demo database, see BenchmarkDatabaseCollect) runs at most
// every minute, and at once when the schema changes: every cycle reads
// PRAGMA schema_version, the cookie SQLite bumps on any CREATE, DROP or
// ALTER.
//
// Table and index sizes (db.TableSizes: rows exact under 100k, estimated
// above; pages and bytes from dbstat, which reads every page of the file)
// took 0.74-0.78 s of two cores on the 1M-appeal demo database (917 MiB,
// 235k pages, in the OS cache; 2-core machine at load average 4.5;
// BenchmarkDatabaseCollect/sizes) with the file memory-mapped, more from
// a cold cache. They are measured without the mapping (see measureSizes),
// which takes 1.3-1.5 times as long (db's BenchmarkTableSizes1M: 0.45-0.60
// s against 0.36-0.41 s at load average 2-3; so about 1.1 s expected at
// load 4.5) and adds 1 MB of resident memory instead of the whole file.
// So they never
// run in the cycle: they run in the background on a read-only pool of
// their own, every 5 minutes, or every 200 times the last measurement's
// duration when that is longer (at most 0.5 % of the time; 1.1 s every 5
// minutes is 0.37 %), abandoned after 2 minutes. A cycle reports the
// newest figures and when they were measured (DBFigures.SizesAt).
type DatabaseSource struct {
	opts DatabaseOptions

	mu                   sync.Mutex
	conn                 *db.Handle // opened on first use; survives a restore (db.Swap)
	negAt                time.Time
	growth               []rowidSample // db_growth's samples, oldest first
	negAvg               Value
	negP95               Value
	cntAt                time.Time
	pending, negotiating int64

	valAt      time.Time // when the schema was last validated
	valCookie  int64     // PRAGMA schema_version then
	valVersion int64     // the migration version then
	valErr     string    // why validation failed, "" when it ran
	valProbs   []db.Problem

	sizes        *db.Sizes // the newest measurement
	sizesTakenAt time.Time // when it started (collection clock)
	sizesStarted time.Time // when the last one, running or not, started
	sizesNext    time.Time // when the next may start
	sizesErr     string
	sizesRun     chan sizeResult // non-nil while a measurement runs
	bgCtx        context.Context // cancelled by Close
	bgStop       context.CancelFunc
	bgWG         sync.WaitGroup
}

// rowidSample is the sum of the main tables' largest rowids at a time.
type rowidSample struct {
	at   time.Time
	rows int64
}

// sizeResult is what one background size measurement gives.
type sizeResult struct {
	sizes *db.Sizes
	took  time.Duration
	err   error
}

var _ Source = (*DatabaseSource)(nil)

// NewDatabaseSource builds the database source; it opens nothing yet.
func NewDatabaseSource(o DatabaseOptions) *DatabaseSource {
	if o.NegotiationWindow <= 0 {
		o.NegotiationWindow = DefaultNegotiationWindow
	}
	dbo := o.DBOptions
	if dbo.Owner == "" {
		dbo.Owner = "database source"
	}
	return &DatabaseSource{opts: o, conn: db.NewHandle(o.Path, false, dbo)}
}

// Name implements Source.
func (s *DatabaseSource) Name() string { return "database" }

// Kind implements Source.
func (s *DatabaseSource) Kind() string { return KindDatabase }

// Target implements Source.
func (s *DatabaseSource) Target() string { return s.opts.Path }

// Close stops a running size measurement, waits for it, and closes the
// read-only connection.
func (s *DatabaseSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bgStop != nil {
		s.bgStop()
		s.bgWG.Wait()
		s.bgCtx, s.bgStop, s.sizesRun = nil, nil, nil
	}
	return s.conn.Close()
}

// Collect collects once and returns the figures (what the exporter
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
		reason := reasonLine(err.Error())
		f.Err = reason
		for _, p := range queryPanels() {
			panels[p] = Unknown(reason)
		}
		s.sizeFigures(f)
		return res, err
	}
	if err := s.collectQueries(ctx, conn, now, f, panels); err != nil {
		f.Err = reasonLine(err.Error())
		if isConnBroken(err) {
			s.conn.Drop()
		}
		s.sizeFigures(f)
		return res, err
	}
	s.refreshSizes(ctx, now)
	s.sizeFigures(f)
	return res, nil
}

// queryPanels are the panels that need the database's answers.
func queryPanels() []string {
	return []string{PanelSubmissionRate, PanelDBGrowth, PanelNegotiationAvg, PanelNegotiationP95, PanelPredictionLatency,
		PanelMLConfidence, PanelPendingAppeals, PanelSchemaPending, PanelSchemaProblems}
}

func (s *DatabaseSource) open(ctx context.Context) (*sql.DB, error) {
	return s.conn.DB(ctx)
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
		panels[PanelDatabaseSize] = Unknown(reasonLine(err.Error()))
		panels[PanelWALSize] = Unknown(reasonLine(err.Error()))
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

	// Only this database's backups (state.IsBackupOf): another's in a
	// shared dir says nothing of this one's age.
	backups, _, err := state.ListBackupsOf(s.opts.BackupDir, s.opts.Path)
	f.Backups = len(backups)
	switch {
	case err != nil:
		f.BackupAge = Unknown(reasonLine(err.Error()))
	case len(backups) == 0:
		// No backup at all: as bad as a backup infinitely old.
		f.BackupAge = Known(math.Inf(1))
	default:
		f.LastBackup, f.LastBackupPath = backups[0].Time, backups[0].Path
		f.BackupAge = Known(math.Max(0, now.Sub(backups[0].Time).Hours()))
	}
	panels[PanelBackupAge] = f.BackupAge

	// The records are per database (state.ReadCheckOf): a check or drill
	// of another database (a copy checked with --db) is not this one's.
	rec, ok, err := state.ReadCheckOf(s.opts.StateDir, s.opts.Path)
	switch {
	case err != nil:
		panels[PanelIntegrityOK] = Unknown(reasonLine(err.Error()))
		panels[PanelIntegrityAge] = Unknown(reasonLine(err.Error()))
	case !ok || !rec.IsOf(s.opts.Path):
		// The state dir is shared: another database's check is not this one's.
		panels[PanelIntegrityOK] = Unknown("no integrity check of this database recorded: run repops check")
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

	drill, ok, err := state.ReadDrillOf(s.opts.StateDir, s.opts.Path)
	switch {
	case err != nil:
		panels[PanelDrillAge] = Unknown(reasonLine(err.Error()))
	case !ok || !drill.IsOf(s.opts.Path):
		// Only a drill of this database counts (an old record naming none
		// is of an unknown one).
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

	if err := s.collectGrowth(ctx, q, now, panels); err != nil {
		return err
	}

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

	if err := s.collectSchema(ctx, q, now, f, panels); err != nil {
		return err
	}

	if s.negAt.IsZero() || now.Sub(s.negAt) >= negotiationRefresh || now.Before(s.negAt) {
		s.negAvg, s.negP95 = s.negotiations(ctx, q, now)
		s.negAt = now
	}
	panels[PanelNegotiationAvg] = s.negAvg
	panels[PanelNegotiationP95] = s.negP95
	return nil
}

// collectGrowth reads the largest rowid of appeals,
// appeal_negotiation_messages and ml_predictions (one seek each: their id
// is the rowid) and sets db_growth to the rows inserted per minute over
// the last minute (FastWindow): the difference between this cycle's sum
// and the oldest sample of the last minute, per minute between them, as
// PromQL's rate(...[1m]) judges a counter. A sum that went down (rows
// deleted at the end of a table, an archive, a restore) starts the
// samples again; a single sample is unknown.
func (s *DatabaseSource) collectGrowth(ctx context.Context, q *sql.DB, now time.Time, panels map[string]Value) error {
	var rows int64
	if err := q.QueryRowContext(ctx, `SELECT IFNULL((SELECT MAX(rowid) FROM appeals), 0)
     + IFNULL((SELECT MAX(rowid) FROM appeal_negotiation_messages), 0)
     + IFNULL((SELECT MAX(rowid) FROM ml_predictions), 0)`).Scan(&rows); err != nil {
		return s.fail(err, "read the largest row ids", panels)
	}
	if n := len(s.growth); n > 0 {
		switch {
		case rows < s.growth[n-1].rows || now.Before(s.growth[n-1].at):
			s.growth = s.growth[:0]
		case now.Equal(s.growth[n-1].at):
			s.growth = s.growth[:n-1] // the same instant again: keep the newest
		}
	}
	s.growth = append(s.growth, rowidSample{at: now, rows: rows})
	// Drop the samples older than the window, keeping at least one before
	// this one (a cycle slower than the window still gets a rate).
	start := now.Add(-FastWindow)
	i := 0
	for i < len(s.growth)-2 && s.growth[i].at.Before(start) {
		i++
	}
	s.growth = s.growth[i:]
	if len(s.growth) > growthKeep {
		s.growth = s.growth[len(s.growth)-growthKeep:]
	}
	first := s.growth[0]
	el := now.Sub(first.at)
	if el <= 0 {
		panels[PanelDBGrowth] = Unknown("measuring: rows inserted per minute needs a second reading of the row ids")
		return nil
	}
	panels[PanelDBGrowth] = Known(float64(rows-first.rows) / el.Minutes())
	return nil
}

// collectSchema reads the schema version and cookie every cycle, and
// validates the schema when the cookie or the version changed, or a
// minute after the last validation.
func (s *DatabaseSource) collectSchema(ctx context.Context, q *sql.DB, now time.Time, f *DBFigures, panels map[string]Value) error {
	v, err := db.SchemaVersion(ctx, q)
	if err != nil {
		return s.fail(err, "read schema version", panels)
	}
	var cookie int64
	if err := q.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&cookie); err != nil {
		return s.fail(err, "read the schema cookie", panels)
	}
	f.SchemaVersion, f.LatestSchema = v, db.LatestVersion()
	pending := 0
	for _, m := range db.Migrations() {
		if m.Version > v {
			pending++
		}
	}
	panels[PanelSchemaPending] = Known(float64(pending))

	if v == 0 {
		// Nothing to validate against.
		f.SchemaProblems = []string{"no migration applied: not a reputation database, or never migrated"}
		panels[PanelSchemaProblems] = Unknown("no migration applied: nothing to validate the schema against")
		s.valAt = time.Time{}
		return nil
	}
	if s.valAt.IsZero() || now.Sub(s.valAt) >= schemaRefresh || now.Before(s.valAt) || cookie != s.valCookie || v != s.valVersion {
		rep, err := db.Validate(ctx, q)
		if err != nil && ctx.Err() != nil {
			return s.fail(err, "validate the schema", panels)
		}
		s.valProbs, s.valErr = nil, ""
		if err != nil {
			s.valErr = reasonLine(fmt.Sprintf("validate the schema of %s: %v", s.opts.Path, db.Classify(s.opts.Path, err)))
		} else {
			s.valProbs = rep.Problems
		}
		s.valAt, s.valCookie, s.valVersion = now, cookie, v
	}
	f.SchemaCheckedAt = s.valAt
	if s.valErr != "" {
		// Validation itself failed: judge by the version alone, and say so.
		switch {
		case v > f.LatestSchema:
			f.SchemaProblems = append(f.SchemaProblems, fmt.Sprintf("schema version %d is newer than this repops knows (%d): upgrade repops", v, f.LatestSchema))
		case pending > 0:
			f.SchemaProblems = append(f.SchemaProblems, fmt.Sprintf("%d migration(s) not applied: run repops migrate apply", pending))
		}
		f.SchemaProblems = append(f.SchemaProblems, s.valErr)
		panels[PanelSchemaProblems] = Unknown(s.valErr)
		return nil
	}
	other := 0
	for _, p := range s.valProbs {
		f.SchemaProblems = append(f.SchemaProblems, p.String())
		if p.Kind != db.ProblemPendingMigration {
			other++
		}
	}
	f.SchemaValid = len(s.valProbs) == 0
	panels[PanelSchemaProblems] = Known(float64(other))
	return nil
}

// refreshSizes takes the result of a finished background size
// measurement, starts the next one when it is due, and waits for a
// running one up to WaitSizes.
func (s *DatabaseSource) refreshSizes(ctx context.Context, now time.Time) {
	if s.opts.NoSizes {
		return
	}
	s.takeSizes(ctx, 0)
	due := s.sizesStarted.IsZero() || !now.Before(s.sizesNext) || now.Before(s.sizesStarted)
	if s.sizesRun == nil && due {
		if s.bgCtx == nil {
			s.bgCtx, s.bgStop = context.WithCancel(context.Background())
		}
		bg, run := s.bgCtx, make(chan sizeResult, 1)
		s.sizesRun, s.sizesStarted = run, now
		s.bgWG.Add(1)
		go func() {
			defer s.bgWG.Done()
			sz, took, err := s.measureSizes(bg)
			run <- sizeResult{sizes: sz, took: took, err: err}
		}()
	}
	s.takeSizes(ctx, s.opts.WaitSizes)
}

// takeSizes takes a finished measurement's result, waiting up to wait
// (and ctx) for a running one, and sets when the next is due.
func (s *DatabaseSource) takeSizes(ctx context.Context, wait time.Duration) {
	if s.sizesRun == nil {
		return
	}
	var r sizeResult
	select {
	case r = <-s.sizesRun:
	default:
		if wait <= 0 {
			return
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case r = <-s.sizesRun:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
	s.sizesRun = nil
	s.sizesNext = s.sizesStarted.Add(max(sizesMinRefresh, sizesDuty*r.took))
	if r.err != nil {
		s.sizesErr = reasonLine(fmt.Sprintf("measure table sizes (gave up after %s): %v", r.took.Round(time.Millisecond), r.err))
		return
	}
	s.sizes, s.sizesTakenAt, s.sizesErr = r.sizes, s.sizesStarted, ""
}

// sizesCacheKiB is the page cache of each of the size measurement's two
// connections: dbstat reads every page once, so a cache saves nothing,
// and a large one (the config's cache_size is 400 MB) would be resident
// memory of the monitor.
const sizesCacheKiB = 1024

// measureSizes measures every table and index through a read-only pool
// of its own (two connections: db.TableSizes reads dbstat on two at
// once), bounded by sizesTimeout. Decision: without memory-mapping the
// file (db.SizeOptions.NoMmap) and with a 1 MiB page cache per
// connection. This source runs inside long-lived processes (the console,
// the exporter) whose resident memory must stay small at all times: with
// the mapping, every page read counted in their resident memory for the
// time of the scan (1.7 GB peak on the 1M-appeal demo database); without
// it the scan adds about 2 MB. The scan takes about 1.4 times as long
// (see db's BenchmarkTableSizes1M), which the cadence follows.
func (s *DatabaseSource) measureSizes(ctx context.Context) (*db.Sizes, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, sizesTimeout)
	defer cancel()
	o := s.opts.DBOptions
	o.MaxConns = 2
	o.CacheSize = -sizesCacheKiB
	o.Owner = "table sizes"
	conn, err := db.OpenRead(ctx, s.opts.Path, o)
	if err != nil {
		return nil, time.Since(start), err
	}
	defer conn.Close()
	sz, err := db.TableSizes(ctx, conn, s.opts.Path, db.SizeOptions{NoMmap: true})
	return sz, time.Since(start), err
}

// sizeFigures copies the newest size measurement into f.
func (s *DatabaseSource) sizeFigures(f *DBFigures) {
	f.SizesErr = s.sizesErr
	sz := s.sizes
	if sz == nil {
		return
	}
	f.SizesAt, f.SizesTook = s.sizesTakenAt, sz.Took
	f.PageSize, f.PageCount, f.FreePages = sz.PageSize, sz.PageCount, sz.FreePages
	f.Tables, f.Indexes = nil, nil
	for _, o := range sz.Objects {
		tf := TableFigure{Name: o.Name, Kind: o.Kind, Table: o.Table, Rows: o.Rows, Estimated: o.Estimated,
			RowSource: o.RowSource, Pages: o.Pages, Bytes: o.Bytes}
		switch {
		case o.Kind == "index":
			f.Indexes = append(f.Indexes, tf)
		case !strings.HasPrefix(o.Name, "sqlite_"):
			f.Tables = append(f.Tables, tf)
		}
	}
}

func (s *DatabaseSource) fail(err error, what string, panels map[string]Value) error {
	err = fmt.Errorf("%s in %s: %w", what, s.opts.Path, db.Classify(s.opts.Path, err))
	reason := reasonLine(err.Error())
	for _, p := range queryPanels() {
		if _, done := panels[p]; !done {
			panels[p] = Unknown(reason)
		}
	}
	return err
}

// negotiations measures, for the appeals whose negotiation finished in
// the last NegotiationWindow (status approved, denied or expired,
// resolved_at in the window), the time from their first to their last
// negotiation message. Cheap: the appeals are found through the
// messages written in the window (the decision is the thread's last
// message, written with resolved_at), a range of idx_messages_created;
// each appeal is then a rowid lookup and one index seek on
// idx_messages_appeal_created. appeals has no index on resolved_at or
// updated_at and needs none for this. The unary + on status keeps SQLite
// from walking idx_appeals_status_created instead (every finished appeal).
func (s *DatabaseSource) negotiations(ctx context.Context, q *sql.DB, now time.Time) (avg, p95 Value) {
	// Decision: when nothing finished in the window (a quiet night), the
	// last hour answers rather than an unknown panel, which would make
	// 'repops status' UNKNOWN for want of traffic; the short window is
	// for following an incident, the hour for a quiet service.
	windows := []time.Duration{s.opts.NegotiationWindow}
	if s.opts.NegotiationWindow < negotiationQuietWindow {
		windows = append(windows, negotiationQuietWindow)
	}
	for _, w := range windows {
		hours, err := s.negotiationHours(ctx, q, now.Add(-w))
		if err != nil {
			r := Unknown(fmt.Sprintf("measure negotiations: %v", err))
			return r, r
		}
		if len(hours) == 0 {
			continue
		}
		sum := 0.0
		for _, h := range hours {
			sum += h
		}
		sort.Float64s(hours)
		return Known(sum / float64(len(hours))), Known(percentile(hours, 0.95))
	}
	r := Unknown(fmt.Sprintf("no negotiation finished in the last %s", windows[len(windows)-1]))
	return r, r
}

// negotiationQuietWindow is the negotiation panels' window when none
// finished in NegotiationWindow.
const negotiationQuietWindow = time.Hour

// negotiationHours is the first-to-last-message time, in hours, of every
// negotiation finished since from.
func (s *DatabaseSource) negotiationHours(ctx context.Context, q *sql.DB, from time.Time) ([]float64, error) {
	since := db.FormatTime(from)
	rows, err := q.QueryContext(ctx, `
SELECT (SELECT (julianday(MAX(m.created_at)) - julianday(MIN(m.created_at))) * 24
          FROM appeal_negotiation_messages m WHERE m.appeal_id = a.id)
  FROM appeals a
 WHERE a.id IN (SELECT appeal_id FROM appeal_negotiation_messages WHERE created_at >= ?)
   AND +a.status IN ('approved', 'denied', 'expired')
   AND a.resolved_at >= ?`, since, since)
	if err != nil {
		return nil, db.Classify(s.opts.Path, err)
	}
	defer rows.Close()
	var hours []float64
	for rows.Next() {
		var h sql.NullFloat64
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		if h.Valid && !math.IsNaN(h.Float64) {
			hours = append(hours, h.Float64)
		}
	}
	return hours, rows.Err()
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

// The replica verification panels ('repops replicate verify', run by the
// exporter every console.replication.verify_every).
const (
	// PanelReplicaVerifyAge is the hours since the last successful
	// verification of the database's replica.
	PanelReplicaVerifyAge = "replica_verify_age"
	// PanelReplicaVerifyOK is 1 when the last verification found the
	// replica sound, 0 when it found it damaged or different from the
	// live database.
	PanelReplicaVerifyOK = "replica_verify_ok"
)

// replicaVerifyRecord is what the panels read of replicate.VerifyRecord
// (replicate/verify.go writes it; metrics may not import replicate, which
// imports ops): the same JSON fields.
type replicaVerifyRecord struct {
	Database    string        `json:"database"`
	File        *state.FileID `json:"file,omitempty"`
	Time        time.Time     `json:"time"`
	Status      string        `json:"status"` // ok, critical, unknown
	Problems    []string      `json:"problems,omitempty"`
	Check       string        `json:"check"`
	LastSuccess time.Time     `json:"last_success,omitempty"`
}

// replicaVerifyPath is replicate.VerifyRecordPath: <state dir>/records/replica-verify-KEY.json.
func replicaVerifyPath(stateDir, dbPath string) string {
	return filepath.Join(stateDir, "records", "replica-verify-"+state.RecordKey(dbPath)+".json")
}

// readReplicaVerify reads the last replica verification of the database
// at dbPath; ok is false when there is none, or when the record is of
// another database (the records' one rule, state's IsOf).
func readReplicaVerify(stateDir, dbPath string) (rec replicaVerifyRecord, ok bool, err error) {
	b, err := fsutil.ReadRegularFile(context.Background(), replicaVerifyPath(stateDir, dbPath), 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("replica verification record %s: %w", replicaVerifyPath(stateDir, dbPath), err)
	}
	if !(state.CheckRecord{Database: rec.Database, File: rec.File}).IsOf(dbPath) {
		return rec, false, nil
	}
	return rec, true, nil
}

// replicaVerifyPanels are the verification panels from the record, as
// the check and drill panels are from theirs: the age since the last
// success (+Inf when verifications ran and none ever succeeded: as bad as
// infinitely old), unknown with the reason when none is recorded; and
// whether the last one found the replica sound (unknown when it could not
// run: the age says how long that lasts).
func replicaVerifyPanels(stateDir, dbPath string, now time.Time, panels map[string]Value) {
	rec, ok, err := readReplicaVerify(stateDir, dbPath)
	switch {
	case err != nil:
		panels[PanelReplicaVerifyAge] = Unknown(reasonLine(err.Error()))
		panels[PanelReplicaVerifyOK] = Unknown(reasonLine(err.Error()))
		return
	case !ok:
		r := "no replica verification of this database recorded: run repops replicate verify (the exporter runs it every console.replication.verify_every)"
		panels[PanelReplicaVerifyAge] = Unknown(r)
		panels[PanelReplicaVerifyOK] = Unknown(r)
		return
	}
	if rec.LastSuccess.IsZero() {
		panels[PanelReplicaVerifyAge] = Known(math.Inf(1))
	} else {
		panels[PanelReplicaVerifyAge] = Known(math.Max(0, now.Sub(rec.LastSuccess).Hours()))
	}
	switch rec.Status {
	case "ok":
		panels[PanelReplicaVerifyOK] = Known(1)
	case "critical":
		panels[PanelReplicaVerifyOK] = Known(0)
	default:
		panels[PanelReplicaVerifyOK] = Unknown(reasonLine("the last replica verification could not run: " + strings.Join(rec.Problems, "; ")))
	}
}

// ReplicaVerifySource reads the record of the last replica verification
// of the database (the panels replica_verify_age and replica_verify_ok)
// from the state dir, as the database source reads the last check and
// drill (replicaVerifyPanels). Decision: not the database source itself,
// which every configuration has, but a source of Litestream's kind, built
// beside the LitestreamSource when replication is configured: the
// engine's Configured is per source kind, so that without replication the
// verification rules are "not configured" (ignored by 'repops status'),
// never UNKNOWN, as Litestream's own panels are.
type ReplicaVerifySource struct {
	StateDir, DBPath string
}

var _ Source = (*ReplicaVerifySource)(nil)

// NewReplicaVerifySource is the replica verification source of the
// database at dbPath.
func NewReplicaVerifySource(stateDir, dbPath string) *ReplicaVerifySource {
	return &ReplicaVerifySource{StateDir: stateDir, DBPath: dbPath}
}

// Name implements Source.
func (s *ReplicaVerifySource) Name() string { return "replica verification" }

// Kind implements Source.
func (s *ReplicaVerifySource) Kind() string { return KindLitestream }

// Target implements Source.
func (s *ReplicaVerifySource) Target() string { return replicaVerifyPath(s.StateDir, s.DBPath) }

// Collect implements Source: it reads one small file.
func (s *ReplicaVerifySource) Collect(_ context.Context, now time.Time) (Result, error) {
	panels := map[string]Value{}
	replicaVerifyPanels(s.StateDir, s.DBPath, now, panels)
	return Result{Panels: panels}, nil
}
