package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

// TestRunRecordsStartAndEnd: Run journals the start with the params, then
// the end with the body's figures and duration_seconds, its message, and
// the outcome the error decides; the lock is held while the body runs and
// released after.
func TestRunRecordsStartAndEnd(t *testing.T) {
	params := map[string]any{"op": "analyze"}
	tests := []struct {
		name    string
		body    func(r *Running) (map[string]float64, error)
		outcome string
		message string
		wantErr bool
		params  map[string]any // of the end entry
	}{
		{name: "ok with figures", outcome: OutcomeOK,
			body: func(r *Running) (map[string]float64, error) { return map[string]float64{"rows": 3}, nil }},
		{name: "ok with a message", outcome: OutcomeOK, message: "analyzed 3 tables",
			body: func(r *Running) (map[string]float64, error) {
				r.SetMessage("analyzed 3 tables")
				return map[string]float64{"rows": 3}, nil
			}},
		{name: "failed", outcome: OutcomeFailed, message: "disk I/O error", wantErr: true,
			body: func(r *Running) (map[string]float64, error) { return nil, errors.New("disk I/O error") }},
		{name: "failed with a message", outcome: OutcomeFailed, message: "creating idx: disk I/O error", wantErr: true,
			body: func(r *Running) (map[string]float64, error) {
				r.SetMessage("creating idx")
				return map[string]float64{"rows": 3}, errors.New("disk I/O error")
			}},
		{name: "interrupted", outcome: OutcomeCancelled, message: "analyze: context canceled", wantErr: true,
			body: func(r *Running) (map[string]float64, error) {
				return nil, fmt.Errorf("analyze: %w", context.Canceled)
			}},
		{name: "declined", outcome: OutcomeCancelled, message: ErrCancelled.Error(), wantErr: true,
			body: func(r *Running) (map[string]float64, error) { return nil, ErrCancelled }},
		{name: "a failure that is a result", outcome: OutcomeFailed, message: "found 2 problems",
			body: func(r *Running) (map[string]float64, error) {
				r.SetFailure(errors.New("found 2 problems"))
				return map[string]float64{"problems": 2}, nil
			}},
		{name: "a parameter known at the end", outcome: OutcomeOK, params: map[string]any{"op": "analyze", "backup": "b.db"},
			body: func(r *Running) (map[string]float64, error) {
				r.SetParam("backup", "b.db")
				return nil, nil
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			p := Procedure{Action: "optimize.analyze", Target: "/db/architect.db", Params: params, StateDir: state, Actor: testActor(), Writes: true}
			err := Run(context.Background(), p, func(ctx context.Context, r *Running) (map[string]float64, error) {
				l, held, lerr := ReadLock(state)
				if lerr != nil || !held || l.Purpose != "optimize.analyze /db/architect.db" || l.Stale {
					t.Errorf("the lock while the body runs: %+v %v %v", l, held, lerr)
				}
				if r.Lock == nil || r.Journal == nil || r.Actor.User != testActor().User {
					t.Errorf("running: %+v", r)
				}
				return tc.body(r)
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Run: %v", err)
			}
			if _, held, _ := ReadLock(state); held {
				t.Error("the lock is held after Run")
			}
			es := journalEntries(t, state)
			if len(es) != 2 {
				t.Fatalf("entries: %+v", es)
			}
			start, end := es[0], es[1]
			if start.Action != p.Action || start.Target != p.Target || start.Outcome != OutcomeStarted || start.Params["op"] != "analyze" || len(start.Params) != 1 {
				t.Errorf("start: %+v", start)
			}
			if end.Action != p.Action || end.Target != p.Target || end.Outcome != tc.outcome || end.Message != tc.message {
				t.Errorf("end: %s %q, want %s %q", end.Outcome, end.Message, tc.outcome, tc.message)
			}
			if _, ok := end.Figures["duration_seconds"]; !ok {
				t.Errorf("end figures without duration_seconds: %v", end.Figures)
			}
			want := tc.params
			if want == nil {
				want = params
			}
			if fmt.Sprint(end.Params) != fmt.Sprint(want) {
				t.Errorf("end params %v, want %v", end.Params, want)
			}
			if len(params) != 1 {
				t.Errorf("Run changed the caller's params: %v", params)
			}
		})
	}
}

// TestRunRefusedByTheLock: another operator's lock refuses the run before
// its body, with ErrLockHeld, and the refusal is one failed entry.
func TestRunRefusedByTheLock(t *testing.T) {
	state := t.TempDir()
	held, err := AcquireLock(state, Actor{User: "alice", Host: "ops1"}, "restore of architect.db")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	for _, writes := range []bool{true, false} {
		ran := false
		err = Run(context.Background(), Procedure{Action: "backup", Target: "architect.db", StateDir: state, Writes: writes},
			func(context.Context, *Running) (map[string]float64, error) { ran = true; return nil, nil })
		if ran || !errors.Is(err, ErrLockHeld) || !strings.Contains(err.Error(), "locked by alice") {
			t.Fatalf("writes=%v: ran %v, err %v", writes, ran, err)
		}
	}
	es := journalEntries(t, state)
	if len(es) != 2 || es[0].Outcome != OutcomeFailed || !strings.HasPrefix(es[0].Message, "not started: locked by alice") {
		t.Fatalf("entries: %+v", es)
	}
	if l, ok, _ := ReadLock(state); !ok || l.Actor.User != "alice" {
		t.Fatalf("alice's lock is gone: %+v", l)
	}
}

// TestRunNotesATakeOver: a dead process's lock is taken over, and the
// journal says whose, before the start.
func TestRunNotesATakeOver(t *testing.T) {
	state := t.TempDir()
	pid := testsupport.DeadPID(t)
	host, _ := os.Hostname()
	dead := LockInfo{Actor: Actor{User: "carol", Host: host}, PID: pid, Host: host, Purpose: "archive /db/architect.db", Since: time.Now().Add(-time.Hour)}
	b, _ := json.Marshal(dead)
	if err := os.WriteFile(filepath.Join(state, LockFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), Procedure{Action: "backup", Target: "/db/architect.db", StateDir: state, Actor: testActor()},
		func(context.Context, *Running) (map[string]float64, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	es := journalEntries(t, state)
	if len(es) != 3 || es[0].Action != "lock.takeover" || es[0].Outcome != OutcomeNote || es[0].Target != "/db/architect.db" ||
		!strings.Contains(es[0].Message, "carol@"+host) || !strings.Contains(es[0].Message, "for archive") ||
		es[1].Outcome != OutcomeStarted || es[2].Outcome != OutcomeOK {
		t.Fatalf("entries: %+v", es)
	}
}

// TestRunWithoutStateDir is the policy for a missing state dir: a
// procedure that writes to the live database is refused before its body,
// saying to set console.state_dir; one that only reads it runs without
// lock and journal and says so, once, in one line.
func TestRunWithoutStateDir(t *testing.T) {
	for _, tc := range []struct {
		name     string
		p        Procedure
		refused  bool
		notice   string // "" for none
		unlocked bool
	}{
		{name: "writes: refused", p: Procedure{Action: "restore", Writes: true}, refused: true},
		{name: "reads: unrecorded", p: Procedure{Action: "backup"},
			notice: "backup runs without the procedure lock and the ops journal: no state dir (set console.state_dir)", unlocked: true},
		{name: "unlocked, reads: unrecorded", p: Procedure{Action: "drill", Unlocked: true},
			notice: "drill runs without the ops journal: no state dir (set console.state_dir)", unlocked: true},
		{name: "writes, with the caller's lock and journal", p: Procedure{Action: "migrate", Writes: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var notices []string
			p := tc.p
			p.Progress = func(e ProgressEvent) { notices = append(notices, e.Phase+": "+e.Message) }
			if !tc.refused && !tc.unlocked {
				caller := t.TempDir()
				l, err := AcquireLock(caller, testActor(), "runbook run")
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release()
				j, err := OpenJournal(caller)
				if err != nil {
					t.Fatal(err)
				}
				defer j.Close()
				p.Lock, p.Journal = l, j
			}
			ran := false
			err := Run(context.Background(), p, func(_ context.Context, r *Running) (map[string]float64, error) {
				ran = true
				if tc.unlocked && (r.Lock != nil || r.Journal != nil) {
					t.Errorf("an unrecorded run has %+v", r)
				}
				if !tc.unlocked && (r.Lock != p.Lock || r.Journal != p.Journal) {
					t.Errorf("the caller's lock and journal are not handed on: %+v", r)
				}
				return nil, nil
			})
			if tc.refused {
				if ran || !errors.Is(err, ErrNoStateDir) || !strings.Contains(err.Error(), "console.state_dir") || strings.Contains(err.Error(), "\n") {
					t.Fatalf("ran %v, err %v", ran, err)
				}
				return
			}
			if !ran || err != nil {
				t.Fatalf("ran %v, err %v", ran, err)
			}
			switch {
			case tc.notice == "" && len(notices) != 0:
				t.Errorf("notices: %q", notices)
			case tc.notice != "" && (len(notices) != 1 || notices[0] != "note: "+tc.notice):
				t.Errorf("notices: %q, want one: %q", notices, tc.notice)
			}
			if p.Lock != nil {
				// The caller's: neither released nor closed.
				if _, held, _ := ReadLock(filepath.Dir(p.Journal.Path())); !held {
					t.Error("Run released the caller's lock")
				}
				if _, err := p.Journal.Append(Entry{Action: "test"}); err != nil {
					t.Errorf("Run closed the caller's journal: %v", err)
				}
			}
		})
	}
}

// TestProceduresWithoutStateDir: the policy as the procedures meet it.
// Restore, optimize, index creation and migrate refuse and change nothing;
// backup and drill run and say they are not recorded.
func TestProceduresWithoutStateDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := newRecoveryDB(t, dir, 20)
	var notices []string
	progress := func(e ProgressEvent) {
		if e.Phase == "note" {
			notices = append(notices, e.Message)
		}
	}
	b, err := Backup(ctx, BackupOptions{DBPath: path, Dir: filepath.Join(dir, "backups")}, progress)
	if err != nil {
		t.Fatalf("backup without a state dir: %v", err)
	}
	if _, err := Drill(ctx, DrillOptions{DBPath: path, BackupDir: filepath.Join(dir, "backups"), Backup: b.Path}, progress); err != nil {
		t.Fatalf("drill without a state dir: %v", err)
	}
	if len(notices) != 2 || !strings.HasPrefix(notices[0], "backup runs without") || !strings.HasPrefix(notices[1], "drill runs without") {
		t.Errorf("notices: %q", notices)
	}

	snap := snapshot(t, path)
	for name, run := range map[string]func() error{
		"restore": func() error {
			_, err := Restore(ctx, RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreOffline}, nil)
			return err
		},
		"optimize": func() error { _, err := Optimize(ctx, OptimizeOptions{DBPath: path, Op: OpVacuum}, nil); return err },
		"index.create": func() error {
			_, err := CreateIndex(ctx, CreateIndexOptions{DBPath: path, Name: "idx_predictions_type_user"})
			return err
		},
		"migrate": func() error {
			_, err := Migrate(ctx, MigrateOptions{DBPath: path, BackupDir: filepath.Join(dir, "backups")}, nil)
			return err
		},
	} {
		if err := run(); !errors.Is(err, ErrNoStateDir) || !strings.Contains(err.Error(), "set console.state_dir") {
			t.Errorf("%s without a state dir: %v", name, err)
		}
	}
	snap.check(t)
	if m, _ := filepath.Glob(filepath.Join(dir, "backups", "*.pre-restore-*")); len(m) != 0 {
		t.Errorf("a refused restore made a safety copy: %v", m)
	}
}

// TestRunReleasesOnPanic: a body that panics leaves no lock behind and
// its end journaled as failed; the panic goes on.
func TestRunReleasesOnPanic(t *testing.T) {
	state := t.TempDir()
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the body's panic", r)
			}
		}()
		_ = Run(context.Background(), Procedure{Action: "archive", Target: "architect.db", StateDir: state, Writes: true},
			func(context.Context, *Running) (map[string]float64, error) { panic("boom") })
	}()
	if _, held, _ := ReadLock(state); held {
		t.Fatal("the lock is held after a panic")
	}
	es := journalEntries(t, state)
	if len(es) != 2 || es[1].Outcome != OutcomeFailed || !strings.Contains(es[1].Message, "panicked") {
		t.Fatalf("entries: %+v", es)
	}
}

// TestJournalNotRun: a refusal or a cancellation before the run is one
// entry, without figures; no state dir records nothing.
func TestJournalNotRun(t *testing.T) {
	state := t.TempDir()
	p := Procedure{Action: "restore", Target: "architect.db", Params: map[string]any{"backup": "b.db"}, StateDir: state}
	JournalNotRun(p, OutcomeCancelled, "confirmation not given")
	JournalNotRun(Procedure{Action: "restore"}, OutcomeCancelled, "no state dir: nowhere")
	es := journalEntries(t, state)
	if len(es) != 1 || es[0].Outcome != OutcomeCancelled || es[0].Params["backup"] != "b.db" || es[0].Message != "confirmation not given" ||
		len(es[0].Figures) != 0 || es[0].Actor.User == "" {
		t.Fatalf("entries: %+v", es)
	}
}
