package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/repops/repops/metrics"
)

// fmtNum formats v with a precision that suits its size.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "—"
	case math.IsInf(v, 0):
		return "∞"
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// fmtValue is a panel's value with its unit, "—" when unknown.
func fmtValue(v metrics.Value, unit string) string {
	if !v.OK {
		return "—"
	}
	return metrics.FormatValue(v, unit)
}

func fmtWithUnit(v float64, unit string) string {
	switch unit {
	case "":
		return fmtNum(v)
	case "/min":
		return fmtNum(v) + "/min"
	case "MiB":
		return fmtBytes(int64(v * 1024 * 1024))
	default:
		return fmtNum(v) + " " + unit
	}
}

// fmtBytes is a byte count in binary units.
func fmtBytes(n int64) string {
	if n < 0 {
		return "—"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// fmtCount is a row count, 1.2M style.
func fmtCount(n int64) string {
	switch {
	case n < 0:
		return "—"
	case n >= 10_000_000:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	case n >= 1_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	default:
		return fmt.Sprintf("%d", n)
	}
}

// fmtAge is a duration in one or two units: 45s, 12m, 3h20m, 5d.
func fmtAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; m != 0 && h < 10 {
			return fmt.Sprintf("%dh%02dm", h, m)
		}
		return fmt.Sprintf("%dh", h)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// fmtClock is a duration as h:mm:ss or m:ss, for the RTO timer.
func fmtClock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// fmtTarget is where a figure is fine: "<100/min" for a rule whose
// figure is bad above 100.
func fmtTarget(t float64, unit string, c metrics.Compare) string {
	if math.IsNaN(t) {
		return ""
	}
	op := "<"
	if c == metrics.Below {
		op = ">"
	}
	return op + strings.TrimSpace(fmtWithUnit(t, unit))
}

// fmtAlert is where a figure alerts: ">100/min" for a rule whose figure
// is bad above 100.
func fmtAlert(t float64, unit string, c metrics.Compare) string {
	if math.IsNaN(t) {
		return ""
	}
	op := ">"
	if c == metrics.Below {
		op = "<"
	}
	return op + strings.TrimSpace(fmtWithUnit(t, unit))
}
