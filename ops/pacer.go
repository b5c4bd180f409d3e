package ops

// The pacer: the mechanism that keeps a gentle writer (archival; any
// maintenance that writes in many short transactions while the service
// writes) from holding up another process's writers. It decides how long
// one write transaction's statements may run and how long to pause after
// it, from the retry points of SQLite's busy handler, in which a writer
// that found the lock taken sleeps. What the transactions do, and how big
// they are, is the caller's policy.

import (
	"context"
	"time"
)

// busyDelays are the sleeps of SQLite's busy handler between a waiting
// writer's attempts to take the lock (sqliteDefaultBusyCallback): it tries
// again after 1, 3, 8, 18, 33, 53, 78, 103 ms of waiting, and every 100 ms
// from 228 ms on.
var busyDelays = [...]time.Duration{1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100}

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

// pollInterval is how often a pause looks for another connection's commit
// (and a gentle writer tries the lock: see archiver.begin).
const pollInterval = time.Millisecond

// Pacer paces one connection's write transactions so that the other
// processes' writers, waiting for the lock in SQLite's busy handler, get
// it between them. It exists so that every gentle writer paces alike, and
// so that the pacing can be tested without a database or a wall clock.
//
// A transaction's statements are capped (StmtCap) so that, with its commit,
// it ends by the busy handler's retry point at or after Target, when a
// writer that began waiting with it tries again. After it, Pause waits
// until another connection has committed (PRAGMA data_version changed), at
// most the retry gap of a writer that waited through the whole
// transaction, plus a margin (or MaxPause): a writer that found the lock
// taken thus waits for one transaction and, at most, its next retry.
//
// Use, per transaction: Pause; take the lock; Start (the statements'
// deadline); Commit around the commit; End, after the commit or the
// rollback. A Pacer serves one connection, from one goroutine.
type Pacer struct {
	// Target is the aim for one write transaction; the caller sizes its
	// transactions to it, and StmtCap is computed from it.
	Target time.Duration
	// MaxPause, when set, is the longest pause after a transaction; by
	// default the retry gap of a writer that waited through the whole
	// transaction (retryGap) plus pauseMargin.
	MaxPause time.Duration
	// DataVersion reads PRAGMA data_version on the writer's own connection,
	// which another connection's commit changes. Nil, or when it fails
	// after a transaction, the pause lasts its limit.
	DataVersion func(ctx context.Context) (int64, error)
	// Clock is the pacer's time, time.Now when nil. Sleep waits d, or until
	// ctx is done (then returning its error); a timer when nil. Tests give
	// both a fake clock.
	Clock func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	// commits are how long the last commits took (see StmtCap).
	commits [4]time.Duration
	// start and end are those of the last transaction, last its length;
	// version is data_version at its end (-1: unknown).
	start, end time.Time
	last       time.Duration
	version    int64
}

func (p *Pacer) now() time.Time {
	if p.Clock != nil {
		return p.Clock()
	}
	return time.Now()
}

func (p *Pacer) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// StmtCap is how long a transaction's statements may run before they are
// stopped and the transaction rolled back: so that, with its commit (as
// long as the last ones took), the transaction ends by the busy handler's
// retry at or after Target (53 ms for 34-53 ms), when a writer that began
// waiting with it tries again; one that ended later would make that writer
// sleep to its next retry, at 78 ms. At least three quarters of Target, so
// that a slow host still makes progress. (With a fixed cap of a quarter
// over the target, archival's transactions ran to 56-62 ms and the
// writer's worst latency reached 90-192 ms in BenchmarkArchiveVsOneShot;
// with this one, 53-56 ms and 79 ms, for a rollback or two a run.)
func (p *Pacer) StmtCap() time.Duration {
	var commit time.Duration
	for _, c := range p.commits {
		commit += c
	}
	commit /= time.Duration(len(p.commits))
	return max(p.Target*3/4, retryPoint(p.Target)-commit)
}

// Pause waits, before a write transaction, until another connection has
// committed since the last one ended, or until the pause's limit (MaxPause
// or, by default, retryGap of the last transaction plus pauseMargin) after
// its end: work done meanwhile counts. It returns at once before the first
// transaction, and reports whether another connection's commit ended it.
func (p *Pacer) Pause(ctx context.Context) (otherCommitted bool, err error) {
	if p.end.IsZero() {
		return false, nil
	}
	limit := p.MaxPause
	if limit <= 0 {
		limit = retryGap(p.last) + pauseMargin
	}
	deadline := p.end.Add(limit)
	for {
		left := deadline.Sub(p.now())
		if left <= 0 {
			return false, nil
		}
		if p.DataVersion != nil && p.version >= 0 {
			if v, err := p.DataVersion(ctx); err == nil && v != p.version {
				return true, nil
			}
		}
		if err := p.sleep(ctx, min(left, pollInterval)); err != nil {
			return false, err
		}
	}
}

// Start marks the start of a transaction's statements, once the lock is
// held, and returns their deadline: StmtCap from now.
func (p *Pacer) Start() (deadline time.Time) {
	p.start = p.now()
	return p.start.Add(p.StmtCap())
}

// Commit runs commit and notes how long it took, for StmtCap, whether it
// failed or not.
func (p *Pacer) Commit(commit func() error) error {
	t := p.now()
	err := commit()
	copy(p.commits[:], p.commits[1:])
	p.commits[len(p.commits)-1] = p.now().Sub(t)
	return err
}

// End marks the end of the transaction begun at Start (committed or
// rolled back), notes data_version for the next Pause, and returns the
// transaction's length.
func (p *Pacer) End(ctx context.Context) time.Duration {
	p.end = p.now()
	p.last = p.end.Sub(p.start)
	p.version = -1
	if p.DataVersion != nil {
		if v, err := p.DataVersion(ctx); err == nil {
			p.version = v
		}
	}
	return p.last
}
