package replicate

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// BenchmarkContinuousProtection measures, side by side in one run, the
// figures of continuous protection with Litestream (issue 15, "Figures"):
//
//  1. RPO by heartbeat: a writer in another process commits 200 rows/s
//     while Litestream (its own process) replicates with a 1 s and then a
//     100 ms sync interval (monitor-interval the same). At 100 random
//     moments (uniform over the run) the replica is snapshotted
//     (its newest L0 txid read, and every LTX file up to it hard-linked
//     aside: the replica's exact state at that moment, files being
//     immutable once renamed into place); after the phase each snapshot is
//     restored with 'litestream restore' and RPO = the snapshot moment -
//     the commit time (writer's clock, after COMMIT returned) of the
//     newest row the restored database holds. And what the shorter
//     interval costs: Litestream's CPU seconds (/proc/<pid>/stat) and the
//     bytes of the LTX files written to the replica.
//  2. The writer's commit latency (the INSERT's Exec, an autocommit
//     transaction) without Litestream and with it, same rate and length.
//     Without it twice: the writer alone (its connection is the file's
//     only one, so every close checkpoints and deletes the WAL), and with
//     an idle connection holding the file open (as a service's pool, or
//     Litestream, does): the added p99 is against both.
//  3. The -wal file's high-water mark, sampled every 100 ms, per phase.
//  4. On the demo database (1,000,000 appeals): Litestream's initial
//     sync, RestoreTo a time 3 s before now (litestream restore plus its
//     checks: quick_check, rows per table, the live database's rows beyond
//     it), against 'repops backup' then 'repops restore NAME --yes
//     --offline'.
//
// Run: go test ./replicate/ -run '^$' -bench ContinuousProtection -benchtime 1x
// REPOPS_BENCH_SECONDS (default 60; the whole run takes about 6 minutes
// on 2 cores) sets each writer phase's length,
// REPOPS_BENCH_APPEALS (default 1000000) the demo database's size.
func BenchmarkContinuousProtection(b *testing.B) {
	bin := litestreamBinary(b)
	phaseLen := 60 * time.Second
	if s, err := strconv.ParseFloat(os.Getenv("REPOPS_BENCH_SECONDS"), 64); err == nil && s >= 5 {
		phaseLen = time.Duration(s * float64(time.Second))
	}
	appeals := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("REPOPS_BENCH_APPEALS")); err == nil && n > 0 {
		appeals = n
	}
	const rate = 200
	began := time.Now()
	b.ResetTimer()

	// repops first: the build is CPU-heavy, not to overlap a phase.
	// Retried for up to 2 minutes: the tree may be mid-edit.
	var (
		repops  string
		cleanup func()
		err     error
	)
	for try := 0; try < 8; try++ {
		if repops, cleanup, err = testsupport.BuildRepops("repops-bench-"); err == nil {
			break
		}
		time.Sleep(15 * time.Second)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()

	// Without Litestream twice: the writer alone (its connection per
	// INSERT is the file's only one, so each close checkpoints and deletes
	// the WAL), and with an idle connection holding the file open, as a
	// service's pool does and as Litestream does: the fair baseline.
	var phases []*phaseResult
	for _, ph := range []struct {
		interval time.Duration
		hold     bool
	}{{0, false}, {0, true}, {time.Second, false}, {100 * time.Millisecond, false}} {
		p := runWriterPhase(b, bin, b.TempDir(), ph.interval, ph.hold, phaseLen, rate)
		phases = append(phases, p)
		b.Logf("phase %s done: %d rows", p.name, len(p.commits))
	}
	big := runLargeRestore(b, bin, repops, b.TempDir(), appeals)
	b.StopTimer()

	var sb strings.Builder
	printTable(&sb, phases, big, phaseLen, rate, time.Since(began))
	fmt.Print(sb.String())
	base := phases[1]
	for _, p := range phases[2:] {
		b.ReportMetric(durMS(pct(p.rpo, 99)), "rpo_p99_ms_"+p.short)
		b.ReportMetric(durMS(pct(p.lat, 99)-pct(base.lat, 99)), "added_p99_ms_"+p.short)
	}
}

