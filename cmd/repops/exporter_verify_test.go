package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/config"
	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/replicate"
)

// TestExporterVerifiesReplica: with replication configured and the real
// Litestream replicating the database (its own process), the exporter
// verifies the replica on its own (here every 500 ms, the hidden knob):
// the first run is the day's full integrity_check, it records a success
// in the state dir, logs one line, and the exporter then serves
// repops_replica_verify_last_success_timestamp_seconds, absent before.
// Every wait is bounded.
func TestExporterVerifiesReplica(t *testing.T) {
	bin := drillLitestream(t) // sets REPOPS_LITESTREAM
	_, dbPath, stateDir := recoveryEnv(t)
	replicaDir := filepath.Join(filepath.Dir(dbPath), "replica")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	sqlite3Exec(t, dbPath, "PRAGMA journal_mode=WAL;")
	lsConfig := filepath.Join(stateDir, "litestream.yml") // config.LitestreamConfig's default
	if err := os.WriteFile(lsConfig, []byte(fmt.Sprintf("dbs:\n  - path: %s\n    monitor-interval: 200ms\n    replica:\n      type: file\n      path: %s\n      sync-interval: 200ms\n",
		dbPath, replicaDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	ls := exec.Command(bin, "replicate", "-config", lsConfig)
	var lsOut testsupport.Buffer
	ls.Stdout, ls.Stderr = &lsOut, &lsOut
	if err := ls.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ls.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = ls.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = ls.Process.Kill()
			<-done
		}
	})
	// Litestream's first snapshot in the replica, within 20 s.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var files int
		_ = filepath.Walk(replicaDir, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				files++
			}
			return nil
		})
		if files > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Litestream wrote nothing into %s in 20 s:\n%s", replicaDir, lsOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a sync or two past the snapshot

	cfg := config.Defaults()
	cfg.Database.Path = dbPath
	cfg.Console.StateDir = stateDir
	cfg.Console.Replication.Replicas = []config.Replica{{Type: "file", Path: replicaDir}}
	cfg.Monitoring.MetricsEnabled = false
	var errb testsupport.Buffer
	a := &app{cfg: &cfg, out: io.Discard, err: &errb}

	if _, ok, _ := replicate.ReadVerify(stateDir, dbPath); ok {
		t.Fatal("a verification is on record before the exporter ran")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runExporter(ctx, a, &exporterOptions{listen: "127.0.0.1:0", verifyEvery: 500 * time.Millisecond}, func(addr string) { addrc <- addr })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("exporter ended: %v\n%s", err, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("exporter did not start")
	}

	var rec replicate.VerifyRecord
	deadline = time.Now().Add(60 * time.Second)
	for {
		r, ok, err := replicate.ReadVerify(stateDir, dbPath)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			rec = r
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verification recorded within 60 s\nstderr:\n%s\nlitestream:\n%s", errb.String(), lsOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rec.Status != replicate.VerifyOK || rec.LastSuccess.IsZero() || rec.Check != "integrity_check" {
		t.Fatalf("the exporter's first verification: %s %s %v\nstderr:\n%s", rec.Status, rec.Check, rec.Problems, errb.String())
	}
	// Its line on stderr (written after the record: bounded wait).
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), "repops exporter: replica verification (integrity_check") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the verification:\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(errb.String(), "): OK: the replica's newest state") {
		t.Fatalf("log line:\n%s", errb.String())
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"repops_replica_verify_last_success_timestamp_seconds ", "repops_replica_verify_ok 1", "repops_replica_verify_recorded 1"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, body)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exporter: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the exporter did not stop within 30 s of its context's end")
	}
}
