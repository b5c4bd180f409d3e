package silence

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/repops/repops/metrics"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Alertmanager is a silence backend on Alertmanager's v2 API.
//
// Decision: Alertmanager has no field for an acknowledgement's run, so an
// ack is written as a comment prefixed "[ack run RUNID] " and read back
// from it; Alertmanager's own UI then shows the run too.
type Alertmanager struct {
	base   *url.URL
	client *http.Client
}

var _ Backend = (*Alertmanager)(nil)

// maxAMBody bounds a response read from Alertmanager.
const maxAMBody = 16 << 20

// NewAlertmanager is a client of the Alertmanager at baseURL (the
// console.sources.alertmanager_url); a nil client uses one with a 5 s
// timeout.
func NewAlertmanager(baseURL string, client *http.Client) (*Alertmanager, error) {
	u, err := metrics.ParseHTTPURL("alertmanager url", baseURL, "http(s)://host:port", true)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &Alertmanager{base: u, client: client}, nil
}

// Name is SourceAlertmanager.
func (a *Alertmanager) Name() string { return SourceAlertmanager }

// URL is the Alertmanager's base URL.
func (a *Alertmanager) URL() string { return a.base.String() }

type amMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual,omitempty"`
}

type amSilence struct {
	ID        string      `json:"id,omitempty"`
	Matchers  []amMatcher `json:"matchers"`
	StartsAt  time.Time   `json:"startsAt"`
	EndsAt    time.Time   `json:"endsAt"`
	CreatedBy string      `json:"createdBy"`
	Comment   string      `json:"comment"`
	UpdatedAt time.Time   `json:"updatedAt,omitzero"`
	Status    *struct {
		State string `json:"state"`
	} `json:"status,omitempty"`
}

var ackPrefix = regexp.MustCompile(`^\[ack run ([^\]\s]+)\] `)

func toAM(s Silence) amSilence {
	out := amSilence{ID: s.ID, StartsAt: s.StartsAt.UTC(), EndsAt: s.EndsAt.UTC(), CreatedBy: s.CreatedBy, Comment: s.Comment}
	if s.Ack {
		out.Comment = "[ack run " + s.RunID + "] " + s.Comment
	}
	for _, m := range s.Matchers {
		eq := m.Op == OpEqual || m.Op == OpRegex
		out.Matchers = append(out.Matchers, amMatcher{Name: m.Name, Value: m.Value, IsRegex: m.Op == OpRegex || m.Op == OpNotRegex, IsEqual: &eq})
	}
	return out
}

func fromAM(x amSilence) (Silence, error) {
	if x.ID == "" || len(x.Matchers) == 0 || x.EndsAt.IsZero() {
		return Silence{}, fmt.Errorf("a silence without id, matchers or end: %+v", x)
	}
	s := Silence{ID: x.ID, StartsAt: x.StartsAt, EndsAt: x.EndsAt, CreatedBy: x.CreatedBy, Comment: x.Comment,
		Source: SourceAlertmanager, UpdatedAt: x.UpdatedAt}
	if m := ackPrefix.FindStringSubmatch(x.Comment); m != nil {
		s.Ack, s.RunID, s.Comment = true, m[1], x.Comment[len(m[0]):]
	}
	for _, m := range x.Matchers {
		eq := m.IsEqual == nil || *m.IsEqual
		op := map[[2]bool]Op{{false, true}: OpEqual, {false, false}: OpNotEqual, {true, true}: OpRegex, {true, false}: OpNotRegex}[[2]bool{m.IsRegex, eq}]
		s.Matchers = append(s.Matchers, Matcher{Name: m.Name, Op: op, Value: m.Value})
	}
	return s, nil
}

