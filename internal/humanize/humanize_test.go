package humanize

import (
	"math"
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int64
		want string
	}{
		{"unknown", -1, "—"},
		{"zero", 0, "0 B"},
		{"under a KiB", 1023, "1023 B"},
		{"one KiB", 1024, "1.0 KiB"},
		{"a KiB and a half", 1536, "1.5 KiB"},
		{"whole MiB", 92 << 20, "92.0 MiB"},
		{"hundreds of MiB", 933732352, "890.5 MiB"},
		{"TiB", 3 << 40, "3.0 TiB"},
		{"beyond PiB stays in PiB", math.MaxInt64, "8192.0 PiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Bytes(c.n); got != c.want {
				t.Errorf("Bytes(%d) = %q, want %q", c.n, got, c.want)
			}
		})
	}
}

func TestAge(t *testing.T) {
	for _, c := range []struct {
		name string
		d    time.Duration
		want string
	}{
		{"negative reads as none", -time.Minute, "0 s"},
		{"zero", 0, "0 s"},
		{"seconds", 27 * time.Second, "27 s"},
		{"rounds up to a minute", 59*time.Second + 600*time.Millisecond, "1 min"},
		{"minutes", 4 * time.Minute, "4 min"},
		{"the guide's 30 m", 30 * time.Minute, "30 min"},
		{"whole hours", 4 * time.Hour, "4 h"},
		{"hours with a decimal", 2*time.Hour + 8*time.Minute, "2.1 h"},
		{"days", 108*time.Hour + 45*time.Minute, "4.5 d"},
		{"whole days", 7 * 24 * time.Hour, "7 d"},
		{"ten days and more in whole days", 10*24*time.Hour + 5*time.Hour, "10 d"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Age(c.d); got != c.want {
				t.Errorf("Age(%v) = %q, want %q", c.d, got, c.want)
			}
		})
	}
}

// TestHours covers what only Hours writes; tui's TestFmtHours covers the
// units, as the console shows them.
func TestHours(t *testing.T) {
	for _, c := range []struct {
		name  string
		hours float64
		want  string
	}{
		{"as Age writes it", 72.5 * 1.5, "4.5 d"},
		{"never", math.Inf(1), "never"},
		{"unknown", math.NaN(), "—"},
		{"negative", -2.13, "-2.1 h"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Hours(c.hours); got != c.want {
				t.Errorf("Hours(%v) = %q, want %q", c.hours, got, c.want)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	for _, c := range []struct {
		name, s, want string
	}{
		{"empty", "", ""},
		{"already one line", "no such table: appeals", "no such table: appeals"},
		{"newlines and indentation", "CREATE INDEX x\n\t  ON appeals(user_id,\r\n status)\n", "CREATE INDEX x ON appeals(user_id, status)"},
		{"leading and trailing space", "  *** in database main ***  ", "*** in database main ***"},
		{"never cut", longText, longText},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := OneLine(c.s); got != c.want {
				t.Errorf("OneLine(%q) = %q, want %q", c.s, got, c.want)
			}
		})
	}
}

const longText = "SELECT count(*) FROM appeals WHERE status = 'pending' AND created_at < datetime('now', '-7 days') AND user_id IN (SELECT user_id FROM ml_predictions WHERE confidence < 0.5 AND prediction_type = 'appeal_outcome') AND id NOT IN (SELECT appeal_id FROM appeal_negotiation_messages)"
