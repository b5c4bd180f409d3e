package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/metrics"
)

// SilenceService is how the console reaches silences (Alertmanager's or
// the local store): cmd/repops implements it with the silence package,
// so that tui imports no network code. Every method but Warnings and
// Backend may block: the console calls them from a tea.Cmd only.
type SilenceService interface {
	// Backend is "alertmanager" or "local".
	Backend() string
	// Preview is what a silence of the alert carrying labels would
	// silence: snap's firing alerts and, with Alertmanager, its alerts.
	Preview(ctx context.Context, labels map[string]string, snap metrics.Snapshot) SilencePreview
	// Create validates and creates a silence (or an acknowledgement),
	// journaling it; an error means nothing was created.
	Create(ctx context.Context, req SilenceRequest) (SilenceInfo, error)
	// List is the silences, newest first.
	List(ctx context.Context) ([]SilenceInfo, error)
	// Expire ends silence id now; Extend moves its end later by d.
	Expire(ctx context.Context, id string) error
	Extend(ctx context.Context, id string, d time.Duration) (SilenceInfo, error)
	// Warnings are the expiry guard's findings for snap (from memory).
	Warnings(now time.Time, snap metrics.Snapshot) []string
	// RunFor is the runbook run under way for runbook id, if any: what
	// an acknowledgement is tied to. It reads the state dir.
	RunFor(runbook string) (runID string, ok bool)
}

// SilenceRequest is a silence the operator asks for: equality matchers
// on Labels.
type SilenceRequest struct {
	Labels   map[string]string
	Duration time.Duration
	Comment  string
	Ack      bool
	RunID    string
}

// SilenceInfo is one silence as the console shows it.
type SilenceInfo struct {
	ID        string
	Matchers  string
	CreatedBy string
	Comment   string
	StartsAt  time.Time
	EndsAt    time.Time
	Ack       bool
	RunID     string
	// InForce: active now (an ack whose run ended is not).
	InForce bool
	// Command is the shell equivalent of the change that made it (shown
	// when the console creates one; "" for an acknowledgement).
	Command string
}

// SilencePreview is what a silence would silence.
type SilencePreview struct {
	// Alerts are the matched alerts, one line each ({alertname=..., ...}).
	Alerts []string
	// Err says what could not be asked (Alertmanager down).
	Err string
}

// Messages of the silence actions.
type (
	silencePreviewMsg struct {
		key string
		p   SilencePreview
	}
	silenceCreatedMsg struct {
		info SilenceInfo
		err  error
	}
	silencesListedMsg struct {
		list []SilenceInfo
		err  error
	}
	silenceChangedMsg struct {
		what string
		err  error
	}
	ackRunMsg struct {
		rule   string
		labels map[string]string
		runID  string
		ok     bool
	}
)

func listSilencesCmd(svc SilenceService) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), silenceTimeout)
		defer cancel()
		l, err := svc.List(ctx)
		return silencesListedMsg{list: l, err: err}
	}
}

// silenceTimeout bounds one call to the silence service.
const silenceTimeout = 10 * time.Second

// silenceable reports whether a has an alert to silence: warning,
// pending or critical (an unknown rule has no data; an OK one nothing).
func silenceable(a metrics.AlertStatus) bool {
	return a.State == metrics.StateWarning || a.State == metrics.StatePending || a.State == metrics.StateCritical
}
