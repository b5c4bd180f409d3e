package ops

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// journalWithEntries makes a journal of n entries in a new state dir and
// closes it; it returns the state dir.
func journalWithEntries(t *testing.T, n int) string {
	t.Helper()
	state := t.TempDir()
	j, err := OpenJournal(state)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := j.Append(Entry{Actor: Actor{User: "alice", Host: "h"}, Action: "backup", Outcome: OutcomeOK,
			Message: strings.Repeat(fmt.Sprintf("entry %d ", i), 20)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return state
}

// TestOpenJournalSetsDamagedAside: a journal that is truncated, random
// bytes, or has corrupt pages (fails quick_check) is renamed aside with
// its content intact, a new journal opens, its first entry says what was
// set aside and why, and one line on stderr names both files.
func TestOpenJournalSetsDamagedAside(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
		reason string
	}{
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 3000); err != nil {
				t.Fatal(err)
			}
		}, "truncated"},
		{"truncated at a page boundary", func(t *testing.T, path string) {
			if err := os.Truncate(path, 2*4096); err != nil {
				t.Fatal(err)
			}
		}, "truncated"},
		{"random bytes", func(t *testing.T, path string) {
			b := make([]byte, 64<<10)
			_, _ = rand.Read(b)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not an SQLite database"},
		{"corrupt pages", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			junk := bytes.Repeat([]byte{0xA5}, 64)
			for off := int64(4096); off < st.Size(); off += 4096 {
				if _, err := f.WriteAt(junk, off); err != nil {
					t.Fatal(err)
				}
			}
		}, "corrupt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state := journalWithEntries(t, 60)
			path := filepath.Join(state, JournalFile)
			tc.damage(t, path)
			damaged, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			var j *Journal
			stderr := testsupport.CaptureStderr(t, func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("OpenJournal panicked: %v", r)
					}
				}()
				j, err = OpenJournal(state)
			})
			if err != nil {
				t.Fatalf("OpenJournal on a %s journal: %v", tc.name, err)
			}
			defer j.Close()

			sa := j.SetAside()
			if sa == nil {
				t.Fatal("SetAside is nil: nothing was set aside")
			}
			if !strings.HasPrefix(filepath.Base(sa.SetAsideAs), JournalFile+".damaged-") || filepath.Dir(sa.SetAsideAs) != state {
				t.Fatalf("set aside as %s", sa.SetAsideAs)
			}
			if !strings.Contains(sa.Reason, tc.reason) {
				t.Errorf("reason %q, want it to say %q", sa.Reason, tc.reason)
			}
			// Never deleted: the set-aside file is the damaged one, byte
			// for byte.
			kept, err := os.ReadFile(sa.SetAsideAs)
			if err != nil {
				t.Fatalf("the damaged journal is gone: %v", err)
			}
			if !bytes.Equal(kept, damaged) {
				t.Fatalf("the set-aside file (%d bytes) is not the damaged journal (%d bytes)", len(kept), len(damaged))
			}

			// One line on stderr, naming both files.
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(stderr, path+" ") || !strings.Contains(stderr, sa.SetAsideAs) {
				t.Fatalf("stderr %q: want one line naming %s and %s", stderr, path, sa.SetAsideAs)
			}

			// The new journal's first entry records it.
			entries, err := j.Entries(time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("the new journal has %d entries, want the one set-aside entry: %+v", len(entries), entries)
			}
			e := entries[0]
			if e.Action != "journal.set-aside" || e.Outcome != OutcomeNote || e.Target != path ||
				e.Params["set_aside_as"] != sa.SetAsideAs || e.Params["reason"] != sa.Reason ||
				!strings.Contains(e.Message, sa.SetAsideAs) {
				t.Fatalf("first entry %+v", e)
			}
			// The new journal takes entries, and the next open finds it
			// healthy: nothing more is set aside.
			if _, err := j.Append(Entry{Action: "backup", Outcome: OutcomeOK}); err != nil {
				t.Fatal(err)
			}
			again := testsupport.CaptureStderr(t, func() {
				j2, err := OpenJournal(state)
				if err != nil {
					t.Fatal(err)
				}
				if j2.SetAside() != nil {
					t.Error("a healthy journal was set aside")
				}
				j2.Close()
			})
			if again != "" {
				t.Errorf("a healthy journal's open said %q", again)
			}
			j.Close()
			var asides []string
			for _, n := range testsupport.DirNames(t, state) {
				if strings.Contains(n, ".damaged-") {
					asides = append(asides, n)
				} else if n != JournalFile {
					t.Errorf("left in the state dir: %s", n)
				}
			}
			if len(asides) != 1 || asides[0] != filepath.Base(sa.SetAsideAs) {
				t.Fatalf("set-aside files %v, want just %s", asides, filepath.Base(sa.SetAsideAs))
			}
		})
	}
}

