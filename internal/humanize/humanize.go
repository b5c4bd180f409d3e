// Package humanize writes the figures an operator reads (byte counts,
// ages, messages on one line) the one way the console writes them, so that
// the console, the CLI, the journal and error messages agree. It imports
// nothing of the project, so every package may use it.
//
// It is written here rather than taken from github.com/dustin/go-humanize:
// that module's IBytes writes "79 MiB" (no decimal from 10 up) and takes
// no unknown (negative) size, its Time and RelTime write "7 hours ago",
// and it has nothing for the compact ages ("27 s", "4 min", "2.1 h",
// "3 d") or the one-line text the console shows; the three functions the
// console needs are a few lines each.
package humanize

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Bytes is a byte count in binary units, one decimal from KiB up:
// "930 B", "1.0 KiB", "88.4 MiB", "3.0 TiB". A negative count means
// unknown: "—".
func Bytes(n int64) string {
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

// Age is a duration, an age or a time taken, in the one unit that suits
// it: "27 s", "4 min", "2.1 h", "45.7 h", "3 d". A negative duration (a
// clock that went back) reads as "0 s".
func Age(d time.Duration) string { return Hours(max(0, d.Hours())) }

// GlanceAge is Age for a label a live screen redraws every refresh: under
// a minute it is "<1 min" rather than a count of seconds.
//
// Decision: a live screen's ages move at most once a minute. A seconds
// count beside every new alert and a fresh backup rewrote those cells at
// every refresh (about 475 bytes a second to a 120x40 pane over SSH, more
// than everything else an idle dashboard sends); the clock time beside
// each age ("since 05:59") keeps the precision, and the detail views
// (enter) still give seconds.
func GlanceAge(d time.Duration) string {
	if d < time.Minute {
		return "<1 min"
	}
	return Age(d)
}

// Hours is a duration given in hours, as Age writes it, for figures that
// are measured in hours (panel values, rule thresholds): "never" for +Inf
// (the age of something that never happened), "—" for NaN or -Inf, and a
// leading "-" for a negative figure.
func Hours(h float64) string {
	switch {
	case math.IsInf(h, 1):
		return "never"
	case math.IsNaN(h) || math.IsInf(h, -1):
		return "—"
	case h < 0:
		return "-" + Hours(-h)
	case h*3600 < 59.5:
		return fmt.Sprintf("%.0f s", h*3600)
	case h*60 < 59.5:
		return fmt.Sprintf("%.0f min", h*60)
	case h < 99.95:
		if r := math.Round(h); math.Abs(h-r) < 0.05 {
			return fmt.Sprintf("%.0f h", r)
		}
		return fmt.Sprintf("%.1f h", h)
	default:
		d := h / 24
		if r := math.Round(d); d >= 9.95 || math.Abs(d-r) < 0.05 {
			return fmt.Sprintf("%.0f d", r)
		}
		return fmt.Sprintf("%.1f d", d)
	}
}

// OneLine is s on one line: every run of white space (newlines, tabs,
// repeated spaces) becomes one space, and none leads or trails. It never
// cuts: a caller that must bound the length does so itself.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
