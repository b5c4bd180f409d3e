package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/state"
)

// cancelOnWrite is the command's stderr: it keeps what is written and
// cancels the command's context once a line contains at, as Ctrl-C would
// at that step of the drill (the drill reports each step there).
type cancelOnWrite struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	at     string
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if strings.Contains(string(p), w.at) {
		w.cancel()
	}
	return w.buf.Write(p)
}

// TestDrillInterruptedCouldNotRun: Ctrl-C during 'repops drill' (its
// context cancelled as the restore step ends) is exit 3, "could not run:
// interrupted" in one line; the journal says cancelled, not failed; the
// last drill record (a good drill's) is not replaced; no report is
// written; the live database is not touched.
func TestDrillInterruptedCouldNotRun(t *testing.T) {
	cfg, dbPath, stateDir := recoveryEnv(t)
	if _, stderr, code := runRecovery(t, cfg, "", "backup"); code != 0 {
		t.Fatalf("backup: exit %d %s", code, stderr)
	}
	if stdout, stderr, code := runRecovery(t, cfg, "", "drill"); code != 0 {
		t.Fatalf("the good drill: exit %d\n%s\n%s", code, stdout, stderr)
	}
	recPath := state.DrillRecordPath(stateDir, dbPath)
	recBefore, err := os.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	reports := testsupport.DirNames(t, filepath.Join(stateDir, "drills"))
	live := testsupport.SnapshotFiles(t, dbPath)
	scratch := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errw := &cancelOnWrite{at: "restore: ", cancel: cancel}
	var out bytes.Buffer
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("repops drill panicked: %v", r)
			}
		}()
		root := newRootCmd(strings.NewReader(""), &out, errw)
		root.SetArgs([]string{"--config", cfg, "drill", "--scratch", scratch})
		err = root.ExecuteContext(ctx)
	}()
	if ctx.Err() == nil {
		t.Fatalf("the drill never reported its restore step:\n%s", errw.buf.String())
	}
	if code := exitCode(err); code != exitUnknown {
		t.Fatalf("exit %d, want %d (could not run): %v\n%s", code, exitUnknown, err, out.String())
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "could not run: interrupted") {
		t.Fatalf("error %q: want one line saying the drill could not run: interrupted", msg)
	}
	if strings.Contains(out.String(), "CRITICAL") || strings.Contains(out.String(), "FAILED") {
		t.Fatalf("an interrupted drill reported a verdict:\n%s", out.String())
	}

	entries := recoveryJournal(t, stateDir)
	var drills []ops.Entry
	for _, e := range entries {
		if e.Action == "drill" && e.Outcome != ops.OutcomeStarted {
			drills = append(drills, e)
		}
	}
	if len(drills) != 2 || drills[0].Outcome != ops.OutcomeOK || drills[1].Outcome != ops.OutcomeCancelled {
		t.Fatalf("drill entries %+v: want the good drill ok, then this one cancelled", drills)
	}
	recAfter, err := os.ReadFile(recPath)
	if err != nil || !bytes.Equal(recAfter, recBefore) {
		t.Fatalf("the last drill record changed (%v):\n%s\nwas\n%s", err, recAfter, recBefore)
	}
	if rec, ok, err := state.ReadLastDrill(stateDir); err != nil || !ok || !rec.OK {
		t.Fatalf("last drill %+v %v %v: want the good one", rec, ok, err)
	}
	if got := testsupport.DirNames(t, filepath.Join(stateDir, "drills")); len(got) != len(reports) {
		t.Fatalf("reports %v, were %v", got, reports)
	}
	if left := testsupport.DirNames(t, scratch); len(left) != 0 {
		t.Fatalf("left in the scratch dir: %v", left)
	}
	live.AssertUnchanged(t, dbPath)
}
