package ops

// archive.go holds archival's policy: what moves (the rules, their
// cutoffs and the tables), its options and results, and the entry point
// Archive. The run's machinery is in archive_run.go (the connection and
// its checkpoints), archive_move.go (the batches: candidates, copy and
// delete, the per-batch transaction and its retries), archive_verify.go
// (the final verification), archive_plan.go (the dry run and the counts)
// and archive_schema.go (a separate archive file's tables); the pacing of
// the write transactions is the Pacer's (pacer.go).

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
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
//     ago) of appeals in a final status; the appeal itself stays live;
//   - never the newest row of either table: the newest appeal, the appeal
//     of the newest message (which would take that message with it) and
//     the newest message stay live, whatever their age (appealRule,
//     messageRule). The tables are not AUTOINCREMENT: SQLite gives a new
//     row the largest id plus one, so moving the row with the largest id
//     would hand its id to the next new row, and the run that archives
//     that row later would find the archived copy in its way (the copy is
//     keyed by the live id) and stop, on every run, with "rows changed
//     between copy and delete". The newest row stays: its id must not be
//     reused; it moves in a later run, once a newer row exists. The dry
//     run and the result name such rows (ArchiveResult.Kept).
//
// How, in short: the candidates are walked in id order, a batch (an id
// range) at a time; each batch is noted (count, ids, checksum) outside the
// write lock, then copied and deleted in short IMMEDIATE transactions paced
// by a Pacer so that the service's writers get the lock between them, and
// its counts checked (archive_move.go). The run is idempotent: a run killed
// at any point, even by kill -9, is resumed by running it again, and
// finishes exactly. At the end the moved rows are verified in the archive
// (count and checksum) and none matching the policy is left behind
// (archive_verify.go).

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
	// DBPath is the live database.
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
	// the aim for one write transaction (default 40 ms: the run's Pacer's
	// Target, its statements capped by Pacer.StmtCap; the batch size adapts
	// to it, and decides). BatchPause, when set, is the longest pause
	// between two write transactions (the Pacer's MaxPause); by default the
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
	// StatFS is how the free space of the archive file's filesystem is
	// checked before a run into a separate archive file (statfs(2) when
	// nil; tests inject a full disk).
	StatFS StatFS
	// Recorder is where the lock is taken and the run journaled.
	Recorder Recorder
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// txClock, in tests, is the clock of the run's Pacer (time.Now when
	// nil), which a write transaction's statement cap counts from: a clock
	// running behind cuts the transaction short whatever the machine's
	// speed.
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
	// Kept names the rows that match the policy but stay because they are
	// the newest of their table (or the appeal of the newest message): the
	// newest row stays, its id must not be reused (see appealRule). A dry
	// run names those of the plan, a run those left after it.
	Kept []string `json:"kept,omitempty"`
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

// finalStatuses are the statuses of a settled appeal, as an SQL list.
const finalStatuses = `('approved','denied','expired')`

// appealRule is the appeals rule as an SQL condition on the appeals under
// alias p, with one parameter, the cutoff: in a final status, created
// before the cutoff, and neither the newest appeal nor the appeal of the
// newest message (the newest row stays: its id must not be reused). Every
// query of the run, the dry run and the verification that selects the
// appeals that move uses it, so that they agree. Inside a write
// transaction the newest rows are those of the transaction's snapshot:
// the row with the largest id is never the one deleted. (IS NOT, rather
// than "id < max(id)", which the planner would take for the upper bound of
// a batch's id range and scan to the end of the table: 25 times slower.)
func appealRule(p string) string {
	return p + `.status IN ` + finalStatuses + ` AND ` + p + `.created_at < ?
		AND ` + p + `.id IS NOT (SELECT max(id) FROM main.appeals)
		AND ` + p + `.id IS NOT (SELECT appeal_id FROM main.appeal_negotiation_messages ORDER BY id DESC LIMIT 1)`
}

