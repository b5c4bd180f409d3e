package ops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
)

// The guide's "Database Optimization" (ANALYZE, REINDEX, VACUUM) and what
// goes with it on a live WAL database: PRAGMA optimize, the WAL checkpoint,
// incremental vacuum. Each one first says what it costs (EstimateCost): how
// long it holds the write lock, during which the service's writers wait,
// the space it needs and where, and the cheaper way when there is one.

// OptimizeOp names one optimisation.
type OptimizeOp string

// The optimisations.
const (
	OpAnalyze           OptimizeOp = "analyze"                   // ANALYZE [table|index]
	OpOptimize          OptimizeOp = "optimize"                  // PRAGMA optimize
	OpReindex           OptimizeOp = "reindex"                   // REINDEX [table|index]
	OpVacuum            OptimizeOp = "vacuum"                    // VACUUM
	OpCheckpoint        OptimizeOp = "checkpoint"                // PRAGMA wal_checkpoint(TRUNCATE)
	OpIncrementalVacuum OptimizeOp = "incremental-vacuum"        // PRAGMA incremental_vacuum, in steps
	OpEnableIncremental OptimizeOp = "enable-incremental-vacuum" // auto_vacuum = INCREMENTAL, then one VACUUM
)

// OptimizeOps lists the optimisations, for help and errors.
func OptimizeOps() []OptimizeOp {
	return []OptimizeOp{OpAnalyze, OpOptimize, OpReindex, OpVacuum, OpCheckpoint, OpIncrementalVacuum, OpEnableIncremental}
}

// ErrUnknownOp is what an optimisation name that is not one of
// OptimizeOps() meets.
var ErrUnknownOp = errors.New("unknown optimisation")

// CostRates are the seconds an operation holds the write lock per MiB of
// what it works on. Only create-index's estimate (indexes.go) still uses
// them: the optimisations' own are measured on the host and the file
// (MeasureFileIO, IORates.lockHold), these figures having proved 3.5 to
// 10 times too low under load. DefaultCostRates are the figures measured on the
// service's 482 MB production database (VACUUM 4.1 s, CREATE INDEX 3.5 s,
// REINDEX about 1 s, ANALYZE 0.18 s); BenchmarkOptimizeCosts measures them
// on the host, and a caller with better figures passes its own. Measured on
// a busy 2-core development VM (157 MiB database, 8 indexes): CREATE INDEX
// 1.2 times the default rate, VACUUM 2.2 times, ANALYZE without
// analysis_limit 11 times, REINDEX of everything 11 times (the guide's 1 s
// for REINDEX looks low beside its 3.5 s for one CREATE INDEX: REINDEX
// rebuilds every index). The estimates are a scale, not a promise: the
// Basis line says so to the operator.
type CostRates struct {
	VacuumPerMiB      float64 // whole database, in-use pages
	CreateIndexPerMiB float64 // the table indexed
	ReindexPerMiB     float64 // whole database for REINDEX of everything
	AnalyzePerMiB     float64 // whole database
	// CopyPerMiB is how fast pages are rewritten (checkpoint, incremental
	// vacuum): the VACUUM rate, which is mostly that.
	CopyPerMiB float64
	Basis      string // where the figures come from, for the operator
}

// DefaultCostRates are the guide's measured figures scaled per MiB.
func DefaultCostRates() CostRates {
	const mib = 482.0 * 1000 * 1000 / (1 << 20) // 482 MB
	return CostRates{
		VacuumPerMiB: 4.1 / mib, CreateIndexPerMiB: 3.5 / mib, ReindexPerMiB: 1.0 / mib, AnalyzePerMiB: 0.18 / mib,
		CopyPerMiB: 4.1 / mib,
		Basis:      "scaled from measurements on a 482 MB database (VACUUM 4.1 s, CREATE INDEX 3.5 s, REINDEX 1 s, ANALYZE 0.18 s)",
	}
}

// LargeDatabase is the size from which ANALYZE runs with analysis_limit.
const LargeDatabase = 256 << 20

