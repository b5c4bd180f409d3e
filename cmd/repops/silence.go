package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/silence"
)

// silenceOptions are the flags of 'repops silence' and its commands.
type silenceOptions struct {
	json     bool
	rule     string
	match    []string
	duration string
	comment  string
	dryRun   bool
	all      bool
	yes      bool
}

// newSilenceCmd manages silences: in Alertmanager when it is a source,
// in the state dir otherwise.
func newSilenceCmd(a *app) *cobra.Command {
	o := &silenceOptions{}
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Add, list, extend and expire silences of alerts (Alertmanager's, or local for repops' own rules)",
		Long: `Silences stop an alert's notifications for a while; they never make a verdict
OK: 'repops status' and the console show a silenced alert as silenced, with
its state and exit code unchanged.

Where silences live: in Alertmanager (v2 API) when console.sources.alertmanager_url
is set (repops' rules reach it through Prometheus, 'repops rules export');
otherwise in the state dir (silences.json), for repops' own rules.
Every silence needs a comment; its author is you (user@host, SSH client).
Durations are bounded per severity by console.silences.max_duration.
Every add, extend and expire is written to the ops journal.`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().BoolVar(&o.json, "json", false, "print JSON instead of text")

	add := &cobra.Command{
		Use:   "add",
		Short: "Add a silence (--rule NAME or --match name=value, --duration, --comment)",
		Example: `  repops silence add --rule api_error_rate --duration 4h --comment "INC-42: deploy rollback"
  repops silence add --match alertname=ReputationAPIErrors --match 'instance=~node-1.*' --duration 1h --comment "maintenance" --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runSilenceAdd(cmd.Context(), a, o) },
	}
	add.Flags().StringVar(&o.rule, "rule", "", "silence this rule's alert (its labels as 'repops rules export' gives them)")
	add.Flags().StringArrayVar(&o.match, "match", nil, "a matcher name=value, name!=value, name=~regex or name!~regex (repeatable)")
	add.Flags().StringVar(&o.duration, "duration", "1h", "how long: 1h, 4h, 24h, 7d")
	add.Flags().StringVar(&o.comment, "comment", "", "why (required): a ticket, an incident, what you are doing")
	add.Flags().BoolVar(&o.dryRun, "dry-run", false, "show what it would silence and create nothing")

	list := &cobra.Command{
		Use:   "list",
		Short: "List silences with the time left",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return runSilenceList(cmd.Context(), a, o) },
	}
	list.Flags().BoolVar(&o.all, "all", false, "also list silences that have ended")

	expire := &cobra.Command{
		Use:   "expire ID",
		Short: "End a silence now (its id, or the first 8 characters the list shows)",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return runSilenceExpire(cmd.Context(), a, o, args[0]) },
	}
	expire.Flags().BoolVar(&o.yes, "yes", false, "do not ask for confirmation")

	extend := &cobra.Command{
		Use:   "extend ID --duration D",
		Short: "Move a silence's end later by --duration",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return runSilenceExtend(cmd.Context(), a, o, args[0]) },
	}
	extend.Flags().StringVar(&o.duration, "duration", "1h", "how much later the silence ends")
	cmd.AddCommand(add, list, expire, extend)
	return cmd
}

// silenceService is the configured silence service.
func silenceService(a *app) (*silence.Service, error) {
	svc, err := silence.FromConfig(a.cfg, nil)
	if err != nil {
		return nil, usageError("silence: %w", err)
	}
	return svc, nil
}

// firingNow is repops' own firing alerts from a running collector's
// state, and the rules; note says what the preview cannot see.
func firingNow(a *app) (firing []map[string]string, rules []metrics.Rule, states map[string]metrics.State, note string, err error) {
	eo, err := metrics.OptionsFromConfig(a.cfg)
	if err != nil {
		return nil, nil, nil, "", err
	}
	states = map[string]metrics.State{}
	st, rerr := metrics.ReadCollectorState(metrics.CollectorStatePath(a.cfg.StateDir()))
	if rerr != nil {
		return nil, eo.Rules, states, "no collector running (the exporter or the console): repops' own firing alerts are not in the preview", nil
	}
	now := time.Now()
	snap := st.Snapshot(now, eo.Rules)
	if ferr := st.Fresh(now, a.cfg.Database.Path); ferr != nil {
		note = "the collector's state is not fresh (" + ferr.Error() + "): the preview may be out of date"
	}
	for _, al := range snap.Alerts {
		states[al.Rule.Name] = al.State
	}
	return silence.FiringLabels(snap), eo.Rules, states, note, nil
}

// actor is the operator as silences and the journal name them.
func silenceActor() ops.Actor { return ops.CurrentActor("") }

func runSilenceAdd(ctx context.Context, a *app, o *silenceOptions) error {
	if a.readOnly && !o.dryRun {
		return usageError("silence add: read-only mode (--read-only or console.read_only): silences are not created")
	}
	svc, err := silenceService(a)
	if err != nil {
		return err
	}
	firing, rules, states, note, err := firingNow(a)
	if err != nil {
		return withCode(exitFailure, fmt.Errorf("silence add: %w", err))
	}
	var matchers []silence.Matcher
	if o.rule != "" {
		var r *metrics.Rule
		for i := range rules {
			if rules[i].Name == o.rule {
				r = &rules[i]
			}
		}
		if r == nil {
			names := make([]string, len(rules))
			for i, x := range rules {
				names[i] = x.Name
			}
			return usageError("silence add: no rule %q (rules: %s)", o.rule, strings.Join(names, ", "))
		}
		st, ok := states[r.Name]
		if !ok || !silence.Firing(st) {
			st = metrics.StateCritical
		}
		matchers = silence.FromLabels(metrics.AlertLabels(*r, st))
	}
	for _, s := range o.match {
		m, err := silence.ParseMatcher(s)
		if err != nil {
			return usageError("silence add: --match: %w", err)
		}
		matchers = append(matchers, m)
	}
	d, err := silence.ParseDuration(o.duration)
	if err != nil {
		return usageError("silence add: --duration: %w", err)
	}
	actor := silenceActor()
	req := silence.AddRequest{Matchers: matchers, Duration: d, Comment: o.comment, CreatedBy: actor.String()}
	x, err := svc.Build(req)
	if err != nil {
		return usageError("silence add: %w; nothing created", err)
	}
	preview := svc.Preview(ctx, matchers, firing)
	if o.dryRun {
		return writeSilenceAdd(a.out, o.json, x, preview, note, true)
	}
	created, err := svc.Add(ctx, req)
	if err != nil {
		return withCode(exitFailure, fmt.Errorf("silence add: %w", err))
	}
	journalSilence(a, actor, "silence.add", created, nil)
	return writeSilenceAdd(a.out, o.json, created, preview, note, false)
}

func writeSilenceAdd(w io.Writer, asJSON bool, x silence.Silence, p silence.Preview, note string, dry bool) error {
	if asJSON {
		return writeJSON(w, struct {
			DryRun  bool            `json:"dry_run"`
			Silence silence.Silence `json:"silence"`
			Preview silence.Preview `json:"preview"`
			Note    string          `json:"note,omitempty"`
		}{dry, x, p, note})
	}
	if dry {
		fmt.Fprintf(w, "dry run: would silence %s for %s (nothing created)\n", x.MatchersString(), silence.FormatDuration(x.EndsAt.Sub(x.StartsAt)))
	} else {
		fmt.Fprintf(w, "silence %s created %s: %s until %s (%s)\n", x.ID, silenceWhere(x.Source), x.MatchersString(),
			x.EndsAt.UTC().Format("2006-01-02 15:04 UTC"), silence.FormatDuration(x.EndsAt.Sub(x.StartsAt)))
	}
	writePreview(w, p, note)
	return nil
}

func writePreview(w io.Writer, p silence.Preview, note string) {
	fmt.Fprintf(w, "matches %d firing alert(s) now\n", len(p.Alerts))
	for _, l := range p.Alerts {
		fmt.Fprintf(w, "  %s\n", silence.Silence{Matchers: silence.FromLabels(l)}.MatchersString())
	}
	if p.Err != "" {
		fmt.Fprintf(w, "note: %s\n", p.Err)
	}
	if note != "" {
		fmt.Fprintf(w, "note: %s\n", note)
	}
}

// silenceJSON is one silence in 'silence list --json'.
type silenceJSON struct {
	silence.Silence
	State       string `json:"state"`
	LeftSeconds int64  `json:"left_seconds"`
}

func runSilenceList(ctx context.Context, a *app, o *silenceOptions) error {
	svc, err := silenceService(a)
	if err != nil {
		return err
	}
	set := silence.NewSet(svc.Backend, a.cfg.StateDir())
	if err := set.Refresh(ctx); err != nil {
		return withCode(exitFailure, fmt.Errorf("silence list: %w", err))
	}
	now := time.Now()
	rows := []silenceJSON{}
	for _, x := range set.Silences() {
		state := silenceState(set, x, now)
		if !o.all && state == "ended" {
			continue
		}
		rows = append(rows, silenceJSON{Silence: x, State: state, LeftSeconds: int64(max(x.EndsAt.Sub(now), 0) / time.Second)})
	}
	if o.json {
		return writeJSON(a.out, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(a.out, "no silences in %s (--all lists ended ones)\n", svc.Backend.Name())
		return nil
	}
	for _, r := range rows {
		kind := ""
		if r.Ack {
			kind = " ack run " + r.RunID
		}
		fmt.Fprintf(a.out, "%-8s  %-7s  %-14s  %s  by %s%s: %q\n", shortSilenceID(r.ID), r.State, countdown(r.Silence, r.State, now),
			r.MatchersString(), r.CreatedBy, kind, r.Comment)
	}
	return nil
}

// silenceState is active, pending (starts later) or ended.
func silenceState(set *silence.Set, x silence.Silence, now time.Time) string {
	switch {
	case set.InForce(x, now):
		return "active"
	case now.Before(x.StartsAt):
		return "pending"
	}
	return "ended"
}

// countdown is "ends in 3h12m", or when it ended.
func countdown(x silence.Silence, state string, now time.Time) string {
	if state == "ended" {
		if x.Ack && now.Before(x.EndsAt) {
			return "run over"
		}
		return "ended " + silence.FormatDuration(now.Sub(x.EndsAt)) + " ago"
	}
	return "ends in " + silence.FormatDuration(x.EndsAt.Sub(now))
}

func shortSilenceID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func runSilenceExpire(ctx context.Context, a *app, o *silenceOptions, id string) error {
	if a.readOnly {
		return usageError("silence expire: read-only mode (--read-only or console.read_only): nothing expired")
	}
	svc, err := silenceService(a)
	if err != nil {
		return err
	}
	if !o.yes {
		ans, _ := a.prompt.Input(fmt.Sprintf("expire silence %s now? [y/N] ", id))
		if !strings.EqualFold(ans, "y") && !strings.EqualFold(ans, "yes") {
			return withCode(exitFailure, fmt.Errorf("silence expire: cancelled; nothing changed"))
		}
	}
	x, err := svc.Expire(ctx, id)
	if err != nil {
		return withCode(exitFailure, fmt.Errorf("silence expire: %w", err))
	}
	journalSilence(a, silenceActor(), "silence.expire", x, nil)
	if o.json {
		return writeJSON(a.out, map[string]any{"expired": x.ID, "source": x.Source})
	}
	fmt.Fprintf(a.out, "silence %s expired (%s)\n", x.ID, x.MatchersString())
	return nil
}

func runSilenceExtend(ctx context.Context, a *app, o *silenceOptions, id string) error {
	if a.readOnly {
		return usageError("silence extend: read-only mode (--read-only or console.read_only): nothing changed")
	}
	svc, err := silenceService(a)
	if err != nil {
		return err
	}
	d, err := silence.ParseDuration(o.duration)
	if err != nil {
		return usageError("silence extend: --duration: %w", err)
	}
	x, err := svc.Extend(ctx, id, d)
	if err != nil {
		return withCode(exitFailure, fmt.Errorf("silence extend: %w; nothing changed", err))
	}
	journalSilence(a, silenceActor(), "silence.extend", x, map[string]any{"by": d.String(), "previous_id": id})
	if o.json {
		return writeJSON(a.out, x)
	}
	fmt.Fprintf(a.out, "silence %s now ends %s (in %s)\n", x.ID, x.EndsAt.UTC().Format("2006-01-02 15:04 UTC"), silence.FormatDuration(time.Until(x.EndsAt)))
	return nil
}

// journalSilence records a silence's change in the ops journal; a
// journal that cannot be written is a warning, the silence stands.
func journalSilence(a *app, actor ops.Actor, action string, x silence.Silence, extra map[string]any) {
	if err := appendSilenceJournal(a.cfg.StateDir(), actor, action, x, extra); err != nil {
		fmt.Fprintf(a.err, "warning: %s %s done, but not journaled: %v\n", action, x.ID, err)
	}
}

// appendSilenceJournal writes one silence entry in the ops journal.
func appendSilenceJournal(stateDir string, actor ops.Actor, action string, x silence.Silence, extra map[string]any) error {
	params := map[string]any{"matchers": x.MatchersString(), "ends_at": x.EndsAt.UTC().Format(time.RFC3339),
		"comment": x.Comment, "source": x.Source}
	if x.Ack {
		params["run_id"] = x.RunID
	}
	for k, v := range extra {
		params[k] = v
	}
	j, err := ops.OpenJournal(stateDir)
	if err != nil {
		return err
	}
	defer j.Close()
	_, err = j.Append(ops.Entry{Actor: actor, Action: action, Target: x.ID, Params: params, Outcome: ops.OutcomeOK, RunID: x.RunID,
		Command: silenceCommand(action, x, extra)})
	return err
}

// silenceCommand is the shell equivalent of a silence's change
// (Entry.Command; the console shows it too): "" for an acknowledgement,
// which only the console makes (it is tied to the console's run).
func silenceCommand(action string, x silence.Silence, extra map[string]any) string {
	switch action {
	case "silence.add":
		words := []string{"repops", "silence", "add"}
		for _, m := range x.Matchers {
			words = append(words, "--match", m.Name+string(m.Op)+m.Value)
		}
		return ops.ShellCommand(append(words, "--duration", flagDuration(x.EndsAt.Sub(x.StartsAt).Round(time.Minute)), "--comment", x.Comment)...)
	case "silence.expire":
		return ops.ShellCommand("repops", "silence", "expire", x.ID, "--yes")
	case "silence.extend":
		if by, ok := extra["by"].(string); ok {
			if d, err := time.ParseDuration(by); err == nil {
				by = flagDuration(d)
			}
			return ops.ShellCommand("repops", "silence", "extend", x.ID, "--duration", by)
		}
	}
	return ""
}

// flagDuration is d as --duration takes it: the silences' own form (1h,
// 7d) when it reads back as d, else Go's (1h30m0s).
func flagDuration(d time.Duration) string {
	f := silence.FormatDuration(d)
	if back, err := silence.ParseDuration(f); err == nil && back == d {
		return f
	}
	return d.String()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// silenceWhere says in words where a silence is kept.
func silenceWhere(source string) string {
	if source == silence.SourceAlertmanager {
		return "in Alertmanager"
	}
	return "in repops' local store (no Alertmanager configured)"
}
