// Package silence keeps silences and acknowledgements of repops' alerts:
// the Silence type and its validation, a local store in the state dir, an
// Alertmanager v2 client, and a Set that answers the metrics engine's
// question "which silence covers this alert?" from memory.
//
// Decision: when console.sources.alertmanager_url is set, silences go to
// Alertmanager (repops' exported rules reach it through Prometheus, so a
// silence there stops the notifications that matter); otherwise they are
// kept locally in STATE_DIR/silences.json with the same behaviour, for
// repops' own rules. A silence stops notifications; it never makes a
// verdict OK.
package silence

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Where a silence lives.
const (
	SourceAlertmanager = "alertmanager"
	SourceLocal        = "local"
)

// Silence is one silence or acknowledgement.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	// Ack marks an acknowledgement: a short silence tied to the runbook
	// run RunID, over as soon as that run ends.
	Ack   bool   `json:"ack,omitempty"`
	RunID string `json:"run_id,omitempty"`
	// Source is SourceAlertmanager or SourceLocal.
	Source string `json:"source"`
	// UpdatedAt is when it was last changed (created, extended, expired).
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Active reports whether s silences at now (an ack whose run ended is
// not: see Set).
func (s Silence) Active(now time.Time) bool {
	return !now.Before(s.StartsAt) && now.Before(s.EndsAt)
}

// Matches reports whether every matcher of s matches labels.
func (s Silence) Matches(labels map[string]string) bool {
	if len(s.Matchers) == 0 {
		return false
	}
	for _, m := range s.Matchers {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}

// MatchersString is the matchers as Alertmanager prints them: {a="b", c=~"d"}.
func (s Silence) MatchersString() string {
	parts := make([]string, len(s.Matchers))
	for i, m := range s.Matchers {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Op is a matcher's operator.
type Op string

// The four operators of Alertmanager's matchers.
const (
	OpEqual    Op = "="
	OpNotEqual Op = "!="
	OpRegex    Op = "=~"
	OpNotRegex Op = "!~"
)

// Matcher is one label matcher.
type Matcher struct {
	Name  string `json:"name"`
	Op    Op     `json:"op"`
	Value string `json:"value"`
}

// String is name="value" with the operator.
func (m Matcher) String() string { return fmt.Sprintf("%s%s%q", m.Name, m.Op, m.Value) }

// Matches reports whether m matches labels; a missing label is the empty
// string, as in Alertmanager. An invalid regex matches nothing (Validate
// refuses one before anything is created).
func (m Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Op {
	case OpEqual:
		return v == m.Value
	case OpNotEqual:
		return v != m.Value
	case OpRegex, OpNotRegex:
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return false
		}
		return re.MatchString(v) == (m.Op == OpRegex)
	}
	return false
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate checks one matcher.
func (m Matcher) Validate() error {
	if !labelName.MatchString(m.Name) {
		return fmt.Errorf("matcher %s: %q is not a label name (letters, digits and _, not starting with a digit)", m.String(), m.Name)
	}
	switch m.Op {
	case OpEqual, OpNotEqual:
	case OpRegex, OpNotRegex:
		if _, err := regexp.Compile("^(?:" + m.Value + ")$"); err != nil {
			return fmt.Errorf("matcher %s: bad regular expression: %v", m.String(), err)
		}
	default:
		return fmt.Errorf("matcher %s: operator %q is not one of =, !=, =~, !~", m.String(), m.Op)
	}
	return nil
}

// ParseMatcher reads name=value, name!=value, name=~regex or name!~regex
// (the value may be double-quoted).
func ParseMatcher(s string) (Matcher, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return Matcher{}, fmt.Errorf("matcher %q: want name=value, name!=value, name=~regex or name!~regex", s)
	}
	name, rest := strings.TrimSpace(s[:i]), s[i:]
	var op Op
	for _, o := range []Op{OpRegex, OpNotRegex, OpNotEqual, OpEqual} {
		if strings.HasPrefix(rest, string(o)) {
			op = o
			break
		}
	}
	if op == "" {
		return Matcher{}, fmt.Errorf("matcher %q: want name=value, name!=value, name=~regex or name!~regex", s)
	}
	val := strings.TrimSpace(rest[len(op):])
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		val = val[1 : len(val)-1]
	}
	m := Matcher{Name: name, Op: op, Value: val}
	return m, m.Validate()
}

// FromLabels is one equality matcher per label, sorted by name: the
// matchers that silence exactly the alert carrying labels.
func FromLabels(labels map[string]string) []Matcher {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]Matcher, 0, len(names))
	for _, k := range names {
		out = append(out, Matcher{Name: k, Op: OpEqual, Value: labels[k]})
	}
	return out
}