// OptimizeOptions says which optimisation to run on which database.
type OptimizeOptions struct {
	DBPath string
	DB     db.Options
	Op     OptimizeOp
	// Target is a table or index for analyze and reindex ("" = all). It is
	// looked up in the schema; a name that is not there is an error.
	Target string
	// AnalysisLimit is PRAGMA analysis_limit for ANALYZE: 0 picks 1000 on
	// a database larger than LargeDatabase and none below; -1 never.
	AnalysisLimit int
	// IncrementalPages is how many pages one incremental_vacuum step frees
	// (default 256, 1 MiB at 4 KiB pages: a few ms of write lock), and
	// IncrementalPause the pause between steps (default 20 ms).
	// MaxIncrementalPages stops after that many (0: all free pages).
	IncrementalPages    int
	IncrementalPause    time.Duration
	MaxIncrementalPages int64
	// StatFS and TempDir are where free space is checked: statfs(2) and
	// SQLiteTempDir() unless set (tests inject a full disk).
	StatFS  StatFS
	TempDir string
	// Rates scale create-index's estimate (indexes.go); DefaultCostRates
	// when zero. The optimisations' own estimates are measured (Measure).
	Rates CostRates
	// Measure measures this machine and file's read and write+fsync rates
	// for the estimate (MeasureFileIO when nil; tests inject one).
	Measure MeasureIO
	// BusyTimeout is the service's busy timeout: a step whose estimated
	// lock hold exceeds it is refused (the service's writers would fail
	// with "database is locked") unless AllowLongLock. Default 5 s;
	// BusyTimeoutSource says where the figure comes from.
	BusyTimeout       time.Duration
	BusyTimeoutSource string
	AllowLongLock     bool
	Recorder          Recorder
}

// ErrLongLock is what an optimisation whose estimated write-lock hold
// exceeds the service's busy timeout meets, without AllowLongLock.
var ErrLongLock = errors.New("would hold the write lock longer than the service's busy timeout")

// DefaultBusyTimeout is the service's busy timeout when the config gives
// none: SQLite's busy_timeout of the service (5 s).
const DefaultBusyTimeout = 5 * time.Second

// SpaceNeed is room an optimisation needs in one directory.
type SpaceNeed struct {
	Dir   string `json:"dir"`
	What  string `json:"what"`
	Bytes int64  `json:"bytes"`
}

// Cost is what an optimisation will cost, said before it runs.
type Cost struct {
	Op     OptimizeOp `json:"op"`
	Target string     `json:"target,omitempty"`
	// DBBytes is the database file plus its WAL; InUseBytes the pages in
	// use; FreeBytes the free pages inside the file (what VACUUM returns).
	DBBytes    int64 `json:"db_bytes"`
	InUseBytes int64 `json:"in_use_bytes"`
	FreeBytes  int64 `json:"free_bytes"`
	// WorkBytes is what the operation reads and rewrites.
	WorkBytes int64 `json:"work_bytes"`
	// LockHold is how long the write lock is held in one go: the longest
	// the service's writers wait. For incremental vacuum it is one step's,
	// and Steps says how many steps.
	LockHold time.Duration `json:"lock_hold_ns"`
	Steps    int64         `json:"steps,omitempty"`
	Total    time.Duration `json:"total_ns"`
	// BlocksWriters is false for what does not take the write lock.
	BlocksWriters bool        `json:"blocks_writers"`
	Space         []SpaceNeed `json:"space,omitempty"`
	Free          []DiskSpace `json:"free,omitempty"`
	// SpaceError is set when there is not enough free space: the
	// operation would be refused.
	SpaceError string `json:"space_error,omitempty"`
	spaceErr   error
	// Measured are the rates the lock hold was estimated from; BusyTimeout
	// the service's busy timeout it is compared with. LockError is set
	// when the lock hold exceeds it: the operation would be refused
	// without AllowLongLock.
	Measured    IORates       `json:"measured"`
	BusyTimeout time.Duration `json:"busy_timeout_ns"`
	LockError   string        `json:"lock_error,omitempty"`
	lockErr     error
	// Cheaper is the cheaper way, when there is one.
	Cheaper    string `json:"cheaper,omitempty"`
	AutoVacuum string `json:"auto_vacuum"` // none, full, incremental
	Basis      string `json:"basis"`
	// Preflight says what is checked before the write (db.Preflight):
	// the schema, and quick_check unless the operation is too cheap to be
	// worth it (a checkpoint).
	Preflight string `json:"preflight"`
}

