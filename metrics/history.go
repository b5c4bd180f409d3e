package metrics

// DefaultHistorySize is the number of points kept per panel: 24 h at one
// point a second. Each point is a float64, so a full history costs
// 86400 x 8 B = 675 KiB per panel, plus one shared ring of timestamps of
// the same size; for the 21 panels of PanelDefs that is 22 x 675 KiB
// = 14.5 MiB at most, however long the console runs
// (BenchmarkHistoryMemory measures it). Rings grow by doubling up to their
// bound, so a console that ran for a minute holds a few KiB.
const DefaultHistorySize = 86400

// ring is a bounded ring buffer of float64, oldest overwritten first.
type ring struct {
	buf   []float64
	start int // index of the oldest point once full
	max   int
}

func newRing(max int) *ring {
	if max < 1 {
		max = 1
	}
	return &ring{max: max}
}

// push appends v, dropping the oldest point when full.
func (r *ring) push(v float64) {
	if len(r.buf) < r.max {
		if len(r.buf) == cap(r.buf) {
			n := 2 * cap(r.buf)
			if n < 64 {
				n = 64
			}
			if n > r.max {
				n = r.max
			}
			nb := make([]float64, len(r.buf), n)
			copy(nb, r.buf)
			r.buf = nb
		}
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.start] = v
	r.start = (r.start + 1) % r.max
}

// last returns the newest n points, oldest first, in a new slice (all of
// them when n <= 0 or n > len).
func (r *ring) last(n int) []float64 {
	l := len(r.buf)
	if n <= 0 || n > l {
		n = l
	}
	out := make([]float64, n)
	// Index of the oldest wanted point in logical order.
	from := l - n
	for i := 0; i < n; i++ {
		out[i] = r.buf[(r.start+from+i)%l]
	}
	return out
}

// bytes is the memory held by the ring's buffer.
func (r *ring) bytes() int { return cap(r.buf) * 8 }