// TestOpenJournalHealthyUntouched: a healthy journal, a missing one and an
// empty file open as before: nothing is set aside, nothing is said.
func TestOpenJournalHealthyUntouched(t *testing.T) {
	state := journalWithEntries(t, 3)
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, JournalFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"healthy": state, "missing": t.TempDir(), "empty": empty} {
		t.Run(name, func(t *testing.T) {
			out := testsupport.CaptureStderr(t, func() {
				j, err := OpenJournal(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer j.Close()
				if j.SetAside() != nil {
					t.Errorf("set aside: %+v", j.SetAside())
				}
			})
			if out != "" {
				t.Errorf("stderr %q", out)
			}
			for _, n := range testsupport.DirNames(t, dir) {
				if n != JournalFile {
					t.Errorf("left in the state dir: %s", n)
				}
			}
		})
	}
}

// TestOpenJournalDamagedSetAsideOnce: several opens at once of one damaged
// journal (as several operators' commands would) set it aside once; the
// journal the first one started is not set aside by the others.
func TestOpenJournalDamagedSetAsideOnce(t *testing.T) {
	state := journalWithEntries(t, 10)
	path := filepath.Join(state, JournalFile)
	if err := os.Truncate(path, 3000); err != nil {
		t.Fatal(err)
	}
	const n = 6
	errs := make([]error, n)
	testsupport.CaptureStderr(t, func() {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				j, err := OpenJournal(state)
				if err == nil {
					_, err = j.Append(Entry{Action: "backup", Outcome: OutcomeOK})
					j.Close()
				}
				errs[i] = err
			}(i)
		}
		wg.Wait()
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	var asides int
	for _, name := range testsupport.DirNames(t, state) {
		if strings.Contains(name, ".damaged-") {
			asides++
		}
	}
	if asides != 1 {
		t.Fatalf("state dir %v: want one set-aside file", testsupport.DirNames(t, state))
	}
	j, err := OpenJournal(state)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	entries, _ := j.Entries(time.Time{})
	var setAside, backups int
	for _, e := range entries {
		switch e.Action {
		case "journal.set-aside":
			setAside++
		case "backup":
			backups++
		}
	}
	if setAside != 1 || backups != n {
		t.Fatalf("%d set-aside entries and %d backups, want 1 and %d: %+v", setAside, backups, n, entries)
	}
}

// TestOpenJournalDamagedHeldElsewhere: a damaged journal that another
// process still has open is not set aside (that process's last close
// would delete the new journal's WAL by name): the open fails with one
// line that says so, and no file is moved.
func TestOpenJournalDamagedHeldElsewhere(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 not installed")
	}
	state := journalWithEntries(t, 60)
	path := filepath.Join(state, JournalFile)
	// Another process opens the journal and keeps it open.
	holder := exec.Command("sqlite3", path)
	in, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &testsupport.Buffer{}
	holder.Stdout = out
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); _ = holder.Wait() }()
	if _, err := io.WriteString(in, "SELECT 'opened', count(*) FROM entries;\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "opened") {
		if time.Now().After(deadline) {
			t.Fatal("sqlite3 did not open the journal")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Then the file is damaged under it.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	for off := int64(4096); off < st.Size(); off += 4096 {
		_, _ = f.WriteAt(bytes.Repeat([]byte{0xA5}, 64), off)
	}
	f.Close()
	before := testsupport.DirNames(t, state)

	var oerr error
	stderr := testsupport.CaptureStderr(t, func() {
		var j *Journal
		j, oerr = OpenJournal(state)
		if oerr == nil {
			j.Close()
		}
	})
	if oerr == nil {
		t.Fatal("a damaged journal held open by another process was set aside")
	}
	if msg := oerr.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "another process (pid ") ||
		!strings.Contains(msg, fmt.Sprint(holder.Process.Pid)) {
		t.Fatalf("error %q: want one line naming the holder's pid %d", msg, holder.Process.Pid)
	}
	if stderr != "" {
		t.Errorf("stderr %q", stderr)
	}
	t.Logf("refused: %v", oerr)
	if after := testsupport.DirNames(t, state); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("state dir %v, was %v", after, before)
	}
	var fe *db.FileError
	if !errors.As(oerr, &fe) && !strings.Contains(oerr.Error(), path) {
		t.Errorf("error %q does not name the journal", oerr)
	}
}