// preflightLevel is the pre-flight an optimisation gets: a checkpoint
// copies committed WAL frames into the file and reads no b-tree page, so
// the schema check is enough; everything else reads or rewrites pages and
// gets quick_check.
func preflightLevel(op OptimizeOp) db.PreflightLevel {
	if op == OpCheckpoint {
		return db.PreflightSchema
	}
	return db.PreflightQuickCheck
}

// preflightLine is the cost line of a pre-flight over inUse bytes.
func preflightLine(level db.PreflightLevel, inUse int64) string {
	if level == db.PreflightSchema {
		return "schema version only; no quick_check (a checkpoint copies committed WAL frames and reads no b-tree page)"
	}
	what := "every page"
	if inUse > 0 {
		what = "the " + humanize.Bytes(inUse)
	}
	return fmt.Sprintf("schema version, then PRAGMA quick_check: reads %s once, without the write lock, before anything is written", what)
}

// OptimizeResult is what an optimisation did.
type OptimizeResult struct {
	Op     OptimizeOp `json:"op"`
	Target string     `json:"target,omitempty"`
	Cost   Cost       `json:"cost"`
	// Took is the time the operation ran; LongestStep the longest single
	// write-lock hold of an incremental vacuum.
	Took        time.Duration `json:"took_ns"`
	LongestStep time.Duration `json:"longest_step_ns,omitempty"`
	Before      db.FileSizes  `json:"before"`
	After       db.FileSizes  `json:"after"`
	FreedBytes  int64         `json:"freed_bytes"` // file shrink
	// Checkpoint results: frames in the WAL and checkpointed, and whether
	// readers or writers kept it from finishing (Busy).
	Busy         bool   `json:"busy,omitempty"`
	LogFrames    int64  `json:"log_frames,omitempty"`
	Checkpointed int64  `json:"checkpointed,omitempty"`
	Message      string `json:"message"`
}

func (o *OptimizeOptions) normalize() error {
	known := false
	for _, op := range OptimizeOps() {
		known = known || op == o.Op
	}
	if !known {
		names := make([]string, 0, 7)
		for _, op := range OptimizeOps() {
			names = append(names, string(op))
		}
		return fmt.Errorf("%w %q: choose one of %s", ErrUnknownOp, o.Op, strings.Join(names, ", "))
	}
	if o.Target != "" && o.Op != OpAnalyze && o.Op != OpReindex {
		return fmt.Errorf("optimize %s: takes no target (only analyze and reindex work on one table or index)", o.Op)
	}
	if o.IncrementalPages <= 0 {
		o.IncrementalPages = 256
	}
	if o.IncrementalPause <= 0 {
		o.IncrementalPause = 20 * time.Millisecond
	}
	if o.StatFS == nil {
		o.StatFS = SystemStatFS
	}
	if o.TempDir == "" {
		o.TempDir = SQLiteTempDir()
	}
	if o.Rates.VacuumPerMiB == 0 {
		o.Rates = DefaultCostRates()
	}
	if o.Measure == nil {
		o.Measure = MeasureFileIO
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
		if o.BusyTimeoutSource == "" {
			o.BusyTimeoutSource = "the default: the config has no database.busy_timeout"
		}
	}
	if o.BusyTimeoutSource == "" {
		o.BusyTimeoutSource = "given"
	}
	return nil
}

