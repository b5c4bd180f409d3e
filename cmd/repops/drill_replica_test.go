package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// drillLitestream is testsupport.LitestreamBinary: the real litestream.
func drillLitestream(t *testing.T) string { return testsupport.LitestreamBinary(t) }

// cliWriter inserts one appeal every period through the sqlite3 CLI (a
// process per insert, as another service would), created_at to the
// millisecond, until stopped.
type cliWriter struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	errs []string
	rows int
}

func startCLIWriter(t *testing.T, dbPath string, period time.Duration) *cliWriter {
	t.Helper()
	cli, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Fatal("needs the sqlite3 CLI: apt-get install sqlite3")
	}
	w := &cliWriter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(period):
			}
			out, err := exec.Command(cli, dbPath, ".timeout 5000", `INSERT INTO appeals (user_id, reason, status, created_at, updated_at)
				VALUES ('hb', 'r', 'pending', strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now'));`).CombinedOutput()
			w.mu.Lock()
			if err != nil {
				w.errs = append(w.errs, fmt.Sprintf("%v: %s", err, out))
			} else {
				w.rows++
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.Stop(t) })
	return w
}

// Stop ends the writer (bounded) and returns the rows it wrote.
func (w *cliWriter) Stop(t *testing.T) int {
	t.Helper()
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	select {
	case <-w.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the writer did not stop within 15 s")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) > 0 {
		t.Fatalf("writer: %s", strings.Join(w.errs, "; "))
	}
	return w.rows
}

// newestDrillReport reads the newest drills/*.json of the state dir.
func newestDrillReport(t *testing.T, stateDir string) (*ops.DrillResult, string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stateDir, "drills", "drill-*.json"))
	if len(files) == 0 {
		t.Fatal("no drill report in the state dir")
	}
	sort.Strings(files)
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	var r ops.DrillResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", files[len(files)-1], err)
	}
	md, err := os.ReadFile(strings.TrimSuffix(files[len(files)-1], ".json") + ".md")
	if err != nil {
		t.Fatal(err)
	}
	return &r, string(md)
}

