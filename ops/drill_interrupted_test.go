package ops

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/repops/repops/state"
)

// TestDrillInterrupted: a drill whose context is cancelled (Ctrl-C) at any
// of its steps could not run: Drill returns ErrDrillInterrupted and no
// result, the journal says cancelled (not failed), no report is written,
// the last drill record (a good drill's) is left byte for byte, and the
// scratch copy is removed.
func TestDrillInterrupted(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 20)
	o := backupOpts(t, path)
	if _, err := Backup(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	good, err := Drill(context.Background(), DrillOptions{DBPath: path, BackupDir: o.Dir, StateDir: o.StateDir, Actor: testActor()}, nil)
	if err != nil || !good.OK {
		t.Fatalf("the good drill: %v %+v", err, good)
	}
	recPath := state.DrillRecordPath(o.StateDir, path)
	recBefore, err := os.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	stBefore, _ := os.Stat(recPath)
	reportsBefore := dirNames(t, filepath.Join(o.StateDir, "drills"))

	// "" cancels before the drill starts; each other name cancels when
	// that step reports (the steps after it are cut short).
	for _, at := range []string{"", "manifest", "restore", "checksum", "open", "integrity", "schema"} {
		name := "cancelled at " + at
		if at == "" {
			name = "cancelled before it starts"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if at == "" {
				cancel()
			}
			scratch := t.TempDir()
			var res *DrillResult
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Drill panicked: %v", r)
					}
				}()
				res, err = Drill(ctx, DrillOptions{DBPath: path, BackupDir: o.Dir, StateDir: o.StateDir, ScratchDir: scratch, Actor: testActor()},
					func(e ProgressEvent) {
						if e.Phase == at {
							cancel()
						}
					})
			}()
			if res != nil || !errors.Is(err, ErrDrillInterrupted) || !errors.Is(err, context.Canceled) {
				t.Fatalf("res %v, err %v: want no result and ErrDrillInterrupted", res, err)
			}
			j, jerr := OpenJournal(o.StateDir)
			if jerr != nil {
				t.Fatal(jerr)
			}
			entries, _ := j.Entries(time.Time{})
			j.Close()
			last := entries[len(entries)-1]
			if last.Action != "drill" || last.Outcome != OutcomeCancelled {
				t.Fatalf("last journal entry %+v: want the drill cancelled", last)
			}
			recAfter, err := os.ReadFile(recPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(recAfter, recBefore) {
				t.Fatalf("the last drill record changed:\n%s\nwas\n%s", recAfter, recBefore)
			}
			if st, _ := os.Stat(recPath); !st.ModTime().Equal(stBefore.ModTime()) {
				t.Fatalf("the last drill record was rewritten")
			}
			if rec, ok, err := state.ReadLastDrill(o.StateDir); err != nil || !ok || !rec.OK || rec.Backup != good.Backup {
				t.Fatalf("last drill %+v ok %v err %v: want the good drill's", rec, ok, err)
			}
			if got := dirNames(t, filepath.Join(o.StateDir, "drills")); len(got) != len(reportsBefore) {
				t.Fatalf("reports %v, were %v", got, reportsBefore)
			}
			if left := dirNames(t, scratch); len(left) != 0 {
				t.Fatalf("left in the scratch dir: %v", left)
			}
		})
	}
}

// dirNames lists the names in dir (none when it does not exist).
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