// EstimateCost says what the optimisation in o will cost, reading the
// database without changing it. A file that fails the schema part of the
// pre-flight (not the reputation database, or a newer schema) is refused
// here already. Its SpaceError is set when Optimize would
// refuse for want of space.
func EstimateCost(ctx context.Context, o OptimizeOptions) (Cost, error) {
	if err := o.normalize(); err != nil {
		return Cost{}, err
	}
	r, err := db.OpenRead(ctx, o.DBPath, o.DB)
	if err != nil {
		return Cost{}, fmt.Errorf("estimate %s: %w", o.Op, err)
	}
	defer r.Close()
	// The pre-flight's schema part, cheap: the estimate of a write that
	// would be refused is refused (quick_check is left to the run).
	if err := db.Preflight(ctx, r, o.DBPath, db.PreflightSchema); err != nil {
		return Cost{}, fmt.Errorf("estimate %s: %w", o.Op, err)
	}
	return estimateCost(ctx, r, o)
}

func estimateCost(ctx context.Context, q db.Querier, o OptimizeOptions) (Cost, error) {
	c := Cost{Op: o.Op, Target: o.Target, BlocksWriters: true, BusyTimeout: o.BusyTimeout}
	var target SchemaObject
	if o.Target != "" {
		t, err := lookupSchemaObject(ctx, q, o.Target)
		if err != nil {
			return c, fmt.Errorf("optimize %s: %w", o.Op, err)
		}
		target = t
		c.Target = t.Name
	}
	files, err := db.StatFiles(o.DBPath)
	if err != nil {
		return c, err
	}
	c.DBBytes = files.DB + files.WAL
	var pageSize, pages, free, autoVacuum int64
	for _, p := range []struct {
		q   string
		dst *int64
	}{{`PRAGMA page_size`, &pageSize}, {`PRAGMA page_count`, &pages}, {`PRAGMA freelist_count`, &free}, {`PRAGMA auto_vacuum`, &autoVacuum}} {
		if err := q.QueryRowContext(ctx, p.q).Scan(p.dst); err != nil {
			return c, fmt.Errorf("estimate %s: %w", o.Op, db.Classify(o.DBPath, err))
		}
	}
	c.AutoVacuum = map[int64]string{0: "none", 1: "full", 2: "incremental"}[autoVacuum]
	c.InUseBytes, c.FreeBytes = (pages-free)*pageSize, free*pageSize
	c.Preflight = preflightLine(preflightLevel(o.Op), c.InUseBytes)
	dbDir := filepath.Dir(absPath(o.DBPath))
	m, err := o.Measure(ctx, o.DBPath)
	if err != nil {
		return c, fmt.Errorf("estimate %s: %w", o.Op, err)
	}
	c.Measured, c.Basis = m, m.basis()

	switch o.Op {
	case OpVacuum, OpEnableIncremental:
		c.WorkBytes = c.InUseBytes
		// The in-use pages read, and written back into the WAL and synced
		// (the copy in the temp dir, unsynced, is not counted: a floor).
		c.LockHold = m.lockHold(c.InUseBytes, c.InUseBytes)
		c.Space = vacuumSpace(o, dbDir, c.InUseBytes)
		if o.Op == OpEnableIncremental && autoVacuum == 2 {
			c.LockHold, c.Space, c.WorkBytes = 0, nil, 0
			c.BlocksWriters = false
			c.Cheaper = "auto_vacuum is already incremental: nothing to do; free pages with incremental-vacuum"
		}
		if o.Op == OpVacuum {
			switch autoVacuum {
			case 2:
				c.Cheaper = fmt.Sprintf("incremental-vacuum frees the %s of free pages in steps of a few ms of write lock each, instead of one %s hold",
					humanize.Bytes(c.FreeBytes), c.LockHold.Round(time.Millisecond))
			default:
				c.Cheaper = "switch to incremental auto-vacuum once (enable-incremental-vacuum: one VACUUM, this cost, once); from then on incremental-vacuum frees pages in steps of a few ms"
			}
			if c.FreeBytes < c.InUseBytes/10 {
				c.Cheaper += fmt.Sprintf("; only %s (under 10%%) of the file is free: VACUUM would gain little", humanize.Bytes(c.FreeBytes))
			}
		}
	case OpReindex:
		idxBytes, _, err := indexBytes(ctx, q, target)
		if err != nil {
			return c, fmt.Errorf("estimate %s: %w", o.Op, err)
		}
		c.WorkBytes = idxBytes
		// The index pages read, and rebuilt into the WAL and synced.
		c.LockHold = m.lockHold(idxBytes, idxBytes)
		c.Space = []SpaceNeed{{Dir: dbDir, What: "the rebuilt index pages in the WAL", Bytes: idxBytes},
			{Dir: o.TempDir, What: "the sort of the index entries", Bytes: idxBytes}}
		if o.Target == "" {
			c.Cheaper = "REINDEX is needed only after corruption of an index or a collation change; rebuild one index (--target NAME) or one table's; for stale query plans, analyze or optimize is enough"
		}
	case OpAnalyze:
		c.WorkBytes = c.InUseBytes
		if target.Name != "" {
			b, _, err := indexBytes(ctx, q, target)
			if err == nil {
				c.WorkBytes = b
			}
		}
		c.LockHold = m.lockHold(c.WorkBytes, 0)
		if limit := analysisLimit(o, c.DBBytes); limit > 0 {
			c.LockHold = min(c.LockHold, m.lockHold(LargeDatabase, 0))
		}
		c.Cheaper = "optimize (PRAGMA optimize) analyzes only the tables whose statistics are stale"
	case OpOptimize:
		c.WorkBytes = c.InUseBytes
		c.LockHold = min(m.lockHold(c.InUseBytes, 0), m.lockHold(LargeDatabase, 0))
	case OpCheckpoint:
		c.WorkBytes = files.WAL
		c.LockHold = m.lockHold(files.WAL, files.WAL)
		c.Cheaper = "the service checkpoints by itself (wal_autocheckpoint, PASSIVE, without blocking writers); TRUNCATE is only needed to shrink a WAL that grew large"
	case OpIncrementalVacuum:
		if autoVacuum != 2 {
			return c, fmt.Errorf("optimize %s: %s has auto_vacuum=%s: switch it once with 'repops optimize enable-incremental-vacuum' (one VACUUM)",
				o.Op, o.DBPath, c.AutoVacuum)
		}
		n := free
		if o.MaxIncrementalPages > 0 {
			n = min(n, o.MaxIncrementalPages)
		}
		c.WorkBytes = n * pageSize
		c.Steps = (n + int64(o.IncrementalPages) - 1) / int64(o.IncrementalPages)
		step := int64(o.IncrementalPages) * pageSize
		c.LockHold = m.lockHold(step, step)
		c.Total = time.Duration(c.Steps) * (c.LockHold + o.IncrementalPause)
		c.Space = []SpaceNeed{{Dir: dbDir, What: "the moved pages in the WAL", Bytes: min(c.WorkBytes, int64(o.IncrementalPages)*pageSize*64)}}
	}
	if c.Total == 0 {
		c.Total = c.LockHold
	}
	if c.BlocksWriters && c.LockHold > o.BusyTimeout && !o.AllowLongLock {
		c.lockErr = longLockError(o, c)
		c.LockError = c.lockErr.Error()
	}
	if len(c.Space) > 0 {
		free, err := checkSpace(o.StatFS, toSpaceNeeds(c.Space))
		c.Free = free
		if err != nil {
			if !errors.Is(err, ErrNoSpace) {
				return c, err
			}
			c.SpaceError, c.spaceErr = err.Error(), err
		}
	}
	return c, nil
}

