package ops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/repops/repops/db"
)

// Archival moves old, settled data out of the live tables while the service
// keeps writing: the operations guide's "Data Archival", made safe.
//
// What moves (the retention policy, config console.archive):
//   - appeals in a final status (approved, denied, expired) created before
//     AppealsBefore (default one year ago), together with all their
//     negotiation messages (a message never outlives its appeal in the live
//     tables: the foreign key forbids it);
//   - negotiation messages created before MessagesBefore (default six months
//     ago) of appeals in a final status; the appeal itself stays live.
//
// How: the candidates are found in id order on the primary key, outside
// any write transaction, a batch (an id range) at a time. For each batch,
// still outside the write lock, one read of its rows notes their count,
// ids and checksum (the ids join the run's moved ids, in the connection's
// temp database, once the batch has committed). Then, in one
// IMMEDIATE transaction: INSERT OR IGNORE into the archive table, DELETE of
// the live rows, and the counts checked: the rows deleted must be exactly
// the rows copied and the rows noted; when some were in the archive
// already (a resumed run), the batch is redone deleting only rows whose
// archived copy is identical column for column; and no message may be left
// without its appeal (checkNoOrphans, for the foreign key, which this
// connection does not check row by row). On any mismatch the transaction
// is rolled back (the batch is retried, then the run stops).
//
// Batches are bounded by rows (BatchRows, a cap: 20000) and by time: the
// batch size adapts so that each write transaction takes about BatchTime
// (40 ms). Large batches matter: every batch rewrites the pages it touches
// in the indexes whose order is not the id's (idx_appeals_user_status: a
// batch of a few thousand appeals touches most of its leaves), a cost per
// batch whatever its size. A transaction whose statements run past
// stmtCap (the busy handler's 53 ms retry, less the time the last commits
// took) is interrupted and rolled back, and the batch redone at half the
// size, so that an unlucky batch (a busy host) does not hold the service's
// writers for a second retry period. After each transaction the run
// pauses until the service's writer has had the lock: until another connection commits
// (PRAGMA data_version), at most the gap between two retries of SQLite's
// busy handler (which retries after 1, 3, 8, 18, 33, 53, 78, 103 ms of
// waiting) that a writer that waited through the whole transaction may
// sleep past its end, plus a margin (retryGap). A writer that found the
// lock taken thus waits for one transaction and, at most, its next retry.
// The connection takes the lock by polling every millisecond rather than
// through SQLite's busy handler, which backs off to 20-100 ms sleeps. The
// WAL is checkpointed (PASSIVE) after each batch on another connection, so
// that the service's next commit does not pay for the batch's pages.
//
// Idempotent: every batch is keyed by the candidates themselves, never by
// progress kept elsewhere, so a run killed at any point (even by kill -9)
// is resumed by running it again, and finishes exactly.
//
// With a separate archive file (ATTACHed), a transaction spanning two WAL
// databases is not atomic across them, so each batch is copied and
// committed first (the archive file at synchronous=FULL), and only then, in
// a second transaction, are the live rows deleted, each one only when its
// archived copy is identical column for column. A crash between the two
// leaves rows in both places, which the next run deletes from the live
// file after re-checking them.
//
// At the end the moved rows are verified: their count and checksum (a sum
// of per-row 64-bit hashes, computed from the live rows as they were noted
// for their batch, and again from the archive over the ids moved) agree,
// and no row matching the policy is left behind.

// ErrArchiveVerify is what a run whose final verification failed returns.
var ErrArchiveVerify = errors.New("archive verification failed")

// ErrBadCutoff is what a cutoff in the future, or one that cannot be read,
// meets.
var ErrBadCutoff = errors.New("bad archive cutoff")

// ErrNotArchivable is what a table that archival does not handle meets.
var ErrNotArchivable = errors.New("not an archivable table")

// Archivable table names, for ArchiveOptions.Tables.
const (
	ArchiveAppeals  = "appeals"
	ArchiveMessages = "appeal_negotiation_messages"
)

// ArchivableTables lists the tables archival moves, for help and errors.
func ArchivableTables() []string { return []string{ArchiveAppeals, ArchiveMessages} }

// ArchiveOptions says what to archive, where, and how gently.
type ArchiveOptions struct {
	DBPath string
	// DB are the live connection's options. Synchronous defaults to NORMAL
	// here: in WAL mode a power cut can then undo the last batches, but only
	// whole batches (each is one transaction), which the next run redoes;
	// the archive file, whose copies must outlive the deletes, is always
	// written with synchronous=FULL. CacheSize defaults to 64 MiB: each
	// batch's deletes touch pages all over the tables' indexes.
	DB db.Options
	// ArchiveFile, when set, is a separate SQLite file that receives the
	// archive tables (created when missing), so that the live file can
	// shrink. Empty: the archive tables in the live database.
	ArchiveFile string
	// AppealsBefore: appeals in a final status created before it move, with
	// their messages. Zero leaves appeals alone.
	AppealsBefore time.Time
	// MessagesBefore: messages created before it of appeals in a final
	// status move. Zero leaves such messages alone.
	MessagesBefore time.Time
	// Tables restricts the run to some of ArchivableTables(): "appeals"
	// (with their messages) and "appeal_negotiation_messages" (the
	// six-month rule). Empty: both.
	Tables []string
	// BatchRows caps the rows of one batch (default 20000); BatchTime is
	// the aim for one write transaction (default 40 ms, capped by stmtCap:
	// the batch size adapts to it, and decides). BatchPause, when set, is
	// the longest pause between two write transactions; by default the
	// pause lasts until the service's writer has committed, at most the
	// retry gap of SQLite's busy handler after the transaction plus 5 ms
	// (20 + 5 ms after a transaction of 33-53 ms: see retryGap). A writer
	// that finds the lock taken thus waits one transaction and its next
	// retry at most: 53 ms with the defaults.
	BatchRows  int
	BatchTime  time.Duration
	BatchPause time.Duration
	// DryRun counts the rows and bytes that would move and changes nothing.
	DryRun bool
	// Recorder is where the lock is taken and the run journaled.
	Recorder Recorder
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// txClock, in tests, is the clock a write transaction's statement cap
	// counts from (time.Now when nil): a clock running behind cuts the
	// transaction short whatever the machine's speed.
	txClock func() time.Time
}

// ArchiveTableResult is what happened to one live table.
type ArchiveTableResult struct {
	Table        string `json:"table"`
	ArchiveTable string `json:"archive_table"`
	// Rows moved (or, on a dry run, that would move).
	Rows int64 `json:"rows"`
	// AlreadyArchived counts rows found already copied (by a run that was
	// stopped between copy and delete) and now deleted from the live table.
	AlreadyArchived int64 `json:"already_archived"`
	// Bytes is the estimated space the rows take in the live file (table
	// and index pages, from dbstat, pro rata).
	Bytes int64 `json:"bytes"`
	// Checksum is the sum of the moved rows' hashes (see ArchiveResult).
	Checksum int64 `json:"checksum"`
}

// ArchiveResult is the outcome of an archival run.
type ArchiveResult struct {
	DryRun         bool                 `json:"dry_run"`
	Database       string               `json:"database"`
	ArchiveFile    string               `json:"archive_file,omitempty"`
	AppealsBefore  time.Time            `json:"appeals_before,omitzero"`
	MessagesBefore time.Time            `json:"messages_before,omitzero"`
	Tables         []ArchiveTableResult `json:"tables"`
	Batches        int                  `json:"batches"`
	// LongestTx is the longest write transaction of the run: how long the
	// service's writers may have waited at most, plus their retry delay.
	LongestTx time.Duration `json:"longest_tx_ns"`
	// TxTime is the time the run held the write lock, in all; LockWait the
	// time it waited for the service's transactions to let it have it.
	TxTime   time.Duration `json:"tx_ns"`
	LockWait time.Duration `json:"lock_wait_ns"`
	Duration time.Duration `json:"duration_ns"`
	// spent is where the time went, by phase, for the benchmark;
	// serviceTurns counts the pauses that another connection's commit
	// ended early.
	spent        map[string]time.Duration
	serviceTurns int
	// cutShort counts the transactions rolled back for running past the
	// time cap (redone smaller).
	cutShort int
	// FreePagesBytes is the free space inside the live file after the run
	// (reused by new rows; shrink the file with 'repops optimize
	// incremental-vacuum' or VACUUM); Freed is its growth during the run.
	FreePagesBytes int64 `json:"free_pages_bytes"`
	Freed          int64 `json:"freed_bytes"`
	// Verified is true when the moved rows' count and checksum match in the
	// archive and nothing matching the policy is left behind.
	Verified bool     `json:"verified"`
	Problems []string `json:"problems,omitempty"`
}

