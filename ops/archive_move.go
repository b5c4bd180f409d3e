package ops

// archive_move.go holds archival's batch move: the candidates, found in id
// order on the primary key, outside any write transaction, a batch (an id
// range) at a time; the copy and delete SQL; the per-batch write
// transaction, paced by the run's Pacer; and the retries.
//
// For each batch, still outside the write lock, one read of its rows notes
// their count, ids and checksum (the ids join the run's moved ids, in the
// connection's temp database, once the batch has committed). Then, in one
// IMMEDIATE transaction: INSERT OR IGNORE into the archive table, DELETE of
// the live rows, and the counts checked: the rows deleted must be exactly
// the rows copied and the rows noted; when some were in the archive
// already (a resumed run), the batch is redone deleting only rows whose
// archived copy is identical column for column; and no message may be left
// without its appeal (checkNoOrphans, for the foreign key, which this
// connection does not check row by row). On any mismatch the transaction
// is rolled back (the batch is retried, then the run stops). Every
// statement selects its rows with the policy's appealRule or messageRule,
// so the newest rows stay.
//
// Batches are bounded by rows (BatchRows, a cap: 20000) and by time: the
// batch size adapts so that each write transaction takes about BatchTime
// (40 ms). Large batches matter: every batch rewrites the pages it touches
// in the indexes whose order is not the id's (idx_appeals_user_status: a
// batch of a few thousand appeals touches most of its leaves), a cost per
// batch whatever its size. A transaction whose statements run past the
// Pacer's StmtCap is interrupted and rolled back, and the batch redone at
// half the size, so that an unlucky batch (a busy host) does not hold the
// service's writers for a second retry period. Before each transaction the
// Pacer pauses until the service's writer has had the lock. The connection
// takes the lock by polling every millisecond rather than through SQLite's
// busy handler, which backs off to 20-100 ms sleeps. The WAL is
// checkpointed (PASSIVE) after each batch on another connection, so that
// the service's next commit does not pay for the batch's pages.
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

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/repops/repops/db"
)

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

// archivePath is the file the archive tables are in.
func (a *archiver) archivePath() string {
	if a.as == "main" {
		return a.o.DBPath
	}
	return a.o.ArchiveFile
}

// writePath is the file the current write transaction writes: the
// archive file during a separate archive file's copy, else the live one.
func (a *archiver) writePath() string {
	if a.copying {
		return a.o.ArchiveFile
	}
	return a.o.DBPath
}

// errBatchTooLong is a batch whose statements ran past the time cap
// (BatchTime and a quarter): it was rolled back, and is redone smaller.
var errBatchTooLong = errors.New("batch rolled back: over its time")

// minBatchRows is the smallest batch.
const minBatchRows = 16

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