// do sends one request and decodes a JSON answer into out (nil: none
// wanted). A status other than 200 is an error carrying Alertmanager's
// own message.
func (a *Alertmanager) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := *a.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("alertmanager %s: %w", a.base.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAMBody))
	if err != nil {
		return fmt.Errorf("alertmanager %s: read answer: %w", a.base.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return fmt.Errorf("alertmanager %s refused %s %s: %s: %s", a.base.Redacted(), method, path, resp.Status, msg)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("alertmanager %s: %s %s answered something that is not its v2 API's JSON (%v): is the URL an Alertmanager?", a.base.Redacted(), method, path, err)
	}
	return nil
}

// Create posts s as a new silence.
func (a *Alertmanager) Create(ctx context.Context, s Silence) (Silence, error) {
	s.ID = ""
	return a.post(ctx, s)
}

func (a *Alertmanager) post(ctx context.Context, s Silence) (Silence, error) {
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if err := a.do(ctx, http.MethodPost, "/api/v2/silences", nil, toAM(s), &out); err != nil {
		return Silence{}, err
	}
	if out.SilenceID == "" {
		return Silence{}, fmt.Errorf("alertmanager %s answered the silence with no id: check 'repops silence list' before trying again", a.base.Redacted())
	}
	s.ID, s.Source = out.SilenceID, SourceAlertmanager
	return s, nil
}

// List returns Alertmanager's silences, newest first.
func (a *Alertmanager) List(ctx context.Context) ([]Silence, error) {
	var raw []amSilence
	if err := a.do(ctx, http.MethodGet, "/api/v2/silences", nil, nil, &raw); err != nil {
		return nil, err
	}
	out := make([]Silence, 0, len(raw))
	for _, x := range raw {
		s, err := fromAM(x)
		if err != nil {
			return nil, fmt.Errorf("alertmanager %s: %w", a.base.Redacted(), err)
		}
		out = append(out, s)
	}
	sortNewest(out)
	return out, nil
}

func (a *Alertmanager) get(ctx context.Context, id string) (Silence, error) {
	list, err := a.List(ctx)
	if err != nil {
		return Silence{}, err
	}
	s, err := Find(list, id)
	if err != nil {
		return Silence{}, fmt.Errorf("silence %s in alertmanager %s: %w", id, a.base.Redacted(), err)
	}
	return s, nil
}

// Expire deletes (ends) silence id.
func (a *Alertmanager) Expire(ctx context.Context, id string) error {
	s, err := a.get(ctx, id)
	if err != nil {
		return err
	}
	if !time.Now().Before(s.EndsAt) {
		return fmt.Errorf("silence %s: %w", s.ID, ErrExpired)
	}
	return a.do(ctx, http.MethodDelete, "/api/v2/silence/"+url.PathEscape(s.ID), nil, nil, nil)
}

// Extend posts silence id again with its new end: Alertmanager updates it
// in place or replaces it with a new id.
func (a *Alertmanager) Extend(ctx context.Context, id string, ends time.Time) (Silence, error) {
	s, err := a.get(ctx, id)
	if err != nil {
		return Silence{}, err
	}
	if !time.Now().Before(s.EndsAt) {
		return Silence{}, fmt.Errorf("silence %s: %w: add a new one", s.ID, ErrExpired)
	}
	s.EndsAt = ends
	return a.post(ctx, s)
}

// Alert is one of Alertmanager's alerts, as far as a preview needs it.
type Alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// Alerts returns Alertmanager's alerts matched by matchers (GET
// /api/v2/alerts with one filter per matcher), silenced ones included.
func (a *Alertmanager) Alerts(ctx context.Context, matchers []Matcher) ([]Alert, error) {
	q := url.Values{}
	for _, m := range matchers {
		q.Add("filter", m.String())
	}
	var raw []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := a.do(ctx, http.MethodGet, "/api/v2/alerts", q, nil, &raw); err != nil {
		return nil, err
	}
	out := make([]Alert, 0, len(raw))
	for _, r := range raw {
		out = append(out, Alert{Labels: r.Labels, State: r.Status.State})
	}
	return out, nil
}

func sortNewest(list []Silence) {
	sort.SliceStable(list, func(i, j int) bool { return list[i].StartsAt.After(list[j].StartsAt) })
}
