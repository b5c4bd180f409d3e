package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

// rcLitestream is testsupport.LitestreamBinary: the real litestream.
func rcLitestream(t *testing.T) string { return testsupport.LitestreamBinary(t) }

// rcSetup is a migrated database in WAL mode and a repops config for it
// with a file replica (none when replica is ""), a free metrics address
// and Litestream's config file in the work dir.
func rcSetup(t *testing.T, replica string) (conf, dbPath, lsConf, metricsAddr string) {
	t.Helper()
	work := t.TempDir()
	dbPath = filepath.Join(work, "architect.db")
	testsupport.CreateMigrated(t, dbPath)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr = l.Addr().String()
	l.Close()
	lsConf = filepath.Join(work, "litestream.yml")
	body := "database:\n  path: " + dbPath + "\nmonitoring:\n  metrics_enabled: false\nconsole:\n  state_dir: " + filepath.Join(work, "state") +
		"\n  replication:\n    metrics_addr: " + metricsAddr + "\n    config_file: " + lsConf + "\n"
	if replica != "" {
		body += "    replicas:\n      - type: file\n        path: " + replica + "\n"
	}
	conf = filepath.Join(work, "repops.yml")
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf, dbPath, lsConf, metricsAddr
}

func TestReplicateConfigWritesAndRefuses(t *testing.T) {
	bin := rcLitestream(t)
	conf, dbPath, lsConf, addr := rcSetup(t, "")
	replica := filepath.Join(filepath.Dir(dbPath), "replica")

	// Nothing configured: config refuses with the key, check is UNKNOWN.
	out, errOut, code := runRecovery(t, conf, "", "replicate", "config")
	if code != exitFailure || !strings.Contains(errOut, "console.replication.replicas: none configured") {
		t.Fatalf("config with no replica: %d %q %q", code, out, errOut)
	}
	out, _, code = runRecovery(t, conf, "", "replicate", "check")
	if code != exitUnknown || !strings.HasPrefix(out, "UNKNOWN replication is not configured") {
		t.Fatalf("check with no replica: %d %q", code, out)
	}
	if _, err := os.Stat(lsConf); err == nil {
		t.Fatal("a refused config was written")
	}

	// The database itself as the replica: one line naming the key.
	conf, dbPath, lsConf, addr = rcSetup(t, "SELF")
	body, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte(strings.ReplaceAll(string(body), "SELF", dbPath)), 0o600)
	_, errOut, code = runRecovery(t, conf, "", "replicate", "config")
	if code != exitFailure || !strings.Contains(errOut, "console.replication.replicas[0].path: "+dbPath+" is the database's own file") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Fatalf("the database as replica: %d %q", code, errOut)
	}

	// A good one: written 0600, checked by Litestream, how to run it said.
	conf, dbPath, lsConf, addr = rcSetup(t, replica)
	out, errOut, code = runRecovery(t, conf, "", "replicate", "config")
	if code != 0 {
		t.Fatalf("config: %d %q %q", code, out, errOut)
	}
	for _, want := range []string{"wrote " + lsConf, "lists the database", bin + " replicate -config " + lsConf} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	st, err := os.Stat(lsConf)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", st, err)
	}
	data, _ := os.ReadFile(lsConf)
	for _, want := range []string{"addr: " + addr, "- path: " + dbPath, "type: file", "path: " + replica, "sync-interval: 1s"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("config lacks %q:\n%s", want, data)
		}
	}
	printed, _, code := runRecovery(t, conf, "", "replicate", "config", "--print")
	if code != 0 || printed != string(data) {
		t.Errorf("--print: %d\n%s", code, printed)
	}

	// No litestream installed: written, and said how to install it.
	t.Setenv("REPOPS_LITESTREAM", filepath.Join(t.TempDir(), "none"))
	other := filepath.Join(t.TempDir(), "ls.yml")
	out, _, code = runRecovery(t, conf, "", "replicate", "config", "-o", other)
	if code != 0 || !strings.Contains(out, "not checked by Litestream") || !strings.Contains(out, "make litestream") {
		t.Errorf("config without litestream: %d %q", code, out)
	}
}

