package tui

import (
	"math"
	"time"
)

// Historian is the metrics engine's history, when the figures source
// keeps one (*metrics.Engine does): the console draws sparklines from it
// over minutes rather than from the snapshot's few newest points.
type Historian interface {
	HistoryN(panel string, n int) []float64
	HistoryTimes(n int) []time.Time
}

// sparkCells is the most cells a sparkline is drawn with; views take the
// newest ones that fit.
const sparkCells = 120

// sparkBucket is how much time one sparkline cell covers: ten refreshes.
// Cells are aligned to the clock (not to the newest point), so between two
// bucket boundaries only the newest cell changes: an idle dashboard
// rewrites one cell per panel per refresh instead of shifting every
// sparkline, which is most of the bytes sent to the terminal.
func sparkBucket(refresh time.Duration) time.Duration {
	return 10 * max(refresh, 100*time.Millisecond)
}

// bucketHistory averages the points of vals (times ts, aligned, oldest
// first) into cells of width bucket aligned to the clock, newest last, at
// most cells of them. A cell with no known point is NaN (a gap).
func bucketHistory(vals []float64, ts []time.Time, bucket time.Duration, cells int) []float64 {
	n := min(len(vals), len(ts))
	if n == 0 || bucket <= 0 {
		return nil
	}
	vals, ts = vals[len(vals)-n:], ts[len(ts)-n:]
	b := int64(bucket)
	newest := ts[n-1].UnixNano() / b
	oldest := newest - int64(cells) + 1
	if first := ts[0].UnixNano() / b; first > oldest {
		oldest = first
	}
	sum := make([]float64, newest-oldest+1)
	cnt := make([]int, len(sum))
	for i := 0; i < n; i++ {
		k := ts[i].UnixNano()/b - oldest
		if k < 0 || k >= int64(len(sum)) || math.IsNaN(vals[i]) || math.IsInf(vals[i], 0) {
			continue
		}
		sum[k] += vals[i]
		cnt[k]++
	}
	out := make([]float64, len(sum))
	for i := range out {
		if cnt[i] == 0 {
			out[i] = math.NaN()
		} else {
			out[i] = sum[i] / float64(cnt[i])
		}
	}
	return out
}
