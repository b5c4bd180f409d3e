package config

import "time"

// Silences bounds the silences and acknowledgements made from repops
// ('repops silence add', the console's s and a keys).
type Silences struct {
	// MaxDuration is the longest silence allowed per severity of the
	// alert it silences. Defaults: critical 24h, warning and info 168h
	// (7 days). A silence that does not pin severity gets the smallest.
	MaxDuration SilenceMaxDuration `yaml:"max_duration"`
}

// SilenceMaxDuration is the per-severity maximum.
type SilenceMaxDuration struct {
	Critical time.Duration `yaml:"critical"`
	Warning  time.Duration `yaml:"warning"`
	Info     time.Duration `yaml:"info"`
}

// BySeverity is the maximum keyed by severity name.
func (m SilenceMaxDuration) BySeverity() map[string]time.Duration {
	return map[string]time.Duration{"critical": m.Critical, "warning": m.Warning, "info": m.Info}
}

// maxSilence is the longest any maximum may be: a silence for a month is
// a disabled alert, which belongs in console.rules.
const maxSilence = 30 * 24 * time.Hour

func (v *validator) silences(s Silences) {
	for _, c := range []struct {
		sev string
		d   time.Duration
	}{{"critical", s.MaxDuration.Critical}, {"warning", s.MaxDuration.Warning}, {"info", s.MaxDuration.Info}} {
		key := "console.silences.max_duration." + c.sev
		v.check(key, c.d >= time.Minute && c.d <= maxSilence,
			"must be between 1m and %s (to turn a rule off, use console.rules), got %s", formatDuration(maxSilence), formatDuration(c.d))
	}
}
