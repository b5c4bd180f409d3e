package ops

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/repops/repops/internal/testsupport"
)

func testActor() Actor {
	return Actor{User: "alice", Host: "ops1", SSHClient: "10.0.0.7:52100", Session: "s1"}
}

func TestJournalAppendAndRead(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	e1, err := j.Append(Entry{Actor: testActor(), Action: "backup", Target: "architect.db", Outcome: OutcomeStarted,
		Params: map[string]any{"dir": "/b"}})
	if err != nil {
		t.Fatal(err)
	}
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	e2, err := j.Append(Entry{Actor: testActor(), Action: "backup", Outcome: OutcomeOK, Figures: map[string]float64{"seconds": 1.5}})
	if err != nil {
		t.Fatal(err)
	}
	if e1.Seq == 0 || e2.Seq <= e1.Seq || e1.Time.IsZero() {
		t.Fatalf("seq/time not filled: %+v %+v", e1, e2)
	}
	all, err := j.Entries(time.Time{})
	if err != nil || len(all) != 2 {
		t.Fatalf("entries: %v %d", err, len(all))
	}
	if all[0].Actor != testActor() || all[0].Params["dir"] != "/b" || all[1].Figures["seconds"] != 1.5 {
		t.Fatalf("round trip: %+v", all)
	}
	since, err := j.Entries(mid)
	if err != nil || len(since) != 1 || since[0].Seq != e2.Seq {
		t.Fatalf("since: %v %+v", err, since)
	}
	// Another process (a second handle) sees and continues the sequence.
	j2, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	e3, err := j2.Append(Entry{Actor: testActor(), Action: "note", Message: "from another console"})
	j2.Close()
	if err != nil || e3.Seq != e2.Seq+1 || e3.Outcome != OutcomeNote {
		t.Fatalf("second handle: %v %+v", err, e3)
	}
	st, _ := os.Stat(filepath.Join(dir, JournalFile))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", st.Mode().Perm())
	}
}

func TestJournalRefusesUpdatesAndDeletes(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(Entry{Actor: testActor(), Action: "restore", Outcome: OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	// Straight at the file, as someone with the sqlite3 shell would.
	raw, err := sql.Open("sqlite3", filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for name, stmt := range map[string]string{
		"update": `UPDATE entries SET outcome = 'failed'`,
		"delete": `DELETE FROM entries`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := raw.ExecContext(context.Background(), stmt)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("%s was not refused: %v", name, err)
			}
		})
	}
	var n int
	raw.QueryRow(`SELECT count(*) FROM entries WHERE outcome = 'ok'`).Scan(&n)
	if n != 1 {
		t.Fatalf("entry changed: %d ok entries", n)
	}
}

func TestJournalExport(t *testing.T) {
	j, err := OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Append(Entry{Actor: testActor(), Action: "restore", Target: "architect.db", Outcome: OutcomeFailed,
		Message: "checksum | mismatch", Runbook: "database-corruption", Step: "3", RunID: "r1"})
	entries, _ := j.Entries(time.Time{})
	var md bytes.Buffer
	if err := ExportMarkdown(&md, entries); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 1 |", "alice@ops1 from 10.0.0.7:52100", "restore", "failed", `checksum \| mismatch`, "runbook database-corruption step 3"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var js bytes.Buffer
	if err := ExportJSON(&js, entries); err != nil {
		t.Fatal(err)
	}
	var back []Entry
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != 1 || back[0].Actor.SSHClient != "10.0.0.7:52100" {
		t.Fatalf("json: %v %s", err, js.String())
	}
}

func TestCurrentActorSSH(t *testing.T) {
	t.Setenv("SSH_CLIENT", "192.0.2.4 51234 22")
	a := CurrentActor("sess")
	if a.SSHClient != "192.0.2.4:51234" || a.Session != "sess" || a.User == "" || a.Host == "" {
		t.Fatalf("%+v", a)
	}
	t.Setenv("SSH_CLIENT", "")
	t.Setenv("SSH_CONNECTION", "")
	if a := CurrentActor(""); a.SSHClient != "" || a.Session == "" {
		t.Fatalf("%+v", a)
	}
}

func TestLockSecondOperatorIsTold(t *testing.T) {
	dir := t.TempDir()
	l, err := AcquireLock(dir, testActor(), "backup")
	if err != nil {
		t.Fatal(err)
	}
	bob := Actor{User: "bob", Host: "ops2"}
	_, err = AcquireLock(dir, bob, "restore")
	var le *LockedError
	if !errors.Is(err, ErrLockHeld) || !errors.As(err, &le) {
		t.Fatalf("second acquire: %v", err)
	}
	if !strings.Contains(err.Error(), "locked by alice@") || !strings.Contains(err.Error(), "for backup") ||
		!strings.Contains(err.Error(), "--force") || le.Holder.PID != os.Getpid() {
		t.Fatalf("message: %v", err)
	}
	info, ok, err := ReadLock(dir)
	if err != nil || !ok || info.Stale || info.Purpose != "backup" {
		t.Fatalf("read lock: %v %v %+v", err, ok, info)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := ReadLock(dir); ok {
		t.Fatal("lock still present after release")
	}
	l2, err := AcquireLock(dir, bob, "restore")
	if err != nil {
		t.Fatal(err)
	}
	l2.Release()
}

func TestLockStaleAndBreak(t *testing.T) {
	dir := t.TempDir()
	// A lock left by a process that has exited.
	pid := testsupport.DeadPID(t)
	host, _ := os.Hostname()
	dead := LockInfo{Actor: Actor{User: "carol", Host: host}, PID: pid, Host: host, Purpose: "restore", Since: time.Now().Add(-time.Hour)}
	b, _ := json.Marshal(dead)
	os.WriteFile(filepath.Join(dir, LockFile), b, 0o600)
	info, ok, err := ReadLock(dir)
	if err != nil || !ok || !info.Stale {
		t.Fatalf("stale not detected: %v %v %+v", err, ok, info)
	}
	l, err := AcquireLock(dir, testActor(), "backup")
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	if l.TookOver == nil || l.TookOver.Actor.User != "carol" {
		t.Fatalf("took over: %+v", l.TookOver)
	}
	// Break a live lock with --force: journaled.
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := BreakLock(dir, Actor{User: "bob", Host: "ops2"}, j); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := ReadLock(dir); ok {
		t.Fatal("lock present after break")
	}
	entries, _ := j.Entries(time.Time{})
	if len(entries) != 1 || entries[0].Action != "lock.break" || entries[0].Actor.User != "bob" || !strings.Contains(entries[0].Message, "alice") {
		t.Fatalf("journal: %+v", entries)
	}
	// The broken holder's release leaves a newer lock alone.
	l3, err := AcquireLock(dir, Actor{User: "bob"}, "restore")
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	if info, ok, _ := ReadLock(dir); !ok || info.Actor.User != "bob" {
		t.Fatalf("release removed another's lock: %v %+v", ok, info)
	}
	l3.Release()
}