// tx runs fn in one IMMEDIATE transaction, after the pause that lets the
// service's writer in (see Pacer.Pause: work done outside the write lock
// meanwhile, such as the next batch's notes, counts towards it), and
// records its duration.
func (a *archiver) tx(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := a.pause(ctx); err != nil {
		return err
	}
	tb := time.Now()
	tx, err := a.begin(ctx)
	a.res.LockWait += time.Since(tb)
	if err != nil {
		return err
	}
	// The statements stop (and the transaction rolls back) when they take
	// longer than the time cap, unless the batch is as small as it gets.
	limit := a.pacer.StmtCap()
	deadline := a.pacer.Start()
	sctx := ctx
	if a.rows > minBatchRows {
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	err = db.InTx(tx, func() error {
		if err := fn(sctx); err != nil {
			if sctx.Err() != nil && ctx.Err() == nil && !db.IsCorrupt(err) {
				a.res.cutShort++
				return fmt.Errorf("archive: a batch of %d rows took more than %s: %w", a.rows, limit.Round(time.Millisecond), errBatchTooLong)
			}
			return err
		}
		return nil
	}, func() error {
		if err := a.pacer.Commit(tx.Commit); err != nil {
			return fmt.Errorf("archive: commit: %w", db.Classify(a.writePath(), err))
		}
		return nil
	})
	d := a.pacer.End(ctx)
	a.res.TxTime += d
	a.batchLongest = max(a.batchLongest, d)
	a.res.LongestTx = max(a.res.LongestTx, d)
	return err
}

// pause waits, before a write transaction, for the Pacer's pause (until
// the service has had the lock), counting the pauses that another
// connection's commit ended.
func (a *archiver) pause(ctx context.Context) error {
	t0 := time.Now()
	defer a.spend("pause", t0)
	otherCommitted, err := a.pacer.Pause(ctx)
	if otherCommitted {
		a.res.serviceTurns++
	}
	return err
}

// begin starts an IMMEDIATE transaction, retrying every millisecond while
// another connection holds the write lock, up to the busy timeout. The
// connection's busy handler is off meanwhile (busy_timeout 0): SQLite's backs off
// to 20-100 ms sleeps, so a batch would often start long after the
// service's short transaction ended, and the run would crawl; polling
// takes the lock as soon as it is free, and the pause after each batch is
// what leaves room for the service.
//
// busy_timeout is restored before begin returns. Should that fail, the
// transaction is rolled back and begin fails: the connection (the
// archiver's own) would otherwise fail every later statement at once on a
// busy database, so the run stops rather than go on with it.
func (a *archiver) begin(ctx context.Context) (tx *sql.Tx, err error) {
	if _, err := a.conn.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer func() {
		_, rerr := a.conn.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA busy_timeout = %d`, a.busyTimeout.Milliseconds()))
		switch {
		case rerr == nil:
		case err != nil:
			err = fmt.Errorf("%w (and restoring busy_timeout failed: %v)", err, rerr)
		default:
			_ = tx.Rollback()
			tx, err = nil, fmt.Errorf("archive: restore busy_timeout after begin: %w", rerr)
		}
	}()
	deadline := time.Now().Add(a.busyTimeout)
	for {
		tx, err = a.conn.BeginTx(ctx, nil)
		if err == nil {
			return tx, nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("archive: begin a batch: %w", db.Classify(a.o.DBPath, err))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pollInterval):
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
// write transaction, by the policy's rules.

// nextAppealBatch finds the next batch of appeals the appeals rule moves:
// at most limit of them, after the id after.
func (a *archiver) nextAppealBatch(ctx context.Context, after int64, limit int) (batchRange, error) {
	var b batchRange
	var lo, hi sql.NullInt64
	err := a.queryRow(ctx, `SELECT count(*), min(id), max(id) FROM (
		SELECT p.id FROM main.appeals AS p NOT INDEXED
		WHERE p.id > ? AND `+appealRule("p")+` ORDER BY p.id LIMIT ?)`,
		after, db.FormatTime(a.o.AppealsBefore), limit).Scan(&b.n, &lo, &hi)
	b.lo, b.hi = lo.Int64, hi.Int64
	return b, err
}

// nextMessageBatch is nextAppealBatch for the messages rule.
func (a *archiver) nextMessageBatch(ctx context.Context, after int64, limit int) (batchRange, error) {
	var b batchRange
	var lo, hi sql.NullInt64
	err := a.queryRow(ctx, `SELECT count(*), min(id), max(id) FROM (
		SELECT m.id FROM main.appeal_negotiation_messages AS m NOT INDEXED
		WHERE m.id > ? AND `+messageRule("m")+`
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

// appealSteps are the steps of a batch of appeals: their messages, then
// the appeals (the foreign key forbids deleting an appeal that still has
// messages).
func (a *archiver) appealSteps(b batchRange) []step {
	cut := db.FormatTime(a.o.AppealsBefore)
	return []step{
		{messagesSpec(), "", `l.appeal_id IN (SELECT p.id FROM main.appeals AS p NOT INDEXED WHERE p.id BETWEEN ? AND ? AND ` +
			appealRule("p") + `)`, []any{b.lo, b.hi, cut}},
		{appealsSpec(), "NOT INDEXED", `l.id BETWEEN ? AND ? AND ` + appealRule("l"), []any{b.lo, b.hi, cut}},
	}
}

// messageSteps are the steps of a batch of messages (the six-month rule).
func (a *archiver) messageSteps(b batchRange) []step {
	return []step{{messagesSpec(), "NOT INDEXED", `l.id BETWEEN ? AND ? AND ` + messageRule("l"),
		[]any{b.lo, b.hi, db.FormatTime(a.o.MessagesBefore)}}}
}

// moveAppealBatch moves a batch of appeals with their messages.
func (a *archiver) moveAppealBatch(ctx context.Context, b batchRange) (int64, error) {
	return a.moveSteps(ctx, b, a.appealSteps(b))
}

// moveMessageBatch moves a batch of messages (the six-month rule).
func (a *archiver) moveMessageBatch(ctx context.Context, b batchRange) (int64, error) {
	return a.moveSteps(ctx, b, a.messageSteps(b))
}

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
		return 0, fmt.Errorf("archive: copy %s: %w", s.spec.live, db.Classify(a.archivePath(), err))
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
	} else {
		// The copy's transaction writes only the archive file.
		a.copying = true
		err = a.tx(ctx, copyAll)
		a.copying = false
		if err == nil {
			err = a.tx(ctx, deleteAll)
		}
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

// same is the condition that archive row c is identical to live row l.
func (s archiveSpec) same(l, c string) string {
	out := make([]string, len(s.cols))
	for i, col := range s.cols {
		out[i] = fmt.Sprintf("%s.%s IS %s.%s", c, col, l, col)
	}
	return strings.Join(out, " AND ")
}
