package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// maxAlertmanagerBody caps Alertmanager's answer: thousands of alerts fit
// in a few MiB.
const maxAlertmanagerBody = 8 << 20

// AlertmanagerSource reads the alerts an Alertmanager holds through its v2
// API (GET /api/v2/alerts). It is a small client of its own: the generated
// OpenAPI client pulls in far more than two JSON fields need.
type AlertmanagerSource struct {
	base   *url.URL
	client *http.Client
}

var _ Source = (*AlertmanagerSource)(nil)

// NewAlertmanagerSource builds an Alertmanager source for the base URL
// (e.g. http://127.0.0.1:9093).
func NewAlertmanagerSource(base string, client *http.Client) (*AlertmanagerSource, error) {
	u, err := ParseHTTPURL("alertmanager url", base, "http://host:port", true)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	return &AlertmanagerSource{base: u, client: client}, nil
}

// Name implements Source.
func (s *AlertmanagerSource) Name() string { return "alertmanager" }

// Kind implements Source.
func (s *AlertmanagerSource) Kind() string { return KindAlertmanager }

// Target implements Source.
func (s *AlertmanagerSource) Target() string { return s.base.String() }

// amAlert is the part of Alertmanager's gettableAlert we read.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State       string   `json:"state"`
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// Collect implements Source.
func (s *AlertmanagerSource) Collect(ctx context.Context, now time.Time) (Result, error) {
	alerts, err := s.Alerts(ctx)
	if err != nil {
		return Result{}, err
	}
	return Result{Alerts: alerts}, nil
}

// Alerts returns the active and suppressed alerts, newest first.
func (s *AlertmanagerSource) Alerts(ctx context.Context) ([]ExternalAlert, error) {
	u := *s.base
	u.Path += "/api/v2/alerts"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: %w", s.base, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: %w", s.base, describeNetErr(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAlertmanagerBody+1))
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: read: %w", s.base, describeNetErr(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alertmanager %s: HTTP %s: %s", s.base, resp.Status, reasonLine(string(truncate(body, 200))))
	}
	if len(body) > maxAlertmanagerBody {
		return nil, fmt.Errorf("alertmanager %s: answer larger than %d MiB", s.base, maxAlertmanagerBody>>20)
	}
	var raw []amAlert
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("alertmanager %s: not the v2 alerts JSON: %w", s.base, err)
	}
	out := make([]ExternalAlert, 0, len(raw))
	now := time.Now()
	for _, a := range raw {
		// Alertmanager leaves resolved alerts out of its answer; an
		// alert whose end is past (a clock between two answers) is
		// resolved all the same.
		if !a.EndsAt.IsZero() && !a.EndsAt.After(now) {
			continue
		}
		summary := a.Annotations["summary"]
		if summary == "" {
			summary = a.Annotations["description"]
		}
		out = append(out, ExternalAlert{
			Name: a.Labels["alertname"], Severity: a.Labels["severity"], Summary: summary,
			Instance: a.Labels["instance"], State: a.Status.State, Fingerprint: a.Fingerprint,
			SilencedBy: a.Status.SilencedBy, InhibitedBy: a.Status.InhibitedBy,
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, Labels: a.Labels, Annotations: a.Annotations,
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartsAt.After(out[j].StartsAt) })
	return out, nil
}

// Suppressed reports whether Alertmanager holds the alert back (silenced
// or inhibited): it is listed, but does not count in a verdict.
func (a ExternalAlert) Suppressed() bool {
	return a.State == "suppressed" || len(a.SilencedBy) > 0 || len(a.InhibitedBy) > 0
}

// DisplayState is the alert's state as an operator reads it: active,
// silenced, inhibited (both: "silenced, inhibited"), suppressed (neither
// named), or unprocessed (Alertmanager has not routed it yet).
func (a ExternalAlert) DisplayState() string {
	if !a.Suppressed() {
		if a.State == "" {
			return "active"
		}
		return a.State
	}
	var by []string
	if len(a.SilencedBy) > 0 {
		by = append(by, "silenced")
	}
	if len(a.InhibitedBy) > 0 {
		by = append(by, "inhibited")
	}
	if len(by) == 0 {
		return "suppressed"
	}
	return strings.Join(by, ", ")
}

// VerdictState is what the alert adds to a verdict: nothing (OK) when it
// is silenced or inhibited; CRITICAL for severity critical; WARNING for
// warning and for any other or missing severity (an alert nobody graded
// still wants a look).
func (a ExternalAlert) VerdictState() State {
	switch {
	case a.Suppressed():
		return StateOK
	case strings.EqualFold(strings.TrimSpace(a.Severity), "critical"):
		return StateCritical
	default:
		return StateWarning
	}
}

// Verdict is the snapshot's overall state with Alertmanager counted: the
// rules' verdict (Overall), made worse by every active (not silenced, not
// inhibited) Alertmanager alert, and at least UNKNOWN when an Alertmanager
// source failed (UNKNOWN ranks below WARNING and CRITICAL: a failed
// Alertmanager never hides what is known to be worse).
func (s Snapshot) Verdict() State {
	st := s.Overall()
	for _, a := range s.External {
		st = Worst(st, a.VerdictState())
	}
	for _, src := range s.Sources {
		if src.Kind == KindAlertmanager && !src.Up {
			st = Worst(st, StateUnknown)
		}
	}
	return st
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
