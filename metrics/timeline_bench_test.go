package metrics

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkTimeline fills a history store as seven days of a collector
// leave it (a minute frame for every minute of seven days, and the last
// hour at one frame a second, every panel and rule), then measures what
// the console's time travel does: a jump to a random moment (At, plus the
// sparkline series of every panel around it) and the bytes on disk. Quick
// with -benchtime 1x:
//
//	go test ./metrics -run '^$' -bench Timeline -benchtime 1x
func BenchmarkTimeline(b *testing.B) {
	for range b.N {
		ctx := context.Background()
		dir := b.TempDir()
		path := filepath.Join(dir, TimelineFile)
		tl := openTL(b, path, TimelineOptions{})
		end := tlStart.Add(7 * 24 * time.Hour)
		// Seven days minus the last hour at a frame a minute (each also
		// writes a refresh frame, pruned as it ages past the hour)...
		for at := tlStart; at.Before(end.Add(-time.Hour)); at = at.Add(time.Minute) {
			if err := tl.Record(ctx, synthSnap(at, float64(at.Minute())), ""); err != nil {
				b.Fatal(err)
			}
		}
		// ...then the last hour at a frame a second: the refresh path.
		recStart := time.Now()
		n := 0
		for at := end.Add(-time.Hour); at.Before(end); at = at.Add(time.Second) {
			if err := tl.Record(ctx, synthSnap(at, float64(at.Second())), "alice: backup"); err != nil {
				b.Fatal(err)
			}
			n++
		}
		perRecord := time.Since(recStart) / time.Duration(n)

		panels := make([]string, 0, len(PanelDefs()))
		for _, d := range PanelDefs() {
			panels = append(panels, d.Name)
		}
		rng := rand.New(rand.NewPCG(17, 17))
		var jumps []time.Duration
		for range 200 {
			at := tlStart.Add(time.Duration(rng.Int64N(int64(7*24*time.Hour/time.Minute))) * time.Minute)
			// What the dashboard draws: the frame and 120 cells of every
			// panel, a minute a cell (10 s a cell within the last hour).
			cell := time.Minute
			if end.Sub(at) < time.Hour {
				cell = 10 * time.Second
			}
			t0 := time.Now()
			if _, err := tl.At(ctx, at); err != nil {
				b.Fatal(err)
			}
			to := at.Add(30 * cell)
			if to.After(end) {
				to = end
			}
			if _, err := tl.SeriesAll(ctx, panels, to.Add(-120*cell), to, 120); err != nil {
				b.Fatal(err)
			}
			jumps = append(jumps, time.Since(t0))
		}
		// The last hour's jumps: 1,200 refresh frames a sparkline.
		for i := range 50 {
			at := end.Add(-time.Duration(i+1) * time.Minute)
			t0 := time.Now()
			if _, err := tl.At(ctx, at); err != nil {
				b.Fatal(err)
			}
			if _, err := tl.SeriesAll(ctx, panels, at.Add(-100*10*time.Second), at.Add(20*10*time.Second), 120); err != nil {
				b.Fatal(err)
			}
			jumps = append(jumps, time.Since(t0))
		}
		slices.Sort(jumps)
		p50, p95, worst := jumps[len(jumps)/2], jumps[len(jumps)*95/100], jumps[len(jumps)-1]

		var live int64
		for _, suf := range []string{"", "-wal", "-shm"} {
			if fi, err := os.Stat(path + suf); err == nil {
				live += fi.Size()
			}
		}
		if _, err := tl.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		minutes, refresh := countTier(b, tl, TierMinute), countTier(b, tl, TierRefresh)
		b.ReportMetric(float64(p50.Microseconds())/1000, "jump-p50-ms")
		b.ReportMetric(float64(p95.Microseconds())/1000, "jump-p95-ms")
		b.ReportMetric(float64(perRecord.Microseconds()), "record-µs/cycle")
		b.ReportMetric(float64(fi.Size())/(1<<20), "disk-MiB")
		b.Logf("\n%-34s %12s\n%-34s %12d\n%-34s %12d\n%-34s %12s\n%-34s %12s\n%-34s %12s\n%-34s %12s\n%-34s %9.2f MiB\n%-34s %9.2f MiB",
			"history store (7 d + 1 h at 1 s)", "",
			"minute frames", minutes, "refresh frames", refresh,
			"record a frame (per cycle)", perRecord.Round(time.Microsecond),
			fmt.Sprintf("jump p50 (At + %d series)", len(panels)), p50.Round(10*time.Microsecond),
			"jump p95 (goal <= 200 ms)", p95.Round(10*time.Microsecond),
			"jump worst", worst.Round(10*time.Microsecond),
			"on disk, db+wal+shm as written", float64(live)/(1<<20),
			"on disk after checkpoint", float64(fi.Size())/(1<<20))
	}
}
