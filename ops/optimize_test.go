package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// TestOptimizeUnderWriter runs every optimisation on a database a writer
// keeps writing to: each completes, the writer sees no error, and the
// database is intact after.
func TestOptimizeUnderWriter(t *testing.T) {
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 6000, Mid: 1000, New: 1000})
	state := filepath.Join(t.TempDir(), "state")
	w := startWriter(t, path, 2*time.Millisecond)
	defer w.Stop()
	steps := []struct {
		name string
		o    OptimizeOptions
		prep func(t *testing.T)
	}{
		{"analyze", OptimizeOptions{Op: OpAnalyze}, nil},
		{"analyze one table with analysis_limit", OptimizeOptions{Op: OpAnalyze, Target: "appeals", AnalysisLimit: 100}, nil},
		{"optimize", OptimizeOptions{Op: OpOptimize}, nil},
		{"reindex all", OptimizeOptions{Op: OpReindex}, nil},
		{"reindex a table", OptimizeOptions{Op: OpReindex, Target: "appeal_negotiation_messages"}, nil},
		{"reindex an index", OptimizeOptions{Op: OpReindex, Target: "idx_appeals_user_status"}, nil},
		{"checkpoint", OptimizeOptions{Op: OpCheckpoint}, nil},
		{"vacuum", OptimizeOptions{Op: OpVacuum}, nil},
		{"enable incremental vacuum", OptimizeOptions{Op: OpEnableIncremental}, nil},
		{"incremental vacuum", OptimizeOptions{Op: OpIncrementalVacuum, IncrementalPages: 16, IncrementalPause: time.Millisecond},
			func(t *testing.T) {
				// Free some pages: archive the old appeals.
				o := archiveOpts(path, t)
				o.Recorder.StateDir = state
				if _, err := Archive(context.Background(), o, nil); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.prep != nil {
				s.prep(t)
			}
			o := s.o
			o.DBPath = path
			o.Recorder = Recorder{StateDir: state, Actor: Actor{User: "test", Host: "host"}}
			cost, err := EstimateCost(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if cost.SpaceError != "" || cost.Basis == "" {
				t.Fatalf("cost: %+v", cost)
			}
			if _, err := Optimize(context.Background(), o, nil); err != nil {
				t.Fatal(err)
			}
			if o.Op == OpIncrementalVacuum {
				// The pages are gone from the database at once; the file
				// shrinks at the next complete checkpoint, which a busy
				// writer may delay.
				after, err := EstimateCost(context.Background(), OptimizeOptions{DBPath: path, Op: OpVacuum})
				if err != nil {
					t.Fatal(err)
				}
				if cost.Steps < 2 || after.FreeBytes >= cost.FreeBytes || after.InUseBytes+after.FreeBytes >= cost.InUseBytes+cost.FreeBytes {
					t.Fatalf("incremental vacuum: %d steps, free %d -> %d bytes, size %d -> %d", cost.Steps, cost.FreeBytes, after.FreeBytes,
						cost.InUseBytes+cost.FreeBytes, after.InUseBytes+after.FreeBytes)
				}
			}
			if o.Op == OpEnableIncremental && cost.AutoVacuum != "none" {
				t.Fatalf("auto_vacuum was %s before", cost.AutoVacuum)
			}
			integrityOK(t, path)
		})
	}
	w.Stop()
	if len(w.errs) > 0 {
		t.Fatalf("the writer saw %d errors, first: %v", len(w.errs), w.errs[0])
	}
	if w.appeals == 0 {
		t.Fatal("the writer wrote nothing")
	}
	t.Logf("writer: %d transactions, worst latency %s", w.appeals, w.worst.Round(time.Millisecond))
}

func TestOptimizeBadInput(t *testing.T) {
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 200, New: 50})
	roPath := filepath.Join(t.TempDir(), "ro.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(roPath, b, 0o444); err != nil {
		t.Fatal(err)
	}
	full := func(dir string) (DiskSpace, error) {
		return DiskSpace{Dir: dir, Free: 4096, Total: 1 << 30, FS: "full"}, nil
	}
	tests := []struct {
		name string
		o    OptimizeOptions
		want error
		text string
	}{
		{"reindex target not in the schema", OptimizeOptions{Op: OpReindex, Target: `appeals"; DROP TABLE appeals; --`}, ErrUnknownObject, "not in the database's schema"},
		{"analyze target not in the schema", OptimizeOptions{Op: OpAnalyze, Target: "users"}, ErrUnknownObject, "users"},
		{"unknown operation", OptimizeOptions{Op: "defrag"}, ErrUnknownOp, "choose one of"},
		{"target on vacuum", OptimizeOptions{Op: OpVacuum, Target: "appeals"}, nil, "takes no target"},
		{"read-only database", OptimizeOptions{Op: OpAnalyze, DBPath: roPath}, db.ErrReadOnly, "read-only"},
		{"not enough free space for VACUUM", OptimizeOptions{Op: OpVacuum, StatFS: full}, ErrNoSpace, "VACUUM's copy"},
		{"incremental vacuum without incremental auto_vacuum", OptimizeOptions{Op: OpIncrementalVacuum}, nil, "enable-incremental-vacuum"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			if o.DBPath == "" {
				o.DBPath = path
			}
			o.Recorder = Recorder{StateDir: filepath.Join(t.TempDir(), "state")}
			_, err := Optimize(context.Background(), o, nil)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
	// The refused operations changed nothing: the schema is intact.
	integrityOK(t, path)
	if got := countRows(t, path, ""); got.appeals != 250 {
		t.Fatalf("appeals: %d", got.appeals)
	}
}

func TestEstimateCostScales(t *testing.T) {
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 3000, New: 100})
	ctx := context.Background()
	get := func(o OptimizeOptions) Cost {
		t.Helper()
		o.DBPath = path
		o.Measure = fixedRates(IORates{ReadMiBps: 200, WriteSyncMiBps: 100, SampleBytes: 1 << 20})
		c, err := EstimateCost(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	vac := get(OptimizeOptions{Op: OpVacuum})
	all := get(OptimizeOptions{Op: OpReindex})
	one := get(OptimizeOptions{Op: OpReindex, Target: "idx_predictions_type_user"})
	tbl := get(OptimizeOptions{Op: OpReindex, Target: "appeals"})
	if vac.LockHold <= 0 || vac.LockHold <= all.LockHold || one.LockHold > tbl.LockHold || tbl.LockHold > all.LockHold {
		t.Fatalf("lock holds: vacuum %s, reindex all %s, appeals %s, one small index %s", vac.LockHold, all.LockHold, tbl.LockHold, one.LockHold)
	}
	if !strings.Contains(vac.Cheaper, "incremental") || len(vac.Space) == 0 || vac.Space[0].Bytes < 2*vac.InUseBytes {
		t.Fatalf("vacuum cost: %+v", vac)
	}
	if all.Cheaper == "" || one.Cheaper != "" {
		t.Fatalf("reindex cheaper way: all %q, one %q", all.Cheaper, one.Cheaper)
	}
}
