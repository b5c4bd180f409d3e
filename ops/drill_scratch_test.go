package ops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/repops/repops/internal/testsupport"
)

// TestDrillScratch: a drill's scratch copy is in <state dir>/scratch
// (0700), under a pid-tagged name; a copy left by a killed drill (its pid
// gone) is removed by the next drill, one of a live pid stays, and a
// normal drill leaves the scratch dir as it found it.
func TestDrillScratch(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 20)
	o := backupOpts(t, path)
	if _, err := Backup(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	scratch := DrillScratchDir(o.StateDir)
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(scratch, fmt.Sprintf(".drill_x.db.%d-0a0b0c0d0e0f.tmp", testsupport.DeadPID(t)))
	live := filepath.Join(scratch, fmt.Sprintf(".drill_x.db.%d-0a0b0c0d0e0f.tmp", os.Getppid()))
	for _, f := range []string{dead, dead + "-wal", live} {
		if err := os.WriteFile(f, []byte("leftover"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Drill(context.Background(), DrillOptions{DBPath: path, BackupDir: o.Dir, StateDir: o.StateDir, Actor: testActor()}, nil)
	if err != nil || !res.OK {
		t.Fatalf("drill: %v %+v", err, res)
	}
	if res.Scratch != scratch {
		t.Fatalf("the drill restored into %s, want %s", res.Scratch, scratch)
	}
	if st, err := os.Stat(scratch); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("scratch dir: %v %v", st, err)
	}
	for _, f := range []string{dead, dead + "-wal"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("the leftover of a dead pid %s is still there: %v", filepath.Base(f), err)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the scratch file of a live pid was removed: %v", err)
	}
	os.Remove(live)
	// A normal drill leaves the scratch dir empty.
	if _, err := Drill(context.Background(), DrillOptions{DBPath: path, BackupDir: o.Dir, StateDir: o.StateDir, Actor: testActor()}, nil); err != nil {
		t.Fatal(err)
	}
	if left := dirNames(t, scratch); len(left) != 0 {
		t.Fatalf("left in the scratch dir: %v", left)
	}
}
