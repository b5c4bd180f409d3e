package metrics

// The collector state: what a long-running repops process (the exporter,
// the console while it runs) knows of every rule, persisted in the state
// dir so that a verdict never depends on how long the command that asks
// has been running. 'repops status' reads it when it is fresh and answers
// without sampling; a starting console imports it so that its first frame
// shows known states.
//
// Decisions:
//   - One small JSON file, written whole through fsutil.WriteAtomic after
//     each cycle (at most once a cycle): a reader sees the previous state
//     or the new one, never a part, even if the writer is killed
//     mid-write (its temp file keeps a pid-tagged name and is never
//     renamed).
//   - Bounded: one record per rule and per panel and source, each reason
//     cut to maxReason bytes; a reader refuses a file over
//     maxCollectorStateBytes.
//   - Fresh means written by a process that is alive, within two refresh
//     intervals of now, for the same database: otherwise it is ignored.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/repops/repops/internal/fsutil"
)

// CollectorStateFile is the collector state's file name in the state dir.
const CollectorStateFile = "collector-state.json"

// collectorStateVersion is the file's format; another version is not read.
const collectorStateVersion = 1

// maxCollectorStateBytes bounds the file a reader accepts (a real one is a
// few tens of KiB: tens of rules and panels, reasons of at most 300 bytes).
const maxCollectorStateBytes = 1 << 20

// CollectorStatePath is the collector state file in stateDir.
func CollectorStatePath(stateDir string) string {
	return filepath.Join(stateDir, CollectorStateFile)
}

// CollectorState is the persisted state of a collector.
type CollectorState struct {
	Version int `json:"version"`
	// Pid is the writer's process id; Written when it wrote.
	Pid     int       `json:"pid"`
	Written time.Time `json:"written"`
	// IntervalSeconds is the writer's refresh interval.
	IntervalSeconds float64 `json:"interval_seconds"`
	// Database is the absolute path of the database the rules judge.
	Database string         `json:"database"`
	Rules    []RuleRecord   `json:"rules"`
	Panels   []PanelRecord  `json:"panels,omitempty"`
	Sources  []SourceRecord `json:"sources,omitempty"`
	// History is the panels' newest points (at most maxPersistPoints), so
	// that a starting console draws its sparklines from where the last
	// collector left them.
	History *HistoryRecord `json:"history,omitempty"`
}

// HistoryRecord is the panels' recent history: the cycles' times (unix
// seconds) and, per panel, a value per time (null where unknown).
type HistoryRecord struct {
	Times  []float64             `json:"times"`
	Values map[string][]*float64 `json:"values"`
}

// PanelRecord is one panel's last value in the collector state.
type PanelRecord struct {
	Name   string   `json:"name"`
	Value  *float64 `json:"value,omitempty"`
	Reason string   `json:"reason,omitempty"`
	Source string   `json:"source,omitempty"`
}

