package ops

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
)

// benchDBRows of about 1 KiB each make a database of about 500 MB.
const benchDBRows = 360_000

// newBenchDB builds a migrated database of about 500 MB fast: one
// connection, synchronous and journal off, one recursive insert of random
// text, then WAL as the service runs it.
func newBenchDB(b *testing.B, dir string) string {
	b.Helper()
	path := newRecoveryDB(b, dir, 0)
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{Synchronous: "OFF"})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	c, _ := w.Conn(ctx)
	defer c.Close()
	for _, s := range []string{
		"PRAGMA journal_mode = OFF",
		fmt.Sprintf(`WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT %d)
			INSERT INTO appeals (user_id, reason, status, created_at, updated_at)
			SELECT 'user' || (x %% 5000), hex(randomblob(480)), 'pending', datetime('now', '-' || (x %% 1000) || ' minutes'), datetime('now')
			FROM n`, benchDBRows),
		"PRAGMA journal_mode = WAL",
	} {
		if _, err := c.ExecContext(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	// Written with synchronous OFF, the file is still dirty in the page
	// cache: the first fsync of the live database (the writer's first
	// checkpoint, in the middle of a measure) would pay for all of it. A
	// service's database is on disk; so is this one, before any measure.
	if err := fsyncFile(path); err != nil {
		b.Fatal(err)
	}
	return path
}

// latencyWriter inserts continuously (synchronous FULL, as the service
// would) and keeps each insert's latency while running.
type latencyWriter struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	lat  []time.Duration
	at   []time.Time // when each measured insert started
	t0   time.Time
	errs int
	on   bool
}