// longLockError is the refusal of a step whose estimated lock hold c
// exceeds the service's busy timeout, with the gentle way.
func longLockError(o OptimizeOptions, c Cost) error {
	gentle := "run it when the service is stopped"
	switch o.Op {
	case OpVacuum:
		gentle = "free pages with incremental-vacuum instead (a few ms of write lock per step; once, enable-incremental-vacuum, with the service stopped)"
	case OpEnableIncremental:
		gentle = "run it with the service stopped (one VACUUM); afterwards incremental-vacuum frees pages in steps of a few ms"
	case OpReindex:
		gentle = "reindex one index at a time with --target NAME ('repops indexes' lists them)"
	case OpAnalyze, OpOptimize:
		gentle = "bound it with --analysis-limit, or analyze one table or index with --target"
	case OpCheckpoint:
		gentle = "leave it to the service's own PASSIVE checkpoints, which never block its writers"
	case OpIncrementalVacuum:
		gentle = "use fewer --step-pages per step"
	}
	return fmt.Errorf("%w: %s would hold it about %s (%s of work at the measured read %.0f MiB/s, write+fsync %.0f MiB/s), past the service's busy timeout of %s (%s), so its writers would fail with \"database is locked\": %s, or pass --allow-long-lock to run it anyway",
		ErrLongLock, o.Op, c.LockHold.Round(time.Millisecond), humanize.Bytes(c.WorkBytes), c.Measured.ReadMiBps, c.Measured.WriteSyncMiBps,
		o.BusyTimeout, o.BusyTimeoutSource, gentle)
}

