package replicate

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/config"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/internal/testsupport"
)

// freeCheckAddr is a loopback host:port nothing listens on now.
func freeCheckAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// sqliteCLI runs the sqlite3 CLI on db: a writer in another process.
func sqliteCLI(t *testing.T, db, sql string) {
	t.Helper()
	out, err := exec.Command("sqlite3", db, sql).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s: %v: %s", sql, err, out)
	}
}

// checkSetup is a WAL database written by the sqlite3 CLI, repops' config
// for it with a file replica and a free metrics address, and Litestream's
// config written where cfg.LitestreamConfig() says.
func checkSetup(t *testing.T) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "architect.db")
	sqliteCLI(t, db, "PRAGMA journal_mode=WAL; CREATE TABLE heartbeat(id INTEGER PRIMARY KEY, at TEXT); INSERT INTO heartbeat(at) VALUES (datetime('now'));")
	cfg := checkConfig(db, config.Replica{Type: "file", Path: filepath.Join(dir, "replica")})
	cfg.Console.Replication.MetricsAddr = freeCheckAddr(t)
	cfg.Console.Replication.ConfigFile = filepath.Join(dir, "litestream.yml")
	data, err := LitestreamYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteAtomic(cfg.LitestreamConfig(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, db
}

// startCheckLitestream runs 'litestream replicate -config' for cfg as its own
// process and waits (at most 15 s) until its metrics name the database.
// It is killed at the end of the test.
func startCheckLitestream(t *testing.T, bin string, cfg *config.Config, db string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "replicate", "-config", cfg.LitestreamConfig())
	logs := &testsupport.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("litestream's log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := ScrapeMetrics(context.Background(), cfg.Console.Replication.MetricsAddr, db)
		if err == nil {
			return cmd
		}
		select {
		case <-exited:
			t.Fatalf("litestream exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("litestream's metrics did not name %s within 15 s: %v\n%s", db, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCheckLiveLitestream: with a real Litestream replicating a database
// that another process writes, the check finds the process, reads the
// replica's newest position and reports it caught up within the sync
// interval plus Litestream's 1 s WAL monitor; killed, the check says
// CRITICAL, not running.
func TestCheckLiveLitestream(t *testing.T) {
	bin := litestreamForTest(t)
	cfg, db := checkSetup(t)
	ctx := context.Background()
	opts := CheckOptions{Config: cfg, Binary: bin}

	if rep := Check(ctx, opts); rep.Status != Critical || !strings.Contains(rep.Summary, "not running") {
		t.Fatalf("before start: %s %s", rep.StatusName, rep.Summary)
	}
	ls := startCheckLitestream(t, bin, cfg, db)

	// A first sync: the replica has the database.
	var first *Report
	deadline := time.Now().Add(10 * time.Second)
	for first = Check(ctx, opts); first.Newest == nil || first.Lag > 0; first = Check(ctx, opts) {
		if time.Now().After(deadline) {
			t.Fatalf("no replica within 10 s: %s %s", first.StatusName, first.Summary)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Commits from another process reach the replica within a bound.
	for i := 0; i < 3; i++ {
		committed := time.Now()
		sqliteCLI(t, db, "INSERT INTO heartbeat(at) VALUES (datetime('now'));")
		prev := first.Newest.TXID
		bound := cfg.Console.Replication.SyncInterval + 3*time.Second
		var rep *Report
		for rep = Check(ctx, opts); rep.Newest == nil || rep.Newest.TXID <= prev || rep.Lag > 0; rep = Check(ctx, opts) {
			if time.Since(committed) > bound {
				t.Fatalf("commit %d not replicated within %s: %s %s", i, bound, rep.StatusName, rep.Summary)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if rep.Status != OK {
			t.Fatalf("commit %d: %s %s %v", i, rep.StatusName, rep.Summary, rep.Problems)
		}
		if len(rep.Processes) != 1 || rep.Processes[0].Pid != ls.Process.Pid {
			t.Errorf("processes %+v, want pid %d", rep.Processes, ls.Process.Pid)
		}
		if rep.Metrics == nil || rep.Metrics.Syncs == 0 || rep.Metrics.WALBytes == 0 || rep.Metrics.TXID > rep.LocalTXID {
			t.Errorf("metrics %+v, local txid %d", rep.Metrics, rep.LocalTXID)
		}
		if !strings.Contains(rep.Summary, "lag 0s (in sync)") || !strings.Contains(rep.Summary, "pid ") {
			t.Errorf("summary: %s", rep.Summary)
		}
		if age := time.Since(rep.Newest.Time); age > 5*time.Second {
			t.Errorf("newest replica file %s old", age)
		}
		first = rep
	}

	// Killed: CRITICAL, not running; the replica is still described.
	ls.Process.Signal(syscall.SIGKILL)
	deadline = time.Now().Add(5 * time.Second)
	rep := Check(ctx, opts)
	for ; rep.Status != Critical; rep = Check(ctx, opts) {
		if time.Now().After(deadline) {
			t.Fatalf("after kill -9: %s %s", rep.StatusName, rep.Summary)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(rep.Summary, "Litestream is not running for "+db) || !strings.Contains(rep.Summary, "litestream replicate -config "+cfg.LitestreamConfig()) {
		t.Errorf("after kill -9: %s", rep.Summary)
	}
}

// TestCheckLagWhenBehind: transactions Litestream has read but not
// shipped count as lag from their local file's time: an old one is
// WARNING beyond WarnLag, CRITICAL beyond the RPO. A 5-minute sync
// interval keeps the replica behind; the check's clock is moved forward.
func TestCheckLagWhenBehind(t *testing.T) {
	bin := litestreamForTest(t)
	cfg, db := checkSetup(t)
	cfg.Console.Replication.SyncInterval = 5 * time.Minute // ships once at start, then not for 5 min
	data, err := LitestreamYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteAtomic(cfg.LitestreamConfig(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	startCheckLitestream(t, bin, cfg, db)
	ctx := context.Background()
	opts := CheckOptions{Config: cfg, Binary: bin}
	// Litestream ships its first snapshot at start.
	deadline := time.Now().Add(15 * time.Second)
	rep := Check(ctx, opts)
	for ; rep.Newest == nil || rep.Lag > 0; rep = Check(ctx, opts) {
		if time.Now().After(deadline) {
			t.Fatalf("no first snapshot in the replica within 15 s: %s", rep.Summary)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Litestream's replica loop may ship the first change after start at
	// once (its first iteration waits for the database's notification, not
	// the ticker); every later one waits for the 5-minute tick. So the
	// second commit at the latest stays unshipped.
	for i := 0; ; i++ {
		local := rep.LocalTXID
		sqliteCLI(t, db, "INSERT INTO heartbeat(at) VALUES (datetime('now'));")
		for ; rep.LocalTXID <= local; rep = Check(ctx, opts) {
			if time.Now().After(deadline) {
				t.Fatalf("commit %d not read by Litestream within 15 s: %s", i, rep.Summary)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if rep.LocalTXID > rep.Newest.TXID {
			break
		}
		if i == 1 {
			t.Fatalf("two commits shipped with a 5-minute sync interval: %s", rep.Summary)
		}
	}
	if rep.Lag <= 0 || rep.Lag > 10*time.Second {
		t.Errorf("lag %s right after a commit Litestream has not shipped", rep.Lag)
	}
	// The same observation judged later, as the default 1 s interval
	// would judge it (with 5 minutes the warning threshold is the RPO).
	for _, tc := range []struct {
		ahead time.Duration
		want  int
	}{{0, OK}, {30 * time.Second, Warning}, {6 * time.Minute, Critical}} {
		got := *rep
		got.Judge(time.Now().Add(tc.ahead), time.Second)
		if got.Status != tc.want {
			t.Errorf("%s later: %s %s, want %s", tc.ahead, got.StatusName, got.Summary, StatusName(tc.want))
		}
	}
	if got := *rep; true {
		got.Judge(time.Now().Add(time.Minute), 5*time.Minute)
		if got.Status != OK {
			t.Errorf("a minute later with a 5-minute interval: %s %s", got.StatusName, got.Summary)
		}
	}
}

func TestCheckUnknown(t *testing.T) {
	dir := t.TempDir()
	cfg := checkConfig(filepath.Join(dir, "architect.db"), config.Replica{Type: "file", Path: filepath.Join(dir, "replica")})
	cfg.Console.Replication.Replicas = nil
	if rep := Check(context.Background(), CheckOptions{Config: cfg}); rep.Status != Unknown || !strings.Contains(rep.Summary, "console.replication.replicas is empty") {
		t.Errorf("no replicas: %s %s", rep.StatusName, rep.Summary)
	}
}

func TestParseReplicateArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		conf string
		pos  []string
	}{
		{[]string{"-config", "/etc/ls.yml"}, "/etc/ls.yml", nil},
		{[]string{"--config=/x.yml", "-exec", "svc"}, "/x.yml", nil},
		{[]string{"-exec", "svc run", "/var/lib/a.db", "file:///r"}, "", []string{"/var/lib/a.db", "file:///r"}},
		{nil, "", nil},
	} {
		conf, pos := parseReplicateArgs(tc.args)
		if conf != tc.conf || !reflect.DeepEqual(pos, tc.pos) {
			t.Errorf("%q: %q %q, want %q %q", tc.args, conf, pos, tc.conf, tc.pos)
		}
	}
}
