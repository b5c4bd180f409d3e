package metrics

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/config"
)

// recordedLitestream is a real Litestream v0.5.18 /metrics page (file
// replica, one database, recorded from 'litestream replicate'), with
// sync_count and sync_error_count made settable.
func recordedLitestream(t *testing.T) func(syncs, errs int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "litestream_metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, line := range []string{`litestream_sync_count{db="/tmp/lsrec/db.sqlite"} 9`, `litestream_sync_error_count{db="/tmp/lsrec/db.sqlite"} 0`,
		`litestream_wal_size{db="/tmp/lsrec/db.sqlite"} 41232`} {
		if !strings.Contains(page, line+"\n") {
			t.Fatalf("recorded page lacks %q", line)
		}
	}
	return func(syncs, errs int) string {
		p := strings.Replace(page, `litestream_sync_count{db="/tmp/lsrec/db.sqlite"} 9`, fmt.Sprintf(`litestream_sync_count{db="/tmp/lsrec/db.sqlite"} %d`, syncs), 1)
		return strings.Replace(p, `litestream_sync_error_count{db="/tmp/lsrec/db.sqlite"} 0`, fmt.Sprintf(`litestream_sync_error_count{db="/tmp/lsrec/db.sqlite"} %d`, errs), 1)
	}
}

func mustCollect(t *testing.T, s *LitestreamSource, now time.Time) map[string]Value {
	t.Helper()
	res, err := s.Collect(context.Background(), now)
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	return res.Panels
}

