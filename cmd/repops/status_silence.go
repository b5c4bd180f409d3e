package main

import (
	"context"
	"fmt"
	"time"

	"github.com/repops/repops/config"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/silence"
)

// statusSilences is the configured silences, read once; nil and why
// when they cannot be read: status then shows no alert as silenced
// rather than failing (the verdict does not depend on silences).
func statusSilences(ctx context.Context, cfg *config.Config) (*silence.Set, string) {
	svc, err := silence.FromConfig(cfg, nil)
	if err != nil {
		return nil, err.Error()
	}
	set := silence.NewSet(svc.Backend, cfg.StateDir())
	cctx, cancel := context.WithTimeout(ctx, max(cfg.Console.Sources.Timeout, time.Second))
	defer cancel()
	if err := set.Refresh(cctx); err != nil {
		return nil, err.Error()
	}
	return set, ""
}

// statusSilenceJSON is the silence covering an alert in status --json.
type statusSilenceJSON struct {
	ID          string    `json:"id"`
	CreatedBy   string    `json:"created_by"`
	Comment     string    `json:"comment"`
	EndsAt      time.Time `json:"ends_at"`
	LeftSeconds int64     `json:"left_seconds"`
	Ack         bool      `json:"ack,omitempty"`
	RunID       string    `json:"run_id,omitempty"`
	Source      string    `json:"source"`
}

func silencedJSON(r *metrics.SilenceRef, now time.Time) *statusSilenceJSON {
	if r == nil {
		return nil
	}
	return &statusSilenceJSON{ID: r.ID, CreatedBy: r.CreatedBy, Comment: r.Comment, EndsAt: r.EndsAt.UTC(),
		LeftSeconds: int64(max(r.EndsAt.Sub(now), 0) / time.Second), Ack: r.Ack, RunID: r.RunID, Source: r.Source}
}

// silencedText is `silenced by alice until 14:05 UTC (2h left): "comment"`.
func silencedText(r metrics.SilenceRef, now time.Time) string {
	word := "silenced"
	if r.Ack {
		word = "acknowledged (run " + r.RunID + ")"
	}
	return fmt.Sprintf("%s by %s until %s (%s left): %q", word, r.CreatedBy, r.EndsAt.UTC().Format("15:04 UTC"),
		silence.FormatDuration(r.EndsAt.Sub(now)), r.Comment)
}

// startSilences is the configured silences for a long-running engine
// (the exporter, the console): a Set refreshed every interval in the
// background, so the engine's matcher answers from memory. nil when the
// config names no usable backend.
func startSilences(ctx context.Context, cfg *config.Config, interval time.Duration) (*silence.Service, *silence.Set, func()) {
	svc, err := silence.FromConfig(cfg, nil)
	if err != nil {
		return nil, nil, func() {}
	}
	set := silence.NewSet(svc.Backend, cfg.StateDir())
	// The first refresh before the first cycle: a silenced alert is never
	// shown unsilenced at start.
	fctx, cancel := context.WithTimeout(ctx, max(cfg.Console.Sources.Timeout, time.Second))
	_ = set.Refresh(fctx)
	cancel()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); set.Run(rctx, max(interval, time.Second)) }()
	return svc, set, func() { stop(); <-done }
}
