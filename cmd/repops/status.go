package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/repops/repops/config"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/silence"
	"github.com/repops/repops/sim"
)

// statusOptions are the flags of 'repops status'.
type statusOptions struct {
	json bool
	// interval between two collections while status samples. Rates
	// (submissions per minute, error ratios) come from the difference of
	// scrapes of the service's counters, as Prometheus' rate() does: a
	// single scrape has no rate. Zero collects once (rates from the
	// service then show as unknown; the database's own figures still
	// count).
	interval time.Duration
	// maxWait bounds the sampling: without a collector or Prometheus,
	// status watches the service's scrape over the rules' own window
	// (metrics.FastWindow) or this long, whichever is shorter.
	maxWait time.Duration
}

// newStatusCmd is the one-shot glance for a shell, cron or a Nagios-style
// check.
func newStatusCmd(a *app) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "One-shot health glance: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
		Long: `Collect every source twice, --interval apart (rates need two scrapes of the
service's counters, as Prometheus' rate() does), judge every rule, print
the result and exit with the Nagios plugin convention: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (also for a bad config: 'repops config check' says
why).

Where the verdicts come from, first that applies:
  1. A collector (the exporter, or the console) keeps every rule's state in
     the state dir; when it is fresh, status answers from it at once, so
     that a rule beyond its threshold for longer than its for is CRITICAL.
  2. With Prometheus configured (console.sources.prometheus_url) and the
     rules of 'repops rules export' loaded there, Prometheus' alerts are
     the verdicts of the rules it evaluates, with rates over the rules'
     own windows: one collection, no sampling.
  3. Otherwise status samples the service's scrape every --interval over
     the rules' window (1m), at most --max-wait, with a progress line on
     a terminal; a verdict it could not watch for a whole window or for
     is marked provisional.
Alertmanager's active alerts count in the verdict.

A silenced alert (repops silence, the console's s and a) is shown as
silenced, with who silenced it, until when and why; its state and the exit
code are unchanged. Decision: the exit code stays the worst state, since a
silence stops notifications, it does not make the system healthy. With no metrics URL
set explicitly, a running 'repops demo' is found through the state dir.`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{nagiosExitCodes: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON instead of text")
	cmd.Flags().DurationVar(&o.interval, "interval", 2*time.Second, "time between two collections while sampling (0: collect once, no rates from the service)")
	cmd.Flags().DurationVar(&o.maxWait, "max-wait", metrics.FastWindow, "the longest status samples the service without a collector or Prometheus (0: one interval)")
	return cmd
}

// runStatus collects, prints and returns the exit code as a silent error.
func runStatus(ctx context.Context, a *app, o *statusOptions) error {
	if o.interval < 0 {
		return usageError("--interval must not be negative")
	}
	if o.maxWait < 0 {
		return usageError("--max-wait must not be negative")
	}
	cfg, demo, isDemo := withDemoService(a.cfg, os.Getenv)
	if isDemo && !o.json {
		fmt.Fprintf(a.err, "repops status: the service's metrics from the running demo (pid %d): %s\n", demo.Pid, demo.MetricsURL)
	}
	eo, err := metrics.OptionsFromConfig(cfg)
	if err != nil {
		return withCode(exitUnknown, fmt.Errorf("status: %w", err))
	}
	set, silErr := statusSilences(ctx, cfg)
	if set != nil {
		eo.Silences = set
	}
	// A fresh collector (the exporter, a console) has judged every rule
	// over its own window and for: its verdict stands, without sampling.
	if st, err := metrics.ReadCollectorState(metrics.CollectorStatePath(cfg.StateDir())); err == nil {
		now := time.Now()
		if st.Fresh(now, cfg.Database.Path) == nil {
			snap := st.Snapshot(now, eo.Rules)
			// The state keeps the rules, not Alertmanager's alerts: ask
			// Alertmanager now.
			liveAlertmanager(ctx, eo, &snap)
			if set != nil {
				silence.Apply(&snap, set)
			}
			return writeStatus(a, o, snap, statusFrom{collectorPid: st.Pid, collectorAge: now.Sub(st.Written), silencesErr: silErr})
		}
	}
	eo.DBOptions = readerDBOptions(a)
	// A one-shot glance shows no table sizes: the database source does not
	// scan the file for them.
	eo.SizesAfter = -1
	engine, err := metrics.NewEngine(eo)
	if err != nil {
		return withCode(exitUnknown, fmt.Errorf("status: %w", err))
	}
	defer engine.Close()
	start := time.Now()
	snap := engine.Cycle(ctx)
	if o.interval > 0 {
		// At least two collections (a rate needs two scrapes); then on
		// while a rule status judges itself from the service's scrape has
		// not been watched for its window, up to --max-wait.
		want := min(sampleWindow(snap), o.maxWait)
		progress := newStatusProgress(a.err, want)
		// A second collection only when status judges something itself
		// that one collection left unknown (a rate needs two readings).
		second := want > 0 || ownUnknown(snap)
		for first := second; first || time.Since(start) < want; first = false {
			progress.show(time.Since(start))
			select {
			case <-ctx.Done():
				progress.done()
				return withCode(exitUnknown, fmt.Errorf("status: interrupted"))
			case <-time.After(o.interval):
			}
			snap = engine.Cycle(ctx)
		}
		progress.done()
	}
	return writeStatus(a, o, snap, statusFrom{watched: time.Since(start), silencesErr: silErr})
}

