package ops

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// benchWriterInterval paces the benchmark's writer: 100 transactions a
// second at most, 60 times the guide's alert threshold for appeal
// submissions (100 a minute).
const benchWriterInterval = 10 * time.Millisecond

// BenchmarkArchiveVsOneShot archives the same data with Archive (batched,
// its defaults) and with the guide's one-shot SQL (CREATE TABLE ... AS
// SELECT, then DELETE, in one transaction; extended to the messages, which
// the guide's version leaves orphaned), one after the other on fresh
// copies, b.N times, while a writer inserts an appeal and a message every
// 10 ms as the service does (and, first, the writer alone, for its
// baseline latency). Each run's figures are logged: rows moved per second,
// the writer's worst latency, split into its worst wait for the lock (what
// archival costs it) and its worst commit (the WAL's fsync: the host's, as
// the writer alone shows). The summary gives the median of the runs'
// batched/one-shot throughput ratios and the worst latency of them all:
// on a shared two-core host one run varies by a fifth either way.
//
//	go test -tags sqlite_dbstat -run '^$' -bench ArchiveVsOneShot -benchtime 9x ./ops/
func BenchmarkArchiveVsOneShot(b *testing.B) {
	seed := testsupport.MigratedDB(b)
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
	run := func(mode string) row {
		dir, err := os.MkdirTemp(b.TempDir(), "run")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "architect.db")
		copyFile(b, seed, path)
		// Each run starts with the host's dirty pages written back (the copy
		// above, the last run's WAL and checkpoints): otherwise the fsyncs of
		// the run (the writer's, the checkpoints') pay for them, and the
		// batched runs, which sync a few hundred times where the one-shot
		// syncs once, got slower run after run (4.5 s, then 6 to 10 s).
		unix.Sync()
		w := startWriter(b, path, benchWriterInterval)
		time.Sleep(200 * time.Millisecond) // the writer at its pace first
		var n int64
		t0 := time.Now()
		switch mode {
		case "writer alone":
			time.Sleep(3 * time.Second)
		case "batched":
			o := archiveOpts(path, b)
			o.MessagesBefore = time.Time{}
			// The defaults: batches bounded by time (40 ms) more than by
			// rows, pauses ended by the writer's commit.
			o.BatchRows, o.BatchPause, o.BatchTime = 0, 0, 0
			res, err := Archive(context.Background(), o, nil)
			if err != nil {
				b.Fatal(err)
			}
			n = res.Rows()
			b.Logf("batched: %d batches, %.0f rows each, longest write transaction %s; write lock held %s, waited for %s; %d pauses ended by the writer's commit; %d transactions cut short; other time: %v",
				res.Batches, float64(res.Rows())/float64(res.Batches), res.LongestTx.Round(time.Millisecond),
				res.TxTime.Round(time.Millisecond), res.LockWait.Round(time.Millisecond), res.serviceTurns, res.cutShort, res.spent)
		default:
			n = oneShotArchive(b, path)
		}
		d := time.Since(t0)
		time.Sleep(200 * time.Millisecond)
		w.Stop()
		r := row{mode, n, d, w.worst, w.p99(), w.worstWait, w.worstCommit, w.appeals, len(w.errs)}
		b.Logf("%-12s moved %7d rows in %8s: %8.0f rows/s; writer: %5d writes, %d errors, latency p99 %s, worst %s (worst wait for the lock %s, worst commit %s)",
			r.name, r.rows, r.dur.Round(time.Millisecond), float64(r.rows)/r.dur.Seconds(), r.writes, r.errs, r.p99.Round(time.Millisecond),
			r.worst.Round(time.Millisecond), r.wait.Round(time.Millisecond), r.commit.Round(time.Millisecond))
		if r.errs > 0 {
			b.Fatalf("%s: the writer saw %d errors", mode, r.errs)
		}
		return r
	}
	run("writer alone")
	var ratios, batchedRates, oneShotRates []float64
	var worst, oneShotWorst time.Duration
	for i := 0; i < b.N; i++ {
		bt, one := run("batched"), run("one-shot")
		br, or := float64(bt.rows)/bt.dur.Seconds(), float64(one.rows)/one.dur.Seconds()
		batchedRates, oneShotRates = append(batchedRates, br), append(oneShotRates, or)
		ratios = append(ratios, 100*br/or)
		worst, oneShotWorst = max(worst, bt.worst), max(oneShotWorst, one.worst)
	}
	b.StopTimer()
	median := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	b.Logf("over %d runs: batched/one-shot throughput median %.1f %% (runs: %s); batched %.0f rows/s, one-shot %.0f rows/s (medians); writer's worst latency while archiving %s (one-shot %s)",
		b.N, median(ratios), percents(ratios), median(batchedRates), median(oneShotRates), worst.Round(time.Millisecond), oneShotWorst.Round(time.Millisecond))
	b.ReportMetric(median(ratios), "batched/oneshot-%")
	b.ReportMetric(median(batchedRates), "batched-rows/s")
	b.ReportMetric(median(oneShotRates), "oneshot-rows/s")
	b.ReportMetric(float64(worst.Milliseconds()), "batched-worst-ms")
	b.ReportMetric(float64(oneShotWorst.Milliseconds()), "oneshot-worst-ms")
}

// percents lists v as "52.1 48.0 ...".
func percents(v []float64) string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(out, " ")
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
