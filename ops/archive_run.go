package ops

// archive_run.go holds one archival run's frame: the archiver's state, the
// connection it writes on (attached archive file, pragmas, temp tables,
// prepared statements), the checkpoints between batches, and the order of
// the run (appeals, then messages, then durability and verification). The
// batches themselves are archive_move.go's.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/repops/repops/db"
)

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
	// pacer paces the write transactions (see tx); batchLongest is the
	// longest write transaction of the current batch.
	pacer        *Pacer
	batchLongest time.Duration
	// compareNext makes the next attempt of a batch compare each row with
	// its archived copy before deleting it.
	compareNext bool
	busyTimeout time.Duration
	// copying is true during a separate archive file's copy transaction
	// (see writePath).
	copying bool
	ckpt    *checkpointer
	stmts   map[string]*sql.Stmt
}

// archiveRun moves what the policy in o says, on one connection of w (the
// live database open for writing), batch by batch, then makes the moves
// durable and verifies them.
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
	a.pacer = &Pacer{Target: o.BatchTime, MaxPause: o.BatchPause, Clock: o.txClock,
		DataVersion: func(ctx context.Context) (int64, error) {
			var v int64
			err := a.queryRow(ctx, `PRAGMA main.data_version`).Scan(&v)
			return v, err
		}}
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
		total, err := countAppealsToMove(ctx, conn, o.AppealsBefore)
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

// spend adds the time since t0 to phase's total.
func (a *archiver) spend(phase string, t0 time.Time) {
	if a.res.spent == nil {
		a.res.spent = map[string]time.Duration{}
	}
	a.res.spent[phase] += time.Since(t0)
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