// sampleWindow is how long status must watch the service's scrape for
// its own verdicts to be over the rules' window: metrics.FastWindow when a
// configured rule is judged by repops on a figure from a scrape, zero
// when none is (Prometheus judges them, or only the database counts).
func sampleWindow(s metrics.Snapshot) time.Duration {
	scrape := false
	for _, src := range s.Sources {
		scrape = scrape || src.Kind == metrics.KindScrape
	}
	if !scrape {
		return 0
	}
	byScrape := map[string]bool{}
	for _, d := range metrics.PanelDefs() {
		for _, k := range d.Sources {
			byScrape[d.Name] = byScrape[d.Name] || k == metrics.KindScrape
		}
	}
	for _, al := range s.Alerts {
		if al.Configured && al.Judge == "" && byScrape[al.Rule.Panel] {
			return metrics.FastWindow
		}
	}
	return 0
}

// ownUnknown reports whether a configured rule status judges itself (not
// Prometheus) has no value yet.
func ownUnknown(s metrics.Snapshot) bool {
	for _, al := range s.Alerts {
		if al.Configured && al.Judge == "" && !al.Value.OK {
			return true
		}
	}
	return false
}

// fromScrape reports whether al's figure came from the service's scrape.
func fromScrape(al metrics.AlertStatus, s metrics.Snapshot) bool {
	p, ok := s.Panel(al.Rule.Panel)
	if !ok || p.Source == "" {
		return false
	}
	for _, src := range s.Sources {
		if src.Name == p.Source {
			return src.Kind == metrics.KindScrape
		}
	}
	return false
}

// statusProgress is the sampling's progress line, on a terminal only.
type statusProgress struct {
	w    io.Writer
	want time.Duration
	on   bool
}

func newStatusProgress(w io.Writer, want time.Duration) *statusProgress {
	f, ok := w.(*os.File)
	return &statusProgress{w: w, want: want, on: ok && want > 0 && term.IsTerminal(f.Fd())}
}

func (p *statusProgress) show(elapsed time.Duration) {
	if p.on {
		fmt.Fprintf(p.w, "\rrepops status: sampling the service over the rules' window: %s of %s (--max-wait to shorten; a running collector answers at once) ",
			elapsed.Round(time.Second), p.want)
	}
}

