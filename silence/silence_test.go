package silence

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		in      string
		want    Matcher
		wantErr string
	}{
		{"alertname=ReputationAPIErrors", Matcher{"alertname", OpEqual, "ReputationAPIErrors"}, ""},
		{`instance!="node-1:9090"`, Matcher{"instance", OpNotEqual, "node-1:9090"}, ""},
		{"instance=~node-.*", Matcher{"instance", OpRegex, "node-.*"}, ""},
		{"severity!~info|warning", Matcher{"severity", OpNotRegex, "info|warning"}, ""},
		{"=x", Matcher{}, "want name=value"},
		{"noop", Matcher{}, "want name=value"},
		{"1abc=x", Matcher{}, "not a label name"},
		{"a=~(", Matcher{}, "bad regular expression"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMatcher(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	labels := map[string]string{"alertname": "ReputationApiErrorRate", "severity": "critical", "instance": "node-1"}
	tests := []struct {
		name     string
		matchers []Matcher
		want     bool
	}{
		{"equal", []Matcher{{"alertname", OpEqual, "ReputationApiErrorRate"}}, true},
		{"all must match", []Matcher{{"alertname", OpEqual, "ReputationApiErrorRate"}, {"severity", OpEqual, "info"}}, false},
		{"regex anchored", []Matcher{{"instance", OpRegex, "node"}}, false},
		{"regex", []Matcher{{"instance", OpRegex, "node-[0-9]+"}}, true},
		{"not equal", []Matcher{{"severity", OpNotEqual, "info"}}, true},
		{"not regex", []Matcher{{"severity", OpNotRegex, "crit.*"}}, false},
		{"missing label is empty", []Matcher{{"team", OpEqual, ""}}, true},
		{"no matchers match nothing", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Silence{Matchers: tt.matchers}).Matches(labels); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	lim := Limits{MaxDuration: map[string]time.Duration{"critical": 24 * time.Hour, "warning": 7 * 24 * time.Hour, "info": 7 * 24 * time.Hour}}
	ok := Silence{Matchers: []Matcher{{"alertname", OpEqual, "X"}, {"severity", OpEqual, "warning"}},
		StartsAt: t0, EndsAt: t0.Add(4 * time.Hour), CreatedBy: "alice@host", Comment: "INC-7"}
	tests := []struct {
		name    string
		edit    func(*Silence)
		wantErr string
	}{
		{"valid", func(*Silence) {}, ""},
		{"empty comment", func(s *Silence) { s.Comment = "  " }, "a comment is required"},
		{"no matchers", func(s *Silence) { s.Matchers = nil }, "no matchers"},
		{"bad matcher", func(s *Silence) { s.Matchers[0].Op = "==" }, "operator"},
		{"matches everything", func(s *Silence) { s.Matchers = []Matcher{{"alertname", OpRegex, ".*"}} }, "silence everything"},
		{"zero duration", func(s *Silence) { s.EndsAt = s.StartsAt }, "must be positive"},
		{"ended", func(s *Silence) { s.StartsAt, s.EndsAt = t0.Add(-2*time.Hour), t0.Add(-time.Hour) }, "already past"},
		{"beyond severity max", func(s *Silence) { s.Matchers[1].Value = "critical"; s.EndsAt = t0.Add(48 * time.Hour) }, "critical alert"},
		{"within warning max", func(s *Silence) { s.EndsAt = t0.Add(6 * 24 * time.Hour) }, ""},
		{"unpinned severity gets the smallest max", func(s *Silence) { s.Matchers = s.Matchers[:1]; s.EndsAt = t0.Add(48 * time.Hour) }, "does not pin severity"},
		{"ack without run", func(s *Silence) { s.Ack = true }, "needs the runbook run"},
		{"ack too long", func(s *Silence) { s.Ack, s.RunID = true, "r1"; s.EndsAt = t0.Add(5 * time.Hour) }, "an acknowledgement lasts at most 4h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			s.Matchers = append([]Matcher(nil), ok.Matchers...)
			tt.edit(&s)
			err := Validate(s, lim, t0)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"1h": time.Hour, "90m": 90 * time.Minute, "7d": 7 * 24 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "7dd", "1.5d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q): no error", bad)
		}
	}
	for d, want := range map[time.Duration]string{192 * time.Minute: "3h12m", 7 * 24 * time.Hour: "7d", 9 * time.Minute: "9m", 26 * time.Hour: "1d2h", -time.Second: "0s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
