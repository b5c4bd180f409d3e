package ops

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/db"
)

// testNow is the fixed clock of the maintenance tests.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// seedSpec says how many appeals of each age band to create.
type seedSpec struct {
	Old int // created 400+ days before testNow; final except every 50th (pending)
	Mid int // created 200-300 days before; final except every 4th; messages older than six months
	New int // created in the last 30 days, mixed statuses
}

// seedAppeals bulk-inserts appeals and messages (id%3 messages per
// appeal) in one transaction with synchronous=OFF, before any writer runs.
func seedAppeals(t testing.TB, path string, s seedSpec) {
	t.Helper()
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := db.FormatTime(testNow)
	var base int64
	if err := w.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM appeals`).Scan(&base); err != nil {
		t.Fatal(err)
	}
	err = db.Tx(ctx, w, func(tx *sql.Tx) error {
		bands := []struct {
			n       int
			created string // SQL expression of x (1..n) and ?1 (now)
			status  string
		}{
			{s.Old, `datetime(?1, '-400 days', printf('-%d seconds', (?2 - x) * 60))`,
				`CASE WHEN x % 50 = 0 THEN 'pending' ELSE (CASE x % 3 WHEN 0 THEN 'approved' WHEN 1 THEN 'denied' ELSE 'expired' END) END`},
			{s.Mid, `datetime(?1, '-200 days', printf('-%d seconds', (x * 86400 * 100) / ?2))`,
				`CASE WHEN x % 4 = 0 THEN 'negotiating' ELSE (CASE x % 3 WHEN 0 THEN 'approved' WHEN 1 THEN 'denied' ELSE 'expired' END) END`},
			{s.New, `datetime(?1, printf('-%d seconds', (x * 86400 * 30) / ?2))`,
				`CASE x % 5 WHEN 0 THEN 'pending' WHEN 1 THEN 'negotiating' WHEN 2 THEN 'approved' WHEN 3 THEN 'denied' ELSE 'expired' END`},
		}
		for _, b := range bands {
			if b.n == 0 {
				continue
			}
			_, err := tx.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?2)
				INSERT INTO appeals (id, user_id, reason, status, created_at, updated_at, resolved_at)
				SELECT ?3 + x, 'user' || (x % 997), 'reason for appeal ' || x, `+b.status+`, `+b.created+`, `+b.created+`,
				  CASE WHEN `+b.status+` IN ('approved','denied','expired') THEN `+b.created+` END
				FROM c`, now, b.n, base)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < 2)
				INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at)
				SELECT a.id, CASE c.k WHEN 1 THEN 'user' ELSE 'reviewer' END,
				  printf('%.*c', 60 + a.id % 40, 'm'), datetime(a.created_at, printf('+%d hours', c.k))
				FROM appeals a JOIN c ON c.k <= a.id % 3 WHERE a.id > ?1 AND a.id <= ?1 + ?2`, base, b.n)
			if err != nil {
				return err
			}
			base += int64(b.n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testWriter stands in for the service: it inserts a pending appeal and a
// message for it in one transaction through its own write connection,
// continuously, counting rows, errors and its worst latency.
type testWriter struct {
	appeals, messages int64
	errs              []error
	worst             time.Duration
	lat               []time.Duration
	// worstWait is the longest wait for the write lock (BEGIN IMMEDIATE),
	// worstCommit the longest COMMIT (the WAL's fsync): the worst latency
	// is at most their sum and the statements.
	worstWait, worstCommit time.Duration
	mu                     sync.Mutex
	stop                   context.CancelFunc
	done                   chan struct{}
}

func startWriter(t testing.TB, path string, interval time.Duration) *testWriter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := db.OpenWrite(ctx, path, db.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tw := &testWriter{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(tw.done)
		defer w.Close()
		for i := 0; ctx.Err() == nil; i++ {
			t0 := time.Now()
			var began, done time.Time
			err := db.Tx(context.Background(), w, func(tx *sql.Tx) error {
				began = time.Now()
				defer func() { done = time.Now() }()
				now := db.FormatTime(time.Now())
				r, err := tx.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES (?, 'live', 'pending', ?, ?)`,
					"writer", now, now)
				if err != nil {
					return err
				}
				id, _ := r.LastInsertId()
				_, err = tx.Exec(`INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at) VALUES (?, 'user', 'hello', ?)`, id, now)
				return err
			})
			d := time.Since(t0)
			tw.mu.Lock()
			if err != nil {
				tw.errs = append(tw.errs, err)
			} else {
				tw.appeals++
				tw.messages++
			}
			tw.worst = max(tw.worst, d)
			if err == nil {
				tw.worstWait = max(tw.worstWait, began.Sub(t0))
				tw.worstCommit = max(tw.worstCommit, time.Since(done))
			}
			tw.lat = append(tw.lat, d)
			tw.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()
	return tw
}

// p99 is the writer's 99th percentile latency.
func (tw *testWriter) p99() time.Duration {
	if len(tw.lat) == 0 {
		return 0
	}
	l := slices.Clone(tw.lat)
	slices.Sort(l)
	return l[len(l)*99/100]
}

// Stop ends the writer and waits for it.
func (tw *testWriter) Stop() {
	tw.stop()
	<-tw.done
}

// tableCounts counts the rows of the live and archive tables in path (and
// of the archive tables in archiveFile when set).
type rowCounts struct{ appeals, messages, archAppeals, archMessages int64 }

func countRows(t testing.TB, path, archiveFile string) rowCounts {
	t.Helper()
	ctx := context.Background()
	r, err := db.OpenRead(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var c rowCounts
	for q, dst := range map[string]*int64{
		`SELECT count(*) FROM appeals`:                             &c.appeals,
		`SELECT count(*) FROM appeal_negotiation_messages`:         &c.messages,
		`SELECT count(*) FROM appeals_archive`:                     &c.archAppeals,
		`SELECT count(*) FROM appeal_negotiation_messages_archive`: &c.archMessages,
	} {
		if err := r.QueryRowContext(ctx, q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	if archiveFile != "" {
		a, err := db.OpenRead(ctx, archiveFile, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		var n int64
		if err := a.QueryRowContext(ctx, `SELECT count(*) FROM appeals_archive`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		c.archAppeals += n
		if err := a.QueryRowContext(ctx, `SELECT count(*) FROM appeal_negotiation_messages_archive`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		c.archMessages += n
	}
	return c
}

// integrityOK runs PRAGMA integrity_check on path.
func integrityOK(t testing.TB, path string) {
	t.Helper()
	ctx := context.Background()
	r, err := db.OpenRead(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s string
	if err := r.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if s != "ok" {
		t.Fatalf("integrity_check of %s: %s", path, s)
	}
}