// phaseResult is one writer phase: without Litestream (interval 0) or
// with it at a sync interval.
type phaseResult struct {
	name, short string
	interval    time.Duration
	commits     []commit
	wall        time.Duration // the writer's run
	lat         []time.Duration
	walMax      int64
	// With Litestream: RPO samples, failed ones, Litestream's CPU seconds
	// over the writer's run (+ its drain), the bytes of every distinct
	// LTX file seen in the replica, and its write syscalls' bytes
	// (/proc/<pid>/io wchar: replica, local LTX files, logs).
	rpo          []time.Duration
	rpoFailed    int
	rpoErr       string
	cpu          float64
	cpuWall      time.Duration
	replicaBytes int64
	replicaFiles int
	wchar        int64
}

// replicaSnap is the replica's state at one moment: its newest L0 txid
// and a hard-linked copy of its files up to it.
type replicaSnap struct {
	at   time.Time
	txid uint64
	dir  string
	err  error
}

func runWriterPhase(b *testing.B, bin, dir string, interval time.Duration, hold bool, runFor time.Duration, rate int) *phaseResult {
	b.Helper()
	p := &phaseResult{name: "none (alone)", short: "none", interval: interval}
	if hold {
		p.name, p.short = "none (held open)", "held"
	}
	if interval > 0 {
		p.name = "Litestream " + interval.String()
		p.short = strings.ReplaceAll(interval.String(), ".", "_")
	}
	dbPath := filepath.Join(dir, "live.db")
	replicaDir := filepath.Join(dir, "replica")
	cfgPath := filepath.Join(dir, "litestream.yml")
	testsupport.CreateMigrated(b, dbPath)

	if hold {
		h, err := sql.Open("sqlite3", "file:"+dbPath+"?_busy_timeout=5000")
		if err != nil {
			b.Fatal(err)
		}
		conn, err := h.Conn(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		var n int
		if err := conn.QueryRowContext(context.Background(), "SELECT count(*) FROM appeals").Scan(&n); err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		defer conn.Close()
	}
	var ls *exec.Cmd
	if interval > 0 {
		writeLitestreamConfig(b, cfgPath, dbPath, replicaDir, interval)
		ls = startLitestream(b, bin, cfgPath, filepath.Join(dir, "litestream.log"))
		// Its first snapshot of the empty schema, bounded.
		for i := 0; i < 100; i++ {
			if files, _ := filepath.Glob(filepath.Join(replicaDir, "ltx", "*", "*.ltx")); len(files) > 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// The samplers: the -wal size every 100 ms; the replica's files every
	// second (name -> size, to count the bytes written to it).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int64{}
	walkReplica := func() {
		files, _ := filepath.Glob(filepath.Join(replicaDir, "ltx", "*", "*.ltx"))
		mu.Lock()
		defer mu.Unlock()
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				seen[f] = st.Size()
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 0; n < 20000; n++ { // bounded: 2,000 s at most
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if st, err := os.Stat(dbPath + "-wal"); err == nil {
				mu.Lock()
				p.walMax = max(p.walMax, st.Size())
				mu.Unlock()
			}
			if interval > 0 && n%10 == 0 {
				walkReplica()
			}
		}
	}()

	var cpu0 float64
	if ls != nil {
		cpu0 = procCPU(ls.Process.Pid)
	}
	writerLog := filepath.Join(dir, "writer.log")
	start := time.Now()
	writer := startHelper(b, "writer", dbPath, writerLog, runFor.Seconds(), rate)

	// RPO samples at 100 random moments (uniform, sorted) from 2 s into
	// the run to its last half second: 100, so that p99 is not the max.
	var snaps []replicaSnap
	if interval > 0 {
		rng := rand.New(rand.NewSource(time.Now().UnixNano()))
		span := runFor - 2500*time.Millisecond
		var offs []time.Duration
		for i := 0; i < 100; i++ {
			offs = append(offs, 2*time.Second+time.Duration(rng.Int63n(int64(span))))
		}
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		for i, off := range offs {
			time.Sleep(time.Until(start.Add(off)))
			snaps = append(snaps, snapshotReplica(replicaDir, filepath.Join(dir, fmt.Sprintf("snap%03d", i))))
		}
	}
	waitBounded(b, writer, runFor+30*time.Second, "the writer")
	p.wall = time.Since(start)
	if ls != nil {
		time.Sleep(2*interval + time.Second) // the last rows reach the replica
		walkReplica()
		p.cpu = procCPU(ls.Process.Pid) - cpu0
		p.cpuWall = time.Since(start)
		p.wchar = procIO(ls.Process.Pid, "wchar")
		_ = ls.Process.Signal(syscall.SIGTERM)
		waitBounded(b, ls, 15*time.Second, "litestream's shutdown")
	}
	close(stop)
	wg.Wait()
	for _, s := range seen {
		p.replicaBytes += s
	}
	p.replicaFiles = len(seen)

	p.commits = readCommits(b, writerLog)
	for _, c := range p.commits {
		p.lat = append(p.lat, c.t1.Sub(c.t0))
	}
	sortDur(p.lat)

	// Restore each snapshot (after the run: no restore competes with the
	// writer): the newest row it holds, and its commit time.
	ctx := context.Background()
	for i, s := range snaps {
		k, err := restoreSnapshot(ctx, b, bin, dbPath, s, filepath.Join(dir, fmt.Sprintf("restored%03d.db", i)))
		switch {
		case err == nil && k >= 1 && k <= int64(len(p.commits)):
			p.rpo = append(p.rpo, s.at.Sub(p.commits[k-1].t1))
		case err == nil:
			err = fmt.Errorf("newest row %d: not one of the writer's %d", k, len(p.commits))
			fallthrough
		default:
			p.rpoFailed++
			if p.rpoErr == "" {
				p.rpoErr = err.Error()
			}
		}
		_ = os.RemoveAll(s.dir)
	}
	sortDur(p.rpo)
	return p
}

// snapshotReplica reads the file replica's newest L0 txid now (the
// moment of the sample: LTX files are renamed into place complete and
// never changed) and hard-links every LTX file of every level up to that
// txid into dst, for a restore later.
func snapshotReplica(replicaDir, dst string) replicaSnap {
	ents, err := os.ReadDir(filepath.Join(replicaDir, "ltx", "0"))
	s := replicaSnap{at: time.Now(), dir: dst}
	if err != nil {
		s.err = err
		return s
	}
	for _, e := range ents {
		if m := ltxName.FindStringSubmatch(e.Name()); m != nil {
			if v, err := strconv.ParseUint(m[2], 16, 64); err == nil {
				s.txid = max(s.txid, v)
			}
		}
	}
	levels, err := os.ReadDir(filepath.Join(replicaDir, "ltx"))
	if err != nil {
		s.err = err
		return s
	}
	for _, l := range levels {
		files, _ := os.ReadDir(filepath.Join(replicaDir, "ltx", l.Name()))
		for _, f := range files {
			m := ltxName.FindStringSubmatch(f.Name())
			if m == nil {
				continue
			}
			if v, err := strconv.ParseUint(m[2], 16, 64); err != nil || v > s.txid {
				continue
			}
			to := filepath.Join(dst, "ltx", l.Name())
			if err := os.MkdirAll(to, 0o700); err != nil {
				s.err = err
				return s
			}
			// A file compacted away meanwhile is covered by a higher level.
			_ = os.Link(filepath.Join(replicaDir, "ltx", l.Name(), f.Name()), filepath.Join(to, f.Name()))
		}
	}
	return s
}

// restoreSnapshot restores a snapshot with 'litestream restore' (a config
// naming the snapshot dir as the replica) and returns the newest appeal
// id it holds.
func restoreSnapshot(ctx context.Context, b *testing.B, bin, dbPath string, s replicaSnap, out string) (int64, error) {
	if s.err != nil {
		return 0, s.err
	}
	cfg := filepath.Join(s.dir, "litestream.yml")
	writeLitestreamConfig(b, cfg, dbPath, s.dir, time.Second)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := runLS(ctx, bin, "restore", "-config", cfg, "-o", out, dbPath); err != nil {
		return 0, err
	}
	defer func() {
		for _, suf := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(out + suf)
		}
	}()
	d, err := sql.Open("sqlite3", "file:"+out+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	var k int64
	err = d.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM appeals").Scan(&k)
	return k, err
}

// bigResult is the large database's figures.
type bigResult struct {
	appeals                    int
	size                       int64
	buildTook, syncTook        time.Duration
	ptrTook, ptrRestore, ptrCk time.Duration
	ptrTXID                    string
	ptrTarget                  time.Time
	backupTook, restoreTook    time.Duration
	note                       string
}

func runLargeRestore(b *testing.B, bin, repops, dir string, appeals int) *bigResult {
	b.Helper()
	r := &bigResult{appeals: appeals}
	ctx := context.Background()
	dbPath := filepath.Join(dir, "architect.db")
	stateDir := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "repops.yml")
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		b.Fatal(err)
	}
	body := fmt.Sprintf("console:\n  state_dir: %q\n  sources:\n    metrics_url: \"http://127.0.0.1:1/metrics\"\n    timeout: 500ms\n  backup:\n    dir: %q\n", stateDir, filepath.Join(dir, "backups"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
	run := func(within time.Duration, args ...string) (string, time.Duration) {
		c, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		cmd := exec.CommandContext(c, repops, append([]string{"--config", cfg, "--db", dbPath}, args...)...)
		cmd.Dir = dir
		cmd.Env = benchEnviron(home)
		cmd.WaitDelay = 5 * time.Second
		s := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(s)
		if err != nil {
			b.Fatalf("repops %s: %v after %s:\n%s", strings.Join(args, " "), err, took.Round(time.Millisecond), lastLines(string(out), 20))
		}
		return string(out), took
	}

	_, r.buildTook = run(5*time.Minute, "demo", "--appeals", strconv.Itoa(appeals), "--summary")
	if st, err := os.Stat(dbPath); err == nil {
		r.size = st.Size()
	}

	// Litestream until in sync: the replica holds Litestream's newest
	// local transaction (bounded: 5 minutes).
	lsCfg := filepath.Join(dir, "litestream.yml")
	writeLitestreamConfig(b, lsCfg, dbPath, filepath.Join(dir, "replica"), time.Second)
	lsLog := filepath.Join(dir, "litestream.log")
	s := time.Now()
	ls := startLitestream(b, bin, lsCfg, lsLog)
	for {
		if time.Since(s) > 5*time.Minute {
			out, _ := os.ReadFile(lsLog)
			b.Fatalf("Litestream not in sync after %s:\n%s", time.Since(s).Round(time.Second), lastLines(string(out), 20))
		}
		time.Sleep(250 * time.Millisecond)
		files, err := ReplicaFiles(ctx, bin, lsCfg, dbPath)
		if err != nil || len(files) == 0 {
			continue
		}
		replicated := Newest(files).TXID
		if local, oldest, err := LocalPending(dbPath, replicated); err == nil && local > 0 && local == replicated && oldest.IsZero() {
			break
		}
	}
	r.syncTook = time.Since(s)

	// A time a few seconds before now, after the replica's first position
	// (second resolution): wait until the first position is 4 s old.
	first, _, _, err := Positions(ctx, bin, lsCfg, dbPath)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Until(first.Add(5 * time.Second)))
	live, err := db.OpenRead(ctx, dbPath, db.Options{Owner: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	r.ptrTarget = time.Now().Add(-3 * time.Second)
	s = time.Now()
	res, err := RestoreTo(ctx, RestoreOptions{ConfigPath: lsCfg, DBPath: dbPath, StateDir: stateDir, Timestamp: r.ptrTarget, Live: live, Binary: bin})
	r.ptrTook = time.Since(s)
	live.Close()
	if err != nil {
		b.Fatalf("RestoreTo %s: %v", r.ptrTarget.Format(time.RFC3339), err)
	}
	r.ptrRestore, r.ptrCk, r.ptrTXID = res.RestoreTook, res.CheckTook, res.TXID
	if len(res.QuickCheck) > 0 || !res.LostMeasured || res.LostRows != 0 {
		b.Errorf("RestoreTo: quick_check %v, lost %d (measured %v)", res.QuickCheck, res.LostRows, res.LostMeasured)
	}
	for _, t := range res.Tables {
		if t.Table == "appeals" && t.Rows != int64(appeals) {
			b.Errorf("RestoreTo: %d appeals, want %d", t.Rows, appeals)
		}
	}
	Remove(res.Path)
	_ = ls.Process.Signal(syscall.SIGTERM)
	waitBounded(b, ls, 30*time.Second, "litestream's shutdown")

	// The plain path: an online backup, then an offline restore of it
	// (both verify: the backup's manifest and quick_check; the restore's
	// sha256, integrity_check, schema, rows).
	out, took := run(10*time.Minute, "backup")
	r.backupTook = took
	name := ""
	for _, l := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(l, "backup "); ok {
			name = filepath.Base(strings.TrimSpace(p))
			break
		}
	}
	if name == "" {
		b.Fatalf("repops backup: no backup named in its output:\n%s", out)
	}
	_, r.restoreTook = run(10*time.Minute, "restore", name, "--yes", "--offline")
	return r
}

// benchEnviron is the environment without the machine's repops config
// and the guide's variables, its home in home.
func benchEnviron(home string) []string {
	drop := map[string]bool{"DATABASE_PATH": true, "ENVIRONMENT": true, "REPOPS_CONFIG": true,
		"HOME": true, "XDG_CONFIG_HOME": true, "XDG_STATE_HOME": true, helperEnv: true}
	var out []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_STATE_HOME="+filepath.Join(home, ".state"), "NO_COLOR=1")
}

// procCPU is pid's user+system CPU seconds from /proc/<pid>/stat (fields
// 14 and 15, in clock ticks of 1/100 s: Linux's USER_HZ).
func procCPU(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}

// procIO is one counter of /proc/<pid>/io (0 when unreadable).
func procIO(pid int, key string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func sortDur(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }

// pct is the nearest-rank percentile q of sorted d (0 when empty).
func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q/100*float64(len(d))+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func durMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", durMS(d)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func printTable(w *strings.Builder, phases []*phaseResult, big *bigResult, phaseLen time.Duration, rate int, total time.Duration) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "Continuous protection figures (repops, Litestream %s), %s\n", Version, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "machine: %s, %d cores (GOMAXPROCS %d), %s/%s; writer, Litestream and the benchmark share them\n",
		host, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "writer: another process, %d rows/s for %s per phase, a connection per INSERT (autocommit), fresh database per phase\n\n", rate, phaseLen)
	row := func(label string, cells ...string) {
		fmt.Fprintf(w, "%-42s", label)
		for _, c := range cells {
			fmt.Fprintf(w, " %19s", c)
		}
		fmt.Fprintln(w)
	}
	var head []string
	for _, p := range phases {
		head = append(head, p.name)
	}
	row("", head...)
	row("", "-----------------", "-----------------", "-----------------", "-----------------")
	each := func(f func(p *phaseResult) string) []string {
		var out []string
		for _, p := range phases {
			out = append(out, f(p))
		}
		return out
	}
	lit := func(f func(p *phaseResult) string) []string {
		return each(func(p *phaseResult) string {
			if p.interval == 0 {
				return "-"
			}
			return f(p)
		})
	}
	alone, base := phases[0], phases[1]
	row("rows committed (achieved rate)", each(func(p *phaseResult) string {
		return fmt.Sprintf("%d (%.0f/s)", len(p.commits), float64(len(p.commits))/p.wall.Seconds())
	})...)
	fmt.Fprintln(w, "1. RPO by heartbeat (snapshot time - commit of newest row in replica)")
	row("   samples (failed)", lit(func(p *phaseResult) string { return fmt.Sprintf("%d (%d)", len(p.rpo), p.rpoFailed) })...)
	row("   RPO p50", lit(func(p *phaseResult) string { return ms(pct(p.rpo, 50)) })...)
	row("   RPO p99 (goal <= 1 s)", lit(func(p *phaseResult) string { return ms(pct(p.rpo, 99)) })...)
	row("   RPO max", lit(func(p *phaseResult) string { return ms(pct(p.rpo, 100)) })...)
	row("   Litestream CPU (user+sys, /proc stat)", lit(func(p *phaseResult) string {
		return fmt.Sprintf("%.2f s (%.1f%%)", p.cpu, 100*p.cpu/p.cpuWall.Seconds())
	})...)
	row("   replica bytes written (LTX files)", lit(func(p *phaseResult) string { return fmt.Sprintf("%s/%d f", mib(p.replicaBytes), p.replicaFiles) })...)
	row("   Litestream write() bytes (/proc io)", lit(func(p *phaseResult) string { return mib(p.wchar) })...)
	fmt.Fprintln(w, "2. Writer commit latency (INSERT Exec)")
	row("   p50", each(func(p *phaseResult) string { return ms(pct(p.lat, 50)) })...)
	row("   p99", each(func(p *phaseResult) string { return ms(pct(p.lat, 99)) })...)
	row("   max", each(func(p *phaseResult) string { return ms(pct(p.lat, 100)) })...)
	row("   added p99 vs file held open (goal <= 1ms)", lit(func(p *phaseResult) string { return ms(pct(p.lat, 99) - pct(base.lat, 99)) })...)
	row("   added p99 vs writer alone", lit(func(p *phaseResult) string { return ms(pct(p.lat, 99) - pct(alone.lat, 99)) })...)
	fmt.Fprintln(w, "3. WAL size high-water mark (100 ms samples)")
	row("   -wal max", each(func(p *phaseResult) string { return mib(p.walMax) })...)
	fmt.Fprintf(w, "4. Restore on the demo database: %d appeals, %s\n", big.appeals, mib(big.size))
	row2 := func(label, v string) { fmt.Fprintf(w, "   %-39s %19s\n", label, v) }
	row2("build (repops demo --summary)", secs(big.buildTook))
	row2("Litestream initial sync (until in sync)", secs(big.syncTook))
	row2("(a) RestoreTo now-3s, total", secs(big.ptrTook))
	row2("    litestream restore", secs(big.ptrRestore))
	row2("    checks (quick_check, tables, lost)", secs(big.ptrCk))
	row2("(b) repops backup", secs(big.backupTook))
	row2("    repops restore NAME --yes --offline", secs(big.restoreTook))
	row2("    backup + restore", secs(big.backupTook+big.restoreTook))
	if big.note != "" {
		fmt.Fprintf(w, "   note: %s\n", big.note)
	}
	for _, p := range phases {
		if p.rpoErr != "" {
			fmt.Fprintf(w, "%s: first failed RPO sample: %s\n", p.name, p.rpoErr)
		}
	}
	fmt.Fprintf(w, "benchmark total %s\n", total.Round(time.Second))
}