func (p *statusProgress) done() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// liveAlertmanager sets snap's Alertmanager alerts and source health from
// Alertmanager itself (eo.AlertmanagerURL; nothing when none is
// configured), replacing what a collector's state said of it.
func liveAlertmanager(ctx context.Context, eo metrics.EngineOptions, snap *metrics.Snapshot) {
	if eo.AlertmanagerURL == "" {
		return
	}
	var srcs []metrics.SourceHealth
	for _, h := range snap.Sources {
		if h.Kind != metrics.KindAlertmanager {
			srcs = append(srcs, h)
		}
	}
	snap.Sources, snap.External = srcs, nil
	h := metrics.SourceHealth{Name: "alertmanager", Kind: metrics.KindAlertmanager, URL: eo.AlertmanagerURL}
	src, err := metrics.NewAlertmanagerSource(eo.AlertmanagerURL, eo.HTTPClient)
	if err == nil {
		h.Name, h.URL = src.Name(), src.Target()
		timeout := eo.Timeout
		if timeout <= 0 {
			timeout = 2 * time.Second
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		var alerts []metrics.ExternalAlert
		alerts, err = src.Alerts(cctx)
		cancel()
		h.Latency = time.Since(start)
		if err == nil {
			h.Up, h.LastOK, snap.External = true, time.Now(), alerts
		}
	}
	if err != nil {
		h.Err, _, _ = strings.Cut(err.Error(), "\n")
	}
	snap.Sources = append(snap.Sources, h)
}

// failedAlertmanager is the first failed Alertmanager source of s, if any.
func failedAlertmanager(s metrics.Snapshot) (metrics.SourceHealth, bool) {
	for _, src := range s.Sources {
		if src.Kind == metrics.KindAlertmanager && !src.Up {
			return src, true
		}
	}
	return metrics.SourceHealth{}, false
}

// provisionalNote is what status says when no collector keeps the rules'
// states and some of its own verdicts are provisional.
const provisionalNote = "provisional (marked ~): no collector running (start 'repops exporter' or the console), and not Prometheus' verdict"

// statusFrom says where a status verdict comes from: a fresh collector's
// persisted state (collectorPid set), or status's own collections over
// watched (Prometheus' verdicts among them), whose verdicts on rules it
// could not watch long enough are provisional.
type statusFrom struct {
	collectorPid int
	collectorAge time.Duration
	watched      time.Duration
	// silencesErr says why the silences could not be read (no alert is
	// then shown as silenced).
	silencesErr string
}

// provisional reports whether any verdict of s is provisional.
func (f statusFrom) provisional(s metrics.Snapshot) bool {
	for _, al := range s.Alerts {
		if al.Configured && f.provisionalRule(al, s) {
			return true
		}
	}
	return false
}

// provisionalRule reports whether the verdict on al is provisional: none
// is when a collector or Prometheus judged it; status's own is for a
// pending rule (it cannot know how long the value has been beyond the
// threshold before it looked) and for a figure from the service's scrape
// it watched for less than the window.
func (f statusFrom) provisionalRule(al metrics.AlertStatus, s metrics.Snapshot) bool {
	switch {
	case f.collectorPid != 0 || al.Judge != "":
		return false
	case al.State == metrics.StatePending:
		return true
	}
	return fromScrape(al, s) && f.watched < metrics.FastWindow
}

// writeStatus prints snap and returns the exit code as a silent error.
func writeStatus(a *app, o *statusOptions, snap metrics.Snapshot, from statusFrom) error {
	// The rules' verdict, with Alertmanager's active alerts counted (and
	// a failed Alertmanager: at least UNKNOWN).
	overall := snap.Verdict()
	if o.json {
		if err := writeStatusJSON(a, snap, overall, from); err != nil {
			return withCode(exitUnknown, err)
		}
	} else {
		writeStatusText(a, snap, overall, from)
		switch {
		case from.collectorPid != 0:
			fmt.Fprintf(a.out, "verdicts: the collector's (pid %d, written %s ago)\n", from.collectorPid, from.collectorAge.Round(100*time.Millisecond))
		case from.provisional(snap):
			fmt.Fprintf(a.out, "%s; watched %s of the rules' %s window\n", provisionalNote, from.watched.Round(time.Second), metrics.FastWindow)
		default:
			fmt.Fprintf(a.out, "verdicts: %s\n", verdictsBy(snap))
		}
		if from.silencesErr != "" {
			fmt.Fprintf(a.out, "silences: not read (%s): no alert is shown as silenced\n", from.silencesErr)
		}
	}
	return silentExit(overall.ExitCode())
}

// metricsURLExplicit reports whether the config names the service's
// metrics itself: console.sources.metrics_url, METRICS_PORT, a
// monitoring.metrics_port other than the guide's default, or metrics
// turned off. Otherwise the address is only the default guess.
func metricsURLExplicit(cfg *config.Config, getenv func(string) string) bool {
	return cfg.Console.Sources.MetricsURL != "" || getenv("METRICS_PORT") != "" ||
		!cfg.Monitoring.MetricsEnabled || cfg.Monitoring.MetricsPort != config.Defaults().Monitoring.MetricsPort
}

// withDemoService is cfg with the service's metrics at the running demo's
// simulated service (the service file in the state dir, its process
// alive) when the config does not name them explicitly; cfg itself
// otherwise. ok says whether the demo's address is used.
func withDemoService(cfg *config.Config, getenv func(string) string) (*config.Config, sim.ServiceInfo, bool) {
	if metricsURLExplicit(cfg, getenv) {
		return cfg, sim.ServiceInfo{}, false
	}
	info, ok := sim.ReadServiceFile(cfg.StateDir())
	if !ok {
		return cfg, sim.ServiceInfo{}, false
	}
	c := *cfg
	c.Console.Sources.MetricsURL = info.MetricsURL
	return &c, info, true
}

// statusJSON is the --json document.
type statusJSON struct {
	Status      string             `json:"status"`
	ExitCode    int                `json:"exit_code"`
	Time        time.Time          `json:"time"`
	Environment string             `json:"environment"`
	Database    string             `json:"database"`
	Alerts      []statusAlertJSON  `json:"alerts"`
	Panels      []statusPanelJSON  `json:"panels"`
	Sources     []statusSourceJSON `json:"sources"`
	DB          statusDBJSON       `json:"db"`
	// Provisional is set when no fresh collector was running: the alerts
	// marked provisional are status's own sampling, not a verdict over
	// the rule's window and for. Collector names the collector's pid
	// otherwise.
	// AlertmanagerAlerts are Alertmanager's alerts (when it is a
	// source): active ones count in the verdict, silenced or inhibited
	// ones are listed with that state and do not.
	AlertmanagerAlerts []statusAMAlertJSON `json:"alertmanager_alerts"`
	// AlertmanagerError says why Alertmanager could not be read (the
	// verdict is then at least UNKNOWN).
	AlertmanagerError string `json:"alertmanager_error,omitempty"`
	Provisional       bool   `json:"provisional"`
	ProvisionalNote   string `json:"provisional_note,omitempty"`
	CollectorPid      int    `json:"collector_pid,omitempty"`
	// SilencesError says why the silences could not be read: no alert is
	// then shown as silenced.
	SilencesError string `json:"silences_error,omitempty"`
}

type statusAlertJSON struct {
	Rule  string `json:"rule"`
	Title string `json:"title"`
	// State is ok, warning, critical or unknown: a pending alert is a
	// warning with Pending set and CriticalInSeconds.
	State             string     `json:"state"`
	Pending           bool       `json:"pending,omitempty"`
	CriticalInSeconds *float64   `json:"critical_in_seconds,omitempty"`
	Severity          string     `json:"severity"`
	Value             *float64   `json:"value"`
	Unit              string     `json:"unit"`
	Reason            string     `json:"reason,omitempty"`
	Since             *time.Time `json:"since,omitempty"`
	ActiveSince       *time.Time `json:"active_since,omitempty"`
	Runbook           string     `json:"runbook,omitempty"`
	Configured        bool       `json:"configured"`
	Provisional       bool       `json:"provisional,omitempty"`
	// Judge is who timed the rule: collector, prometheus or status.
	Judge string `json:"judge"`
	// Silenced is the silence (or acknowledgement) covering the alert:
	// its state and the exit code are unchanged by it.
	Silenced *statusSilenceJSON `json:"silenced,omitempty"`
}

// statusAMAlertJSON is one of Alertmanager's alerts.
type statusAMAlertJSON struct {
	Alertname string `json:"alertname"`
	// Severity is the severity label as Alertmanager has it ("" when
	// none).
	Severity string `json:"severity"`
	// State is active, silenced, inhibited ("silenced, inhibited" when
	// both), suppressed or unprocessed.
	State    string    `json:"state"`
	StartsAt time.Time `json:"starts_at"`
	Summary  string    `json:"summary,omitempty"`
	// Verdict is what the alert adds to the verdict: critical, warning,
	// or ok (silenced or inhibited).
	Verdict     string            `json:"verdict"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	SilencedBy  []string          `json:"silenced_by,omitempty"`
	InhibitedBy []string          `json:"inhibited_by,omitempty"`
}

type statusPanelJSON struct {
	Name   string   `json:"name"`
	Title  string   `json:"title"`
	Unit   string   `json:"unit"`
	Value  *float64 `json:"value"` // null when unknown, never 0
	Reason string   `json:"reason,omitempty"`
	State  string   `json:"state"`
	Target *float64 `json:"target,omitempty"`
	Alert  *float64 `json:"alert,omitempty"`
	Source string   `json:"source,omitempty"`
}

type statusSourceJSON struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`
	Target    string  `json:"target"`
	Up        bool    `json:"up"`
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

type statusDBJSON struct {
	FileBytes     int64      `json:"file_bytes"`
	WALBytes      int64      `json:"wal_bytes"`
	SchemaVersion int64      `json:"schema_version"`
	SchemaValid   bool       `json:"schema_valid"`
	LastBackup    *time.Time `json:"last_backup,omitempty"`
	LastCheck     *time.Time `json:"last_check,omitempty"`
	LastCheckOK   bool       `json:"last_check_ok"`
	DiskFreeBytes int64      `json:"disk_free_bytes"`
	Error         string     `json:"error,omitempty"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func known(v metrics.Value) *float64 {
	if !v.OK {
		return nil
	}
	return finite(v.V)
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func writeStatusJSON(a *app, s metrics.Snapshot, overall metrics.State, from statusFrom) error {
	doc := statusJSON{
		Status: nagiosState(overall), ExitCode: overall.ExitCode(), Time: s.Time.UTC(),
		Environment: a.cfg.Environment, Database: a.cfg.Database.Path,
		Alerts: []statusAlertJSON{}, Panels: []statusPanelJSON{}, Sources: []statusSourceJSON{},
		AlertmanagerAlerts: []statusAMAlertJSON{},
		Provisional:        from.provisional(s), CollectorPid: from.collectorPid, SilencesError: from.silencesErr,
	}
	if doc.Provisional {
		doc.ProvisionalNote = provisionalNote
	}
	for _, al := range s.Alerts {
		aj := statusAlertJSON{
			Rule: al.Rule.Name, Title: al.Rule.Title, State: strings.ToLower(nagiosState(al.State)), Severity: al.Rule.Severity,
			Value: known(al.Value), Unit: al.Rule.Unit, Reason: al.Reason, Since: timePtr(al.Since),
			ActiveSince: timePtr(al.ActiveSince), Runbook: al.Runbook, Configured: al.Configured,
			Provisional: al.Configured && from.provisionalRule(al, s), Judge: judgeOf(al, from),
		}
		if al.State == metrics.StatePending {
			aj.Pending, aj.CriticalInSeconds = true, finite(criticalIn(al, s.Time).Seconds())
		}
		aj.Silenced = silencedJSON(al.Silenced, s.Time)
		doc.Alerts = append(doc.Alerts, aj)
	}
	for _, ea := range s.External {
		labels := ea.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		doc.AlertmanagerAlerts = append(doc.AlertmanagerAlerts, statusAMAlertJSON{
			Alertname: ea.Name, Severity: ea.Severity, State: ea.DisplayState(), StartsAt: ea.StartsAt.UTC(),
			Summary: ea.Summary, Verdict: strings.ToLower(nagiosState(ea.VerdictState())), Labels: labels,
			Annotations: ea.Annotations, Fingerprint: ea.Fingerprint, SilencedBy: ea.SilencedBy, InhibitedBy: ea.InhibitedBy,
		})
	}
	if src, failed := failedAlertmanager(s); failed {
		doc.AlertmanagerError = src.Name + " (" + src.URL + "): " + src.Err
	}
	for _, p := range s.Panels {
		doc.Panels = append(doc.Panels, statusPanelJSON{
			Name: p.Name, Title: p.Title, Unit: p.Unit, Value: known(p.Value), Reason: p.Value.Reason,
			State: p.State.String(), Target: finite(p.Target), Alert: finite(p.Alert), Source: p.Source,
		})
	}
	for _, src := range s.Sources {
		doc.Sources = append(doc.Sources, statusSourceJSON{
			Name: src.Name, Kind: src.Kind, Target: src.URL, Up: src.Up, Error: src.Err,
			LatencyMS: float64(src.Latency.Microseconds()) / 1000,
		})
	}
	d := s.DB
	doc.DB = statusDBJSON{
		FileBytes: d.FileBytes, WALBytes: d.WALBytes, SchemaVersion: d.SchemaVersion, SchemaValid: d.SchemaValid,
		LastBackup: timePtr(d.LastBackup), LastCheck: timePtr(d.LastCheck), LastCheckOK: d.LastCheckOK,
		DiskFreeBytes: d.DiskFree, Error: d.Err,
	}
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("status: write JSON: %w", err)
	}
	return nil
}

// judgeOf is who timed al's rule: the collector, Prometheus or status
// itself.
func judgeOf(al metrics.AlertStatus, from statusFrom) string {
	switch {
	case al.Judge == metrics.JudgePrometheus:
		return "prometheus"
	case from.collectorPid != 0:
		return "collector"
	}
	return "status"
}

// verdictsBy says who judged the rules of s when status collected itself
// and none is provisional.
func verdictsBy(s metrics.Snapshot) string {
	prom, own := 0, 0
	for _, al := range s.Alerts {
		if !al.Configured {
			continue
		}
		if al.Judge == metrics.JudgePrometheus {
			prom++
		} else {
			own++
		}
	}
	switch {
	case prom == 0:
		return "status's own collections"
	case own == 0:
		return fmt.Sprintf("Prometheus' alerts for all %d rules", prom)
	}
	return fmt.Sprintf("Prometheus' alerts for %d rules, status's own collections for %d", prom, own)
}

// nagiosState is the word for st in the Nagios plugin vocabulary that
// status speaks (OK, WARNING, CRITICAL, UNKNOWN): a pending alert (beyond
// the alert threshold for less than its rule's for) is a WARNING, as its
// exit code 1 says; it turns CRITICAL only once it has held.
func nagiosState(st metrics.State) string {
	if st == metrics.StatePending {
		return "WARNING"
	}
	return strings.ToUpper(st.String())
}

// criticalIn is how long until the pending alert al turns critical, at
// the snapshot's time now.
func criticalIn(al metrics.AlertStatus, now time.Time) time.Duration {
	if al.ActiveSince.IsZero() {
		return al.Rule.For
	}
	return max(0, al.Rule.For-now.Sub(al.ActiveSince))
}

// fmtIn is a short "in" duration: seconds under a minute, else minutes
// rounded up (a pending alert turns critical no sooner than it says).
func fmtIn(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int((d+time.Second-1)/time.Second))
	}
	return fmt.Sprintf("%dm", int((d+time.Minute-1)/time.Minute))
}

// pendingNote is the headline's addition when the worst state is pending:
// which alert turns critical first, and when.
func pendingNote(s metrics.Snapshot) string {
	var first *metrics.AlertStatus
	for i, al := range s.Alerts {
		if al.Configured && al.State == metrics.StatePending && (first == nil || criticalIn(al, s.Time) < criticalIn(*first, s.Time)) {
			first = &s.Alerts[i]
		}
	}
	if first == nil {
		return ""
	}
	return fmt.Sprintf(" (pending: %s critical in %s unless it clears)", first.Rule.Title, fmtIn(criticalIn(*first, s.Time)))
}

// fitCell is s cut to n columns, ending in … when cut, so that a long
// rule title never pushes the next column.
func fitCell(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimRight(string(r[:n-1]), " ,") + "…"
}

// statusNameWidth is the width of the rule names in the text output.
const statusNameWidth = 28

// writeStatusText prints the overall state, then every rule not OK (worst
// first), then the OK ones in one line, then the sources. A reason that
// is a dead source's error is printed once, on the sources line; the
// rules it leaves unknown point there.
func writeStatusText(a *app, s metrics.Snapshot, overall metrics.State, from statusFrom) {
	w := a.out
	head := nagiosState(overall)
	if overall == metrics.StatePending {
		head += pendingNote(s)
	}
	if src, failed := failedAlertmanager(s); failed && overall == metrics.StateUnknown {
		head += " (source " + src.Name + " DEAD: its alerts are not known)"
	}
	fmt.Fprintf(w, "repops status: %s · %s · %s · %s\n", head, a.cfg.Environment,
		a.cfg.Database.Path, s.Time.UTC().Format("2006-01-02 15:04:05Z"))
	deadReason := map[string]string{} // the reason a dead source gives its panels -> the source
	for _, src := range s.Sources {
		if !src.Up && src.Err != "" {
			deadReason[src.Name+": "+src.Err] = src.Name
			deadReason[src.Err] = src.Name
		}
	}
	seen := map[string]bool{}
	var okNames []string
	for _, st := range []metrics.State{metrics.StateCritical, metrics.StatePending, metrics.StateWarning, metrics.StateUnknown} {
		for _, al := range s.Alerts {
			if al.State != st || (st == metrics.StateUnknown && !al.Configured) {
				continue
			}
			reason := al.Reason
			switch src, dead := deadReason[reason]; {
			case dead:
				reason = "no data: source " + src + " is DEAD (error below)"
			case seen[reason] && st == metrics.StateUnknown:
				reason = "no data: as above"
			}
			seen[al.Reason] = true
			if st == metrics.StatePending {
				reason += fmt.Sprintf(" · pending: critical in %s unless it clears", fmtIn(criticalIn(al, s.Time)))
			}
			word := nagiosState(st)
			if from.provisionalRule(al, s) {
				word = "~" + word
			}
			line := fmt.Sprintf("  %-9s %-*s %-12s %s", word, statusNameWidth, fitCell(al.Rule.Title, statusNameWidth),
				metrics.FormatValue(al.Value, al.Rule.Unit), reason)
			if !al.Since.IsZero() {
				line += fmt.Sprintf(" (since %s)", al.Since.UTC().Format("15:04:05Z"))
			}
			if al.Runbook != "" && st != metrics.StateUnknown {
				line += " → runbook " + al.Runbook
			}
			if al.Silenced != nil {
				line += " · " + silencedText(*al.Silenced, s.Time)
			}
			fmt.Fprintln(w, line)
		}
	}
	for _, al := range s.Alerts {
		if al.State == metrics.StateOK {
			name := al.Rule.Title
			if from.provisionalRule(al, s) {
				name = "~" + name
			}
			okNames = append(okNames, name)
		}
	}
	if len(okNames) > 0 {
		fmt.Fprintf(w, "  OK        %s\n", strings.Join(okNames, ", "))
	}
	writeAlertmanagerText(w, s)
	var srcs []string
	for _, src := range s.Sources {
		if src.Up {
			srcs = append(srcs, fmt.Sprintf("%s up (%s)", src.Name, src.Latency.Round(time.Millisecond)))
		} else {
			srcs = append(srcs, fmt.Sprintf("%s DEAD (%s)", src.Name, src.Err))
		}
	}
	fmt.Fprintf(w, "sources: %s\n", strings.Join(srcs, ", "))
}

// amNameWidth is the width of the alertnames in the text output.
const amNameWidth = 28

// writeAlertmanagerText prints Alertmanager's alerts, one line each (its
// verdict, alertname, severity, since, summary): the active ones first,
// worst first, then the silenced or inhibited ones, which do not count.
// Nothing when Alertmanager is not a source.
func writeAlertmanagerText(w io.Writer, s metrics.Snapshot) {
	var am []metrics.SourceHealth
	for _, src := range s.Sources {
		if src.Kind == metrics.KindAlertmanager {
			am = append(am, src)
		}
	}
	if len(am) == 0 && len(s.External) == 0 {
		return
	}
	active, held := 0, 0
	for _, ea := range s.External {
		if ea.Suppressed() {
			held++
		} else {
			active++
		}
	}
	switch {
	case len(am) > 0 && !am[0].Up:
		fmt.Fprintln(w, "alertmanager: DEAD, its alerts are not known (error below)")
	default:
		fmt.Fprintf(w, "alertmanager: %d active, %d silenced or inhibited\n", active, held)
	}
	line := func(ea metrics.ExternalAlert, word string) {
		sev := ea.Severity
		if sev == "" {
			sev = "-"
		}
		since := "-"
		if !ea.StartsAt.IsZero() {
			since = ea.StartsAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		l := fmt.Sprintf("  %-9s %-*s %-8s since %s", word, amNameWidth, fitCell(ea.Name, amNameWidth), sev, since)
		if ea.Summary != "" {
			l += "  " + ea.Summary
		}
		if ea.Instance != "" {
			l += " [" + ea.Instance + "]"
		}
		fmt.Fprintln(w, l)
	}
	for _, st := range []metrics.State{metrics.StateCritical, metrics.StateWarning} {
		for _, ea := range s.External {
			if !ea.Suppressed() && ea.VerdictState() == st {
				line(ea, nagiosState(st))
			}
		}
	}
	for _, ea := range s.External {
		if ea.Suppressed() {
			line(ea, ea.DisplayState())
		}
	}
}
