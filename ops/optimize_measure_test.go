package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// fixedRates is a MeasureIO that returns m.
func fixedRates(m IORates) MeasureIO {
	return func(context.Context, string) (IORates, error) { return m, nil }
}

// TestEstimateFromMeasuredRates: the lock hold is the bytes read at the
// measured read rate plus the bytes rewritten at the measured
// write+fsync rate, and the Basis line says the rates.
func TestEstimateFromMeasuredRates(t *testing.T) {
	m := IORates{ReadMiBps: 100, WriteSyncMiBps: 50, SampleBytes: 1 << 20}
	if got := m.lockHold(100<<20, 50<<20); got != 2*time.Second {
		t.Fatalf("100 MiB read at 100 MiB/s + 50 MiB written at 50 MiB/s: %s, want 2s", got)
	}
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 2000, New: 100})
	ctx := context.Background()
	for _, op := range []OptimizeOp{OpVacuum, OpReindex, OpAnalyze, OpCheckpoint} {
		c, err := EstimateCost(ctx, OptimizeOptions{DBPath: path, Op: op, Measure: fixedRates(m)})
		if err != nil {
			t.Fatal(err)
		}
		var want time.Duration
		switch op {
		case OpVacuum:
			want = m.lockHold(c.InUseBytes, c.InUseBytes)
		case OpReindex, OpCheckpoint:
			want = m.lockHold(c.WorkBytes, c.WorkBytes)
		case OpAnalyze:
			want = m.lockHold(c.WorkBytes, 0)
		}
		sec := func(n int64) float64 { return float64(n) / (1 << 20) }
		if c.LockHold != want {
			t.Errorf("%s: lock hold %s, want %s", op, c.LockHold, want)
		}
		if op == OpVacuum {
			exp := time.Duration((sec(c.InUseBytes)/100 + sec(c.InUseBytes)/50) * float64(time.Second))
			if d := c.LockHold - exp; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("vacuum of %d bytes: %s, want %s", c.InUseBytes, c.LockHold, exp)
			}
		}
		if !strings.Contains(c.Basis, "measured on this file: read 100 MiB/s, write+fsync 50 MiB/s") {
			t.Errorf("%s: basis %q", op, c.Basis)
		}
		if c.LockError != "" || c.BusyTimeout != DefaultBusyTimeout {
			t.Errorf("%s: lock error %q, busy timeout %s", op, c.LockError, c.BusyTimeout)
		}
	}
}

// TestOptimizeRefusesLongLock: a step whose estimated lock hold exceeds
// the service's busy timeout is refused, offering the gentle way, and
// changes nothing; --allow-long-lock runs it.
func TestOptimizeRefusesLongLock(t *testing.T) {
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 2000, New: 100})
	slow := fixedRates(IORates{ReadMiBps: 0.05, WriteSyncMiBps: 0.05, SampleBytes: 1 << 20})
	for _, tc := range []struct {
		op     OptimizeOp
		target string
		gentle string
	}{{OpVacuum, "", "incremental-vacuum"}, {OpReindex, "", "--target"}} {
		t.Run(string(tc.op), func(t *testing.T) {
			before, err := db.StatFiles(path)
			if err != nil {
				t.Fatal(err)
			}
			o := OptimizeOptions{DBPath: path, Op: tc.op, Target: tc.target, Measure: slow,
				Recorder: Recorder{StateDir: filepath.Join(t.TempDir(), "state")}}
			c, err := EstimateCost(context.Background(), o)
			if err != nil || c.LockError == "" || c.LockHold <= DefaultBusyTimeout {
				t.Fatalf("estimate: %v; lock %s, lock error %q", err, c.LockHold, c.LockError)
			}
			_, err = Optimize(context.Background(), o, nil)
			if !errors.Is(err, ErrLongLock) {
				t.Fatalf("got %v, want ErrLongLock", err)
			}
			for _, want := range []string{tc.gentle, "5s", "no database.busy_timeout", "--allow-long-lock", "database is locked"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the refusal does not say %q: %v", want, err)
				}
			}
			after, _ := db.StatFiles(path)
			if after.DB != before.DB {
				t.Fatalf("the refused %s changed the file: %d -> %d bytes", tc.op, before.DB, after.DB)
			}
			// A busy timeout from the config, and its source, are used.
			o.BusyTimeout, o.BusyTimeoutSource = time.Hour, "database.busy_timeout"
			if c, err := EstimateCost(context.Background(), o); err != nil || c.LockError != "" {
				t.Fatalf("with an hour's busy timeout: %v %q", err, c.LockError)
			}
			o.BusyTimeout, o.BusyTimeoutSource = 0, ""
			o.AllowLongLock = true
			if _, err := Optimize(context.Background(), o, nil); err != nil {
				t.Fatalf("with AllowLongLock: %v", err)
			}
		})
	}
}

// TestMeasureFileIO: the measurement on a small database gives positive
// rates and leaves no file beside the database; a measurement file of a
// dead pid is removed, one of a live pid stays.
func TestMeasureFileIO(t *testing.T) {
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 500, New: 50})
	dir := filepath.Dir(path)
	dead := filepath.Join(dir, fmt.Sprintf("."+measurePrefix+".%d-0a0b0c0d0e0f.tmp", testsupport.DeadPID(t)))
	live := filepath.Join(dir, fmt.Sprintf("."+measurePrefix+".%d-0a0b0c0d0e0f.tmp", os.Getppid()))
	for _, f := range []string{dead, live} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := dirNames(t, dir)
	m, err := MeasureFileIO(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if m.ReadMiBps <= 0 || m.WriteSyncMiBps <= 0 || m.SampleBytes <= 0 {
		t.Fatalf("rates: %+v", m)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the measurement file of a dead pid is still there: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the measurement file of a live pid was removed: %v", err)
	}
	for _, n := range dirNames(t, dir) {
		if strings.Contains(n, measurePrefix) && filepath.Join(dir, n) != live {
			t.Errorf("left beside the database: %s (before: %v)", n, before)
		}
	}
}

// TestCreateIndexEstimateIsMeasured: creating an index estimates its lock
// from the measured rates (the table read, the index written); the
// listing of missing indexes measures nothing.
func TestCreateIndexEstimateIsMeasured(t *testing.T) {
	path := testsupport.MigratedDB(t)
	testsupport.ExecSQL(t, path, `DROP INDEX IF EXISTS idx_appeals_user_status`)
	calls := 0
	slow := func(ctx context.Context, dbPath string) (IORates, error) {
		calls++
		return IORates{ReadMiBps: 1, WriteSyncMiBps: 1, SampleBytes: 1 << 20}, nil
	}
	res, err := CreateIndex(context.Background(), CreateIndexOptions{DBPath: path, Name: "idx_appeals_user_status",
		Measure: slow, Recorder: Recorder{StateDir: filepath.Join(filepath.Dir(path), "state"), Actor: testActor()}})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || res.Cost.Measured.ReadMiBps != 1 || !strings.Contains(res.Cost.Basis, "measured on this file") {
		t.Fatalf("calls %d, cost %+v", calls, res.Cost)
	}
}