// Limits bound a silence's duration by the severity of what it silences.
type Limits struct {
	// MaxDuration maps a severity (critical, warning, info) to the longest
	// silence allowed for it.
	MaxDuration map[string]time.Duration
	// AckMax is the longest acknowledgement. Default 4h.
	AckMax time.Duration
}

// DefaultAckMax is an acknowledgement's default maximum: an ack is for
// the time a runbook run takes, not a way to mute an alert for the day.
const DefaultAckMax = 4 * time.Hour

// maxFor is the longest silence allowed for s.
// Decision: a silence with severity="X" is bounded by X's maximum; one
// that does not pin the severity may cover any alert, so it gets the
// smallest maximum configured.
func (l Limits) maxFor(s Silence) (time.Duration, string) {
	if s.Ack {
		if l.AckMax > 0 {
			return l.AckMax, "an acknowledgement"
		}
		return DefaultAckMax, "an acknowledgement"
	}
	for _, m := range s.Matchers {
		if m.Name == "severity" && m.Op == OpEqual {
			if d, ok := l.MaxDuration[m.Value]; ok && d > 0 {
				return d, "a " + m.Value + " alert (console.silences.max_duration." + m.Value + ")"
			}
		}
	}
	var best time.Duration
	which := ""
	for sev, d := range l.MaxDuration {
		if d > 0 && (best == 0 || d < best || (d == best && sev < which)) {
			best, which = d, sev
		}
	}
	if best == 0 {
		return 0, ""
	}
	return best, "a silence that does not pin severity (the smallest maximum, " + which + ")"
}

// ErrInvalid is what every validation error wraps.
var ErrInvalid = errors.New("invalid silence")

// Validate checks s before it is created: a comment, at least one valid
// matcher (not all of them matching the empty string, which would
// silence everything), an end in the future after the start, a duration
// within the limits, and an ack's run id.
func Validate(s Silence, l Limits, now time.Time) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(s.Comment) == "" {
		return bad("a comment is required: say why (ticket, incident, what you are doing)")
	}
	if strings.TrimSpace(s.CreatedBy) == "" {
		return bad("the author is missing")
	}
	if len(s.Matchers) == 0 {
		return bad("no matchers: give --rule NAME or --match name=value")
	}
	empty := true
	for _, m := range s.Matchers {
		if err := m.Validate(); err != nil {
			return bad("%v", err)
		}
		empty = empty && m.Matches(map[string]string{})
	}
	if empty {
		return bad("the matchers %s match an alert with no labels: they would silence everything", s.MatchersString())
	}
	if s.StartsAt.IsZero() || s.EndsAt.IsZero() {
		return bad("start and end are required")
	}
	if !s.EndsAt.After(s.StartsAt) {
		return bad("the duration must be positive (ends %s, starts %s)", s.EndsAt.UTC().Format(time.RFC3339), s.StartsAt.UTC().Format(time.RFC3339))
	}
	if !s.EndsAt.After(now) {
		return bad("it would end at %s, which is already past", s.EndsAt.UTC().Format(time.RFC3339))
	}
	if s.Ack && strings.TrimSpace(s.RunID) == "" {
		return bad("an acknowledgement needs the runbook run dealing with the alert")
	}
	if max, what := l.maxFor(s); max > 0 && s.EndsAt.Sub(s.StartsAt) > max {
		return bad("%s lasts at most %s, asked %s", what, FormatDuration(max), FormatDuration(s.EndsAt.Sub(s.StartsAt)))
	}
	return nil
}

// FormatDuration is a short duration: 7d, 3h12m, 9m, 40s.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	case d >= time.Hour:
		if m := (d % time.Hour) / time.Minute; m != 0 {
			return fmt.Sprintf("%dh%dm", d/time.Hour, m)
		}
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// ParseDuration reads a silence duration: Go's (90m, 4h) plus days (7d).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		var n int
		if _, err := fmt.Sscanf(s, "%dd", &n); err == nil && fmt.Sprintf("%dd", n) == s {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want for example 1h, 4h, 24h or 7d", s)
	}
	return d, nil
}

// Presets are the console's duration choices.
var Presets = []time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