// vacuumSpace is what VACUUM needs: its copy of the database in the temp
// directory (counted twice there, as SQLite's documentation warns: up to
// twice the database) and the WAL beside the database, into which the copy
// is written back. When both are one filesystem, twice the database in all.
func vacuumSpace(o OptimizeOptions, dbDir string, inUse int64) []SpaceNeed {
	tmp, terr := o.StatFS(o.TempDir)
	dbs, derr := o.StatFS(dbDir)
	if terr == nil && derr == nil && tmp.FS != "" && tmp.FS == dbs.FS {
		return []SpaceNeed{{Dir: o.TempDir, What: "VACUUM's copy of the database (temp dir) and the WAL it writes back (same filesystem)", Bytes: 2 * inUse}}
	}
	return []SpaceNeed{
		{Dir: o.TempDir, What: "VACUUM's copy of the database (temp dir, up to twice its size)", Bytes: 2 * inUse},
		{Dir: dbDir, What: "the WAL VACUUM writes the copy back into", Bytes: inUse},
	}
}

func toSpaceNeeds(s []SpaceNeed) []spaceNeed {
	out := make([]spaceNeed, len(s))
	for i, n := range s {
		out[i] = spaceNeed{Dir: n.Dir, What: n.What, Need: n.Bytes}
	}
	return out
}

