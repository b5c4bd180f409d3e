package ops

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/repops/repops/db"
)

// benchWriterInterval paces the benchmark's writer: 100 transactions a
// second at most, 60 times the guide's alert threshold for appeal
// submissions (100 a minute).
const benchWriterInterval = 10 * time.Millisecond

// BenchmarkArchiveVsOneShot archives the same data twice, side by side,
// while a writer inserts an appeal and a message every 10 ms as the
// service does (and, first, the writer alone for its baseline latency):
// once with Archive (batched, its defaults), once with the guide's one-shot
// SQL (CREATE TABLE ... AS SELECT, then DELETE, in one transaction;
// extended to the messages, which the guide's version leaves orphaned). It
// reports the rows moved per second and the writer's worst latency for
// each, split into its worst wait for the lock (what archival costs it)
// and its worst commit (the WAL's fsync: the host's, as the writer alone
// shows).
//
//	go test -tags sqlite_dbstat -run '^$' -bench ArchiveVsOneShot -benchtime 1x ./ops/
func BenchmarkArchiveVsOneShot(b *testing.B) {
	seed := newMaintDB(b)
	seedAppeals(b, seed, seedSpec{Old: 200000, Mid: 0, New: 5000})
	checkpointTruncate(b, seed)
	type row struct {
		name   string
		rows   int64
		dur    time.Duration
		worst  time.Duration
		p99    time.Duration
		wait   time.Duration
		commit time.Duration
		writes int64
		errs   int
	}
	var rows []row
	for i := 0; i < b.N; i++ {
		for _, mode := range []string{"writer alone", "batched", "one-shot"} {
			path := filepath.Join(b.TempDir(), "architect.db")
			copyFile(b, seed, path)
			w := startWriter(b, path, benchWriterInterval)
			time.Sleep(200 * time.Millisecond) // the writer at its pace first
			var n int64
			t0 := time.Now()
			if mode == "writer alone" {
				time.Sleep(3 * time.Second)
			} else if mode == "batched" {
				o := archiveOpts(path, b)
				o.MessagesBefore = time.Time{}
				// The defaults: batches bounded by time (40 ms) more than
				// by rows, pauses ended by the writer's commit.
				o.BatchRows, o.BatchPause, o.BatchTime = 0, 0, 0
				res, err := Archive(context.Background(), o, nil)
				if err != nil {
					b.Fatal(err)
				}
				n = res.Rows()
				b.Logf("batched: %d batches, %.0f rows each, longest write transaction %s; write lock held %s, waited for %s; %d pauses ended by the writer's commit; %d transactions cut short; other time: %v",
					res.Batches, float64(res.Rows())/float64(res.Batches), res.LongestTx.Round(time.Millisecond),
					res.TxTime.Round(time.Millisecond), res.LockWait.Round(time.Millisecond), res.serviceTurns, res.cutShort, res.spent)
			} else {
				n = oneShotArchive(b, path)
			}
			d := time.Since(t0)
			time.Sleep(200 * time.Millisecond)
			w.Stop()
			rows = append(rows, row{mode, n, d, w.worst, w.p99(), w.worstWait, w.worstCommit, w.appeals, len(w.errs)})
		}
	}
	b.StopTimer()
	var batched, oneShot row
	for _, r := range rows {
		rate := float64(r.rows) / r.dur.Seconds()
		b.Logf("%-12s moved %7d rows in %8s: %8.0f rows/s; writer: %5d writes, %d errors, latency p99 %s, worst %s (worst wait for the lock %s, worst commit %s)",
			r.name, r.rows, r.dur.Round(time.Millisecond), rate, r.writes, r.errs, r.p99.Round(time.Millisecond), r.worst.Round(time.Millisecond),
			r.wait.Round(time.Millisecond), r.commit.Round(time.Millisecond))
		switch r.name {
		case "batched":
			batched = r
		case "one-shot":
			oneShot = r
		}
	}
	b.ReportMetric(float64(batched.rows)/batched.dur.Seconds(), "batched-rows/s")
	b.ReportMetric(float64(batched.worst.Milliseconds()), "batched-worst-ms")
	b.ReportMetric(float64(batched.p99.Milliseconds()), "batched-p99-ms")
	b.ReportMetric(float64(batched.wait.Milliseconds()), "batched-wait-ms")
	b.ReportMetric(float64(oneShot.rows)/oneShot.dur.Seconds(), "oneshot-rows/s")
	b.ReportMetric(float64(oneShot.worst.Milliseconds()), "oneshot-worst-ms")
}

// oneShotArchive is the guide's archival SQL, in one transaction, with
// foreign keys off as in the sqlite3 shell, moving the messages too.
func oneShotArchive(b *testing.B, path string) int64 {
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, err := w.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		b.Fatal(err)
	}
	cut := db.FormatTime(testNow.Add(-365 * 24 * time.Hour))
	var n int64
	err = db.Tx(ctx, w, func(tx *sql.Tx) error {
		for _, q := range []string{
			`CREATE TABLE oneshot_messages_archive AS SELECT * FROM appeal_negotiation_messages WHERE appeal_id IN
				(SELECT id FROM appeals WHERE created_at < ?1 AND status IN ('approved','denied','expired'))`,
			`CREATE TABLE oneshot_appeals_archive AS SELECT * FROM appeals
				WHERE created_at < ?1 AND status IN ('approved','denied','expired')`,
			`DELETE FROM appeal_negotiation_messages WHERE appeal_id IN
				(SELECT id FROM appeals WHERE created_at < ?1 AND status IN ('approved','denied','expired'))`,
			`DELETE FROM appeals WHERE created_at < ?1 AND status IN ('approved','denied','expired')`,
		} {
			r, err := tx.ExecContext(ctx, q, cut)
			if err != nil {
				return err
			}
			k, _ := r.RowsAffected()
			if q[0] == 'D' {
				n += k
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func checkpointTruncate(b testing.TB, path string) {
	w, err := db.OpenWrite(context.Background(), path, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
}

// copyFile copies a database that no connection has open.
func copyFile(b testing.TB, from, to string) {
	src, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
}