// TestDrillFromReplica: with replication configured, 'repops drill'
// restores the replica's newest state (the real Litestream, its own
// process, replicating a database a writer in other processes writes to)
// and measures the RPO by heartbeat: under 2 s while Litestream runs, the
// objectives met (0). Then Litestream is stopped, more rows are written
// for a few seconds: the RPO is the gap (the newest row written against
// the newest row replicated, within a second), the missing rows are those
// written while it was down; Database Corruption (RPO 5 min) is still
// met, Partial Failure (real-time) is a WARNING (exit 1) saying so.
// --source backup still drills the backup; --source replica without
// replication configured is a usage error.
func TestDrillFromReplica(t *testing.T) {
	bin := drillLitestream(t)
	cfg, dbPath, stateDir := recoveryEnv(t)
	replicaDir := filepath.Join(filepath.Dir(dbPath), "replica")
	plainCfg := cfg + ".plain"
	body, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plainCfg, body, 0o644); err != nil {
		t.Fatal(err)
	}
	// Replication on in repops' config; Litestream's own config (500 ms
	// intervals) where config.LitestreamConfig puts it by default.
	body = append(body, []byte("  replication:\n    replicas:\n      - type: file\n        path: "+replicaDir+"\n")...)
	if err := os.WriteFile(cfg, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	lsConfig := filepath.Join(stateDir, "litestream.yml")
	if err := os.WriteFile(lsConfig, []byte(fmt.Sprintf("dbs:\n  - path: %s\n    monitor-interval: 500ms\n    replica:\n      type: file\n      path: %s\n      sync-interval: 500ms\n",
		dbPath, replicaDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The live database in WAL mode, as the service runs it (Litestream
	// needs WAL).
	sqlite3Exec(t, dbPath, "PRAGMA journal_mode=WAL;")

	ls := exec.Command(bin, "replicate", "-config", lsConfig)
	var lsOut strings.Builder
	ls.Stdout, ls.Stderr = &lsOut, &lsOut
	if err := ls.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stopLS := func() {
		if stopped {
			return
		}
		stopped = true
		_ = ls.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = ls.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = ls.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stopLS)

	// 1. Litestream running, a writer inserting every 100 ms meanwhile:
	// the drill restores the replica, RPO under 2 s, met.
	w := startCLIWriter(t, dbPath, 100*time.Millisecond)
	time.Sleep(3 * time.Second)
	out, errOut, code := runRecovery(t, cfg, "", "drill")
	if code != 0 {
		t.Fatalf("drill from the replica: exit %d\n%s\n%s\nlitestream: %s", code, out, errOut, lsOut.String())
	}
	res, md := newestDrillReport(t, stateDir)
	if res.Source != ops.DrillSourceReplica || res.ReplicaTXID == "" || res.ReplicaTXIDTime.IsZero() || res.Heartbeat == nil || !res.Heartbeat.Measured {
		t.Fatalf("the drill did not restore the replica with a heartbeat: %+v\n%s", res, out)
	}
	if res.RPOBy != "heartbeat" || res.RPO >= 2*time.Second || !res.ObjectivesMet || res.Verdict != "OK" {
		t.Fatalf("RPO %s by %q, met %v, verdict %s; want under 2 s by heartbeat, met\n%s", res.RPO, res.RPOBy, res.ObjectivesMet, res.Verdict, out)
	}
	for _, want := range []string{"Source: the replica (Litestream)", "Restored position: txid " + res.ReplicaTXID, "- Heartbeat: read ", "Measured RPO (heartbeat)", "## Heartbeat"} {
		if !strings.Contains(md, want) {
			t.Fatalf("the report does not say %q:\n%s", want, md)
		}
	}
	if !strings.Contains(out, "DR drill OK (Database Corruption): the replica (txid "+res.ReplicaTXID+")") {
		t.Fatalf("last line:\n%s", out)
	}
	t.Logf("running: RPO %s, %d rows missing, txid %s\n%s", res.RPO, res.Heartbeat.Missing, res.ReplicaTXID, out)
	w.Stop(t)
	if ents, _ := os.ReadDir(ops.DrillScratchDir(stateDir)); len(ents) != 0 {
		t.Fatalf("the drill left %d files in scratch", len(ents))
	}

	// 2. Everything replicated (the writer idle past two sync
	// intervals), then Litestream stopped and rows written for 3 s.
	time.Sleep(2 * time.Second)
	lastReplicated := db.ParseTime(sqlite3Exec(t, dbPath, "SELECT max(created_at) FROM appeals;"))
	stopLS()
	time.Sleep(500 * time.Millisecond)
	w = startCLIWriter(t, dbPath, 100*time.Millisecond)
	time.Sleep(3 * time.Second)
	written := w.Stop(t)
	newest := db.ParseTime(sqlite3Exec(t, dbPath, "SELECT max(created_at) FROM appeals;"))
	gap := newest.Sub(lastReplicated)
	if written == 0 || gap < 3*time.Second {
		t.Fatalf("the writer wrote %d rows, gap %s", written, gap)
	}

	out, errOut, code = runRecovery(t, cfg, "", "drill")
	res, _ = newestDrillReport(t, stateDir)
	if code != 0 || res.Source != ops.DrillSourceReplica || res.Heartbeat == nil || !res.Heartbeat.Measured {
		t.Fatalf("drill with Litestream stopped, database-corruption: exit %d (want 0: the gap is under 5 min)\n%s\n%s", code, out, errOut)
	}
	if d := res.RPO - gap; d < -time.Second || d > time.Second {
		t.Fatalf("RPO %s, the gap was %s (newest row %s, newest replicated %s)\n%s", res.RPO, gap, newest, lastReplicated, out)
	}
	if res.Heartbeat.Missing != int64(written) {
		t.Fatalf("%d rows missing, %d were written while Litestream was stopped\n%s", res.Heartbeat.Missing, written, out)
	}
	t.Logf("stopped: RPO %s, gap %s, %d rows missing of %d written", res.RPO, gap, res.Heartbeat.Missing, written)

	out, errOut, code = runRecovery(t, cfg, "", "drill", "--scenario", "partial-failure")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	if code != exitWarning || !strings.HasPrefix(last, "DR drill WARNING (Partial Failure): objective missed: RPO real-time (counted as 1s), the replica restore lost ") ||
		!strings.Contains(last, strconv.Itoa(written)+" rows committed before the drill missing") {
		t.Fatalf("partial-failure with a %s gap: exit %d, want %d, a WARNING saying the RPO\n%s\n%s", gap, code, exitWarning, out, errOut)
	}
	t.Logf("partial failure: %s", last)
	if es := recoveryJournal(t, stateDir); len(es) == 0 || es[len(es)-1].Action != "drill" || es[len(es)-1].Outcome != ops.OutcomeWarning {
		t.Fatalf("the journal does not say WARNING: %+v", es[len(es)-1])
	}

	// --source backup: the backup, as before (none here: CRITICAL).
	out, _, code = runRecovery(t, cfg, "", "drill", "--source", "backup")
	if code != exitCritical || !strings.Contains(out, "DR drill FAILED") {
		t.Fatalf("--source backup without a backup: exit %d\n%s", code, out)
	}
	// --source replica without replication configured: usage, 64.
	_, errOut, code = runRecovery(t, plainCfg, "", "drill", "--source", "replica")
	if code != exitUsage || !strings.Contains(errOut, "replication is not configured") {
		t.Fatalf("--source replica without replication: exit %d\n%s", code, errOut)
	}
	_, _, code = runRecovery(t, cfg, "", "drill", "--source", "tape")
	if code != exitUsage {
		t.Fatalf("--source tape: exit %d, want %d", code, exitUsage)
	}
}
