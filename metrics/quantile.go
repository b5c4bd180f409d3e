package metrics

import (
	"errors"
	"math"
	"sort"
)

// Bucket is one classic-histogram bucket: the count of observations less
// than or equal to UpperBound (cumulative), or its rate.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Errors of HistogramQuantile; the panel becomes unknown with the message.
var (
	ErrNoInfBucket    = errors.New("histogram has no +Inf bucket")
	ErrNoObservations = errors.New("no observations in the window")
	ErrTooFewBuckets  = errors.New("histogram has fewer than two buckets")
)

// HistogramQuantile estimates the q-quantile of a classic histogram the way
// Prometheus' histogram_quantile does, so that the console and the guide's
// Prometheus agree on the same series:
//   - the buckets are sorted by upper bound and buckets of equal bound are
//     added together;
//   - the highest bucket must be +Inf, otherwise there is no answer;
//   - cumulative counts that decrease (rates of buckets scraped at slightly
//     different moments) are raised to the running maximum;
//   - no observations (an empty window) has no answer;
//   - the quantile falls in the first bucket whose count reaches q times
//     the total, and is interpolated linearly inside it, the lowest bucket
//     starting at 0 (unless its upper bound is <= 0, which is returned);
//   - a quantile in the +Inf bucket is the highest finite upper bound.
//
// q < 0 gives -Inf and q > 1 gives +Inf, as Prometheus. The input slice is
// not modified.
func HistogramQuantile(q float64, in []Bucket) (float64, error) {
	if math.IsNaN(q) {
		return math.NaN(), errors.New("quantile is NaN")
	}
	if q < 0 {
		return math.Inf(-1), nil
	}
	if q > 1 {
		return math.Inf(1), nil
	}
	if len(in) == 0 {
		return math.NaN(), ErrNoObservations
	}
	b := make([]Bucket, len(in))
	copy(b, in)
	sort.Slice(b, func(i, j int) bool { return b[i].UpperBound < b[j].UpperBound })
	if !math.IsInf(b[len(b)-1].UpperBound, 1) {
		return math.NaN(), ErrNoInfBucket
	}
	// Add up buckets of equal bound.
	m := 0
	for i := 1; i < len(b); i++ {
		if b[i].UpperBound == b[m].UpperBound {
			b[m].Count += b[i].Count
			continue
		}
		m++
		b[m] = b[i]
	}
	b = b[:m+1]
	// Monotonic fix-up.
	for i := 1; i < len(b); i++ {
		if b[i].Count < b[i-1].Count {
			b[i].Count = b[i-1].Count
		}
	}
	if len(b) < 2 {
		return math.NaN(), ErrTooFewBuckets
	}
	total := b[len(b)-1].Count
	if total == 0 || math.IsNaN(total) {
		return math.NaN(), ErrNoObservations
	}
	rank := q * total
	i := sort.Search(len(b)-1, func(i int) bool { return b[i].Count >= rank })
	if i == len(b)-1 {
		return b[len(b)-2].UpperBound, nil
	}
	if i == 0 && b[0].UpperBound <= 0 {
		return b[0].UpperBound, nil
	}
	start, end, count := 0.0, b[i].UpperBound, b[i].Count
	if i > 0 {
		start = b[i-1].UpperBound
		count -= b[i-1].Count
		rank -= b[i-1].Count
	}
	return start + (end-start)*(rank/count), nil
}
