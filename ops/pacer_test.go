package ops

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The pacer's own tests: a fake clock, moved only by the pacer's sleeps
// and by the test, and a fake data_version; nothing sleeps, and no
// assertion reads the wall clock.

// TestRetryPointAndCap: the busy handler's retry points, and the
// statement cap they give with the last commits' times.
func TestRetryPointAndCap(t *testing.T) {
	for _, tc := range []struct{ d, want time.Duration }{
		{0, 0}, {time.Millisecond, time.Millisecond}, {2 * time.Millisecond, 3 * time.Millisecond},
		{34 * time.Millisecond, 53 * time.Millisecond}, {40 * time.Millisecond, 53 * time.Millisecond},
		{53 * time.Millisecond, 53 * time.Millisecond}, {54 * time.Millisecond, 78 * time.Millisecond},
		{400 * time.Millisecond, 428 * time.Millisecond},
	} {
		if got := retryPoint(tc.d); got != tc.want {
			t.Errorf("retryPoint(%s) = %s, want %s", tc.d, got, tc.want)
		}
	}
	a := &Pacer{Target: 40 * time.Millisecond}
	if got := a.StmtCap(); got != 53*time.Millisecond {
		t.Errorf("no commit yet: cap %s, want 53ms", got)
	}
	a.commits = [4]time.Duration{8 * time.Millisecond, 12 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}
	if got := a.StmtCap(); got != 43*time.Millisecond {
		t.Errorf("commits of 10 ms: cap %s, want 43ms (53 less 10)", got)
	}
	a.commits = [4]time.Duration{40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}
	if got := a.StmtCap(); got != 30*time.Millisecond {
		t.Errorf("commits of 40 ms: cap %s, want 30ms (three quarters of Target)", got)
	}
}

func TestRetryGap(t *testing.T) {
	tests := []struct {
		tx, want time.Duration
	}{
		{5 * time.Millisecond, 5 * time.Millisecond},
		{30 * time.Millisecond, 15 * time.Millisecond},
		{40 * time.Millisecond, 20 * time.Millisecond},
		{60 * time.Millisecond, 25 * time.Millisecond},
		{110 * time.Millisecond, 25 * time.Millisecond},
		{130 * time.Millisecond, 50 * time.Millisecond},
		{time.Second, 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.tx.String(), func(t *testing.T) {
			if got := retryGap(tc.tx); got != tc.want {
				t.Fatalf("retryGap(%s) = %s, want %s", tc.tx, got, tc.want)
			}
		})
	}
}

// fakeClock is a Pacer's Clock and Sleep: time moves only when the pacer
// sleeps or the test advances it.
type fakeClock struct {
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) advance(d time.Duration) { c.now = c.now.Add(d) }

// sleptTotal is the time the pacer slept.
func (c *fakeClock) sleptTotal() time.Duration {
	var t time.Duration
	for _, d := range c.slept {
		t += d
	}
	return t
}

// fakeVersions is a connection's PRAGMA data_version: next gives the value
// of each read in turn (the last one repeated), or fails while failing.
type fakeVersions struct {
	next    []int64
	reads   int
	failing bool
}

func (v *fakeVersions) read(context.Context) (int64, error) {
	v.reads++
	if v.failing {
		return 0, errors.New("no data_version")
	}
	x := v.next[0]
	if len(v.next) > 1 {
		v.next = v.next[1:]
	}
	return x, nil
}

// newFakePacer is a pacer of target on a fake clock and data_version.
func newFakePacer(target time.Duration, versions *fakeVersions) (*Pacer, *fakeClock) {
	c := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	p := &Pacer{Target: target, Clock: c.Now, Sleep: c.Sleep, DataVersion: versions.read}
	return p, c
}

// fakeTx runs one transaction on p's fake clock: its statements take
// stmts and its commit commit (no commit: rolled back); it returns the
// transaction's length as End reports it.
func fakeTx(ctx context.Context, p *Pacer, c *fakeClock, stmts, commit time.Duration, committed bool) time.Duration {
	p.Start()
	c.advance(stmts)
	if committed {
		_ = p.Commit(func() error { c.advance(commit); return nil })
	}
	return p.End(ctx)
}

// TestPacerCapFromCommits: the statement cap follows the last four
// commits' times as the pacer's clock measured them; a rolled-back
// transaction leaves it, a failed commit counts; Start's deadline is the
// cap from now.
func TestPacerCapFromCommits(t *testing.T) {
	ctx := context.Background()
	p, c := newFakePacer(40*time.Millisecond, &fakeVersions{next: []int64{1}})
	if got := p.Start().Sub(c.now); got != 53*time.Millisecond {
		t.Fatalf("no commit yet: deadline %s from now, want 53ms", got)
	}
	p.End(ctx)
	for range 4 {
		if d := fakeTx(ctx, p, c, 30*time.Millisecond, 10*time.Millisecond, true); d != 40*time.Millisecond {
			t.Fatalf("transaction of 30 + 10 ms: End says %s", d)
		}
	}
	if got := p.StmtCap(); got != 43*time.Millisecond {
		t.Errorf("commits of 10 ms: cap %s, want 43ms (53 less 10)", got)
	}
	fakeTx(ctx, p, c, 60*time.Millisecond, 0, false)
	if got := p.StmtCap(); got != 43*time.Millisecond {
		t.Errorf("after a rollback: cap %s, want 43ms still", got)
	}
	if got := p.Start().Sub(c.now); got != 43*time.Millisecond {
		t.Errorf("deadline %s from now, want the cap, 43ms", got)
	}
	failed := errors.New("disk I/O error")
	if err := p.Commit(func() error { c.advance(50 * time.Millisecond); return failed }); !errors.Is(err, failed) {
		t.Errorf("Commit returned %v, want the commit's error", err)
	}
	p.End(ctx)
	// Commits of 10, 10, 10 and 50 ms: 20 ms on average.
	if got := p.StmtCap(); got != 33*time.Millisecond {
		t.Errorf("commits of 10, 10, 10, 50 ms: cap %s, want 33ms (53 less 20)", got)
	}
	for range 4 {
		fakeTx(ctx, p, c, time.Millisecond, 40*time.Millisecond, true)
	}
	if got := p.StmtCap(); got != 30*time.Millisecond {
		t.Errorf("commits of 40 ms: cap %s, want 30ms (three quarters of Target)", got)
	}
}