// Rows is the total rows moved (or that would move).
func (r *ArchiveResult) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// Bytes is the total estimated bytes moved (or that would move).
func (r *ArchiveResult) Bytes() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Bytes
	}
	return n
}

// ParseCutoff reads an archive cutoff: an age ("8760h", "365d", "26w",
// "6mo", "1y"), meaning that long before now, or a UTC date or time
// ("2025-01-31", "2025-01-31 12:00:00", RFC 3339). A cutoff that is not in
// the past is an error.
func ParseCutoff(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("%w: empty", ErrBadCutoff)
	}
	var t time.Time
	if d, ok := parseAge(s); ok {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%w %q: an age must be positive", ErrBadCutoff, s)
		}
		t = now.Add(-d)
	} else {
		for _, layout := range []string{time.RFC3339Nano, db.TimeLayout, "2006-01-02T15:04:05", "2006-01-02"} {
			if v, err := time.Parse(layout, s); err == nil {
				t = v.UTC()
				break
			}
		}
		if t.IsZero() {
			return time.Time{}, fmt.Errorf("%w %q: give an age (8760h, 365d, 26w, 6mo, 1y) or a UTC date (2025-01-31)", ErrBadCutoff, s)
		}
	}
	if err := checkCutoff(t, now); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// parseAge reads a Go duration or a number of days, weeks, months (30 d)
// or years (365 d).
func parseAge(s string) (time.Duration, bool) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, true
	}
	units := []struct {
		suffix string
		d      time.Duration
	}{{"mo", 30 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			var n int64
			if _, err := fmt.Sscanf(num, "%d", &n); err == nil && fmt.Sprint(n) == num {
				return time.Duration(n) * u.d, true
			}
			return 0, false
		}
	}
	return 0, false
}

func checkCutoff(t, now time.Time) error {
	if !t.Before(now) {
		return fmt.Errorf("%w %s: it is not in the past (now %s); archival only moves old data",
			ErrBadCutoff, db.FormatTime(t), db.FormatTime(now))
	}
	return nil
}

// archiveSpec is one live table and its archive: fixed names and columns,
// never from input.
type archiveSpec struct {
	live, archive string
	cols          []string
	// nullable are the columns that may be NULL (the others are NOT NULL
	// in both the live and the archive tables).
	nullable []string
}

func appealsSpec() archiveSpec {
	return archiveSpec{"appeals", "appeals_archive",
		[]string{"id", "user_id", "reason", "status", "created_at", "updated_at", "resolved_at"}, []string{"resolved_at"}}
}

func messagesSpec() archiveSpec {
	return archiveSpec{"appeal_negotiation_messages", "appeal_negotiation_messages_archive",
		[]string{"id", "appeal_id", "sender", "body", "created_at"}, nil}
}

// colList is "p.c1, p.c2, ...".
func (s archiveSpec) colList(prefix string) string {
	out := make([]string, len(s.cols))
	for i, c := range s.cols {
		out[i] = prefix + c
	}
	return strings.Join(out, ", ")
}

// rowLiteral is the row with the given column prefix written as text for
// its checksum: the columns' values joined by char(31), the nullable ones
// quote()d so that NULL is told apart from the text 'NULL' (quote() on
// every column, which would also tell numbers from text, doubled the cost
// of the checksum; the columns' types are the schema's).
func (s archiveSpec) rowLiteral(prefix string) string {
	out := make([]string, len(s.cols))
	for i, c := range s.cols {
		out[i] = prefix + c
		if slices.Contains(s.nullable, c) {
			out[i] = "quote(" + prefix + c + ")"
		}
	}
	return "concat_ws(char(31), " + strings.Join(out, ", ") + ")"
}

// rowsHashExpr is the aggregate checksum of the rows a query selects (the
// table's alias in prefix): repops_rows_hash over their literals, joined in
// SQL so that the Go function is called once for all of them.
func (s archiveSpec) rowsHashExpr(prefix string) string {
	return rowsHashFunc + "(coalesce(group_concat(" + s.rowLiteral(prefix) + ", char(30)), ''))"
}

// same is the condition that archive row c is identical to live row l.
func (s archiveSpec) same(l, c string) string {
	out := make([]string, len(s.cols))
	for i, col := range s.cols {
		out[i] = fmt.Sprintf("%s.%s IS %s.%s", c, col, l, col)
	}
	return strings.Join(out, " AND ")
}

const finalStatuses = `('approved','denied','expired')`

// archiveFileSchema creates the archive tables in a separate archive file:
// the same columns as migration 00003 gives them in the live database.
const archiveFileSchema = `
CREATE TABLE IF NOT EXISTS appeals_archive (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    resolved_at TEXT,
    archived_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS appeal_negotiation_messages_archive (
    id          INTEGER PRIMARY KEY,
    appeal_id   INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    archived_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_messages_archive_appeal ON appeal_negotiation_messages_archive(appeal_id);
`

// archiver is one run's state.
type archiver struct {
	o        ArchiveOptions
	conn     *sql.Conn
	as       string // schema of the archive tables: "main" or "archive"
	stamp    string // archived_at of this run
	progress Progress
	res      *ArchiveResult
	byTable  map[string]*ArchiveTableResult
	rows     int // current batch size (adapts)
	// lastTxEnd is when the last write transaction ended; batchLongest
	// the longest write transaction of the current batch.
	lastTxEnd    time.Time
	batchLongest time.Duration
	// lastTx is how long the last write transaction took; dataVersion is
	// PRAGMA data_version just after it (another connection's commit
	// changes it).
	lastTx      time.Duration
	dataVersion int64
	// compareNext makes the next attempt of a batch compare each row with
	// its archived copy before deleting it.
	compareNext bool
	busyTimeout time.Duration
	ckpt        *checkpointer
	stmts       map[string]*sql.Stmt
	// commits are how long the last commits took (see stmtCap).
	commits [4]time.Duration
}

// checkpoint copies the WAL into the live file (and the archive file),
// PASSIVE: it never waits for, nor blocks, the service's writers. After
// each batch it is handed to the checkpointer, which runs it on its own
// connection while the next batch is prepared, so that the WAL stays small
// and the service's next commit, which would otherwise run the automatic
// checkpoint of the batch's pages itself, stays short. The final one runs
// here.
func (a *archiver) checkpoint(ctx context.Context, final bool) {
	if !final && a.ckpt != nil {
		a.ckpt.kick()
		return
	}
	defer a.spend("checkpoint", time.Now())
	_, _ = a.conn.ExecContext(ctx, `PRAGMA main.wal_checkpoint(PASSIVE)`)
	if a.as != "main" {
		_, _ = a.conn.ExecContext(ctx, `PRAGMA archive.wal_checkpoint(PASSIVE)`)
	}
}

// checkpointer runs PASSIVE checkpoints on its own connections, one at a
// time, when kicked; kicks while one runs coalesce into one more.
type checkpointer struct {
	kicks chan struct{}
	done  chan struct{}
}

func startCheckpointer(ctx context.Context, paths []string) (*checkpointer, error) {
	var pools []*sql.DB
	for _, p := range paths {
		w, err := db.OpenWrite(ctx, p, db.Options{})
		if err != nil {
			for _, q := range pools {
				q.Close()
			}
			return nil, err
		}
		pools = append(pools, w)
	}
	c := &checkpointer{kicks: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for range c.kicks {
			for _, w := range pools {
				_, _ = w.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
			}
		}
		for _, w := range pools {
			w.Close()
		}
	}()
	return c, nil
}

