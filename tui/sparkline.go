package tui

import (
	"math"
	"strings"
)

// sparkRunes are the eight block heights of a sparkline. In mono/ASCII
// profiles they are still plain Unicode text, so NO_COLOR keeps the shape.
var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// sparkline renders the last width values of vals as block characters,
// scaled from 0 (or the minimum when it is negative) to the maximum; NaN
// values (no data at that instant) are blanks, so a gap in the data is
// seen as a gap and never as zero.
func sparkline(vals []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(vals) > width {
		vals = vals[len(vals)-width:]
	}
	lo, hi := 0.0, math.Inf(-1)
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		lo = math.Min(lo, v)
		hi = math.Max(hi, v)
	}
	var b strings.Builder
	b.Grow(width * 3)
	for i := len(vals); i < width; i++ {
		b.WriteByte(' ')
	}
	for _, v := range vals {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			b.WriteByte(' ')
		case hi <= lo:
			b.WriteRune(sparkRunes[0])
		default:
			i := int((v - lo) / (hi - lo) * float64(len(sparkRunes)-1))
			b.WriteRune(sparkRunes[max(0, min(i, len(sparkRunes)-1))])
		}
	}
	return b.String()
}
