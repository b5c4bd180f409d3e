package replicate

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// The helper processes are this test binary started with helperEnv set
// to their kind (as chaos/ does): "writer" inserts appeals at a steady
// rate, a connection per statement, and logs each committed row;
// "checkpointer" runs wal_checkpoint in every mode in turn; "checkpoint"
// runs one TRUNCATE checkpoint.
const (
	helperEnv  = "REPOPS_REPLICATE_HELPER"
	envDB      = "REPOPS_REPLICATE_DB"
	envLog     = "REPOPS_REPLICATE_LOG"
	envSeconds = "REPOPS_REPLICATE_SECONDS"
	envRate    = "REPOPS_REPLICATE_RATE"
)

func TestMain(m *testing.M) {
	if kind := os.Getenv(helperEnv); kind != "" {
		os.Exit(runHelper(kind))
	}
	os.Exit(m.Run())
}

func runHelper(kind string) int {
	path := os.Getenv(envDB)
	secs, _ := strconv.ParseFloat(os.Getenv(envSeconds), 64)
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	logf, err := os.OpenFile(os.Getenv(envLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logf.Close()
	open := func(busyMS int) (*sql.DB, error) {
		d, err := sql.Open("sqlite3", fmt.Sprintf("file:%s?_busy_timeout=%d&_journal_mode=WAL", path, busyMS))
		if err != nil {
			return nil, err
		}
		d.SetMaxOpenConns(1)
		return d, nil
	}
	switch kind {
	case "writer":
		rate, _ := strconv.Atoi(os.Getenv(envRate))
		every := time.Second / time.Duration(rate)
		begin := time.Now()
		for i := 0; time.Now().Before(deadline); i++ {
			// Insert i is due at begin + i*every: a stall (a checkpoint
			// holding the write lock) is caught up, so the rate holds.
			time.Sleep(time.Until(begin.Add(time.Duration(i) * every)))
			// A connection per statement: open, insert, close (DESIGN:
			// "The live file has one owner").
			d, err := open(5000)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			t0 := time.Now().UTC()
			created := t0.Format("2006-01-02 15:04:05.000")
			r, err := d.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('w', 'r', 'pending', ?, ?)`, created, created)
			t1 := time.Now().UTC()
			d.Close()
			if err != nil {
				fmt.Fprintln(logf, "error", err)
				continue
			}
			id, _ := r.LastInsertId()
			fmt.Fprintf(logf, "%d %d %d %s\n", id, t0.UnixNano(), t1.UnixNano(), created)
		}
		return 0
	case "checkpointer", "checkpoint":
		modes := []string{"PASSIVE", "RESTART", "TRUNCATE"}
		for i := 0; ; i++ {
			mode := modes[i%len(modes)]
			if kind == "checkpoint" {
				mode = "TRUNCATE"
			}
			d, err := open(200)
			if err != nil {
				return 1
			}
			var busy, logN, ckpt int
			s := time.Now()
			err = d.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logN, &ckpt)
			d.Close()
			fmt.Fprintf(logf, "%s busy=%d log=%d ckpt=%d err=%v took=%s\n", mode, busy, logN, ckpt, err, time.Since(s).Round(time.Millisecond))
			if kind == "checkpoint" || !time.Now().Before(deadline) {
				return 0
			}
			time.Sleep(700 * time.Millisecond)
		}
	}
	return 2
}

// litestreamBinary is the litestream the tests run: bin/litestream of the
// checkout ('make litestream'), else $REPOPS_LITESTREAM, else on PATH.
func litestreamBinary(t testing.TB) string {
	t.Helper()
	if p, err := filepath.Abs(filepath.Join("..", "bin", "litestream")); err == nil {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	bin, err := Binary()
	if err != nil {
		t.Fatalf("these tests run the real Litestream: %v", err)
	}
	return bin
}

// writeLitestreamConfig writes Litestream's config for dbPath with a file
// replica in replicaDir, both intervals at interval.
func writeLitestreamConfig(t testing.TB, path, dbPath, replicaDir string, interval time.Duration) {
	t.Helper()
	body := fmt.Sprintf(`dbs:
  - path: %s
    monitor-interval: %s
    replica:
      type: file
      path: %s
      sync-interval: %s
`, dbPath, interval, replicaDir, interval)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startLitestream runs 'litestream replicate' as its own process.
func startLitestream(t testing.TB, bin, config, logPath string) *exec.Cmd {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "replicate", "-config", config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func startHelper(t testing.TB, kind, dbPath, logPath string, secs float64, rate int) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+kind, envDB+"="+dbPath, envLog+"="+logPath,
		envSeconds+"="+strconv.FormatFloat(secs, 'f', 3, 64), envRate+"="+strconv.Itoa(rate))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func waitBounded(t testing.TB, cmd *exec.Cmd, within time.Duration, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not end within %s", what, within)
	}
}

// commit is one row of the writer's log.
type commit struct {
	id      int64
	t0, t1  time.Time // before the INSERT, after its commit returned
	created string
}

func readCommits(t testing.TB, path string) []commit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []commit
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.SplitN(sc.Text(), " ", 4)
		if len(fs) != 4 || fs[0] == "error" {
			t.Fatalf("writer: %s", sc.Text())
		}
		id, _ := strconv.ParseInt(fs[0], 10, 64)
		a, _ := strconv.ParseInt(fs[1], 10, 64)
		b, _ := strconv.ParseInt(fs[2], 10, 64)
		out = append(out, commit{id: id, t0: time.Unix(0, a).UTC(), t1: time.Unix(0, b).UTC(), created: fs[3]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Bound is how far before the chosen time a restored prefix may end: one
// sync interval (Litestream's monitor and replica sync intervals, both
// syncInterval here) plus margin for Litestream's own work (WAL read,
// LTX write) and the scheduling of three processes on a busy machine.
const (
	syncInterval = time.Second
	margin       = 500 * time.Millisecond
)

// TestRestoreToPointInTime is the test: a writer in another
// process at 200 rows/s while Litestream (its own process, 1 s sync)
// replicates; Litestream is killed with SIGKILL once, a TRUNCATE
// checkpoint runs while it is down (litestream#752), and it is restarted;
// a checkpointer in another process runs PASSIVE, RESTART and TRUNCATE
// checkpoints all along. Then RestoreTo five random past seconds: each
// restored database passes integrity_check and holds a gap-free prefix of
// the writer's rows (ids 1..K), committed before the chosen time, missing
// none committed more than one sync interval (+ margin) before it; and
// RestoreTo reports row K and its created_at as the last row kept, and
// the rows after it as lost. A txid restore gives the same prefix; a time
// in the future and one before the replica's first position are refused.
func TestRestoreToPointInTime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Litestream for about 40 s")
	}
	bin := litestreamBinary(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "live.db")
	stateDir := filepath.Join(dir, "state")
	replicaDir := filepath.Join(dir, "replica")
	config := filepath.Join(dir, "litestream.yml")
	testsupport.CreateMigrated(t, dbPath)
	writeLitestreamConfig(t, config, dbPath, replicaDir, syncInterval)
	lsLog := filepath.Join(dir, "litestream.log")
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(lsLog)
			t.Logf("litestream log:\n%s", lastLines(string(b), 30))
		}
	}()

	const (
		runFor = 24 * time.Second
		rate   = 200
	)
	ls := startLitestream(t, bin, config, lsLog)
	time.Sleep(1500 * time.Millisecond) // its first snapshot of the empty schema
	start := time.Now().UTC()
	writerLog := filepath.Join(dir, "writer.log")
	writer := startHelper(t, "writer", dbPath, writerLog, runFor.Seconds(), rate)
	ckptLog := filepath.Join(dir, "checkpoints.log")
	ckpt := startHelper(t, "checkpointer", dbPath, ckptLog, runFor.Seconds(), 0)

	// kill -9 Litestream a third of the way, checkpoint (TRUNCATE) while
	// it is down, restart it two seconds later.
	time.Sleep(runFor / 3)
	if err := ls.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = ls.Wait()
	killed := time.Now().UTC()
	waitBounded(t, startHelper(t, "checkpoint", dbPath, ckptLog, 0, 0), 10*time.Second, "the checkpoint while Litestream is down")
	time.Sleep(2 * time.Second)
	ls = startLitestream(t, bin, config, lsLog)
	restarted := time.Now().UTC()

	waitBounded(t, writer, runFor+15*time.Second, "the writer")
	waitBounded(t, ckpt, 15*time.Second, "the checkpointer")
	end := time.Now().UTC()
	time.Sleep(2*syncInterval + margin) // the last rows reach the replica
	_ = ls.Process.Signal(syscall.SIGTERM)
	waitBounded(t, ls, 15*time.Second, "litestream's shutdown")

	commits := readCommits(t, writerLog)
	if len(commits) < int(runFor.Seconds())*rate/2 {
		t.Fatalf("the writer committed %d rows in %s, expected about %d", len(commits), runFor, int(runFor.Seconds())*rate)
	}
	for i, c := range commits {
		if c.id != int64(i+1) {
			t.Fatalf("writer's log: row %d is id %d", i+1, c.id)
		}
	}
	var maxLat time.Duration
	for _, c := range commits {
		maxLat = max(maxLat, c.t1.Sub(c.t0))
	}
	ck, _ := os.ReadFile(ckptLog)
	t.Logf("writer: %d rows in %s (%.0f/s), slowest insert %s; checkpoints:\n%s", len(commits), end.Sub(start).Round(time.Millisecond),
		float64(len(commits))/end.Sub(start).Seconds(), maxLat.Round(time.Millisecond), lastLines(string(ck), 40))

	live, err := db.OpenRead(context.Background(), dbPath, db.Options{Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	ctx := context.Background()

	// Five random whole seconds within the run, after the first second of
	// writes and not within a sync interval (+ margin) after the kill up
	// to the restart: there Litestream was down, and what was written then
	// reached the replica in one LTX file at the restart (the restored
	// prefix ends at the kill, and the bound cannot hold).
	// Two of them before the kill, distinct seconds.
	bound := syncInterval + margin
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var points []time.Time
	chosen := map[time.Time]bool{}
	for tries := 0; len(points) < 5 && tries < 1000; tries++ {
		from, to := start.Add(time.Second), end
		if len(points) < 2 {
			to = killed.Add(-bound)
		}
		p := from.Add(time.Duration(rng.Int63n(int64(to.Sub(from))))).Truncate(time.Second)
		if !p.After(start.Add(time.Second)) || p.After(end) || chosen[p] {
			continue
		}
		if p.After(killed.Add(-bound)) && p.Before(restarted.Add(syncInterval+bound)) {
			continue
		}
		chosen[p] = true
		points = append(points, p)
	}
	if len(points) < 5 {
		t.Fatalf("could not choose five points in %s..%s", start, end)
	}
	sort.Slice(points, func(i, j int) bool { return points[i].Before(points[j]) })
	var worst time.Duration
	for _, p := range points {
		s := time.Now()
		res, err := RestoreTo(ctx, RestoreOptions{ConfigPath: config, DBPath: dbPath, StateDir: stateDir, Timestamp: p, Live: live, Binary: bin})
		took := time.Since(s)
		if err != nil {
			t.Fatalf("restore to %s: %v", p.Format(time.RFC3339), err)
		}
		k := checkPrefix(t, res.Path, commits)
		Remove(res.Path)
		if k == 0 {
			t.Fatalf("restore to %s: no row of the writer", p.Format(time.RFC3339))
		}
		last := commits[k-1]
		// Committed before the chosen time...
		if !last.t0.Before(p) {
			t.Errorf("restore to %s holds row %d, whose INSERT started at %s: after the chosen time", p.Format(time.RFC3339), k, last.t0.Format(time.RFC3339Nano))
		}
		// ...and nothing committed more than the bound before it is missing.
		gap := p.Sub(last.t1)
		if k < len(commits) {
			next := commits[k]
			if next.t1.Before(p.Add(-bound)) {
				t.Errorf("restore to %s ends at row %d (committed %s); row %d, committed %s, %s before the chosen time, is missing (bound %s)",
					p.Format(time.RFC3339), k, last.t1.Format(time.RFC3339Nano), k+1, next.t1.Format(time.RFC3339Nano), p.Sub(next.t1).Round(time.Millisecond), bound)
			}
		}
		worst = max(worst, gap)
		if res.LastTable != "appeals" || res.LastRowID != int64(k) || res.LastCreatedAt != last.created {
			t.Errorf("restore to %s: RestoreTo reports the last row kept as %s #%d %s, want appeals #%d %s", p.Format(time.RFC3339), res.LastTable, res.LastRowID, res.LastCreatedAt, k, last.created)
		}
		if res.TXID == "" || res.TXIDTime.IsZero() || len(res.QuickCheck) > 0 {
			t.Errorf("restore to %s: txid %q at %s, quick_check %v", p.Format(time.RFC3339), res.TXID, res.TXIDTime, res.QuickCheck)
		}
		if want := int64(len(commits) - k); res.LostRows != want || !res.LostMeasured {
			t.Errorf("restore to %s: %d rows reported lost, want %d", p.Format(time.RFC3339), res.LostRows, want)
		}
		t.Logf("restore to %s: rows 1..%d, last committed %s before (txid %s at %s), %d lost; restore %s, checks %s, total %s",
			p.Format(time.RFC3339), k, gap.Round(time.Millisecond), res.TXID, res.TXIDTime.Format(time.RFC3339), res.LostRows,
			res.RestoreTook.Round(time.Millisecond), res.CheckTook.Round(time.Millisecond), took.Round(time.Millisecond))

		// The same transaction by its txid: the same prefix.
		if p == points[0] {
			n, err := ParseTXID(res.TXID)
			if err != nil {
				t.Fatal(err)
			}
			byTX, err := RestoreTo(ctx, RestoreOptions{ConfigPath: config, DBPath: dbPath, StateDir: stateDir, TXID: n, Binary: bin})
			if err != nil {
				t.Fatalf("restore to txid %s: %v", res.TXID, err)
			}
			if got := checkPrefix(t, byTX.Path, commits); got != k || byTX.TXID != res.TXID {
				t.Errorf("restore to txid %s: rows 1..%d (txid %s), the time gave 1..%d", res.TXID, got, byTX.TXID, k)
			}
			Remove(byTX.Path)
		}
	}
	t.Logf("prefix end vs chosen time: at most %s before (bound %s = sync interval %s + margin %s)", worst.Round(time.Millisecond), bound, syncInterval, margin)

	// A point while Litestream was down (after the checkpoint that moved
	// its unshipped frames into the database, litestream#752): a sound,
	// gap-free prefix committed before it (it ends near the kill: what was
	// written while Litestream was down reached the replica at the
	// restart, in one LTX file).
	down := killed.Add(restarted.Sub(killed) / 2).Truncate(time.Second)
	if down.After(killed) {
		res, err := RestoreTo(ctx, RestoreOptions{ConfigPath: config, DBPath: dbPath, StateDir: stateDir, Timestamp: down, Binary: bin})
		if err != nil {
			t.Fatalf("restore to %s (Litestream down): %v", down.Format(time.RFC3339), err)
		}
		k := checkPrefix(t, res.Path, commits)
		Remove(res.Path)
		if k == 0 || !commits[k-1].t0.Before(down) {
			t.Errorf("restore to %s (Litestream down): rows 1..%d, committed after the chosen time", down.Format(time.RFC3339), k)
		}
		t.Logf("restore to %s (Litestream down from %s to %s): rows 1..%d, last committed %s before", down.Format(time.RFC3339),
			killed.Format("15:04:05.000"), restarted.Format("15:04:05.000"), k, down.Sub(commits[k-1].t1).Round(time.Millisecond))
	}

	// The newest state holds every row.
	newest, err := RestoreTo(ctx, RestoreOptions{ConfigPath: config, DBPath: dbPath, StateDir: stateDir, Live: live, Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	if k := checkPrefix(t, newest.Path, commits); k != len(commits) || newest.LostRows != 0 {
		t.Errorf("the newest state holds rows 1..%d of %d, %d reported lost", k, len(commits), newest.LostRows)
	}
	Remove(newest.Path)

	// Bad points: one line each, nothing left in scratch.
	for _, bad := range []time.Time{time.Now().Add(time.Hour), start.Add(-time.Hour)} {
		_, err := RestoreTo(ctx, RestoreOptions{ConfigPath: config, DBPath: dbPath, StateDir: stateDir, Timestamp: bad, Binary: bin})
		if !errors.Is(err, ErrBadTarget) || strings.Contains(err.Error(), "\n") {
			t.Errorf("restore to %s: %v, want one line of ErrBadTarget", bad.Format(time.RFC3339), err)
		}
	}
	if _, err := RestoreTo(ctx, RestoreOptions{ConfigPath: config, DBPath: dbPath, StateDir: stateDir, TXID: 1 << 40, Binary: bin}); !errors.Is(err, ErrBadTarget) {
		t.Errorf("restore to a txid beyond the replica: %v, want ErrBadTarget", err)
	}
	if left := testsupport.DirNames(t, ScratchDir(stateDir)); len(left) > 0 {
		t.Errorf("scratch not emptied: %v", left)
	}
}

// checkPrefix runs integrity_check on the restored file and checks that
// its appeals are exactly the writer's rows 1..K; it returns K.
func checkPrefix(t testing.TB, path string, commits []commit) int {
	t.Helper()
	r, err := db.OpenRead(context.Background(), path, db.Options{MaxConns: 1, Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ic string
	if err := r.QueryRow("PRAGMA integrity_check").Scan(&ic); err != nil || ic != "ok" {
		t.Fatalf("%s: integrity_check %q %v", path, ic, err)
	}
	var n, maxID int64
	var minID sql.NullInt64
	if err := r.QueryRow("SELECT count(*), coalesce(max(id), 0), min(id) FROM appeals").Scan(&n, &maxID, &minID); err != nil {
		t.Fatal(err)
	}
	if n != maxID || (n > 0 && minID.Int64 != 1) || maxID > int64(len(commits)) {
		t.Fatalf("%s: %d appeals, ids %d..%d: not a gap-free prefix of the writer's %d rows", path, n, minID.Int64, maxID, len(commits))
	}
	if maxID > 0 {
		var created string
		if err := r.QueryRow("SELECT created_at FROM appeals WHERE id = ?", maxID).Scan(&created); err != nil || created != commits[maxID-1].created {
			t.Fatalf("%s: row %d created_at %q, the writer wrote %q (%v)", path, maxID, created, commits[maxID-1].created, err)
		}
	}
	return int(maxID)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