func (c *checkpointer) kick() {
	select {
	case c.kicks <- struct{}{}:
	default:
	}
}

// abandon drops a kick the checkpointer has not taken yet: after
// corruption the run writes nothing more.
func (c *checkpointer) abandon() {
	select {
	case <-c.kicks:
	default:
	}
}

// stop waits for the running checkpoint and ends the checkpointer.
func (c *checkpointer) stop() {
	close(c.kicks)
	<-c.done
}

// normalize fills defaults and validates what does not need the database.
func (o *ArchiveOptions) normalize() error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DBPath == "" {
		return errors.New("archive: no database path")
	}
	now := o.Now()
	if o.AppealsBefore.IsZero() && o.MessagesBefore.IsZero() {
		return fmt.Errorf("archive: %w: no cutoff given (console.archive.appeals_older_than, messages_older_than)", ErrBadCutoff)
	}
	for _, t := range []time.Time{o.AppealsBefore, o.MessagesBefore} {
		if !t.IsZero() {
			if err := checkCutoff(t, now); err != nil {
				return fmt.Errorf("archive: %w", err)
			}
		}
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 20000
	}
	if o.BatchTime <= 0 {
		o.BatchTime = 40 * time.Millisecond
	}
	if o.DB.Synchronous == "" {
		o.DB.Synchronous = "NORMAL"
	}
	if o.DB.CacheSize == 0 {
		o.DB.CacheSize = -64 << 10 // 64 MiB: the deletes touch every index
	}
	if o.ArchiveFile != "" && absPath(o.ArchiveFile) == absPath(o.DBPath) {
		return fmt.Errorf("archive: the archive file %s is the live database: give another file", o.ArchiveFile)
	}
	return nil
}

// doTable says whether the run includes table.
func (o *ArchiveOptions) doTable(table string) bool {
	return len(o.Tables) == 0 || slices.Contains(o.Tables, table)
}

// checkArchiveTables validates o.Tables against the catalogue and the
// schema, and checks that the tables archival needs exist.
func checkArchiveTables(ctx context.Context, q db.Querier, o *ArchiveOptions, inMain bool) error {
	for _, t := range o.Tables {
		if !slices.Contains(ArchivableTables(), t) {
			if _, err := lookupSchemaObject(ctx, q, t); err != nil {
				return fmt.Errorf("archive table %w; archivable: %s", err, strings.Join(ArchivableTables(), ", "))
			}
			return fmt.Errorf("archive table %q: %w; archivable: %s", t, ErrNotArchivable, strings.Join(ArchivableTables(), ", "))
		}
	}
	need := []string{"appeals", "appeal_negotiation_messages"}
	if inMain {
		need = append(need, "appeals_archive", "appeal_negotiation_messages_archive")
	}
	for _, t := range need {
		if _, err := lookupSchemaObject(ctx, q, t); err != nil {
			return fmt.Errorf("archive: table %w: apply the migrations with 'repops migrate apply'", err)
		}
	}
	return nil
}

// Archive runs the retention policy in o against the live database. See
// the comment at the top of this file for how it keeps the service's
// writers going and why it is safe to kill and rerun.
func Archive(ctx context.Context, o ArchiveOptions, progress Progress) (*ArchiveResult, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	res := &ArchiveResult{DryRun: o.DryRun, Database: o.DBPath, ArchiveFile: o.ArchiveFile,
		AppealsBefore: o.AppealsBefore, MessagesBefore: o.MessagesBefore}
	if o.DryRun {
		return archiveDryRun(ctx, o, res)
	}
	// The pre-flight (schema and quick_check) before the database is
	// opened for writing: rows are never moved out of a damaged table, nor
	// into a file that is not the reputation database.
	if err := preflight(ctx, o.Recorder, "archive", o.DBPath, o.DB, db.PreflightQuickCheck, nil); err != nil {
		return nil, fmt.Errorf("archive refused: %w", err)
	}
	w, err := db.OpenWrite(ctx, o.DBPath, o.DB)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer w.Close()
	if err := checkArchiveTables(ctx, w, &o, o.ArchiveFile == ""); err != nil {
		return nil, stopBeforeRun(o.Recorder, "archive", o.DBPath, nil, err)
	}
	if o.ArchiveFile != "" {
		if err := prepareArchiveFile(ctx, o.ArchiveFile); err != nil {
			return nil, err
		}
	}
	params := map[string]any{"tables": o.Tables, "batch_rows": o.BatchRows,
		"batch_time": o.BatchTime.String(), "batch_pause": o.BatchPause.String()}
	if !o.AppealsBefore.IsZero() {
		params["appeals_before"] = db.FormatTime(o.AppealsBefore)
	}
	if !o.MessagesBefore.IsZero() {
		params["messages_before"] = db.FormatTime(o.MessagesBefore)
	}
	if o.ArchiveFile != "" {
		params["archive_file"] = absPath(o.ArchiveFile)
	}
	run, err := startMaintenance(o.Recorder, "archive", absPath(o.DBPath), params)
	if err != nil {
		return nil, err
	}
	// Corruption seen while it runs stops the run at once (archiveRun
	// writes nothing more, not even its last checkpoint), and the error,
	// journaled below, points at the database-corruption runbook.
	err = stopOnCorrupt(o.DBPath, archiveRun(ctx, w, o, res, progress))
	if db.IsCorrupt(err) {
		err = fmt.Errorf("archive stopped after %d batches: %w", res.Batches, err)
	}
	figures := map[string]float64{"rows_moved": float64(res.Rows()), "bytes_moved": float64(res.Bytes()),
		"batches": float64(res.Batches), "longest_tx_ms": float64(res.LongestTx.Microseconds()) / 1000,
		"freed_bytes": float64(res.Freed)}
	if db.IsCorrupt(err) {
		figures["corrupt"] = 1
	}
	for _, t := range res.Tables {
		figures["rows_"+t.Table] = float64(t.Rows)
	}
	msg := fmt.Sprintf("moved %d rows (%s) in %d batches; longest write transaction %s; %s freed in the file",
		res.Rows(), humanBytes(res.Bytes()), res.Batches, res.LongestTx.Round(time.Millisecond), humanBytes(res.Freed))
	if err == nil && res.Verified {
		msg += "; verified (count and checksum)"
	}
	err = run.finish(err, figures, msg)
	return res, err
}

// prepareArchiveFile creates the separate archive file and its tables.
func prepareArchiveFile(ctx context.Context, path string) error {
	a, err := db.OpenWrite(ctx, path, db.Options{Create: true})
	if err != nil {
		return fmt.Errorf("archive: open the archive file: %w", err)
	}
	defer a.Close()
	if _, err := a.ExecContext(ctx, archiveFileSchema); err != nil {
		return fmt.Errorf("archive: create the archive tables in %s: %w", path, db.Classify(path, err))
	}
	return nil
}