// TestLitestreamRecordedPayload: the lag from the sync counters, the WAL
// from litestream_wal_size, the errors' rate, and what a stopped
// Litestream reads as.
func TestLitestreamRecordedPayload(t *testing.T) {
	page := recordedLitestream(t)
	ps := newPayloadServer(t)
	ps.set(page(9, 0))
	s, err := NewLitestreamSource(LitestreamOptions{URL: ps.url(), DBPath: "/tmp/lsrec/db.sqlite", Installed: func() bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)

	p := mustCollect(t, s, t0)
	if v := p[PanelReplicationLag]; v.OK || !strings.Contains(v.Reason, "one scrape") {
		t.Errorf("first scrape: lag %+v, want unknown (one scrape)", v)
	}
	if v := p[PanelReplicationWAL]; !v.OK || v.V != 41232.0/(1<<20) {
		t.Errorf("WAL %+v, want 41232 bytes in MiB", v)
	}
	if v := p[PanelReplicaErrors]; v.OK {
		t.Errorf("errors %+v on one scrape", v)
	}

	// A sync: the lag is 0; none for 3 s: 3 s.
	ps.set(page(10, 0))
	p = mustCollect(t, s, t0.Add(time.Second))
	if v := p[PanelReplicationLag]; !v.OK || v.V != 0 {
		t.Errorf("after a sync: lag %+v, want 0", v)
	}
	if v := p[PanelReplicaErrors]; !v.OK || v.V != 0 {
		t.Errorf("errors %+v, want 0/min", v)
	}
	p = mustCollect(t, s, t0.Add(4*time.Second))
	if v := p[PanelReplicationLag]; !v.OK || v.V != 3 {
		t.Errorf("no sync for 3 s: lag %+v, want 3", v)
	}
	if v := p[PanelLastSyncAge]; !v.OK || v.V != 3 {
		t.Errorf("no sync for 3 s: last sync %+v, want 3", v)
	}

	// Every sync failing: the count rises with the errors, the lag grows
	// and the errors are a rate per minute (3 errors over the 5 s the
	// scrapes span: 36/min).
	ps.set(page(13, 3))
	p = mustCollect(t, s, t0.Add(5*time.Second))
	if v := p[PanelReplicationLag]; !v.OK || v.V != 4 {
		t.Errorf("failing syncs: lag %+v, want 4", v)
	}
	if v := p[PanelReplicaErrors]; !v.OK || math.Abs(v.V-36) > 1e-9 {
		t.Errorf("errors %+v, want 36/min", v)
	}

	// A restart (counters from 0) with a good sync: the lag is 0 again.
	ps.set(page(2, 0))
	p = mustCollect(t, s, t0.Add(6*time.Second))
	if v := p[PanelReplicationLag]; !v.OK || v.V != 0 {
		t.Errorf("after a restart: lag %+v, want 0", v)
	}

	// Stopped: the lag keeps growing, the rest is unknown, saying how to
	// start it and (the binary missing) how to install it.
	ps.srv.Close()
	res, err := s.Collect(context.Background(), t0.Add(70*time.Second))
	if err == nil || !strings.Contains(err.Error(), "Litestream is not running") {
		t.Errorf("stopped: err %v", err)
	}
	if v := res.Panels[PanelReplicationLag]; !v.OK || v.V != 64 {
		t.Errorf("stopped: lag %+v, want 64 s and growing", v)
	}
	for _, name := range []string{PanelLastSyncAge, PanelReplicationWAL, PanelReplicaErrors} {
		v := res.Panels[name]
		if v.OK || !strings.Contains(v.Reason, "Litestream is not running") || !strings.Contains(v.Reason, LitestreamStartHint) || !strings.Contains(v.Reason, LitestreamInstallHint) {
			t.Errorf("stopped: %s %+v", name, v)
		}
	}
}

// TestLitestreamOtherDatabase: a Litestream that replicates another
// database says so.
func TestLitestreamOtherDatabase(t *testing.T) {
	ps := newPayloadServer(t)
	ps.set(recordedLitestream(t)(9, 0))
	s, err := NewLitestreamSource(LitestreamOptions{URL: ps.url(), DBPath: "/var/lib/gaia/architect.db"})
	if err != nil {
		t.Fatal(err)
	}
	p := mustCollect(t, s, time.Now())
	if v := p[PanelReplicationLag]; v.OK || !strings.Contains(v.Reason, "does not replicate /var/lib/gaia/architect.db") || !strings.Contains(v.Reason, "/tmp/lsrec/db.sqlite") {
		t.Errorf("lag %+v", v)
	}
}

// TestLitestreamNotConfigured: replication off, the replication rules are
// not configured (no unknown verdict); on, they are judged.
func TestLitestreamNotConfigured(t *testing.T) {
	cfg := config.Defaults()
	o, err := OptionsFromConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.LitestreamURL != "" {
		t.Fatalf("replication off: LitestreamURL %q", o.LitestreamURL)
	}
	cfg.Console.Replication.Replicas = []config.Replica{{Type: "file", Path: "/tmp/replica"}}
	if o, err = OptionsFromConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	if o.LitestreamURL != "http://127.0.0.1:9092/metrics" {
		t.Fatalf("replication on: LitestreamURL %q", o.LitestreamURL)
	}

	var rules []Rule
	for _, name := range []string{"replication_lag", "replica_errors"} {
		rules = append(rules, ruleByName(t, name))
	}
	e, err := NewEngine(EngineOptions{Rules: rules, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	snap := e.Cycle(context.Background())
	for _, a := range snap.Alerts {
		if a.Configured {
			t.Errorf("replication off: %s configured (%s: %s)", a.Rule.Name, a.State, a.Reason)
		}
	}
	if snap.Overall() != StateOK {
		t.Errorf("replication off: overall %s", snap.Overall())
	}

	ps := newPayloadServer(t)
	page := recordedLitestream(t)
	ps.set(page(9, 0))
	clock := newFakeClock()
	e, err = NewEngine(EngineOptions{Rules: rules, LitestreamURL: ps.url(), Now: clock.now, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.Cycle(context.Background())
	clock.add(time.Second)
	ps.set(page(10, 0))
	snap = e.Cycle(context.Background())
	for _, a := range snap.Alerts {
		if !a.Configured || a.State != StateOK {
			t.Errorf("replication on: %s configured %v, %s (%s)", a.Rule.Name, a.Configured, a.State, a.Reason)
		}
	}
}

// TestLitestreamPromQLAgreesWithPromtool: the exported expressions over
// Litestream's series, evaluated by promtool: a Litestream syncing every
// second (scraped every 15 s), every sync failing from 75 s (one error a
// second: 60/min), stopped at 135 s (its series stale, up 0). The lag at
// 5m is 180 s: the newest minute in which the syncs rose more than the
// errors ends at 120 s (the console, scraping every second, would say
// about 215 s: Prometheus is up to its window late, as the panel's
// description says); after an hour down it is +Inf.
func TestLitestreamPromQLAgreesWithPromtool(t *testing.T) {
	lag, _ := panelDef(PanelReplicationLag)
	errs, _ := panelDef(PanelReplicaErrors)
	wal, _ := panelDef(PanelReplicationWAL)
	q := func(s string) string { return strings.ReplaceAll(s, "'", "''") }
	body := `evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'litestream_sync_count{job="litestream",instance="a",db="/d.db"}'
        values: '0+15x8 stale'
      - series: 'litestream_sync_error_count{job="litestream",instance="a",db="/d.db"}'
        values: '0x4 0+15x4 stale'
      - series: 'litestream_wal_size{job="litestream",instance="a",db="/d.db"}'
        values: '4194304x8 stale'
      - series: 'up{job="litestream",instance="a"}'
        values: '1x8 0x300'
    promql_expr_test:
      - expr: '` + q(lag.PromQL) + `'
        eval_time: 1m
        exp_samples:
          - labels: '{}'
            value: 0
      - expr: '` + q(lag.PromQL) + `'
        eval_time: 5m
        exp_samples:
          - labels: '{}'
            value: 180
      - expr: '` + q(lag.PromQL) + `'
        eval_time: 75m
        exp_samples:
          - labels: '{}'
            value: .inf
      - expr: '` + q(errs.PromQL) + `'
        eval_time: 2m15s
        exp_samples:
          - labels: '{}'
            value: 60
      - expr: '` + q(wal.PromQL) + `'
        eval_time: 1m
        exp_samples:
          - labels: '{}'
            value: 4
`
	runPromtoolTest(t, t.TempDir(), body)
}

// litestreamBinary is a Litestream built from the pinned module, or "".
func litestreamBinary() string {
	for _, p := range []string{filepath.Join("..", "bin", "litestream"), "/tmp/lsbin/litestream"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
		}
	}
	return ""
}

// TestLitestreamRealProcess runs Litestream on a database the sqlite3 CLI
// writes, with a file replica: the source reads the lag and the WAL; with
// Litestream killed, the panels say it is not running and the lag rule's
// value keeps growing (never a 0).
func TestLitestreamRealProcess(t *testing.T) {
	bin := litestreamBinary()
	if bin == "" {
		t.Skip("no litestream binary (make litestream builds bin/litestream)")
	}
	sqlite3 := requireBinary(t, "sqlite3", "sqlite3")
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "live.db")
	sql := func(q string) {
		t.Helper()
		if out, err := exec.Command(sqlite3, dbPath, q).CombinedOutput(); err != nil {
			t.Fatalf("sqlite3 %q: %v\n%s", q, err, out)
		}
	}
	sql("PRAGMA journal_mode=WAL; CREATE TABLE t(x INTEGER PRIMARY KEY, y TEXT); INSERT INTO t(y) VALUES ('first');")
	addr := freePort(t)
	cfgFile := filepath.Join(dir, "litestream.yml")
	cfg := fmt.Sprintf("addr: %s\ndbs:\n  - path: %s\n    replica:\n      type: file\n      path: %s\n", addr, dbPath, filepath.Join(dir, "replica"))
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logBuf strings.Builder
	cmd := exec.Command(bin, "replicate", "-config", cfgFile)
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	url := LitestreamURL(addr)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("litestream did not serve %s within 20 s: %v\n%s", url, err, logBuf.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	var rules []Rule
	for _, name := range []string{"replication_lag", "replica_errors"} {
		rules = append(rules, ruleByName(t, name))
	}
	e, err := NewEngine(EngineOptions{Rules: rules, LitestreamURL: url, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewLitestreamSource(LitestreamOptions{URL: url, DBPath: dbPath})
	if err != nil {
		t.Fatal(err)
	}
	var snap Snapshot
	var mine map[string]Value
	deadline = time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		sql(fmt.Sprintf("INSERT INTO t(y) VALUES ('row %d');", i))
		snap = e.Cycle(context.Background())
		mine = mustCollect(t, src, time.Now())
		lag, _ := snap.Panel(PanelReplicationLag)
		w, _ := snap.Panel(PanelReplicationWAL)
		if lag.Value.OK && w.Value.OK && w.Value.V > 0 && mine[PanelReplicationLag].OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lag and WAL from Litestream within 20 s: lag %+v, WAL %+v, own db %+v\n%s", lag.Value, w.Value, mine, logBuf.String())
		}
		time.Sleep(700 * time.Millisecond)
	}
	lag, _ := snap.Panel(PanelReplicationLag)
	if lag.Value.V > 5 {
		t.Errorf("healthy Litestream: lag %v s", lag.Value.V)
	}
	if v := mine[PanelReplicationWAL]; !v.OK || v.V <= 0 {
		t.Errorf("this database's WAL: %+v", v)
	}
	for _, a := range snap.Alerts {
		if a.Rule.Name == "replication_lag" && (!a.Configured || a.State != StateOK) {
			t.Errorf("healthy Litestream: %s %s (%s)", a.Rule.Name, a.State, a.Reason)
		}
	}

	// Kill it: the panels say it is not running; the lag rule's value is
	// a growing age, not 0.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waited = true
	time.Sleep(1100 * time.Millisecond)
	snap = e.Cycle(context.Background())
	for _, name := range []string{PanelLastSyncAge, PanelReplicationWAL, PanelReplicaErrors} {
		p, _ := snap.Panel(name)
		if p.Value.OK || !strings.Contains(p.Value.Reason, "Litestream is not running") || !strings.Contains(p.Value.Reason, "litestream replicate -config") {
			t.Errorf("killed: %s %+v", name, p.Value)
		}
	}
	for _, a := range snap.Alerts {
		if a.Rule.Name != "replication_lag" {
			continue
		}
		if !a.Value.OK || a.Value.V < 1 {
			t.Errorf("killed: lag rule's value %+v, want a known age of at least 1 s", a.Value)
		}
	}
}
