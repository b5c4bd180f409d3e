package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/replicate"
)

// pitrLitestream is testsupport.LitestreamBinary: the real litestream.
func pitrLitestream(t *testing.T) string { return testsupport.LitestreamBinary(t) }

// sqlite3Exec runs SQL on path through the sqlite3 CLI: another process,
// a connection per call, as the service.
func sqlite3Exec(t *testing.T, path, sql string) string {
	t.Helper()
	cli, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Fatal("needs the sqlite3 CLI: apt-get install sqlite3")
	}
	out, err := exec.Command(cli, path, ".timeout 5000", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestRestoreToPoint: 'repops restore --to TIME' restores the replica's
// state at TIME through litestream restore into scratch, then through the
// verified restore (safety copy, offline here), says the last transaction
// kept and what was lost, and leaves scratch empty; bad points are one
// line each and change nothing. 'repops replicate verify' is OK (0) on a
// sound replica, CRITICAL (2) when the live database differs at the
// replica's position, UNKNOWN (3) when it cannot run, and records the
// outcome with the last success.
func TestRestoreToPoint(t *testing.T) {
	bin := pitrLitestream(t)
	cfg, dbPath, stateDir := recoveryEnv(t)
	lsConfig := filepath.Join(stateDir, "litestream.yml") // config.LitestreamConfig's default
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("dbs:\n  - path: %s\n    monitor-interval: 500ms\n    replica:\n      type: file\n      path: %s\n      sync-interval: 500ms\n",
		dbPath, filepath.Join(filepath.Dir(dbPath), "replica"))
	if err := os.WriteFile(lsConfig, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ls := exec.Command(bin, "replicate", "-config", lsConfig)
	var lsOut strings.Builder
	ls.Stdout, ls.Stderr = &lsOut, &lsOut
	if err := ls.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = ls.Process.Signal(syscall.SIGTERM)
			_ = ls.Wait()
		}
	}
	t.Cleanup(stop)
	count := func() string { return sqlite3Exec(t, dbPath, "SELECT count(*) FROM appeals;") }
	insert := func(n int) {
		sqlite3Exec(t, dbPath, fmt.Sprintf(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
			INSERT INTO appeals (user_id, reason, status, created_at, updated_at) SELECT 'p' || x, 'r', 'pending', datetime('now'), datetime('now') FROM c;`, n))
	}

	time.Sleep(1500 * time.Millisecond)
	insert(10) // kept: committed 2 s or more before the point
	time.Sleep(2500 * time.Millisecond)
	point := time.Now().UTC().Truncate(time.Second)
	time.Sleep(time.Until(point.Add(1200 * time.Millisecond)))
	insert(10) // lost: committed after the point
	time.Sleep(2 * time.Second)
	stop()
	if c := count(); c != "60" {
		t.Fatalf("live database: %s appeals, want 60", c)
	}

	// verify: OK, recorded.
	stdout, stderr, code := runRecovery(t, cfg, "", "replicate", "verify", "--json")
	if code != 0 {
		t.Fatalf("replicate verify: exit %d\n%s\n%s\nlitestream: %s", code, stdout, stderr, lsOut.String())
	}
	var rec replicate.VerifyRecord
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil || rec.Status != replicate.VerifyOK || rec.LastSuccess.IsZero() || rec.TXID == "" {
		t.Fatalf("replicate verify --json: %v\n%s", err, stdout)
	}
	if got, ok, err := replicate.ReadVerify(stateDir, dbPath); err != nil || !ok || got.Status != replicate.VerifyOK {
		t.Fatalf("the verification is not recorded: %v %v %+v", ok, err, got)
	}

	// Bad points and arguments: one line each, nothing changed.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--to", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, exitFailure, "is in the future"},
		{[]string{"--to", "2000-01-01T00:00:00Z"}, exitFailure, "before the replica's first position"},
		{[]string{"--to", "yesterday"}, exitUsage, "give an RFC 3339 time"},
		{[]string{"--to", point.Format(time.RFC3339), "--latest"}, exitUsage, "give no backup NAME nor --latest"},
		{[]string{"some_backup.db", "--to", point.Format(time.RFC3339)}, exitUsage, "give no backup NAME nor --latest"},
		{[]string{"--to", point.Format(time.RFC3339), "--txid", "5"}, exitUsage, "not both"},
		{[]string{"--txid", "zz"}, exitUsage, "txid"},
	} {
		_, stderr, code := runRecovery(t, cfg, "", append([]string{"restore", "--yes"}, c.args...)...)
		msg := strings.TrimSpace(stderr)
		if code != c.code || !strings.Contains(msg, c.want) || strings.Contains(msg[strings.LastIndex(msg, "restore:")+1:], "\n") {
			t.Errorf("restore %v: exit %d, %q; want exit %d and one line with %q", c.args, code, msg, c.code, c.want)
		}
	}
	if c := count(); c != "60" {
		t.Fatalf("a refused restore changed the database: %s appeals", c)
	}

	// A wrong typed name: cancelled, nothing changed, scratch emptied.
	stdout, stderr, code = runRecovery(t, cfg, "other.db\n", "restore", "--to", point.Format(time.RFC3339))
	if code == 0 || count() != "60" || !strings.Contains(stderr, "10 rows of the live database are newer and will be lost") {
		t.Errorf("restore --to, a wrong name typed: exit %d, %s appeals\n%s\n%s", code, count(), stdout, stderr)
	}
	if left := testsupport.DirNames(t, replicate.ScratchDir(stateDir)); len(left) > 0 {
		t.Errorf("scratch not emptied after a cancelled restore: %v", left)
	}

	// The point in time, the database's name typed.
	start := time.Now()
	stdout, stderr, code = runRecovery(t, cfg, "architect.db\n", "restore", "--to", point.Format(time.RFC3339))
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("restore --to %s: exit %d\n%s\n%s", point.Format(time.RFC3339), code, stdout, stderr)
	}
	for _, want := range []string{"point in time " + point.Format(time.RFC3339Nano), "last transaction kept: txid ", "newest row appeals #50 created_at ",
		"lost: appeals 10 rows after #50", "10 rows of the live database are newer than this point", "verification: OK", "restore (offline)", "safety copy",
		"restored the point in time " + point.Format(time.RFC3339Nano) + ": last transaction kept txid ", "; 10 rows newer than it were lost (kept in the safety copy)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("restore --to: the report lacks %q:\n%s", want, stdout)
		}
	}
	if c := count(); c != "50" {
		t.Errorf("after restore --to: %s appeals, want 50 (the 40 + the 10 before the point)", c)
	}
	var safety []string
	for _, n := range testsupport.DirNames(t, filepath.Join(filepath.Dir(dbPath), "backups")) {
		if strings.HasPrefix(n, "architect.db.pre-restore-") {
			safety = append(safety, n)
		}
	}
	if len(safety) == 0 {
		t.Error("no safety copy in the backup dir")
	}
	if left := testsupport.DirNames(t, replicate.ScratchDir(stateDir)); len(left) > 0 {
		t.Errorf("scratch not emptied: %v", left)
	}
	t.Logf("restore --to (litestream restore, checks, verified offline restore): %s\n%s%s", took.Round(time.Millisecond), stderr, stdout)

	// CRITICAL: a row the replica has is gone from the live database.
	sqlite3Exec(t, dbPath, "DELETE FROM appeals WHERE id = 3;")
	stdout, _, code = runRecovery(t, cfg, "", "replicate", "verify")
	if code != exitCritical || !strings.HasPrefix(stdout, "CRITICAL: rows: table appeals") || !strings.Contains(stdout, "last success ") {
		t.Errorf("replicate verify after a delete: exit %d\n%s", code, stdout)
	}
	// A live database destroyed (the reason to restore): the point in time
	// is restored all the same, what was lost unknown.
	for _, f := range []string{dbPath + "-wal", dbPath + "-shm"} {
		_ = os.Remove(f)
	}
	if err := os.WriteFile(dbPath, []byte(strings.Repeat("not a database\n", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = runRecovery(t, cfg, "", "restore", "--to", point.Format(time.RFC3339), "--yes")
	if code != 0 || !strings.Contains(stdout, "what is lost: unknown") || count() != "50" {
		t.Errorf("restore --to over a destroyed database: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// UNKNOWN: no Litestream config.
	if err := os.Remove(lsConfig); err != nil {
		t.Fatal(err)
	}
	stdout, _, code = runRecovery(t, cfg, "", "replicate", "verify")
	if code != exitUnknown || !strings.HasPrefix(stdout, "UNKNOWN: ") || !strings.Contains(stdout, "replicate config") {
		t.Errorf("replicate verify without a config: exit %d\n%s", code, stdout)
	}
	if got, _, _ := replicate.ReadVerify(stateDir, dbPath); got.Status != replicate.VerifyUnknown || !got.LastSuccess.Equal(rec.LastSuccess) {
		t.Errorf("the record after UNKNOWN: %s, last success %s (want %s carried over)", got.Status, got.LastSuccess, rec.LastSuccess)
	}
}
