package e2e

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
	"github.com/repops/repops/tui"
)

// TestServeOperatorKilledMidRun: an operator's session over SSH (OpenSSH
// in tmux) starts the backup runbook and does its first step; the
// journal's entry for it carries the key's name, its fingerprint and the
// client's address. Then the ssh client is killed (SIGKILL) with the run
// under way: the server ends the session, the procedure lock is not held
// (the README: a console that ends releases its run's lock), and the run
// is kept in the state dir, resumable; a new session says so.
func TestServeOperatorKilledMidRun(t *testing.T) {
	s := startServe(t, "")
	km := tui.DefaultKeyMap()
	tm := startTerm(t, s.work, 120, 40, s.sshLine("otto", "-tt"))
	tm.waitFor("the operator's banner", regexp.MustCompile(`repops · otto · operator · `), 20*time.Second)
	tm.keys(first(km.Command))
	tm.waitFor("the command line", regexp.MustCompile(`(?m)^:`), 5*time.Second)
	tm.text("run backup")
	tm.keys("Enter")
	tm.waitFor("the backup run's first step", regexp.MustCompile(`Step 1 of \d+`), 10*time.Second)
	tm.keys(first(km.Do))
	tm.waitFor("the backup run's second step", regexp.MustCompile(`Step 2 of \d+`), 10*time.Second)

	// The journal's entry for the step: who, with which key, from where.
	j, err := ops.OpenJournal(s.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	entries, err := j.Entries(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var found *ops.Entry
	for i, e := range entries {
		if e.Runbook == "backup" && e.Actor.User == "otto" {
			found = &entries[i]
		}
	}
	if found == nil {
		t.Fatalf("no journal entry of the backup run by otto; entries: %+v", entries)
	}
	if found.Actor.Key != s.fingerprints["otto"] || !strings.HasPrefix(found.Actor.SSHClient, "127.0.0.1:") {
		t.Errorf("journal entry's actor = %+v, want user otto, key %s, ssh client 127.0.0.1:PORT", found.Actor, s.fingerprints["otto"])
	}

	// kill -9 of the ssh client, the run under way.
	var killed int
	for _, pid := range descendants(panePID(tm.name)) {
		if b, _ := os.ReadFile("/proc/" + itoa(pid) + "/comm"); strings.TrimSpace(string(b)) == "ssh" {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("found %d ssh clients under the pane, want 1", killed)
	}
	ended := regexp.MustCompile(`"msg":"session end","session":"otto `)
	for i := 0; !ended.MatchString(s.logText()); i++ {
		if i > 200 {
			t.Fatalf("the server did not end the killed client's session in 10 s:\n%s", s.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if info, held, err := ops.ReadLock(s.stateDir); err != nil || (held && !info.Stale) {
		t.Errorf("the procedure lock after the client was killed: %+v held %v (%v); want released", info, held, err)
	}
	runs, err := runbooks.ListRuns(s.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	var resumable int
	for _, r := range runs {
		if r.RunbookID == "backup" && r.Status.Resumable() {
			resumable++
		}
	}
	if resumable != 1 {
		t.Fatalf("after the kill: %d resumable backup runs, want 1: %+v", resumable, runs)
	}
	// A new session of the operator is told of it.
	tm2 := startTerm(t, s.work, 120, 40, s.sshLine("otto", "-tt"))
	tm2.waitFor("the unfinished run's notice", regexp.MustCompile(`1 unfinished run`), 20*time.Second)
}

func itoa(n int) string { return strconv.Itoa(n) }
