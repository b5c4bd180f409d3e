package main

import (
	"context"
	"fmt"
	"time"

	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
	"github.com/repops/repops/silence"
	"github.com/repops/repops/tui"
)

// consoleSilences is the console's tui.SilenceService on the silence
// package: the service that creates, the set the engine matches with
// (refreshed at once after a change, so the alert shows silenced on the
// next refresh), and the journal.
type consoleSilences struct {
	svc      *silence.Service
	set      *silence.Set
	stateDir string
	actor    ops.Actor
}

var _ tui.SilenceService = (*consoleSilences)(nil)

func (c *consoleSilences) Backend() string { return c.svc.Backend.Name() }

func (c *consoleSilences) Preview(ctx context.Context, labels map[string]string, snap metrics.Snapshot) tui.SilencePreview {
	p := c.svc.Preview(ctx, silence.FromLabels(labels), silence.FiringLabels(snap))
	out := tui.SilencePreview{Err: p.Err}
	for _, l := range p.Alerts {
		out.Alerts = append(out.Alerts, silence.Silence{Matchers: silence.FromLabels(l)}.MatchersString())
	}
	return out
}

func (c *consoleSilences) Create(ctx context.Context, req tui.SilenceRequest) (tui.SilenceInfo, error) {
	x, err := c.svc.Add(ctx, silence.AddRequest{Matchers: silence.FromLabels(req.Labels), Duration: req.Duration,
		Comment: req.Comment, CreatedBy: c.actor.String(), Ack: req.Ack, RunID: req.RunID})
	if err != nil {
		return tui.SilenceInfo{}, err
	}
	action := "silence.add"
	if x.Ack {
		action = "alert.acknowledged"
	}
	jerr := appendSilenceJournal(c.stateDir, c.actor, action, x, nil)
	_ = c.set.Refresh(ctx)
	info := c.info(x, time.Now())
	info.Command = silenceCommand(action, x, nil)
	if jerr != nil {
		return info, fmt.Errorf("silence %s created, but not journaled: %w", x.ID, jerr)
	}
	return info, nil
}

func (c *consoleSilences) info(x silence.Silence, now time.Time) tui.SilenceInfo {
	return tui.SilenceInfo{ID: x.ID, Matchers: x.MatchersString(), CreatedBy: x.CreatedBy, Comment: x.Comment,
		StartsAt: x.StartsAt, EndsAt: x.EndsAt, Ack: x.Ack, RunID: x.RunID, InForce: c.set.InForce(x, now)}
}

func (c *consoleSilences) List(ctx context.Context) ([]tui.SilenceInfo, error) {
	if err := c.set.Refresh(ctx); err != nil {
		return nil, err
	}
	now := time.Now()
	var out []tui.SilenceInfo
	for _, x := range c.set.Silences() {
		if now.Sub(x.EndsAt) < silence.KeepExpired {
			out = append(out, c.info(x, now))
		}
	}
	return out, nil
}

func (c *consoleSilences) Expire(ctx context.Context, id string) error {
	x, err := c.svc.Expire(ctx, id)
	if err != nil {
		return err
	}
	_ = c.set.Refresh(ctx)
	return appendSilenceJournal(c.stateDir, c.actor, "silence.expire", x, nil)
}

func (c *consoleSilences) Extend(ctx context.Context, id string, d time.Duration) (tui.SilenceInfo, error) {
	x, err := c.svc.Extend(ctx, id, d)
	if err != nil {
		return tui.SilenceInfo{}, err
	}
	_ = c.set.Refresh(ctx)
	info := c.info(x, time.Now())
	return info, appendSilenceJournal(c.stateDir, c.actor, "silence.extend", x, map[string]any{"by": d.String(), "previous_id": id})
}

func (c *consoleSilences) Warnings(now time.Time, snap metrics.Snapshot) []string {
	var out []string
	for _, w := range c.set.Warnings(now, silence.FiringLabels(snap)) {
		out = append(out, w.Text)
	}
	return out
}

// RunFor is the newest run of runbook rb still under way (running,
// paused or failed: resumable).
func (c *consoleSilences) RunFor(rb string) (string, bool) {
	runs, err := runbooks.ListRuns(c.stateDir)
	if err != nil {
		return "", false
	}
	for _, r := range runs {
		if r.RunbookID == rb && r.Status.Resumable() {
			return r.RunID, true
		}
	}
	return "", false
}