func archiveRun(ctx context.Context, w *sql.DB, o ArchiveOptions, res *ArchiveResult, progress Progress) (runErr error) {
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	conn, err := w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("archive: %w", db.Classify(o.DBPath, err))
	}
	defer conn.Close()
	if err := registerRowsHash(ctx, conn); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	a := &archiver{o: o, conn: conn, as: "main", stamp: db.FormatTime(o.Now()), progress: progress, res: res,
		// The first batch is small (the cache is cold, the rate unknown); adapt
		// grows the next ones, at most twofold each.
		byTable: map[string]*ArchiveTableResult{}, rows: min(o.BatchRows, 256), busyTimeout: o.DB.BusyTimeout}
	defer a.closeStmts()
	if a.busyTimeout <= 0 {
		a.busyTimeout = 5 * time.Second
	}
	for _, s := range []archiveSpec{appealsSpec(), messagesSpec()} {
		res.Tables = append(res.Tables, ArchiveTableResult{Table: s.live, ArchiveTable: s.archive})
	}
	for i := range res.Tables {
		a.byTable[res.Tables[i].Table] = &res.Tables[i]
	}
	if o.ArchiveFile != "" {
		a.as = "archive"
		if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS archive`, absPath(o.ArchiveFile)); err != nil {
			return fmt.Errorf("archive: attach %s: %w", o.ArchiveFile, db.Classify(o.ArchiveFile, err))
		}
		defer conn.ExecContext(context.Background(), `DETACH DATABASE archive`)
		// An attached database gets SQLite's default synchronous, NORMAL in
		// WAL mode with this build: the copy must be durable before the
		// live rows go.
		if _, err := conn.ExecContext(ctx, `PRAGMA archive.synchronous = FULL`); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
	}
	// The connection checkpoints the WAL itself, between batches (see
	// checkpoint), rather than at the end of a commit, where the time would
	// count as the batch's and shrink the next batch for nothing.
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	// The foreign key from the messages to their appeal is checked by
	// checkNoOrphans, once per batch, instead of by SQLite once per appeal
	// deleted (which doubled the cost of deleting an appeal). It is the only
	// foreign key of the tables this connection writes to; the connection
	// only copies into the archive tables (which have none) and deletes.
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	// After corruption, nothing more is written: no last checkpoint, and
	// no checkpoint a batch asked for and the checkpointer has not begun.
	defer func() {
		if !db.IsCorrupt(runErr) {
			a.checkpoint(context.Background(), true)
		}
	}()
	ckPaths := []string{o.DBPath}
	if o.ArchiveFile != "" {
		ckPaths = append(ckPaths, o.ArchiveFile)
	}
	if a.ckpt, err = startCheckpointer(ctx, ckPaths); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer func() {
		if db.IsCorrupt(runErr) {
			a.ckpt.abandon()
		}
		a.ckpt.stop()
	}()
	for _, s := range []archiveSpec{appealsSpec(), messagesSpec()} {
		t := s.movedTable()
		if _, err := conn.ExecContext(ctx, `DROP TABLE IF EXISTS `+t+`;
			CREATE TEMP TABLE `+strings.TrimPrefix(t, "temp.")+` (id INTEGER PRIMARY KEY)`); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		defer conn.ExecContext(context.Background(), `DROP TABLE IF EXISTS `+t)
	}

	freeBefore, _ := freePageBytes(ctx, conn)
	// The tables' bytes per row (for the bytes moved) are measured on a
	// reader of their own, alongside the first batches: dbstat reads every
	// page of the tables.
	measured := make(chan error, 1)
	var bytesPerRow map[string]float64
	go func() {
		r, err := db.OpenRead(ctx, o.DBPath, db.Options{})
		if err == nil {
			bytesPerRow, err = liveBytesPerRow(ctx, r)
			r.Close()
		}
		measured <- err
	}()
	defer func() {
		if measured != nil {
			<-measured
		}
	}()

	if !o.AppealsBefore.IsZero() && o.doTable(ArchiveAppeals) {
		ts := time.Now()
		var total int64
		err := conn.QueryRowContext(ctx, `SELECT count(*) FROM main.appeals WHERE status IN `+finalStatuses+` AND created_at < ?`,
			db.FormatTime(o.AppealsBefore)).Scan(&total)
		a.spend("count", ts)
		if err != nil {
			return fmt.Errorf("archive: count candidates: %w", db.Classify(o.DBPath, err))
		}
		if err := a.loop(ctx, "appeals", total, a.nextAppealBatch, a.moveAppealBatch); err != nil {
			return err
		}
	}
	if !o.MessagesBefore.IsZero() && o.doTable(ArchiveMessages) {
		total, err := countMessageCandidates(ctx, conn, o.MessagesBefore)
		if err != nil {
			return fmt.Errorf("archive: count candidates: %w", db.Classify(o.DBPath, err))
		}
		if err := a.loop(ctx, "messages", total, a.nextMessageBatch, a.moveMessageBatch); err != nil {
			return err
		}
	}
	ts := time.Now()
	err, measured = <-measured, nil
	a.spend("measure", ts)
	if err != nil {
		return fmt.Errorf("archive: measure the tables: %w", err)
	}
	for i := range res.Tables {
		t := &res.Tables[i]
		t.Bytes = int64(float64(t.Rows) * bytesPerRow[t.Table])
	}
	ts = time.Now()
	err = makeDurable(ctx, conn, o.DBPath)
	a.spend("sync", ts)
	if err != nil {
		return err
	}
	freeAfter, _ := freePageBytes(ctx, conn)
	res.FreePagesBytes, res.Freed = freeAfter, freeAfter-freeBefore
	progress.report(ProgressEvent{Phase: "verify", Message: "verifying the moved rows in the archive"})
	ts = time.Now()
	err = a.verify(ctx)
	a.spend("verify", ts)
	if err != nil {
		return err
	}
	progress.report(ProgressEvent{Phase: "done", Done: res.Rows(), Total: res.Rows(), Unit: "rows",
		Message: fmt.Sprintf("moved %d rows, verified", res.Rows())})
	return nil
}

// makeDurable puts the batches committed with synchronous NORMAL (see
// ArchiveOptions.DB) on disk before the run reports them: a PASSIVE
// checkpoint, which syncs the WAL before copying it into the file and the
// file after, then an fsync of the WAL itself, for the frames that a
// reader's snapshot kept the checkpoint from copying.
func makeDurable(ctx context.Context, conn *sql.Conn, path string) error {
	if _, err := conn.ExecContext(ctx, `PRAGMA main.wal_checkpoint(PASSIVE)`); err != nil {
		return fmt.Errorf("archive: checkpoint: %w", db.Classify(path, err))
	}
	if err := db.SyncWAL(ctx, path); err != nil {
		return fmt.Errorf("archive: sync %s-wal: %w (the last batches may not be on disk: run 'repops optimize checkpoint')", path, err)
	}
	return nil
}

// batchRange is one batch's id range in the table the loop walks.
type batchRange struct {
	lo, hi int64
	n      int64
}

// ErrNoProgress is what a run that stopped advancing meets: a batch that
// moved nothing, or an id range at or below one already done (SQLite
// walking the table out of order: a damaged b-tree, or a writer that is
// not the service putting rows back). The error names the range; the run
// stops rather than loop.
var ErrNoProgress = errors.New("archive made no progress")

// batchRetryTime bounds the retries of one batch in time: none begins
// later than this after its first attempt. In count, a batch rolled back
// because its rows changed is tried three times (moveWithRetry), and one
// cut short for running past the time cap is redone at half the size,
// down to minBatchRows, which is never cut short: maxCuts times at most.
const batchRetryTime = 30 * time.Second

// maxCuts is how many times one batch may be cut short: enough to halve
// from the largest batch to the smallest, and two more.
func (a *archiver) maxCuts() int {
	return bits.Len(uint(max(1, a.o.BatchRows/minBatchRows))) + 2
}

// loop walks one kind of candidate in id order, one batch at a time. Each
// batch must move rows and lie beyond the last one: a run makes progress
// or stops (ErrNoProgress); retries of one batch are bounded in count and
// time (maxCuts, moveWithRetry's three attempts, batchRetryTime).
func (a *archiver) loop(ctx context.Context, phase string, total int64,
	next func(ctx context.Context, after int64, limit int) (batchRange, error),
	move func(ctx context.Context, b batchRange) (int64, error)) error {
	var after, done int64
	var retries int        // consecutive attempts of the batch after `after` cut short
	var firstTry time.Time // when the first of them began
	a.progress.report(ProgressEvent{Phase: phase, Total: total, Unit: "rows",
		Message: fmt.Sprintf("%d %s to archive", total, phase)})
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("archive: stopped after %d batches (run again to resume): %w", a.res.Batches, err)
		}
		ts := time.Now()
		b, err := next(ctx, after, a.rows)
		a.spend("select", ts)
		if err != nil {
			return fmt.Errorf("archive: find the next batch: %w", db.Classify(a.o.DBPath, err))
		}
		if b.n == 0 {
			return nil
		}
		if b.lo <= after || b.hi < b.lo {
			return fmt.Errorf("archive: %s: %w: the next batch, ids %d-%d (%d rows), is not beyond the last one done (ids up to %d): the table is not read in id order (run 'repops check --full'; if it reports corruption, follow 'repops runbook show %s'); stopped after %d batches",
				phase, ErrNoProgress, b.lo, b.hi, b.n, after, db.CorruptionRunbook, a.res.Batches)
		}
		if retries == 0 {
			firstTry = time.Now()
		}
		t0 := time.Now()
		a.batchLongest, a.compareNext = 0, false
		moved, err := a.moveWithRetry(ctx, b, move)
		if errors.Is(err, errBatchTooLong) {
			// Nothing of it was deleted: the same candidates, fewer of them.
			retries++
			if retries > a.maxCuts() || time.Since(firstTry) > batchRetryTime {
				return fmt.Errorf("archive: %s: batch of ids %d-%d cut short %d times in %s (the host or the service is too busy for batches of %d rows): stopped after %d batches; run again later: %w",
					phase, b.lo, b.hi, retries, time.Since(firstTry).Round(time.Millisecond), a.rows, a.res.Batches, err)
			}
			a.rows = max(minBatchRows, a.rows/2)
			continue
		} else if err != nil {
			return err
		}
		retries = 0
		if moved <= 0 {
			return fmt.Errorf("archive: %s: %w: batch of ids %d-%d (%d candidates) moved no row (the rows changed under the run: another writer?): stopped after %d batches; run again",
				phase, ErrNoProgress, b.lo, b.hi, b.n, a.res.Batches)
		}
		a.adapt(a.batchLongest)
		a.checkpoint(ctx, false)
		a.res.Batches++
		done += b.n
		after = b.hi
		a.progress.report(ProgressEvent{Phase: phase, Done: done, Total: total, Unit: "rows",
			Message: fmt.Sprintf("batch %d: ids %d-%d, %d rows in %s", a.res.Batches, b.lo, b.hi, b.n, time.Since(t0).Round(time.Millisecond))})
	}
}

// errBatchTooLong is a batch whose statements ran past the time cap
// (BatchTime and a quarter): it was rolled back, and is redone smaller.
var errBatchTooLong = errors.New("batch rolled back: over its time")

// minBatchRows is the smallest batch.
const minBatchRows = 16

// stmtCap is how long a batch's statements may run before they are
// stopped and the transaction rolled back: so that, with its commit (as
// long as the last ones took), the transaction ends by the busy handler's
// retry at or after BatchTime (53 ms for 34-53 ms), when a service writer
// that began waiting with it tries again; one that ended later would make
// that writer sleep to its next retry, at 78 ms. At least three quarters
// of BatchTime, so that a slow host still moves batches. (With a fixed cap
// of a quarter over BatchTime, transactions ran to 56-62 ms and the
// writer's worst latency reached 90-192 ms in BenchmarkArchiveVsOneShot;
// with this one, 53-56 ms and 79 ms, for a rollback or two a run.)
func (a *archiver) stmtCap() time.Duration {
	var commit time.Duration
	for _, c := range a.commits {
		commit += c
	}
	commit /= time.Duration(len(a.commits))
	return max(a.o.BatchTime*3/4, retryPoint(a.o.BatchTime)-commit)
}

// retryPoint is the first time, at or after d of waiting, that SQLite's
// busy handler tries again: 53 ms for any d in (33 ms, 53 ms].
func retryPoint(d time.Duration) time.Duration {
	var waited time.Duration
	for _, s := range busyDelays {
		if waited >= d {
			return waited
		}
		waited += s * time.Millisecond
	}
	for waited < d {
		waited += 100 * time.Millisecond
	}
	return waited
}

// errBatchChanged is a batch whose rows changed between copy and delete
// (separate archive file): it is retried.
var errBatchChanged = errors.New("rows changed between copy and delete")

// moveWithRetry moves one batch, retrying it when its rows changed
// between the note and the delete (errBatchChanged): three attempts at
// most, none begun batchRetryTime after the first. It returns the rows
// moved.
func (a *archiver) moveWithRetry(ctx context.Context, b batchRange, move func(ctx context.Context, b batchRange) (int64, error)) (int64, error) {
	var err error
	start := time.Now()
	attempt := 0
	for ; attempt < 3 && (attempt == 0 || time.Since(start) < batchRetryTime); attempt++ {
		var moved int64
		if moved, err = move(ctx, b); !errors.Is(err, errBatchChanged) {
			return moved, err
		}
	}
	return 0, fmt.Errorf("archive: batch of ids %d-%d: %w, %d times in %s: either the service keeps changing these rows (run again later), or an archived row with the same id differs from the live one (compare them; nothing of this batch was deleted)",
		b.lo, b.hi, err, attempt, time.Since(start).Round(time.Millisecond))
}

// adapt sizes the next batch so that its write transaction takes about
// BatchTime.
func (a *archiver) adapt(took time.Duration) {
	if took <= 0 {
		return
	}
	n := int(float64(a.rows) * float64(a.o.BatchTime) / float64(took))
	// Grow at most twofold per batch, so one fast batch does not overshoot.
	n = min(n, 2*a.rows)
	a.rows = max(minBatchRows, min(n, a.o.BatchRows))
}

// exec runs one of the archiver's statements on its connection, prepared
// once for the run: inside a transaction begun on the connection, it is
// part of it. (Through the sql.Tx, database/sql would prepare it again at
// each use: 40 µs, several times a batch.)
func (a *archiver) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := a.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRow is exec for a query of one row.
func (a *archiver) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := a.stmt(ctx, q)
	if err != nil {
		// The preparation's error comes back from Scan.
		return a.conn.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// stmt is q prepared on the archiver's connection, once.
func (a *archiver) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := a.stmts[q]; ok {
		return st, nil
	}
	st, err := a.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if a.stmts == nil {
		a.stmts = map[string]*sql.Stmt{}
	}
	a.stmts[q] = st
	return st, nil
}

// closeStmts closes the prepared statements.
func (a *archiver) closeStmts() {
	for _, st := range a.stmts {
		st.Close()
	}
}

// tx runs fn in one IMMEDIATE transaction, after the pause that lets the
// service's writer in (see pause: work done outside the write lock
// meanwhile, such as the next batch's notes, counts towards it), and
// records its duration.
func (a *archiver) tx(ctx context.Context, fn func(ctx context.Context) error) error {
	if !a.lastTxEnd.IsZero() {
		if err := a.pause(ctx); err != nil {
			return err
		}
	}
	tb := time.Now()
	tx, err := a.begin(ctx)
	a.res.LockWait += time.Since(tb)
	if err != nil {
		return err
	}
	t0 := time.Now()
	// The statements stop (and the transaction rolls back) when they take
	// longer than the time cap, unless the batch is as small as it gets.
	sctx, limit := ctx, a.stmtCap()
	if a.rows > minBatchRows {
		from := t0
		if a.o.txClock != nil {
			from = a.o.txClock()
		}
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(ctx, from.Add(limit))
		defer cancel()
	}
	err = func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				_ = tx.Rollback()
				panic(p)
			}
			if err != nil {
				_ = tx.Rollback()
			}
		}()
		if err = fn(sctx); err != nil {
			if sctx.Err() != nil && ctx.Err() == nil && !db.IsCorrupt(err) {
				a.res.cutShort++
				return fmt.Errorf("archive: a batch of %d rows took more than %s: %w", a.rows, limit.Round(time.Millisecond), errBatchTooLong)
			}
			return err
		}
		tc := time.Now()
		err = tx.Commit()
		copy(a.commits[:], a.commits[1:])
		a.commits[len(a.commits)-1] = time.Since(tc)
		if err != nil {
			return fmt.Errorf("archive: commit: %w", db.Classify(a.o.DBPath, err))
		}
		return nil
	}()
	a.lastTxEnd = time.Now()
	d := a.lastTxEnd.Sub(t0)
	a.lastTx = d
	if err := a.queryRow(ctx, `PRAGMA main.data_version`).Scan(&a.dataVersion); err != nil {
		a.dataVersion = -1
	}
	a.res.TxTime += d
	a.batchLongest = max(a.batchLongest, d)
	a.res.LongestTx = max(a.res.LongestTx, d)
	return err
}

// busyDelays are the sleeps of SQLite's busy handler between a waiting
// writer's attempts to take the lock (sqliteDefaultBusyCallback): it tries
// again after 1, 3, 8, 18, 33, 53, 78, 103 ms of waiting, and every 100 ms
// from 228 ms on.
var busyDelays = [...]time.Duration{1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100}

// retryGap is, for a write transaction that lasted d, the longest a
// service writer that started waiting at any moment of it may sleep past
// its end before trying again: the longest busy-handler delay among those
// that begin before d.
func retryGap(d time.Duration) time.Duration {
	var waited, gap time.Duration
	for _, s := range busyDelays {
		if waited >= d {
			break
		}
		gap = max(gap, s*time.Millisecond)
		waited += s * time.Millisecond
	}
	if waited < d {
		gap = 100 * time.Millisecond
	}
	return gap
}

// pauseMargin is added to the retry gap for the writer's late wake-up on a
// busy host.
const pauseMargin = 5 * time.Millisecond

// pause waits after a write transaction until the service has had the
// lock: until another connection has committed (PRAGMA data_version
// changed), or, at most, BatchPause or, by default, the retry gap of a
// writer that waited through the whole transaction plus pauseMargin, after
// which any writer still waiting has tried again and found the lock free.
// Work done since the transaction ended (the next batch's notes) counts.
func (a *archiver) pause(ctx context.Context) error {
	limit := a.o.BatchPause
	if limit <= 0 {
		limit = retryGap(a.lastTx) + pauseMargin
	}
	deadline := a.lastTxEnd.Add(limit)
	t0 := time.Now()
	defer a.spend("pause", t0)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		var v int64
		if err := a.queryRow(ctx, `PRAGMA main.data_version`).Scan(&v); err == nil && a.dataVersion >= 0 && v != a.dataVersion {
			a.res.serviceTurns++
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(left, time.Millisecond)):
		}
	}
}

// spend adds the time since t0 to phase's total.
func (a *archiver) spend(phase string, t0 time.Time) {
	if a.res.spent == nil {
		a.res.spent = map[string]time.Duration{}
	}
	a.res.spent[phase] += time.Since(t0)
}

// begin starts an IMMEDIATE transaction, retrying every millisecond while
// another connection holds the write lock, up to the busy timeout. The
// connection's busy handler is off meanwhile (busy_timeout 0): SQLite's backs off
// to 20-100 ms sleeps, so a batch would often start long after the
// service's short transaction ended, and the run would crawl; polling
// takes the lock as soon as it is free, and the pause after each batch is
// what leaves room for the service.
func (a *archiver) begin(ctx context.Context) (*sql.Tx, error) {
	if _, err := a.conn.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer a.conn.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA busy_timeout = %d`, a.busyTimeout.Milliseconds()))
	deadline := time.Now().Add(a.busyTimeout)
	for {
		tx, err := a.conn.BeginTx(ctx, nil)
		if err == nil {
			return tx, nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("archive: begin a batch: %w", db.Classify(a.o.DBPath, err))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return strings.Contains(err.Error(), "database is locked")
}

// Candidate selection: in id order on the primary key (NOT INDEXED keeps
// the planner from sorting every candidate on each call), outside any
// write transaction.

func (a *archiver) nextAppealBatch(ctx context.Context, after int64, limit int) (batchRange, error) {
	var b batchRange
	var lo, hi sql.NullInt64
	err := a.queryRow(ctx, `SELECT count(*), min(id), max(id) FROM (
		SELECT id FROM main.appeals NOT INDEXED
		WHERE id > ? AND status IN `+finalStatuses+` AND created_at < ? ORDER BY id LIMIT ?)`,
		after, db.FormatTime(a.o.AppealsBefore), limit).Scan(&b.n, &lo, &hi)
	b.lo, b.hi = lo.Int64, hi.Int64
	return b, err
}

func (a *archiver) nextMessageBatch(ctx context.Context, after int64, limit int) (batchRange, error) {
	var b batchRange
	var lo, hi sql.NullInt64
	err := a.queryRow(ctx, `SELECT count(*), min(id), max(id) FROM (
		SELECT m.id FROM main.appeal_negotiation_messages AS m NOT INDEXED
		WHERE m.id > ? AND m.created_at < ?
		  AND EXISTS (SELECT 1 FROM main.appeals a WHERE a.id = m.appeal_id AND a.status IN `+finalStatuses+`)
		ORDER BY m.id LIMIT ?)`,
		after, db.FormatTime(a.o.MessagesBefore), limit).Scan(&b.n, &lo, &hi)
	b.lo, b.hi = lo.Int64, hi.Int64
	return b, err
}

// step is one table's part of a batch: the live rows selected by where
// (over alias l, with args) move to the archive.
type step struct {
	spec archiveSpec
	// hint follows the live table's alias: NOT INDEXED where the id range
	// must drive the search (the planner would otherwise prefer an index
	// on status or time and visit every candidate of the run per batch).
	hint  string
	where string
	args  []any
}

func (a *archiver) appealSteps(b batchRange) []step {
	cut := db.FormatTime(a.o.AppealsBefore)
	appealWhere := `l.id BETWEEN ? AND ? AND l.status IN ` + finalStatuses + ` AND l.created_at < ?`
	// Messages first: the foreign key forbids deleting an appeal that still
	// has messages.
	return []step{
		{messagesSpec(), "", `l.appeal_id IN (SELECT p.id FROM main.appeals AS p NOT INDEXED WHERE p.id BETWEEN ? AND ? AND p.status IN ` +
			finalStatuses + ` AND p.created_at < ?)`, []any{b.lo, b.hi, cut}},
		{appealsSpec(), "NOT INDEXED", appealWhere, []any{b.lo, b.hi, cut}},
	}
}

func (a *archiver) messageSteps(b batchRange) []step {
	return []step{{messagesSpec(), "NOT INDEXED", `l.id BETWEEN ? AND ? AND l.created_at < ?
		AND EXISTS (SELECT 1 FROM main.appeals p WHERE p.id = l.appeal_id AND p.status IN ` + finalStatuses + `)`,
		[]any{b.lo, b.hi, db.FormatTime(a.o.MessagesBefore)}}}
}

func (a *archiver) moveAppealBatch(ctx context.Context, b batchRange) (int64, error) {
	return a.moveSteps(ctx, b, a.appealSteps(b))
}

func (a *archiver) moveMessageBatch(ctx context.Context, b batchRange) (int64, error) {
	return a.moveSteps(ctx, b, a.messageSteps(b))
}

// movedTable is the connection's temp table of the ids of s's rows that
// this run moved, for the final verification.
func (s archiveSpec) movedTable() string { return "temp.repops_moved_" + s.live }

// noteStep notes, outside any write transaction, the step's live rows in
// one read of them: how many, their checksum (see rowsHashFunc) and their
// ids (a JSON array, recorded in the moved table once the batch has
// committed). The service's writers are not held up by it.
func (a *archiver) noteStep(ctx context.Context, s step) (n, sum int64, ids string, err error) {
	q := fmt.Sprintf(`SELECT count(*), %s, json_group_array(l.id) FROM main.%s AS l %s WHERE %s`,
		s.spec.rowsHashExpr("l."), s.spec.live, s.hint, s.where)
	if err := a.queryRow(ctx, q, s.args...).Scan(&n, &sum, &ids); err != nil {
		return 0, 0, "", fmt.Errorf("archive: checksum %s: %w", s.spec.live, db.Classify(a.o.DBPath, err))
	}
	return n, sum, ids, nil
}

// copyStep copies a step's rows into the archive, keeping rows already
// there (a resumed run). It returns the rows inserted.
func (a *archiver) copyStep(ctx context.Context, s step) (int64, error) {
	q := fmt.Sprintf(`INSERT OR IGNORE INTO %s.%s (%s, archived_at) SELECT %s, ? FROM main.%s AS l %s WHERE %s`,
		a.as, s.spec.archive, s.spec.colList(""), s.spec.colList("l."), s.spec.live, s.hint, s.where)
	r, err := a.exec(ctx, q, append([]any{a.stamp}, s.args...)...)
	if err != nil {
		return 0, fmt.Errorf("archive: copy %s: %w", s.spec.live, db.Classify(a.o.DBPath, err))
	}
	return r.RowsAffected()
}

// deleteStep deletes the step's live rows and returns how many. With
// compare, only rows that have an identical archived copy (column for
// column) go; without, all of them: the caller has just copied every one
// in the same transaction.
func (a *archiver) deleteStep(ctx context.Context, s step, compare bool) (int64, error) {
	del := fmt.Sprintf(`DELETE FROM main.%s AS l %s WHERE %s`, s.spec.live, s.hint, s.where)
	if compare {
		del += fmt.Sprintf(` AND EXISTS (SELECT 1 FROM %s.%s AS c WHERE c.id = l.id AND %s)`, a.as, s.spec.archive, s.spec.same("l", "c"))
	}
	r, err := a.exec(ctx, del, s.args...)
	if err != nil {
		return 0, fmt.Errorf("archive: delete archived %s: %w", s.spec.live, db.Classify(a.o.DBPath, err))
	}
	return r.RowsAffected()
}

// moveSteps moves one batch: in the live database, copy, note and delete
// in one transaction; with an archive file, copy and commit, then note and
// delete. The rows deleted must be exactly the rows copied and noted, or
// the transaction is rolled back and the batch retried (errBatchChanged).
func (a *archiver) moveSteps(ctx context.Context, b batchRange, steps []step) (int64, error) {
	noted := make([]int64, len(steps))
	sums := make([]int64, len(steps))
	ids := make([]string, len(steps))
	tn := time.Now()
	for i, s := range steps {
		n, sum, id, err := a.noteStep(ctx, s)
		if err != nil {
			return 0, err
		}
		noted[i], sums[i], ids[i] = n, sum, id
	}
	a.spend("checksum", tn)
	inserted := make([]int64, len(steps))
	copyAll := func(ctx context.Context) error {
		for i, s := range steps {
			n, err := a.copyStep(ctx, s)
			if err != nil {
				return err
			}
			inserted[i] = n
		}
		return nil
	}
	// In the live database, when the copy inserted every row that the
	// delete then removes, each archived row is the copy made in this very
	// transaction: the delete need not compare them. Otherwise (rows already
	// in the archive: a resumed run, or an archive file) it compares each
	// row with its archived copy.
	compare := a.as != "main" || a.compareNext
	deleteAll := func(ctx context.Context) error {
		for i, s := range steps {
			deleted, err := a.deleteStep(ctx, s, compare)
			if err != nil {
				return err
			}
			if !compare && deleted != inserted[i] {
				a.compareNext = true
				return fmt.Errorf("batch of ids %d-%d: %s: %d rows copied, %d to delete: some were already archived (rolled back, retried comparing them): %w",
					b.lo, b.hi, s.spec.live, inserted[i], deleted, errBatchChanged)
			}
			if deleted != noted[i] {
				return fmt.Errorf("batch of ids %d-%d: %s: %d rows to move, %d deleted with an identical archived copy (rolled back): %w",
					b.lo, b.hi, s.spec.live, noted[i], deleted, errBatchChanged)
			}
			if s.spec.live == ArchiveAppeals {
				if err := a.checkNoOrphans(ctx, b); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var err error
	if a.as == "main" {
		err = a.tx(ctx, func(ctx context.Context) error {
			if err := copyAll(ctx); err != nil {
				return err
			}
			return deleteAll(ctx)
		})
	} else if err = a.tx(ctx, copyAll); err == nil {
		err = a.tx(ctx, deleteAll)
	}
	if err != nil {
		return 0, err
	}
	tn = time.Now()
	for i, s := range steps {
		if _, err := a.exec(ctx, `INSERT INTO `+s.spec.movedTable()+` (id) SELECT value FROM json_each(?)`, ids[i]); err != nil {
			return 0, fmt.Errorf("archive: %w", err)
		}
	}
	a.spend("checksum", tn)
	var moved int64
	for i, s := range steps {
		t := a.byTable[s.spec.live]
		t.Rows += noted[i]
		t.AlreadyArchived += max(0, noted[i]-inserted[i])
		// Wraps around: the checksum is a sum modulo 2^64.
		t.Checksum = int64(uint64(t.Checksum) + uint64(sums[i]))
		moved += noted[i]
	}
	return moved, nil
}

// checkNoOrphans stands for the foreign key from the messages to their
// appeal, which the archival connection does not enforce (see archiveRun):
// after the batch's appeals are deleted, no live message may point to an
// appeal of the batch's id range that no longer exists. The messages of
// the range's remaining appeals are found on idx_messages_appeal_created,
// a few index pages, where the foreign key would have looked the messages
// up once for every appeal deleted.
func (a *archiver) checkNoOrphans(ctx context.Context, b batchRange) error {
	var n int64
	if err := a.queryRow(ctx, `SELECT count(*) FROM main.appeal_negotiation_messages AS m
		WHERE m.appeal_id BETWEEN ? AND ? AND NOT EXISTS (SELECT 1 FROM main.appeals AS p WHERE p.id = m.appeal_id)`,
		b.lo, b.hi).Scan(&n); err != nil {
		return fmt.Errorf("archive: check the messages of appeals %d-%d: %w", b.lo, b.hi, db.Classify(a.o.DBPath, err))
	}
	if n > 0 {
		return fmt.Errorf("archive: batch of appeals %d-%d would leave %d messages without their appeal (rolled back): a message was added to an appeal being archived; run again", b.lo, b.hi, n)
	}
	return nil
}

// verify checks that every moved row is in the archive, identical (count
// and checksum over the moved ids, live hashes taken as the rows were
// moved), and that no row matching the policy is left behind.
func (a *archiver) verify(ctx context.Context) error {
	var problems []string
	for _, s := range []archiveSpec{appealsSpec(), messagesSpec()} {
		t := a.byTable[s.live]
		var liveN int64
		if err := a.conn.QueryRowContext(ctx, `SELECT count(*) FROM `+s.movedTable()).Scan(&liveN); err != nil {
			return fmt.Errorf("archive: verify: %w", err)
		}
		archN, archSum, err := a.archiveChecksum(ctx, s)
		if err != nil {
			return err
		}
		if archN != liveN {
			problems = append(problems, fmt.Sprintf("%s: %d rows moved but %d found in %s", s.live, liveN, archN, s.archive))
		} else if archSum != t.Checksum {
			problems = append(problems, fmt.Sprintf("%s: checksum of the %d moved rows is %d, in %s %d", s.live, liveN, t.Checksum, s.archive, archSum))
		}
		if liveN != t.Rows {
			problems = append(problems, fmt.Sprintf("%s: %d rows counted in batches, %d recorded", s.live, t.Rows, liveN))
		}
	}
	// Left behind: candidates still live, and messages of moved appeals.
	if !a.o.AppealsBefore.IsZero() && a.o.doTable(ArchiveAppeals) {
		n, _, err := countAppealCandidates(ctx, a.conn, a.o.AppealsBefore)
		if err != nil {
			return fmt.Errorf("archive: verify: %w", err)
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("appeals: %d rows matching the policy are still live (did they become final during the run? run again)", n))
		}
		var orphans int64
		if err := a.conn.QueryRowContext(ctx, `SELECT count(*) FROM main.appeal_negotiation_messages
			WHERE appeal_id IN (SELECT id FROM `+appealsSpec().movedTable()+`)`).Scan(&orphans); err != nil {
			return fmt.Errorf("archive: verify: %w", err)
		}
		if orphans > 0 {
			problems = append(problems, fmt.Sprintf("appeal_negotiation_messages: %d messages of archived appeals are still live", orphans))
		}
	}
	if !a.o.MessagesBefore.IsZero() && a.o.doTable(ArchiveMessages) {
		n, err := countMessageCandidates(ctx, a.conn, a.o.MessagesBefore)
		if err != nil {
			return fmt.Errorf("archive: verify: %w", err)
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("appeal_negotiation_messages: %d rows matching the policy are still live (run again)", n))
		}
	}
	a.res.Problems = problems
	a.res.Verified = len(problems) == 0
	if !a.res.Verified {
		return fmt.Errorf("%w: %s", ErrArchiveVerify, strings.Join(problems, "; "))
	}
	return nil
}

// verifyChunk is how many moved rows the final verification checksums in
// one statement: the rows' literals are joined in memory (a few MB).
const verifyChunk = 20000

// archiveChecksum counts the archived copies of the rows this run moved
// from s's table, and sums their checksum, a chunk of ids at a time.
func (a *archiver) archiveChecksum(ctx context.Context, s archiveSpec) (n, sum int64, err error) {
	q := fmt.Sprintf(`SELECT count(*), max(t.id), %s FROM (SELECT id FROM %s WHERE id > ? ORDER BY id LIMIT ?) AS t
		JOIN %s.%s AS c ON c.id = t.id`, s.rowsHashExpr("c."), s.movedTable(), a.as, s.archive)
	var after int64
	for {
		var k, h int64
		var last sql.NullInt64
		if err := a.queryRow(ctx, q, after, verifyChunk).Scan(&k, &last, &h); err != nil {
			return 0, 0, fmt.Errorf("archive: verify: %w", err)
		}
		if k == 0 {
			return n, sum, nil
		}
		if !last.Valid || last.Int64 <= after {
			return 0, 0, fmt.Errorf("archive: verify: %w: the moved ids of %s after %d did not advance", ErrNoProgress, s.live, after)
		}
		n += k
		sum = int64(uint64(sum) + uint64(h))
		after = last.Int64
	}
}

// countAppealCandidates counts the appeals the policy moves and their
// messages.
func countAppealCandidates(ctx context.Context, q db.Querier, before time.Time) (appeals, messages int64, err error) {
	cut := db.FormatTime(before)
	err = q.QueryRowContext(ctx, `SELECT count(*) FROM main.appeals WHERE status IN `+finalStatuses+` AND created_at < ?`, cut).Scan(&appeals)
	if err != nil {
		return 0, 0, err
	}
	err = q.QueryRowContext(ctx, `SELECT count(*) FROM main.appeal_negotiation_messages WHERE appeal_id IN
		(SELECT id FROM main.appeals WHERE status IN `+finalStatuses+` AND created_at < ?)`, cut).Scan(&messages)
	return appeals, messages, err
}

// countMessageCandidates counts the messages the six-month rule moves.
func countMessageCandidates(ctx context.Context, q db.Querier, before time.Time) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM main.appeal_negotiation_messages AS m
		WHERE m.created_at < ? AND EXISTS (SELECT 1 FROM main.appeals a WHERE a.id = m.appeal_id AND a.status IN `+finalStatuses+`)`,
		db.FormatTime(before)).Scan(&n)
	return n, err
}

// archiveDryRun counts what would move, with a byte estimate, through a
// read-only connection.
func archiveDryRun(ctx context.Context, o ArchiveOptions, res *ArchiveResult) (*ArchiveResult, error) {
	start := time.Now()
	r, err := db.OpenRead(ctx, o.DBPath, o.DB)
	if err != nil {
		return nil, fmt.Errorf("archive dry run: %w", err)
	}
	defer r.Close()
	// The schema part of the pre-flight, so that the plan already refuses
	// what the run would; quick_check is the run's (it reads every page).
	if err := db.Preflight(ctx, r, o.DBPath, db.PreflightSchema); err != nil {
		return nil, fmt.Errorf("archive dry run: %w", err)
	}
	if err := checkArchiveTables(ctx, r, &o, o.ArchiveFile == ""); err != nil {
		return nil, err
	}
	perRow, err := liveBytesPerRow(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("archive dry run: %w", err)
	}
	appeals := ArchiveTableResult{Table: appealsSpec().live, ArchiveTable: appealsSpec().archive}
	msgs := ArchiveTableResult{Table: messagesSpec().live, ArchiveTable: messagesSpec().archive}
	if !o.AppealsBefore.IsZero() && o.doTable(ArchiveAppeals) {
		a, m, err := countAppealCandidates(ctx, r, o.AppealsBefore)
		if err != nil {
			return nil, fmt.Errorf("archive dry run: %w", db.Classify(o.DBPath, err))
		}
		appeals.Rows += a
		msgs.Rows += m
	}
	if !o.MessagesBefore.IsZero() && o.doTable(ArchiveMessages) {
		// Messages of final appeals older than MessagesBefore, not already
		// counted with their appeal.
		var n int64
		var cut any
		if !o.AppealsBefore.IsZero() && o.doTable(ArchiveAppeals) {
			cut = db.FormatTime(o.AppealsBefore)
		}
		err := r.QueryRowContext(ctx, `SELECT count(*) FROM main.appeal_negotiation_messages AS m
			WHERE m.created_at < ? AND EXISTS (SELECT 1 FROM main.appeals a WHERE a.id = m.appeal_id
			  AND a.status IN `+finalStatuses+` AND (?2 IS NULL OR a.created_at >= ?2))`,
			db.FormatTime(o.MessagesBefore), cut).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("archive dry run: %w", db.Classify(o.DBPath, err))
		}
		msgs.Rows += n
	}
	for _, t := range []*ArchiveTableResult{&appeals, &msgs} {
		t.Bytes = int64(float64(t.Rows) * perRow[t.Table])
	}
	res.Tables = []ArchiveTableResult{appeals, msgs}
	res.FreePagesBytes, _ = freePageBytes(ctx, r)
	res.Duration = time.Since(start)
	return res, nil
}

// liveBytesPerRow estimates, for each archivable table, the bytes one row
// takes in the file with its share of the table's indexes: dbstat's page
// sizes over the row count. Without dbstat (SQLite built without it), the
// average payload of the columns stands in.
func liveBytesPerRow(ctx context.Context, q db.Querier) (map[string]float64, error) {
	out := map[string]float64{}
	for _, s := range []archiveSpec{appealsSpec(), messagesSpec()} {
		var rows int64
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM main.`+s.live).Scan(&rows); err != nil {
			return nil, fmt.Errorf("count %s: %w", s.live, err)
		}
		if rows == 0 {
			continue
		}
		var bytes sql.NullInt64
		err := q.QueryRowContext(ctx, `SELECT sum(pgsize) FROM dbstat('main', 1) WHERE name = ?1
			OR name IN (SELECT name FROM main.sqlite_schema WHERE type = 'index' AND tbl_name = ?1)`, s.live).Scan(&bytes)
		if err != nil {
			lens := make([]string, len(s.cols))
			for i, c := range s.cols {
				lens[i] = "coalesce(length(CAST(" + c + " AS BLOB)), 0)"
			}
			if err := q.QueryRowContext(ctx, `SELECT coalesce(sum(`+strings.Join(lens, "+")+`), 0) FROM main.`+s.live).Scan(&bytes); err != nil {
				return nil, fmt.Errorf("measure %s: %w", s.live, err)
			}
		}
		out[s.live] = float64(bytes.Int64) / float64(rows)
	}
	return out, nil
}

// freePageBytes is the space of the free pages inside the main file.
func freePageBytes(ctx context.Context, q db.Querier) (int64, error) {
	var free, size int64
	if err := q.QueryRowContext(ctx, `PRAGMA main.freelist_count`).Scan(&free); err != nil {
		return 0, err
	}
	if err := q.QueryRowContext(ctx, `PRAGMA main.page_size`).Scan(&size); err != nil {
		return 0, err
	}
	return free * size, nil
}
