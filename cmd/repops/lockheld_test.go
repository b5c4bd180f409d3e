package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// getlkEnv makes the test binary, re-executed, a second process that asks
// the kernel who holds a lock on a database (see TestMain).
const getlkEnv = "REPOPS_TEST_GETLK"

func TestMain(m *testing.M) {
	if p := os.Getenv(getlkEnv); p != "" {
		os.Exit(getlkMain(p))
	}
	if p := os.Getenv(checkFileEnv); p != "" {
		os.Exit(checkFileMain(p))
	}
	os.Exit(m.Run())
}

// sqliteSharedFirst and sqliteSharedSize are SQLite's shared-lock range
// on a database file (os_unix.c: PENDING_BYTE 0x40000000, SHARED_FIRST
// two bytes beyond, SHARED_SIZE 510). A connection in WAL mode holds a
// read lock there for as long as it is open.
const (
	sqliteSharedFirst = 0x40000000 + 2
	sqliteSharedSize  = 510
)

// getlkMain prints the pid that holds a lock conflicting with a write lock
// on the shared range of the database at path, or 0 when none does.
func getlkMain(path string) int {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: sqliteSharedFirst, Len: sqliteSharedSize}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if lk.Type == unix.F_UNLCK {
		fmt.Println(0)
		return 0
	}
	fmt.Println(lk.Pid)
	return 0
}

// lockHolderPid asks a second process who holds SQLite's shared lock on
// the database at path.
func lockHolderPid(t *testing.T, path string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), getlkEnv+"="+path)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the lock probe failed: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("the lock probe said %q", out)
	}
	return pid
}

// TestEveryCommandKeepsSQLitesLocks holds a connection to the database
// open in this process, as the console does, runs every command that
// opens the database, and after each asks a second process, with
// fcntl(F_GETLK), whether this process still holds SQLite's shared lock.
// Closing any descriptor of the file in this process (a header check, a
// hash, a copy) would have dropped it, and a foreign process closing its
// last connection would then checkpoint and delete the WAL under us.
func TestEveryCommandKeepsSQLitesLocks(t *testing.T) {
	cfg, dbPath, _ := recoveryEnv(t)
	testsupport.ExecSQL(t, dbPath, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300)
		INSERT INTO appeals (user_id, reason, status, created_at, updated_at, resolved_at)
		SELECT 'old' || x, 'r', 'approved', datetime('now', '-200 days'), datetime('now', '-200 days'), datetime('now', '-200 days') FROM c`)
	ctx := context.Background()
	holder, err := db.OpenRead(ctx, dbPath, db.Options{MaxConns: 1, Owner: "test holder"})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	appeals := func() int {
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM appeals`).Scan(&n); err != nil {
			t.Fatalf("the holder's connection cannot read: %v", err)
		}
		return n
	}
	appeals()
	if pid := lockHolderPid(t, dbPath); pid != os.Getpid() {
		t.Fatalf("before any command the shared lock is held by pid %d, want this process (%d): the probe does not see SQLite's lock", pid, os.Getpid())
	}

	backupName := func() string {
		m, _ := filepath.Glob(filepath.Join(filepath.Dir(dbPath), "backups", "architect_*.db"))
		if len(m) == 0 {
			t.Fatal("no backup")
		}
		return filepath.Base(m[len(m)-1])
	}
	for _, c := range []struct {
		args []string
		ok   bool // must exit 0
	}{
		{[]string{"backup"}, true},
		{[]string{"backups"}, true},
		{[]string{"backups", "verify", "NAME"}, true},
		{[]string{"check"}, false},
		{[]string{"check", "--full"}, false},
		{[]string{"drill"}, false},
		{[]string{"migrate", "status"}, true},
		{[]string{"migrate", "validate"}, false},
		{[]string{"migrate", "stats"}, true},
		{[]string{"migrate", "report"}, true},
		{[]string{"migrate", "apply"}, true},
		{[]string{"growth", "--snapshot"}, true},
		{[]string{"indexes"}, false},
		{[]string{"diagnose", "counts"}, true},
		{[]string{"diagnose", "threads"}, true},
		{[]string{"diagnose", "predictions"}, true},
		{[]string{"optimize", "analyze", "--yes"}, true},
		{[]string{"optimize", "optimize", "--yes"}, true},
		{[]string{"optimize", "checkpoint", "--yes"}, false},
		{[]string{"optimize", "reindex", "--yes"}, true},
		{[]string{"optimize", "vacuum", "--yes"}, false},
		{[]string{"optimize", "incremental-vacuum", "--yes"}, false},
		{[]string{"archive", "--yes"}, true},
		{[]string{"runbook", "run", "backup", "--yes"}, false},
		{[]string{"restore", "--latest", "--yes"}, true},
	} {
		args := append([]string(nil), c.args...)
		for i, a := range args {
			if a == "NAME" {
				args[i] = backupName()
			}
		}
		name := strings.Join(args, " ")
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := runRecovery(t, cfg, "", args...)
			if c.ok && code != 0 {
				t.Fatalf("repops %s exited %d\nstdout: %s\nstderr: %s", name, code, stdout, stderr)
			}
			if pid := lockHolderPid(t, dbPath); pid != os.Getpid() {
				t.Fatalf("after repops %s (exit %d) the shared lock on %s is held by pid %d, not this process (%d): a descriptor of the file was closed behind SQLite's back\nstdout: %s\nstderr: %s",
					name, code, dbPath, pid, os.Getpid(), stdout, stderr)
			}
			appeals()
		})
	}
}