// messageRule is the messages rule as an SQL condition on the messages
// under alias m, with one parameter, the cutoff: created before it, of an
// appeal in a final status, and not the newest message (see appealRule).
func messageRule(m string) string {
	return m + `.created_at < ?
		AND ` + m + `.id IS NOT (SELECT max(id) FROM main.appeal_negotiation_messages)
		AND EXISTS (SELECT 1 FROM main.appeals AS fa WHERE fa.id = ` + m + `.appeal_id AND fa.status IN ` + finalStatuses + `)`
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

// archiveSpaceMargin is the room asked for, over the dry run's estimate of
// the bytes that move, in the archive file's filesystem: the estimate is
// pro rata of the live tables' pages, the archive file's WAL holds a batch
// or two beside the pages it is checkpointed into, and the filesystem must
// not end the run full.
func archiveSpaceNeed(bytes int64) int64 { return bytes + bytes/4 + 16<<20 }

// checkArchiveFileSpace refuses a run into a separate archive file whose
// filesystem has not the room for what the dry run says would move (with
// archiveSpaceNeed's margin), before anything is written.
func checkArchiveFileSpace(ctx context.Context, o ArchiveOptions) error {
	plan := &ArchiveResult{DryRun: true}
	if _, err := archiveDryRun(ctx, o, plan); err != nil {
		return err
	}
	need := archiveSpaceNeed(plan.Bytes())
	dir := filepath.Dir(absPath(o.ArchiveFile))
	statfs := o.StatFS
	if statfs == nil {
		statfs = SystemStatFS
	}
	sp, err := statfs(dir)
	if err != nil {
		return fmt.Errorf("archive: check free space for the archive file: %w", err)
	}
	if sp.Free < need {
		return fmt.Errorf("archive refused: %w in %s for the archive file %s: the %d rows to move (%s estimated) need %s with the margin, %s free: free space there or give an --archive-file on a larger filesystem; nothing was changed",
			ErrNoSpace, dir, filepath.Base(o.ArchiveFile), plan.Rows(), humanize.Bytes(plan.Bytes()), humanize.Bytes(need), humanize.Bytes(sp.Free))
	}
	return nil
}

// partlyMoved is the error of a run that failed after some batches
// committed: what moved, where it is, that it is safe there, and that a
// rerun finishes; never "nothing was changed". Each batch's rows are
// deleted from the live table only in a transaction after the one that
// copied them committed (the archive file at synchronous=FULL), and only
// the rows whose archived copy is identical column for column (see
// moveSteps); in the live database's own archive tables, the copy and the
// delete are one transaction.
func partlyMoved(o ArchiveOptions, res *ArchiveResult, err error) error {
	var parts []string
	for _, t := range res.Tables {
		parts = append(parts, fmt.Sprintf("%d %s", t.Rows, t.Table))
	}
	where := "the archive tables of " + o.DBPath
	safe := "each batch's copy and delete were one transaction"
	if o.ArchiveFile != "" {
		where = "the archive file " + absPath(o.ArchiveFile)
		safe = "each batch was deleted from the live tables only after its copy was committed and synced there and compared column for column; do not delete that file"
	}
	return fmt.Errorf("archive stopped after moving %d rows (%s) in %d batches into %s, where they are safe (%s): %w; a batch in progress is in both places or only in the live file; free the space or fix the cause, then run the same archive again: it finishes the job without moving anything twice",
		res.Rows(), strings.Join(parts, ", "), res.Batches, where, safe, withoutNothingChanged(err))
}

// withoutNothingChanged is err with the hint of a FileError that would say
// "nothing was changed" replaced: some batches did change things.
func withoutNothingChanged(err error) error {
	var fe *db.FileError
	if !errors.As(err, &fe) || !strings.Contains(fe.Hint, "nothing was changed") {
		return err
	}
	msg := err.Error()
	c := *fe
	c.Hint = ""
	if errors.Is(fe, db.ErrDiskFull) {
		c.Hint = "free space on its filesystem"
	}
	return &replacedError{msg: strings.Replace(msg, fe.Error(), c.Error(), 1), err: err}
}

// replacedError is err with another message.
type replacedError struct {
	msg string
	err error
}

func (e *replacedError) Error() string { return e.msg }
func (e *replacedError) Unwrap() error { return e.err }

// Archive runs the retention policy in o against the live database (or,
// with o.DryRun, reports what it would move). See the comment at the top
// of this file, and archive_move.go's, for how it keeps the service's
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
	// Without a state dir (no lock, no journal) nothing is prepared.
	if err := o.Recorder.Procedure("archive", "", nil).checkRecorded(); err != nil {
		return nil, err
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
		if err := checkArchiveFileSpace(ctx, o); err != nil {
			return nil, stopBeforeRun(o.Recorder, "archive", o.DBPath, nil, err)
		}
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
	p := o.Recorder.Procedure("archive", absPath(o.DBPath), params)
	p.Progress = progress
	ran := false
	err = Run(ctx, p, func(ctx context.Context, r *Running) (map[string]float64, error) {
		ran = true
		// Corruption seen while it runs stops the run at once (archiveRun
		// writes nothing more, not even its last checkpoint), and the
		// error, journaled by Run, points at the database-corruption
		// runbook.
		err := stopOnCorrupt(o.DBPath, archiveRun(ctx, w, o, res, progress))
		if db.IsCorrupt(err) {
			err = fmt.Errorf("archive stopped after %d batches: %w", res.Batches, err)
		} else if err != nil && res.Rows() > 0 {
			err = partlyMoved(o, res, err)
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
			res.Rows(), humanize.Bytes(res.Bytes()), res.Batches, res.LongestTx.Round(time.Millisecond), humanize.Bytes(res.Freed))
		if err == nil && res.Verified {
			msg += "; verified (count and checksum)"
		}
		if len(res.Kept) > 0 {
			msg += fmt.Sprintf("; %d newest rows kept (the newest row stays: its id must not be reused)", len(res.Kept))
		}
		r.SetMessage(msg)
		return figures, err
	})
	if !ran {
		return nil, err
	}
	return res, err
}
