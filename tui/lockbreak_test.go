package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/presence"
)

// lockBreakCmd types :lockbreak and runs what it leads to.
func lockBreakCmd(t *testing.T, m Model) Model {
	t.Helper()
	m, _ = step(t, m, press(":"))
	m = typeText(t, m, "lockbreak")
	m, c := step(t, m, press("enter"))
	if c != nil {
		m = drain(t, m, c)
	}
	return m
}

// TestLockBreakByRole: :lockbreak over a real procedure lock (held by
// this process, so not stale) and a real journal. An admin key sees the
// holder, a wrong word breaks nothing, "break" breaks it and journals
// lock.break in the admin's name; an operator key, a viewer key and the
// local read-only console each get one line and the lock stays.
func TestLockBreakByRole(t *testing.T) {
	dir := t.TempDir()
	hub, _, _ := newHub(t, dir)
	holder := ops.Actor{User: "otto", Host: "db1"}
	held, err := ops.AcquireLock(dir, holder, "runbook restore-from-backup")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	j, err := ops.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	readLock := func() (*ops.LockInfo, bool, error) { return ops.ReadLock(dir) }
	stillHeld := func(who string) {
		t.Helper()
		if _, ok, err := ops.ReadLock(dir); err != nil || !ok {
			t.Fatalf("after %s: the lock is gone (%v)", who, err)
		}
	}

	for _, c := range []struct {
		name string
		role presence.Role
		ro   bool
		want string
	}{
		{"operator", presence.Operator, false, "only an admin key may break the procedure lock"},
		{"viewer", presence.Viewer, true, "only an admin key may break the procedure lock"},
	} {
		m, _ := session(t, dir, hub, identity(c.name, c.role), 120, 30, func(o *Options) { o.Lock, o.ReadOnly = readLock, c.ro })
		m = lockBreakCmd(t, m)
		if s := plain(m); !strings.Contains(s, c.want) || m.lockAsk != nil {
			t.Errorf("%s: want one line %q and no question; screen:\n%s", c.name, c.want, s)
		}
		stillHeld(c.name)
	}
	// An admin key on a server started --read-only: told why.
	m, _ := session(t, dir, hub, identity("ro-admin", presence.Admin), 120, 30, func(o *Options) { o.Lock, o.ReadOnly = readLock, true })
	m = lockBreakCmd(t, m)
	if s := plain(m); !strings.Contains(s, "read-only console: the procedure lock cannot be broken here") {
		t.Errorf("admin on a read-only server: screen:\n%s", s)
	}
	stillHeld("an admin on a read-only server")
	local := newTestModel(dir, func(o *Options) { o.Lock, o.ReadOnly = readLock, true })
	local, _ = step(t, local, tea.WindowSizeMsg{Width: 120, Height: 30})
	local = lockBreakCmd(t, local)
	if s := plain(local); !strings.Contains(s, "read-only console: the procedure lock cannot be broken here") {
		t.Errorf("local read-only: screen:\n%s", s)
	}
	stillHeld("the local read-only console")

	admin := identity("ada", presence.Admin)
	m, _ = session(t, dir, hub, admin, 120, 30, func(o *Options) {
		o.Lock = readLock
		o.BreakLock = func() error { return ops.BreakLock(dir, admin.Actor(), j) }
	})
	m = lockBreakCmd(t, m)
	if s := plain(m); !strings.Contains(s, "held by otto@") || !strings.Contains(s, "for runbook restore-from-backup") ||
		!strings.Contains(s, "type break and press enter") {
		t.Fatalf("admin: the question does not name the holder and the word:\n%s", s)
	}
	m = typeText(t, m, "brake")
	m, c := step(t, m, press("enter"))
	if c != nil {
		m = drain(t, m, c)
	}
	if s := plain(m); !strings.Contains(s, "not broken: type break exactly") {
		t.Errorf("admin, wrong word: screen:\n%s", s)
	}
	stillHeld("the wrong word")

	m = lockBreakCmd(t, m)
	m = typeText(t, m, "break")
	m, c = step(t, m, press("enter"))
	m = drain(t, m, c)
	if s := plain(m); !strings.Contains(s, "broke the procedure lock of otto@") {
		t.Errorf("admin: no word of the break:\n%s", s)
	}
	if _, ok, _ := ops.ReadLock(dir); ok {
		t.Fatalf("admin typed break: the lock is still held")
	}
	entries, err := j.Entries(fixedNow.AddDate(-50, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range entries {
		if e.Action == "lock.break" && e.Actor.User == "ada" && e.Actor.Key == admin.Fingerprint {
			found = true
		}
	}
	if !found {
		t.Errorf("no lock.break entry by ada's key: %+v", entries)
	}

	// Nothing held: one line, no question.
	m = lockBreakCmd(t, m)
	if s := plain(m); !strings.Contains(s, "no procedure lock is held") || m.lockAsk != nil {
		t.Errorf("no lock: screen:\n%s", s)
	}
}