// TestPacerPause: the pause after a transaction ends when another
// connection commits (data_version changes) or at its limit, counted from
// the transaction's end.
func TestPacerPause(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		noTx      bool          // Pause before any transaction
		tx        time.Duration // the transaction's length (statements; commit 0)
		work      time.Duration // time spent between the end and the pause
		maxPause  time.Duration
		versions  fakeVersions // the value at the end, then during the pause
		noVersion bool         // no DataVersion
		cancel    bool
		wantOther bool
		wantErr   error
		wantSlept time.Duration
		wantSleep int // number of sleeps
		wantReads int // data_version reads during the pause
	}{
		{name: "before the first transaction", noTx: true, versions: fakeVersions{next: []int64{1}}},
		{name: "ends when another connection commits", tx: 40 * ms, versions: fakeVersions{next: []int64{7, 7, 7, 8}},
			wantOther: true, wantSlept: 2 * ms, wantSleep: 2, wantReads: 3},
		{name: "ends at the limit: retry gap 20 ms, margin 5 ms", tx: 40 * ms, versions: fakeVersions{next: []int64{7}},
			wantSlept: 25 * ms, wantSleep: 25, wantReads: 25},
		{name: "the limit after a 5 ms transaction: 5 + 5 ms", tx: 5 * ms, versions: fakeVersions{next: []int64{7}},
			wantSlept: 10 * ms, wantSleep: 10, wantReads: 10},
		{name: "the limit after a 1 s transaction: 100 + 5 ms", tx: time.Second, versions: fakeVersions{next: []int64{7}},
			wantSlept: 105 * ms, wantSleep: 105, wantReads: 105},
		{name: "work since the end counts", tx: 40 * ms, work: 10 * ms, versions: fakeVersions{next: []int64{7}},
			wantSlept: 15 * ms, wantSleep: 15, wantReads: 15},
		{name: "work past the limit: no pause", tx: 40 * ms, work: 30 * ms, versions: fakeVersions{next: []int64{7}}},
		{name: "MaxPause", tx: 40 * ms, maxPause: 3 * ms, versions: fakeVersions{next: []int64{7}},
			wantSlept: 3 * ms, wantSleep: 3, wantReads: 3},
		{name: "the last sleep is what is left", tx: 40 * ms, maxPause: 2500 * time.Microsecond, versions: fakeVersions{next: []int64{7}},
			wantSlept: 2500 * time.Microsecond, wantSleep: 3, wantReads: 3},
		{name: "data_version unreadable at the end: the limit", tx: 40 * ms, versions: fakeVersions{next: []int64{7}, failing: true},
			wantSlept: 25 * ms, wantSleep: 25},
		{name: "no DataVersion: the limit", tx: 40 * ms, noVersion: true, wantSlept: 25 * ms, wantSleep: 25},
		{name: "cancelled", tx: 40 * ms, versions: fakeVersions{next: []int64{7}}, cancel: true,
			wantErr: context.Canceled, wantReads: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			v := tc.versions
			p, c := newFakePacer(40*ms, &v)
			p.MaxPause = tc.maxPause
			if tc.noVersion {
				p.DataVersion = nil
			}
			if !tc.noTx {
				fakeTx(ctx, p, c, tc.tx, 0, true)
			}
			v.failing = false // only the read at the end fails
			c.advance(tc.work)
			if tc.cancel {
				cancel()
			}
			reads := v.reads
			other, err := p.Pause(ctx)
			if other != tc.wantOther || !errors.Is(err, tc.wantErr) {
				t.Fatalf("Pause = %v, %v; want %v, %v", other, err, tc.wantOther, tc.wantErr)
			}
			if got := c.sleptTotal(); got != tc.wantSlept || len(c.slept) != tc.wantSleep {
				t.Errorf("slept %s in %d sleeps (%v), want %s in %d", got, len(c.slept), c.slept, tc.wantSlept, tc.wantSleep)
			}
			for _, d := range c.slept {
				if d > pollInterval {
					t.Errorf("a sleep of %s: the pause must look for a commit every %s", d, pollInterval)
				}
			}
			if got := v.reads - reads; got != tc.wantReads {
				t.Errorf("%d data_version reads during the pause, want %d", got, tc.wantReads)
			}
		})
	}
}

// TestPacerSleepStopsOnCancel: the default sleep returns the context's
// error, without waiting, once the context is done.
func TestPacerSleepStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&Pacer{}).sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep = %v, want context.Canceled", err)
	}
}