// indexBytes is the size of the indexes target covers (all indexes when
// target is zero, a table's indexes, or one index) and of all indexes.
func indexBytes(ctx context.Context, q db.Querier, target SchemaObject) (bytes, all int64, err error) {
	rows, err := q.QueryContext(ctx, `SELECT s.name, s.tbl_name, coalesce((SELECT sum(pgsize) FROM dbstat('main', 1) d WHERE d.name = s.name), 0)
		FROM main.sqlite_schema s WHERE s.type = 'index'`)
	if err != nil {
		return 0, 0, fmt.Errorf("measure indexes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, tbl string
		var n int64
		if err := rows.Scan(&name, &tbl, &n); err != nil {
			return 0, 0, err
		}
		all += n
		if target.Name == "" || (target.Type == "table" && strings.EqualFold(tbl, target.Name)) || strings.EqualFold(name, target.Name) {
			bytes += n
		}
	}
	return bytes, all, rows.Err()
}

func analysisLimit(o OptimizeOptions, dbBytes int64) int {
	switch {
	case o.AnalysisLimit < 0:
		return 0
	case o.AnalysisLimit > 0:
		return o.AnalysisLimit
	case dbBytes > LargeDatabase:
		return 1000
	}
	return 0
}

// Optimize runs the optimisation in o, after its pre-flight (the schema,
// and quick_check but for a checkpoint: see preflightLevel), through a
// read-only connection, before the database is opened for writing, and
// after checking its cost: it refuses with ErrNoSpace when a filesystem it
// needs has not enough free space. It takes the procedure lock and
// journals the run. Corruption that SQLite reports while it runs stops it
// at once, without the checkpoint that follows a vacuum, and its error
// (journaled) points at the database-corruption runbook.
func Optimize(ctx context.Context, o OptimizeOptions, progress Progress) (*OptimizeResult, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	action := "optimize." + string(o.Op)
	if err := o.Recorder.Procedure(action, "", nil).checkRecorded(); err != nil {
		return nil, err
	}
	if err := preflight(ctx, o.Recorder, action, o.DBPath, o.DB, preflightLevel(o.Op), map[string]any{"op": string(o.Op)}); err != nil {
		return nil, fmt.Errorf("optimize %s refused: %w", o.Op, err)
	}
	w, err := db.OpenWrite(ctx, o.DBPath, o.DB)
	if err != nil {
		return nil, fmt.Errorf("optimize %s: %w", o.Op, err)
	}
	defer w.Close()
	stopped := func(err error) error {
		return stopBeforeRun(o.Recorder, action, o.DBPath, map[string]any{"op": string(o.Op)}, err)
	}
	conn, err := w.Conn(ctx)
	if err != nil {
		return nil, stopped(fmt.Errorf("optimize %s: %w", o.Op, db.Classify(o.DBPath, err)))
	}
	defer conn.Close()
	cost, err := estimateCost(ctx, conn, o)
	if err != nil {
		return nil, stopped(err)
	}
	if cost.spaceErr != nil {
		return &OptimizeResult{Op: o.Op, Target: cost.Target, Cost: cost}, fmt.Errorf("optimize %s: %w", o.Op, cost.spaceErr)
	}
	if cost.lockErr != nil {
		return &OptimizeResult{Op: o.Op, Target: cost.Target, Cost: cost}, stopped(fmt.Errorf("optimize %s refused: %w", o.Op, cost.lockErr))
	}
	res := &OptimizeResult{Op: o.Op, Target: cost.Target, Cost: cost}
	params := map[string]any{"op": string(o.Op)}
	if cost.Target != "" {
		params["target"] = cost.Target
	}
	p := o.Recorder.Procedure(action, absPath(o.DBPath), params)
	p.Progress = progress
	ran := false
	err = Run(ctx, p, func(ctx context.Context, r *Running) (map[string]float64, error) {
		ran = true
		progress.report(ProgressEvent{Phase: string(o.Op), Message: fmt.Sprintf("%s: holds the write lock about %s", o.Op, cost.LockHold.Round(time.Millisecond))})
		res.Before, _ = db.StatFiles(o.DBPath)
		start := time.Now()
		err := stopOnCorrupt(o.DBPath, runOptimize(ctx, conn, o, cost, res, progress))
		if db.IsCorrupt(err) {
			err = fmt.Errorf("optimize %s stopped: %w", o.Op, err)
		}
		res.Took = time.Since(start)
		if err == nil && (o.Op == OpVacuum || o.Op == OpEnableIncremental || o.Op == OpIncrementalVacuum) {
			// In WAL mode the file shrinks when the WAL is checkpointed: do it
			// now, PASSIVE (the service's writers are not held up).
			_, _ = conn.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		}
		res.After, _ = db.StatFiles(o.DBPath)
		res.FreedBytes = res.Before.DB - res.After.DB
		if err == nil && res.Message == "" {
			res.Message = fmt.Sprintf("%s done in %s", o.Op, res.Took.Round(time.Millisecond))
		}
		figures := map[string]float64{"took_seconds": res.Took.Seconds(), "estimated_lock_seconds": cost.LockHold.Seconds(),
			"freed_bytes": float64(res.FreedBytes), "db_bytes_before": float64(res.Before.DB), "db_bytes_after": float64(res.After.DB)}
		if res.LongestStep > 0 {
			figures["longest_step_seconds"] = res.LongestStep.Seconds()
		}
		if db.IsCorrupt(err) {
			figures["corrupt"] = 1
		}
		r.SetMessage(res.Message)
		return figures, err
	})
	if !ran {
		return nil, err
	}
	return res, err
}

func runOptimize(ctx context.Context, conn *sql.Conn, o OptimizeOptions, cost Cost, res *OptimizeResult, progress Progress) error {
	exec := func(q string) error {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("optimize %s: %s: %w", o.Op, q, db.Classify(o.DBPath, err))
		}
		return nil
	}
	target := ""
	if cost.Target != "" {
		target = " " + quoteSchemaName(cost.Target) // found in sqlite_schema by estimateCost
	}
	switch o.Op {
	case OpAnalyze:
		if limit := analysisLimit(o, cost.DBBytes); limit > 0 {
			if err := exec(fmt.Sprintf(`PRAGMA analysis_limit = %d`, limit)); err != nil {
				return err
			}
			defer conn.ExecContext(context.Background(), `PRAGMA analysis_limit = 0`)
		}
		return exec(`ANALYZE` + target)
	case OpOptimize:
		return exec(`PRAGMA optimize`)
	case OpReindex:
		return exec(`REINDEX` + target)
	case OpVacuum:
		return exec(`VACUUM`)
	case OpEnableIncremental:
		if cost.AutoVacuum == "incremental" {
			res.Message = "auto_vacuum is already incremental: nothing done"
			return nil
		}
		if err := exec(`PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
			return err
		}
		return exec(`VACUUM`)
	case OpCheckpoint:
		var busy int
		if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &res.LogFrames, &res.Checkpointed); err != nil {
			return fmt.Errorf("optimize checkpoint: %w", db.Classify(o.DBPath, err))
		}
		res.Busy = busy != 0
		if res.Busy {
			res.Message = fmt.Sprintf("checkpoint could not finish: readers or writers kept it busy (%d of %d frames copied); retry", res.Checkpointed, res.LogFrames)
		}
		return nil
	case OpIncrementalVacuum:
		return incrementalVacuum(ctx, conn, o, cost, res, progress)
	}
	return fmt.Errorf("%w %q", ErrUnknownOp, o.Op)
}

// incrementalVacuum frees pages in steps of IncrementalPages, each its own
// short transaction, with a pause between steps for the service's writers.
func incrementalVacuum(ctx context.Context, conn *sql.Conn, o OptimizeOptions, cost Cost, res *OptimizeResult, progress Progress) error {
	total := cost.WorkBytes
	var done, steps int64
	var pageSize int64
	if err := conn.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return err
	}
	for step := int64(0); step < cost.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("optimize incremental-vacuum: stopped after %s: %w", humanize.Bytes(done), err)
		}
		n := int64(o.IncrementalPages)
		if o.MaxIncrementalPages > 0 {
			n = min(n, o.MaxIncrementalPages-done/pageSize)
		}
		if n <= 0 {
			break // incremental_vacuum(0) would free every page
		}
		t0 := time.Now()
		// Each row returned is one page freed: the statement must be
		// stepped to the end (an Exec would free one page only).
		rows, err := conn.QueryContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, n))
		if err != nil {
			return fmt.Errorf("optimize incremental-vacuum: %w", db.Classify(o.DBPath, err))
		}
		var freed int64
		for rows.Next() {
			freed++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("optimize incremental-vacuum: %w", db.Classify(o.DBPath, err))
		}
		res.LongestStep = max(res.LongestStep, time.Since(t0))
		if freed == 0 {
			// Progress or stop: a step that frees nothing ends the run,
			// done when the free list is empty (the service reused the
			// pages), an error otherwise.
			var left int64
			if err := conn.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&left); err != nil {
				return fmt.Errorf("optimize incremental-vacuum: %w", db.Classify(o.DBPath, err))
			}
			if left > 0 {
				return fmt.Errorf("optimize incremental-vacuum: step %d of %d freed no page though %d are free: stopped after %s (run 'repops check')",
					step+1, cost.Steps, left, humanize.Bytes(done))
			}
			break
		}
		done += freed * pageSize
		steps++
		progress.report(ProgressEvent{Phase: "incremental-vacuum", Done: min(done, total), Total: total, Unit: "bytes",
			Message: fmt.Sprintf("step %d of %d", step+1, cost.Steps)})
		select {
		case <-ctx.Done():
		case <-time.After(o.IncrementalPause):
		}
	}
	var free int64
	if err := conn.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err == nil {
		res.Message = fmt.Sprintf("incremental vacuum: %d steps, longest %s; %s still free inside the file",
			steps, res.LongestStep.Round(time.Millisecond), humanize.Bytes(free*pageSize))
	}
	return nil
}
