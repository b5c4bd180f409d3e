package incident

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// autoSummary is the summary written from the figures when the operator
// gave none at 'repops incident end'.
func autoSummary(r Report) string {
	var parts []string
	for _, im := range r.Impact {
		s := im.Alert + " reached " + im.WorstState
		if im.Worst != nil {
			s += " (worst " + formatValue(*im.Worst, im.Unit)
			if im.Threshold != nil {
				s += ", threshold " + formatValue(*im.Threshold, im.Unit)
			}
			s += ")"
		}
		if im.BeyondSeconds > 0 {
			s += fmt.Sprintf(", beyond its threshold for %s", duration(time.Duration(im.BeyondSeconds)*time.Second))
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		parts = append(parts, "No alert left OK in this window")
	}
	s := strings.Join(parts, "; ") + "."
	var times []string
	for _, tt := range []struct {
		name string
		v    *int64
	}{{"detected", r.TTD}, {"acknowledged", r.TTA}, {"mitigated", r.TTM}, {"resolved", r.TTR}} {
		if tt.v != nil {
			times = append(times, fmt.Sprintf("%s after %s", tt.name, secs(*tt.v)))
		}
	}
	if len(times) > 0 {
		s += " " + capitalize(strings.Join(times, ", ")) + "."
	}
	if len(r.Unresolved) > 0 {
		s += " Not resolved at the end of the window: " + strings.Join(r.Unresolved, ", ") + "."
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// secs is n seconds as 1m05s (or 42s).
func secs(n int64) string {
	return (time.Duration(n) * time.Second).String()
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

const clock = "2006-01-02 15:04:05"

// WriteMarkdown writes r as a postmortem section that pastes as it is:
// title, status, summary, response times, impact, timeline, commands to
// replay, definitions.
func WriteMarkdown(w io.Writer, r Report) error {
	var b strings.Builder
	title := r.Title
	if title == "" {
		title = "Untitled incident"
	}
	if r.ID != "" {
		fmt.Fprintf(&b, "# Incident %s: %s\n\n", r.ID, md(title))
	} else {
		fmt.Fprintf(&b, "# %s\n\n", md(title))
	}
	status := "ended"
	switch {
	case !r.Explicit:
		status = "window of time"
	case r.Open:
		status = "open"
	}
	fmt.Fprintf(&b, "- **Status:** %s\n", status)
	fmt.Fprintf(&b, "- **Window:** %s to %s UTC (%s)\n", r.Start.Format(clock), r.End.Format(clock), duration(r.End.Sub(r.Start)))
	if r.From.Before(r.Start) {
		fmt.Fprintf(&b, "- **Timeline from:** %s UTC (what was already under way when the incident was started)\n", r.From.Format(clock))
	}
	if r.StartedBy.User != "" {
		fmt.Fprintf(&b, "- **Started by:** %s\n", md(r.StartedBy.String()))
	}
	fmt.Fprintf(&b, "- **Report generated:** %s UTC\n\n", r.Generated.Format(clock))

	fmt.Fprintf(&b, "## Summary\n\n%s\n\n", md(r.Summary))

	b.WriteString("## Response times\n\n| measure | from | to | time |\n|---|---|---|---|\n")
	from := fmt.Sprintf("alert start %s", r.AlertStart.Format("15:04:05"))
	if r.AlertStartFrom != "alert" {
		from = fmt.Sprintf("incident start %s (no alert)", r.AlertStart.Format("15:04:05"))
	}
	for _, tt := range []struct {
		name, to string
		at       *time.Time
		v        *int64
	}{
		{"TTD (detect)", "first firing", r.FirstFiring, r.TTD},
		{"TTA (acknowledge)", "first operator action", r.FirstAction, r.TTA},
		{"TTM (mitigate)", "mitigation", r.Mitigated, r.TTM},
		{"TTR (resolve)", "last alert resolved", r.Resolved, r.TTR},
	} {
		to, v := tt.to+": none", "n/a"
		if tt.at != nil {
			to = tt.to + " " + tt.at.Format("15:04:05")
		}
		if tt.v != nil {
			v = secs(*tt.v)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", tt.name, from, to, v)
	}
	b.WriteString("\n## Impact\n\n")
	if len(r.Impact) == 0 {
		b.WriteString("No alert left OK in this window.\n\n")
	} else {
		b.WriteString("| alert | worst state | worst value | threshold | beyond threshold for |\n|---|---|---|---|---|\n")
		for _, im := range r.Impact {
			name := im.Alert
			if im.Title != "" {
				name = im.Title + " (" + im.Alert + ")"
			}
			worst, th := "unknown", "n/a"
			if im.Worst != nil {
				worst = formatValue(*im.Worst, im.Unit)
			}
			if im.Threshold != nil {
				th = formatValue(*im.Threshold, im.Unit)
			}
			beyond := secs(im.BeyondSeconds)
			if im.Ongoing {
				beyond += " (still at the window's end)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", md(name), im.WorstState, worst, th, beyond)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Timeline\n\n")
	if len(r.Timeline) == 0 {
		b.WriteString("No journal entries in this window.\n\n")
	} else {
		b.WriteString("| time (UTC) | source | what | outcome | who |\n|---|---|---|---|---|\n")
		for _, row := range r.Timeline {
			what := row.What
			if row.Finished != nil && row.Finished.Format(clock) != row.Time.Format(clock) {
				what += fmt.Sprintf(" (until %s)", row.Finished.Format("15:04:05"))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.Time.Format(clock), row.Source, md(what), row.Outcome, md(row.Who))
		}
		b.WriteString("\n")
	}
	if len(r.Commands) > 0 {
		b.WriteString("## Commands (to replay from a shell)\n\n```sh\n")
		for _, c := range r.Commands {
			b.WriteString(c + "\n")
		}
		b.WriteString("```\n\n")
	}
	b.WriteString("---\n\n*Definitions.*\n\n")
	for _, d := range r.Definitions {
		b.WriteString("- " + md(d) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// md keeps a value on one line of a table and escapes its pipes.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}
