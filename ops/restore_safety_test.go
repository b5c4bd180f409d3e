package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/internal/testsupport"
)

// TestRestoreSafetyCopyNeverPartial: an online restore whose safety copy
// fails half way (the WAL-aware copy written, then interrupted before its
// rename) leaves no file under a safety copy's final name, nor its temp
// file; a stale temp safety copy of a dead pid is removed by the next
// restore, one of a live pid stays.
func TestRestoreSafetyCopyNeverPartial(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 200)
	o := backupOpts(t, path)
	b, err := Backup(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	safetyDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sawTemp bool
	safetyCopyHook = func(tmp string) error {
		if st, err := os.Stat(tmp); err == nil && st.Size() > 0 && strings.HasSuffix(tmp, ".tmp") {
			sawTemp = true
		}
		cancel() // as an operator's Ctrl-C half way: no fallback copy either
		return errors.New("injected failure before the rename")
	}
	defer func() { safetyCopyHook = nil }()
	_, err = Restore(ctx, RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreOnline, SafetyDir: safetyDir,
		StateDir: o.StateDir, Actor: testActor()}, nil)
	if err == nil || !sawTemp {
		t.Fatalf("the safety copy did not fail half way through a temp file: %v (temp seen %v)", err, sawTemp)
	}
	if left := dirNames(t, safetyDir); len(left) != 0 {
		t.Fatalf("left in the safety dir after a failed safety copy: %v", left)
	}
	safetyCopyHook = nil

	dead := filepath.Join(safetyDir, fmt.Sprintf(".architect.db.pre-restore-20260101T000000Z.%d-0a0b0c0d0e0f.tmp", testsupport.DeadPID(t)))
	live := filepath.Join(safetyDir, fmt.Sprintf(".architect.db.pre-restore-20260101T000000Z.%d-0a0b0c0d0e0f.tmp", os.Getppid()))
	// What a killed offline restore leaves beside the database: the
	// backup's copy under a temp name of its dead pid.
	deadRestore := filepath.Join(filepath.Dir(path), fmt.Sprintf(".architect.db.%d-0a0b0c0d0e0f.tmp", testsupport.DeadPID(t)))
	for _, f := range []string{dead, dead + "-wal", live, deadRestore} {
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range []string{RestoreOnline, RestoreOffline} {
		res, err := Restore(context.Background(), RestoreOptions{DBPath: path, Backup: b.Path, Mode: mode, SafetyDir: safetyDir,
			StateDir: o.StateDir, Actor: testActor()}, nil)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if _, err := os.Stat(res.SafetyCopy); err != nil {
			t.Fatalf("%s: no safety copy: %v", mode, err)
		}
	}
	for _, f := range []string{dead, dead + "-wal", deadRestore} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("the stale temp file %s is still there: %v", filepath.Base(f), err)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the temp safety copy of a live pid was removed: %v", err)
	}
	for _, n := range dirNames(t, safetyDir) {
		if strings.HasSuffix(n, ".tmp") && filepath.Join(safetyDir, n) != live {
			t.Errorf("temp file left: %s", n)
		}
	}
}