func startLatencyWriter(b *testing.B, path string) *latencyWriter {
	w, err := db.OpenWrite(context.Background(), path, db.Options{BusyTimeout: 20 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	lw := &latencyWriter{stop: make(chan struct{})}
	lw.wg.Add(1)
	go func() {
		defer lw.wg.Done()
		defer w.Close()
		for i := 0; i < 1_000_000; i++ {
			select {
			case <-lw.stop:
				return
			default:
			}
			s := time.Now()
			_, err := w.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('w', 'bench', 'pending', datetime('now'), datetime('now'))`)
			d := time.Since(s)
			lw.mu.Lock()
			if err != nil {
				lw.errs++
			} else if lw.on {
				lw.lat = append(lw.lat, d)
				lw.at = append(lw.at, s)
			}
			lw.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return lw
}

// slowest describes the n slowest inserts of the last measure: latency
// and when it started, from the start of the measure.
func (lw *latencyWriter) slowest(n int) string {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	idx := make([]int, len(lw.lat))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(i, j int) bool { return lw.lat[idx[i]] > lw.lat[idx[j]] })
	var parts []string
	for _, i := range idx[:min(n, len(idx))] {
		parts = append(parts, fmt.Sprintf("%s at +%.2fs", lw.lat[i].Round(time.Millisecond), lw.at[i].Sub(lw.t0).Seconds()))
	}
	return strings.Join(parts, ", ")
}

// measure records latencies only while fn runs; returns worst and p99.
func (lw *latencyWriter) measure(fn func()) (worst, p99 time.Duration, n int) {
	lw.mu.Lock()
	lw.lat, lw.at, lw.on, lw.t0 = nil, nil, true, time.Now()
	lw.mu.Unlock()
	fn()
	lw.mu.Lock()
	lw.on = false
	l := append([]time.Duration(nil), lw.lat...)
	lw.mu.Unlock()
	if len(l) == 0 {
		return 0, 0, 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)-1], l[len(l)*99/100], len(l)
}

func (lw *latencyWriter) Stop() int {
	close(lw.stop)
	lw.wg.Wait()
	return lw.errs
}

func fallbackNote(why string) string {
	if why == "" {
		return ""
	}
	return " (the WAL-aware copy was not used: " + why + ")"
}

func timeIt(fn func() error) (time.Duration, error) {
	s := time.Now()
	err := fn()
	return time.Since(s), err
}

// BenchmarkBackupVsCp measures, side by side in one run on a database of
// about 500 MB: repops' backup against cp of the same file (the physical
// limit) and against 'sqlite3 .backup'; VACUUM INTO (the alternative
// considered); the worst insert latency of a writer during the backup;
// restore (offline and online) and drill times against the guide's
// 30-minute RTO for corruption. Run with 'make bench' or
// go test ./ops -run '^$' -bench BackupVsCp -benchtime 1x.
func BenchmarkBackupVsCp(b *testing.B) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		b.Fatal("sqlite3 CLI not found: install it with 'apt-get install sqlite3'")
	}
	dir := b.TempDir()
	genStart := time.Now()
	path := newBenchDB(b, dir)
	sizes, _ := db.StatFiles(path)
	b.Logf("generated %s in %s", humanize.Bytes(sizes.DB+sizes.WAL), time.Since(genStart).Round(time.Millisecond))
	ctx := context.Background()
	bdir := filepath.Join(dir, "backups")
	os.Mkdir(bdir, 0o700)
	for i := 0; i < b.N; i++ {
		// Warm the page cache equally for everyone.
		exec.Command("cat", path).Run()
		cpT, err := timeIt(func() error {
			out := filepath.Join(dir, "cp.db")
			defer os.Remove(out)
			if err := exec.Command("cp", path, out).Run(); err != nil {
				return err
			}
			return exec.Command("sync", out).Run()
		})
		if err != nil {
			b.Fatal(err)
		}
		cliT, err := timeIt(func() error {
			out := filepath.Join(dir, "cli.db")
			defer os.Remove(out)
			if o, err := exec.Command("sqlite3", path, ".backup "+out).CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %s", err, o)
			}
			return exec.Command("sync", out).Run()
		})
		if err != nil {
			b.Fatal(err)
		}
		vacT, err := timeIt(func() error {
			out := filepath.Join(dir, "vac.db")
			defer os.Remove(out)
			// VACUUM INTO needs a read-write connection; it writes only out.
			r, err := db.OpenWrite(ctx, path, db.Options{})
			if err != nil {
				return err
			}
			defer r.Close()
			if _, err := r.Exec("VACUUM INTO ?", out); err != nil {
				return err
			}
			return fsyncFile(out)
		})
		if err != nil {
			b.Fatal(err)
		}

		lw := startLatencyWriter(b, path)
		time.Sleep(100 * time.Millisecond)
		var res *BackupResult
		var berr error
		worst, p99, n := lw.measure(func() {
			res, berr = Backup(ctx, BackupOptions{DBPath: path, Dir: bdir, Actor: testActor()}, nil)
		})
		if berr != nil {
			b.Fatal(berr)
		}
		slow := lw.slowest(3)
		// Online restore with the writer still running: its worst wait.
		var rres *RestoreResult
		var rerr error
		rworst, _, _ := lw.measure(func() {
			rres, rerr = Restore(ctx, RestoreOptions{DBPath: path, Backup: res.Path, Mode: RestoreOnline, SafetyDir: dir, StateDir: filepath.Join(dir, "state")}, nil)
		})
		if rerr != nil {
			b.Fatal(rerr)
		}
		if errs := lw.Stop(); errs > 0 {
			b.Fatalf("%d failed writes", errs)
		}
		removeDBFiles(rres.SafetyCopy)

		offT, err := timeIt(func() error {
			_, err := Restore(ctx, RestoreOptions{DBPath: path, Backup: res.Path, Mode: RestoreOffline, SafetyDir: dir, StateDir: filepath.Join(dir, "state")}, nil)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		var dres *DrillResult
		drillT, err := timeIt(func() error {
			var err error
			dres, err = Drill(ctx, DrillOptions{DBPath: path, BackupDir: bdir, ScratchDir: filepath.Join(dir, "scratch")}, nil)
			return err
		})
		if err != nil || !dres.OK {
			b.Fatalf("drill: %v %v", err, dres.Problems)
		}

		mb := float64(res.Manifest.Size) / (1 << 20)
		ph := res.Phases
		b.ReportMetric(mb, "MB")
		b.ReportMetric(cpT.Seconds(), "cp_s")
		b.ReportMetric(cliT.Seconds(), "sqlite3_backup_s")
		b.ReportMetric(vacT.Seconds(), "vacuum_into_s")
		b.ReportMetric(res.CopyTook.Seconds(), "backup_copy_s")
		b.ReportMetric(res.Took.Seconds(), "backup_total_s")
		b.ReportMetric(float64(worst.Microseconds())/1000, "writer_worst_ms")
		b.ReportMetric(rres.Took.Seconds(), "restore_online_s")
		b.ReportMetric(offT.Seconds(), "restore_offline_s")
		b.ReportMetric(drillT.Seconds(), "drill_s")
		b.Logf("\n"+
			"database                         %8.0f MB\n"+
			"cp + sync (physical limit)       %8.2f s\n"+
			"sqlite3 .backup + sync           %8.2f s\n"+
			"VACUUM INTO + fsync              %8.2f s\n"+
			"repops backup: copy+fsync        %8.2f s  (%.2fx cp; goal <= 1.3x, and < sqlite3 .backup)\n"+
			"repops backup: total (+sha256, quick_check, rows) %6.2f s\n"+
			"  method %s, %d WAL frames applied%s\n"+
			"  phases: prepare %.3f, copy %.3f, sync %.3f, checks %.3f (sha256 %.3f | quick_check %.3f + rows %.3f), finish %.3f s\n"+
			"writer during backup: worst %s, p99 %s over %d inserts (goal < 50 ms); slowest: %s\n"+
			"restore online (writer running)  %8.2f s, writer's worst insert %s\n"+
			"restore offline                  %8.2f s\n"+
			"drill (restore to scratch, verify) %6.2f s, RTO measured %s vs 30m objective (%.4f of it)",
			mb, cpT.Seconds(), cliT.Seconds(), vacT.Seconds(), res.CopyTook.Seconds(), res.CopyTook.Seconds()/cpT.Seconds(),
			res.Took.Seconds(), res.Method, res.WALFrames, fallbackNote(res.Fallback), ph.Prepare.Seconds(), ph.Copy.Seconds(), ph.Sync.Seconds(), ph.Checks.Seconds(),
			ph.Checksum.Seconds(), ph.QuickCheck.Seconds(), ph.Rows.Seconds(), ph.Finish.Seconds(), worst.Round(time.Microsecond), p99.Round(time.Microsecond), n, slow,
			rres.Took.Seconds(), rworst.Round(time.Millisecond), offT.Seconds(), drillT.Seconds(), dres.RTO.Round(time.Millisecond),
			dres.RTO.Seconds()/(30*60))
	}
}

// fsyncFile fsyncs the (benchmark's own) file at path.
func fsyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