// TestReplicateCheckLive: a real Litestream replicating a migrated
// database that the sqlite3 CLI writes: check is OK, lag within a few
// seconds; with no binary to read the replica it is UNKNOWN naming the
// install; killed, CRITICAL, not running.
func TestReplicateCheckLive(t *testing.T) {
	bin := rcLitestream(t)
	conf, dbPath, lsConf, addr := rcSetup(t, filepath.Join(t.TempDir(), "replica"))
	if out, errOut, code := runRecovery(t, conf, "", "replicate", "config"); code != 0 {
		t.Fatalf("config: %d %q %q", code, out, errOut)
	}
	out, _, code := runRecovery(t, conf, "", "replicate", "check")
	if code != exitCritical || !strings.HasPrefix(out, "CRITICAL Litestream is not running for "+dbPath) {
		t.Fatalf("before start: %d %q", code, out)
	}

	ls := exec.Command(bin, "replicate", "-config", lsConf)
	logs := &testsupport.Buffer{}
	ls.Stdout, ls.Stderr = logs, logs
	if err := ls.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { ls.Wait(); close(exited) }()
	t.Cleanup(func() {
		ls.Process.Signal(syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("litestream's log:\n%s", logs.String())
		}
	})

	// While Litestream replicates, repops issues no TRUNCATE checkpoint:
	// beside Litestream's read lock it would stall the service's writes
	// (litestream#724; replicate/safety_test.go measures the stall).
	before := testsupport.FileState(t, dbPath)
	if out, errOut, code := runRecovery(t, conf, "", "optimize", "checkpoint", "--yes"); code != exitFailure ||
		!strings.Contains(errOut, "Litestream (pid") || !strings.Contains(errOut, "litestream#724") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Fatalf("optimize checkpoint beside Litestream: exit %d\n%s%s", code, out, errOut)
	}
	if after := testsupport.FileState(t, dbPath); after != before {
		t.Fatalf("the refused checkpoint changed the database: %s -> %s", before, after)
	}
	// Nor a restore under Litestream's feet.
	if out, errOut, code := runRecovery(t, conf, "", "restore", "--latest", "--yes"); code != exitFailure ||
		!strings.Contains(errOut, "restore refused: Litestream (pid") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Fatalf("restore beside Litestream: exit %d\n%s%s", code, out, errOut)
	}
	if after := testsupport.FileState(t, dbPath); after != before {
		t.Fatalf("the refused restore changed the database: %s -> %s", before, after)
	}

	type checkJSON struct {
		Status     string  `json:"status"`
		ExitCode   int     `json:"exit_code"`
		Summary    string  `json:"summary"`
		LagSeconds float64 `json:"lag_seconds"`
		LocalTXID  uint64  `json:"local_txid"`
		Newest     *struct {
			TXID uint64 `json:"txid"`
		} `json:"newest"`
		Processes []struct {
			Pid int `json:"pid"`
		} `json:"processes"`
	}
	check := func() (checkJSON, int) {
		out, _, code := runRecovery(t, conf, "", "replicate", "check", "--json")
		var c checkJSON
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatalf("check --json: %v\n%s", err, out)
		}
		if c.ExitCode != code {
			t.Fatalf("exit_code %d, exit %d", c.ExitCode, code)
		}
		return c, code
	}
	// Readiness: the first snapshot in the replica (bounded).
	deadline := time.Now().Add(15 * time.Second)
	c, code := check()
	for ; code != 0 || c.Newest == nil; c, code = check() {
		if time.Now().After(deadline) {
			t.Fatalf("not OK within 15 s of start: %d %+v", code, c)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Rows from another process reach the replica within a sync interval
	// plus Litestream's 1 s WAL monitor, with slack.
	testsupport.ExecSQL(t, dbPath, "CREATE TABLE IF NOT EXISTS repl_heartbeat(id INTEGER PRIMARY KEY, at TEXT)")
	committed := time.Now()
	if out, err := exec.Command("sqlite3", dbPath, "INSERT INTO repl_heartbeat(at) VALUES (datetime('now')); INSERT INTO repl_heartbeat(at) VALUES (datetime('now'));").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	prev := c.Newest.TXID
	for c, code = check(); c.Newest.TXID <= prev || c.LagSeconds > 0; c, code = check() {
		if time.Since(committed) > 5*time.Second {
			t.Fatalf("rows not replicated within 5 s: %d %+v", code, c)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != 0 || c.Status != "OK" || len(c.Processes) != 1 || c.Processes[0].Pid != ls.Process.Pid || !strings.Contains(c.Summary, "lag 0s (in sync)") {
		t.Fatalf("after the rows: %d %+v", code, c)
	}
	out, _, code = runRecovery(t, conf, "", "replicate", "check")
	if code != 0 || !strings.HasPrefix(out, "OK Litestream running (pid ") || !strings.Contains(out, "metrics ("+addr+"): txid ") {
		t.Fatalf("text check: %d\n%s", code, out)
	}

	// No binary to read the replica with: UNKNOWN, saying how to install.
	t.Setenv("REPOPS_LITESTREAM", filepath.Join(t.TempDir(), "none"))
	out, _, code = runRecovery(t, conf, "", "replicate", "check")
	if code != exitUnknown || !strings.Contains(out, "make litestream") || strings.Count(strings.SplitN(out, "\n", 2)[0], "UNKNOWN") != 1 {
		t.Fatalf("without the binary: %d\n%s", code, out)
	}
	t.Setenv("REPOPS_LITESTREAM", bin)

	// kill -9: CRITICAL, not running.
	ls.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("litestream did not exit within 10 s of SIGKILL")
	}
	out, _, code = runRecovery(t, conf, "", "replicate", "check")
	if code != exitCritical || !strings.HasPrefix(out, "CRITICAL Litestream is not running for "+dbPath) || !strings.Contains(out, "litestream replicate -config "+lsConf) {
		t.Fatalf("after kill -9: %d\n%s", code, out)
	}
}