// SourceRecord is one source's health in the collector state.
type SourceRecord struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`
	Target    string  `json:"target"`
	Up        bool    `json:"up"`
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

// ParseState is the State named s (State.String's words), ok false for
// another word.
func ParseState(s string) (State, bool) {
	for _, st := range []State{StateUnknown, StateOK, StateWarning, StatePending, StateCritical} {
		if st.String() == s {
			return st, true
		}
	}
	return StateUnknown, false
}

// collectorState is what the engine persists after the cycle that made
// snap. Called with cycleMu held.
//
// It takes e.mu through historyRecord and ExportRuleStates.
func (e *Engine) collectorState(snap Snapshot) CollectorState {
	st := CollectorState{
		Version: collectorStateVersion, Pid: os.Getpid(), Written: snap.Time.UTC(),
		IntervalSeconds: e.persistEvery().Seconds(), Database: absPath(e.opts.DatabasePath),
		Rules: e.ExportRuleStates(),
	}
	for _, p := range snap.Panels {
		pr := PanelRecord{Name: p.Name, Source: p.Source}
		if v, ok := finiteValue(p.Value); ok {
			pr.Value = &v
		} else {
			pr.Reason = reasonLine(p.Value.Reason)
		}
		st.Panels = append(st.Panels, pr)
	}
	st.History = e.historyRecord(maxPersistPoints)
	for _, s := range snap.Sources {
		st.Sources = append(st.Sources, SourceRecord{Name: s.Name, Kind: s.Kind, Target: s.URL, Up: s.Up,
			Error: reasonLine(s.Err), LatencyMS: float64(s.Latency.Microseconds()) / 1000})
	}
	return st
}

func finiteValue(v Value) (float64, bool) {
	if !v.OK || math.IsNaN(v.V) || math.IsInf(v.V, 0) {
		return 0, false
	}
	return v.V, true
}

func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// WriteCollectorState writes st to path atomically (fsutil.WriteAtomic):
// a reader, or a writer killed mid-write, never leaves a part of it.
func WriteCollectorState(path string, st CollectorState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("collector state: %w", err)
	}
	if len(b) > maxCollectorStateBytes {
		return fmt.Errorf("collector state: %d bytes, over the %d a reader accepts", len(b), maxCollectorStateBytes)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("collector state: %w", err)
	}
	return fsutil.WriteAtomic(path, b, 0o644)
}

// ReadCollectorState reads the collector state at path.
func ReadCollectorState(path string) (CollectorState, error) {
	var st CollectorState
	b, err := fsutil.ReadRegularFile(context.Background(), path, maxCollectorStateBytes)
	if err != nil {
		return st, fmt.Errorf("read the collector state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read the collector state %s: %w", path, err)
	}
	if st.Version != collectorStateVersion {
		return st, fmt.Errorf("read the collector state %s: version %d, this repops reads %d", path, st.Version, collectorStateVersion)
	}
	return st, nil
}

// ErrStale is what Fresh says of a collector state no live collector
// keeps up to date.
var ErrStale = errors.New("no collector running")

// Fresh reports nil when st was written by a live process within two of
// its refresh intervals of now (at least 200 ms) for the database at dbPath;
// otherwise an error wrapping ErrStale says why not.
func (st CollectorState) Fresh(now time.Time, dbPath string) error {
	interval := time.Duration(st.IntervalSeconds * float64(time.Second))
	window := max(2*interval, 200*time.Millisecond)
	age := now.Sub(st.Written)
	switch {
	case st.Pid <= 0 || !processAlive(st.Pid):
		return fmt.Errorf("%w: the collector (pid %d) is gone", ErrStale, st.Pid)
	case age > window:
		return fmt.Errorf("%w: the collector's state is %s old (fresh: under %s)", ErrStale, age.Round(time.Second), window)
	case age < -window:
		return fmt.Errorf("%w: the collector's state is dated %s in the future", ErrStale, (-age).Round(time.Second))
	case dbPath != "" && st.Database != absPath(dbPath):
		return fmt.Errorf("%w: the collector judges %s, not %s", ErrStale, st.Database, absPath(dbPath))
	}
	return nil
}

// Snapshot is the snapshot st describes, at now, for rules (the reader's
// rules: a rule the collector did not judge is unknown): a rule beyond its
// alert threshold since longer than its for is critical at now, though
// the collector last wrote it pending.
func (st CollectorState) Snapshot(now time.Time, rules []Rule) Snapshot {
	snap := Snapshot{Time: now}
	byName := map[string]RuleRecord{}
	for _, r := range st.Rules {
		byName[r.Rule] = r
	}
	for _, r := range rules {
		al := AlertStatus{Rule: r, State: StateUnknown, Value: Unknown("not judged by the collector"), Configured: true, Runbook: r.Runbook}
		al.TargetValue = al.Value
		al.Reason = al.Value.Reason
		if rec, ok := byName[r.Name]; ok {
			if s, ok := ParseState(rec.State); ok {
				al.State, al.Since, al.Reason, al.Judge = s, rec.Since, rec.Reason, rec.Judge
			}
			if rec.Value != nil {
				al.Value = Known(*rec.Value)
			} else {
				al.Value = Unknown(rec.Reason)
			}
			al.TargetValue = al.Value
			if rec.ActiveSince != nil && (al.State == StatePending || al.State == StateCritical) {
				al.ActiveSince = *rec.ActiveSince
				if now.Sub(al.ActiveSince) >= r.For {
					if al.State != StateCritical {
						al.Since = al.ActiveSince.Add(r.For)
					}
					al.State = StateCritical
				} else {
					al.State = StatePending
				}
			}
		}
		snap.Alerts = append(snap.Alerts, al)
	}
	defs := map[string]PanelDef{}
	for _, d := range PanelDefs() {
		defs[d.Name] = d
	}
	for _, p := range st.Panels {
		d, ok := defs[p.Name]
		if !ok {
			continue
		}
		pn := Panel{Name: p.Name, Title: d.Title, Unit: d.Unit, Source: p.Source, Value: Unknown(p.Reason),
			Target: math.NaN(), Alert: math.NaN(), State: StateUnknown}
		if p.Value != nil {
			pn.Value, pn.State = Known(*p.Value), StateOK
		}
		for _, al := range snap.Alerts {
			if al.Rule.Panel == p.Name && al.Rule.HasAlert() {
				pn.Alert = al.Rule.Alert
				if pn.Value.OK {
					pn.State = Worst(pn.State, al.State)
				}
			}
			if al.Rule.TargetOn() == p.Name && al.Rule.HasTarget() {
				pn.Target = al.Rule.Target
			}
		}
		snap.Panels = append(snap.Panels, pn)
	}
	for _, s := range st.Sources {
		snap.Sources = append(snap.Sources, SourceHealth{Name: s.Name, Kind: s.Kind, URL: s.Target, Up: s.Up, Err: s.Error,
			Latency: time.Duration(s.LatencyMS * float64(time.Millisecond))})
	}
	return snap
}

// processAlive reports whether a process with pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
