package silence

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/repops/repops/config"
)

// Service creates, extends and expires silences on one backend, checking
// every one against the limits first: nothing invalid reaches the
// backend.
type Service struct {
	Backend Backend
	Limits  Limits
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MayChange, when set, is asked before a silence is extended or
	// expired: an error refuses (repops serve: only an admin changes
	// another operator's silences).
	MayChange func(Silence) error
}

// FromConfig is the service the config asks for (see the package's
// Decision): Alertmanager when console.sources.alertmanager_url is set,
// the local store in the state dir otherwise.
func FromConfig(cfg *config.Config, client *http.Client) (*Service, error) {
	lim := Limits{MaxDuration: cfg.Console.Silences.MaxDuration.BySeverity(), AckMax: DefaultAckMax}
	if u := cfg.Console.Sources.AlertmanagerURL; u != "" {
		if client == nil {
			client = &http.Client{Timeout: max(cfg.Console.Sources.Timeout, 5*time.Second)}
		}
		am, err := NewAlertmanager(u, client)
		if err != nil {
			return nil, err
		}
		return &Service{Backend: am, Limits: lim}, nil
	}
	return &Service{Backend: NewStore(cfg.StateDir()), Limits: lim}, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// AddRequest is what an operator asks for.
type AddRequest struct {
	Matchers  []Matcher
	Duration  time.Duration
	Comment   string
	CreatedBy string
	Ack       bool
	RunID     string
}

// Build is the silence req describes, starting now, validated.
func (s *Service) Build(req AddRequest) (Silence, error) {
	now := s.now()
	x := Silence{Matchers: req.Matchers, StartsAt: now.UTC(), EndsAt: now.Add(req.Duration).UTC(),
		CreatedBy: req.CreatedBy, Comment: strings.TrimSpace(req.Comment), Ack: req.Ack, RunID: req.RunID,
		Source: s.Backend.Name()}
	if req.Duration <= 0 {
		return Silence{}, fmt.Errorf("%w: the duration must be positive, got %s", ErrInvalid, req.Duration)
	}
	if err := Validate(x, s.Limits, now); err != nil {
		return Silence{}, err
	}
	return x, nil
}

// Add validates req and creates the silence.
func (s *Service) Add(ctx context.Context, req AddRequest) (Silence, error) {
	x, err := s.Build(req)
	if err != nil {
		return Silence{}, err
	}
	return s.Backend.Create(ctx, x)
}

// Extend moves silence id's end by d.
// Decision: the new end is the old end plus d, and what remains from now
// to the new end must be within the limit for the silence's severity (a
// long incident can be silenced in steps, each one a deliberate act).
func (s *Service) Extend(ctx context.Context, id string, d time.Duration) (Silence, error) {
	if d <= 0 {
		return Silence{}, fmt.Errorf("%w: extend by a positive duration, got %s", ErrInvalid, d)
	}
	x, err := s.changeable(ctx, id)
	if err != nil {
		return Silence{}, err
	}
	now := s.now()
	if !now.Before(x.EndsAt) {
		return Silence{}, fmt.Errorf("silence %s: %w: add a new one", x.ID, ErrExpired)
	}
	check := x
	check.StartsAt, check.EndsAt = now, x.EndsAt.Add(d)
	if err := Validate(check, s.Limits, now); err != nil {
		return Silence{}, err
	}
	return s.Backend.Extend(ctx, x.ID, check.EndsAt.UTC())
}

// changeable is silence id (or the one its prefix names), when this
// service may change it (MayChange).
func (s *Service) changeable(ctx context.Context, id string) (Silence, error) {
	list, err := s.Backend.List(ctx)
	if err != nil {
		return Silence{}, err
	}
	x, err := Find(list, id)
	if err != nil {
		return Silence{}, fmt.Errorf("silence %s: %w: see 'repops silence list'", id, err)
	}
	if s.MayChange != nil {
		if err := s.MayChange(x); err != nil {
			return Silence{}, fmt.Errorf("silence %s: %w", x.ID, err)
		}
	}
	return x, nil
}

// Expire ends silence id now.
func (s *Service) Expire(ctx context.Context, id string) (Silence, error) {
	x, err := s.changeable(ctx, id)
	if err != nil {
		return Silence{}, err
	}
	if !s.now().Before(x.EndsAt) {
		return Silence{}, fmt.Errorf("silence %s: %w", x.ID, ErrExpired)
	}
	return x, s.Backend.Expire(ctx, x.ID)
}

// Preview is what a silence would silence: the firing alerts its
// matchers match, from repops' own rules and, with Alertmanager, its
// alerts; each alert once.
type Preview struct {
	Alerts []map[string]string `json:"alerts"`
	// Err says why Alertmanager's alerts could not be read (the preview
	// is then of repops' rules only).
	Err string `json:"error,omitempty"`
}

// Preview matches matchers against firing (repops' own firing alerts'
// labels) and, when the backend is Alertmanager, its alerts.
func (s *Service) Preview(ctx context.Context, matchers []Matcher, firing []map[string]string) Preview {
	x := Silence{Matchers: matchers}
	var p Preview
	seen := map[string]bool{}
	add := func(l map[string]string) {
		k := Silence{Matchers: FromLabels(l)}.MatchersString()
		if !seen[k] && x.Matches(l) {
			seen[k] = true
			p.Alerts = append(p.Alerts, l)
		}
	}
	for _, l := range firing {
		add(l)
	}
	if am, ok := s.Backend.(*Alertmanager); ok && len(matchers) > 0 {
		alerts, err := am.Alerts(ctx, matchers)
		if err != nil {
			p.Err = err.Error()
		}
		for _, a := range alerts {
			add(a.Labels)
		}
	}
	sort.SliceStable(p.Alerts, func(i, j int) bool { return p.Alerts[i]["alertname"] < p.Alerts[j]["alertname"] })
	return p
}
