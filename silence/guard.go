package silence

import (
	"fmt"
	"sort"
	"time"
)

// The expiry guard's thresholds.
const (
	// EndingWarning: a silence ending this soon while its alert still
	// fires gets a banner, so nobody is paged by surprise.
	EndingWarning = 10 * time.Minute
	// UnmatchedWarning: a silence that has matched nothing this long is
	// flagged: a stale silence hides the next, unrelated alert.
	UnmatchedWarning = time.Hour
)

// Warning is one of the expiry guard's findings.
type Warning struct {
	SilenceID string `json:"silence_id"`
	// Kind is "ending" or "unmatched".
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// Warnings are the guard's findings at now, given the labels of the
// alerts firing now (a non-OK rule's metrics.AlertLabels).
func (s *Set) Warnings(now time.Time, firing []map[string]string) []Warning {
	var out []Warning
	for _, x := range s.Silences() {
		if !s.InForce(x, now) {
			continue
		}
		short := shortID(x.ID)
		if left := x.EndsAt.Sub(now); left <= EndingWarning {
			for _, l := range firing {
				if x.Matches(l) {
					out = append(out, Warning{SilenceID: x.ID, Kind: "ending", Text: fmt.Sprintf(
						"silence %s on %s ends in %s while %s still fires: extend it (+) or deal with the alert",
						short, x.MatchersString(), FormatDuration(left), l["alertname"])})
					break
				}
			}
		}
		seen := s.LastMatched(x.ID)
		if seen.Before(x.StartsAt) {
			seen = x.StartsAt
		}
		if idle := now.Sub(seen); idle >= UnmatchedWarning {
			out = append(out, Warning{SilenceID: x.ID, Kind: "unmatched", Text: fmt.Sprintf(
				"silence %s on %s has matched nothing for %s: expire it if it is stale",
				short, x.MatchersString(), FormatDuration(idle))})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// shortID is the first 8 characters of an id, as the list shows it.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
