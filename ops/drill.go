package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/state"
)

// Objective is one row of the guide's "Recovery Time Objectives" table:
// how long recovery may take (RTO) and how much data may be lost (RPO).
// A zero RPO with RealTime set is the guide's "Real-time".
type Objective struct {
	Scenario string        `json:"scenario"`
	RTO      time.Duration `json:"rto_ns"`
	RPO      time.Duration `json:"rpo_ns"`
	RealTime bool          `json:"rpo_real_time,omitempty"`
}

// Scenario names of the guide's table.
const (
	ScenarioCorruption = "Database Corruption"
	ScenarioDataLoss   = "Data Loss"
	ScenarioComplete   = "Complete Failure"
	ScenarioPartial    = "Partial Failure"
)

// Objectives is the guide's RTO/RPO table, as data.
func Objectives() []Objective {
	return []Objective{
		{Scenario: ScenarioCorruption, RTO: 30 * time.Minute, RPO: 5 * time.Minute},
		{Scenario: ScenarioDataLoss, RTO: time.Hour, RPO: time.Hour},
		{Scenario: ScenarioComplete, RTO: 4 * time.Hour, RPO: time.Hour},
		{Scenario: ScenarioPartial, RTO: 15 * time.Minute, RealTime: true},
	}
}

// ScenarioSlug is the scenario's name as a command-line word:
// "Database Corruption" is "database-corruption".
func ScenarioSlug(name string) string {
	return strings.ToLower(strings.Join(strings.Fields(name), "-"))
}

// ObjectiveFor is the row of the guide's table for a scenario, named as
// in the table (any case) or by its slug ("data-loss"); "" is Database
// Corruption, the default a drill rehearses. An unknown name is an error
// that lists the table's.
func ObjectiveFor(name string) (Objective, error) {
	if strings.TrimSpace(name) == "" {
		name = ScenarioCorruption
	}
	var names []string
	for _, o := range Objectives() {
		if strings.EqualFold(o.Scenario, strings.TrimSpace(name)) || ScenarioSlug(o.Scenario) == ScenarioSlug(name) {
			return o, nil
		}
		names = append(names, fmt.Sprintf("%q (%s)", o.Scenario, ScenarioSlug(o.Scenario)))
	}
	return Objective{}, fmt.Errorf("scenario %q is not in the guide's recovery objectives table: use one of %s", name, strings.Join(names, ", "))
}

// DrillOptions are Drill's inputs.
type DrillOptions struct {
	DBPath    string // the live database: named in the report, never opened for writing
	BackupDir string
	Backup    string // a backup name or path; "" or "latest" for the newest
	// ScratchDir is where the backup is restored; default a new temp dir,
	// removed afterwards. It must not be the live database's directory.
	ScratchDir string
	// Scenario is the row of the guide's table the drill rehearses (see
	// ObjectiveFor): its RTO and RPO decide whether the objectives were
	// met. Default Database Corruption.
	Scenario string
	// Objectives to compare with; default Objectives(). The rows other
	// than Scenario's are reported for information.
	Objectives []Objective
	StateDir   string // report, last-drill record and journal
	// Source is where the drill restores from: "backup", "replica" or
	// "auto" ("": the replica when replication is configured, else the
	// newest backup). See drill_replica.go.
	Source string
	// LitestreamConfig is Litestream's config when replication is
	// configured (console.replication.replicas), "" when it is not.
	LitestreamConfig string
	// Replica restores the replica; default the one the program
	// registered (SetReplicaRestorer).
	Replica ReplicaRestorer
	// RealTime is what a replica drill counts as the guide's "real-time"
	// RPO (the replication's sync interval); default DrillRealTime.
	RealTime time.Duration
	Actor    Actor
	Journal  *Journal
	Now      func() time.Time
}

// ObjectiveResult is the drill's measure against one objective.
type ObjectiveResult struct {
	Objective
	RTOMet bool `json:"rto_met"`
	RPOMet bool `json:"rpo_met"`
}

// DrillResult is a DR drill's outcome and report.
type DrillResult struct {
	Time       time.Time     `json:"time"`
	Database   string        `json:"database"`
	Backup     string        `json:"backup"`
	BackupTime time.Time     `json:"backup_time"`
	Scratch    string        `json:"scratch"`
	RTO        time.Duration `json:"rto_ns"` // measured: copy (or litestream restore), verify, check
	// RPO is, from a backup, its age when the drill started; from the
	// replica, the heartbeat's (see Heartbeat), else the restored
	// position's age. RPOBy says which.
	RPO   time.Duration `json:"rpo_ns"`
	RPOBy string        `json:"rpo_by,omitempty"`
	// Source is "backup" or "replica"; SourceNote why, for auto.
	Source     string `json:"source"`
	SourceNote string `json:"source_note,omitempty"`
	// From the replica: the transaction restored up to and its time, the
	// replica's newest position.
	ReplicaTXID     string    `json:"replica_txid,omitempty"`
	ReplicaTXIDTime time.Time `json:"replica_txid_time,omitempty"`
	ReplicaNewest   time.Time `json:"replica_newest,omitempty"`
	// Heartbeat is the end-to-end RPO measure of a replica drill.
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	// RealTime is what counted as a real-time RPO (replica drills).
	RealTime time.Duration     `json:"real_time_ns,omitempty"`
	Steps    []DrillStep       `json:"steps"`
	Tables   map[string]int64  `json:"tables"`
	Problems []string          `json:"problems,omitempty"`
	Against  []ObjectiveResult `json:"objectives"`
	// OK: the backup restored and verified (integrity, schema, rows).
	OK bool `json:"ok"`
	// Scenario is the rehearsed row of the guide's table; ObjectivesMet
	// whether its RTO and RPO were met, Missed each miss in words ("objective
	// missed: RPO 5 min, the backup was 2 h old"). A drill that is OK with
	// an objective missed is a WARNING.
	Scenario      string   `json:"scenario"`
	ObjectivesMet bool     `json:"objectives_met"`
	Missed        []string `json:"objectives_missed,omitempty"`
	// Verdict is DrillVerdict: OK, WARNING or CRITICAL.
	Verdict    string `json:"verdict"`
	ReportMD   string `json:"report_markdown_path,omitempty"`
	ReportJSON string `json:"report_json_path,omitempty"`
}

// DrillStep is one timed step of the drill.
type DrillStep struct {
	Name    string        `json:"name"`
	Took    time.Duration `json:"took_ns"`
	OK      bool          `json:"ok"`
	Message string        `json:"message,omitempty"`
}

// ErrDrillInterrupted is Drill's error when its context ended during the
// drill: it could not run, which says nothing of the backup; the last
// drill record is left as it was.
var ErrDrillInterrupted = errors.New("interrupted")

// Drill is the guide's "Testing Recovery", made real: it restores the
// chosen (default newest) backup into a scratch location, never the live
// database; verifies the copy's checksum against the manifest, its
// integrity, schema and row counts; measures the time taken (RTO) and the
// backup's age (RPO); compares both with the guide's objectives; writes a
// report (Markdown and JSON) in the state dir, the last-drill record and
// a journal entry. A failed check is a problem in the result (OK false),
// not an error; an error means the drill could not run. A drill whose ctx
// ends before it has judged the backup returns ErrDrillInterrupted (with
// ctx's error) and no result: journaled as cancelled (as every procedure
// journals context.Canceled), with no report and the last drill record
// untouched.
func Drill(ctx context.Context, o DrillOptions, progress Progress) (res *DrillResult, err error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if len(o.Objectives) == 0 {
		o.Objectives = Objectives()
	}
	rehearsed, err := ObjectiveFor(o.Scenario)
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	for _, obj := range o.Objectives {
		if obj.Scenario == rehearsed.Scenario {
			rehearsed = obj // the caller's objectives for the scenario
		}
	}
	// A drill is journaled but takes no lock: it reads a backup and works
	// on its own scratch copy, and collides with no other procedure. It
	// does not write to the live database: without a state dir it runs
	// unrecorded, and says so.
	source, note, restorer, err := resolveDrillSource(o)
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	p := Procedure{Action: "drill", Target: o.DBPath, Params: map[string]any{"backup": o.Backup, "scenario": rehearsed.Scenario, "source": source},
		StateDir: o.StateDir, Actor: o.Actor, Journal: o.Journal, Unlocked: true, Progress: progress}
	err = Run(ctx, p, func(ctx context.Context, r *Running) (map[string]float64, error) {
		var err error
		res, err = drill(ctx, o, progress, rehearsed, now, drillSource{name: source, note: note, replica: restorer})
		if res == nil {
			return nil, err
		}
		if err == nil && !res.OK {
			r.SetFailure(fmt.Errorf("drill found %d problems: %s", len(res.Problems), strings.Join(res.Problems, "; ")))
		}
		if err == nil && res.OK && !res.ObjectivesMet {
			// Restored and verified, an objective missed: WARNING, in the
			// journal as in the exit code and the report.
			r.SetWarning(fmt.Sprintf("WARNING (%s): %s", res.Scenario, strings.Join(res.Missed, "; ")))
		}
		return map[string]float64{"rto_seconds": res.RTO.Seconds(), "rpo_seconds": res.RPO.Seconds(), "problems": float64(len(res.Problems)),
			"objectives_met": boolFigure(res.ObjectivesMet)}, err
	})
	return res, err
}

// DrillScratchDir is where a drill restores its copy by default:
// <state dir>/scratch, 0700.
func DrillScratchDir(stateDir string) string { return filepath.Join(stateDir, "scratch") }

// drillSource is where a drill restores from, resolved.
type drillSource struct {
	name, note string
	replica    ReplicaRestorer
}

// drill is Drill's work, journaled.
func drill(ctx context.Context, o DrillOptions, progress Progress, rehearsed Objective, now func() time.Time, src drillSource) (res *DrillResult, err error) {
	fromReplica := src.name == DrillSourceReplica
	backup := o.Backup
	if !fromReplica && (backup == "" || backup == "latest" || !strings.ContainsAny(backup, `/\`)) {
		if backup, err = ResolveBackup(o.BackupDir, o.DBPath, o.Backup); err != nil {
			return nil, fmt.Errorf("drill: %w", err)
		}
	}
	// The scratch copy lives in <state dir>/scratch (or --scratch) under a
	// pid-tagged temp name (fsutil.TempName): removed when the drill ends,
	// and, when a drill was killed (kill -9), by the next drill, which
	// removes the scratch copies of dead pids. Without a state dir, a
	// temp dir of its own, removed afterwards.
	scratch := o.ScratchDir
	if scratch == "" && o.StateDir != "" {
		scratch = DrillScratchDir(o.StateDir)
	}
	if scratch == "" {
		if scratch, err = os.MkdirTemp("", "repops-drill-*"); err != nil {
			return nil, fmt.Errorf("drill: scratch dir: %w", err)
		}
		defer os.RemoveAll(scratch)
	} else if err := os.MkdirAll(scratch, 0o700); err != nil {
		return nil, fmt.Errorf("drill: scratch dir %s: %w", scratch, err)
	}
	_, _ = fsutil.RemoveStale(scratch)
	if o.DBPath != "" && sameDir(scratch, filepath.Dir(o.DBPath)) {
		return nil, fmt.Errorf("drill: the scratch dir %s is the live database's directory: choose another", scratch)
	}
	start := now()
	res = &DrillResult{Time: start.UTC(), Database: absPath(o.DBPath), Scratch: scratch, Tables: map[string]int64{},
		Scenario: rehearsed.Scenario, Source: src.name, SourceNote: src.note}
	var target string
	if fromReplica {
		// The heartbeat, read before restoring: the newest committed row
		// of the live database at T0 (read-only; nothing is written).
		res.Heartbeat = readHeartbeat(ctx, o.DBPath, now)
		res.RPOBy = "heartbeat"
		res.RealTime = o.RealTime
		if res.RealTime <= 0 {
			res.RealTime = DrillRealTime
		}
		// replicate restores into <state dir>/scratch; without a state
		// dir, into the drill's own scratch.
		if o.StateDir != "" {
			res.Scratch = DrillScratchDir(o.StateDir)
		}
	} else {
		res.Backup = filepath.Base(backup)
		res.RPOBy = "backup age"
		if f, ok := backupTime(backup); ok {
			res.BackupTime = f
			res.RPO = start.Sub(f)
		}
		target = fsutil.TempName(filepath.Join(scratch, "drill_"+filepath.Base(backup)))
		defer removeDBFiles(target)
	}
	t0 := time.Now()
	timed := func(name string, fn func() (string, error)) bool {
		if ctx.Err() != nil {
			return false // interrupted: no step runs, none is counted a problem
		}
		s := time.Now()
		msg, ferr := fn()
		st := DrillStep{Name: name, Took: time.Since(s), OK: ferr == nil, Message: msg}
		if ferr != nil {
			st.Message = ferr.Error()
			res.Problems = append(res.Problems, name+": "+ferr.Error())
		}
		res.Steps = append(res.Steps, st)
		progress.report(ProgressEvent{Phase: name, Message: orDefault(st.Message, "ok")})
		return ferr == nil
	}

	var m *Manifest
	readManifest := func() (string, error) {
		var err error
		m, err = ReadManifest(backup)
		if err != nil {
			return "", err
		}
		if !fromReplica && res.BackupTime.IsZero() {
			res.BackupTime, res.RPO = m.Created, start.Sub(m.Created)
		}
		return fmt.Sprintf("schema %d, %s, sha256 %s", m.SchemaVersion, humanize.Bytes(m.Size), short(m.SHA256)), nil
	}
	var ok bool
	if fromReplica {
		stateDir := o.StateDir
		if stateDir == "" {
			stateDir = scratch // replicate restores into <stateDir>/scratch
		}
		ok = timed("restore", func() (string, error) {
			if hb := res.Heartbeat; hb != nil {
				hb.RestoreAfter = max(now().Sub(hb.Read), 0)
			}
			rr, err := src.replica.RestoreNewest(ctx, o.LitestreamConfig, o.DBPath, stateDir)
			if err != nil {
				return "", err
			}
			target, backup = rr.Path, rr.Path
			res.Backup = "replica txid " + orDefault(rr.TXID, "?")
			res.ReplicaTXID, res.ReplicaTXIDTime, res.ReplicaNewest = rr.TXID, rr.TXIDTime, rr.Newest
			res.BackupTime = rr.TXIDTime
			return fmt.Sprintf("litestream restore of the replica's newest state (txid %s, %s) to %s", orDefault(rr.TXID, "?"),
				fmtTime(rr.TXIDTime), rr.Path), nil
		})
		if target != "" {
			defer src.replica.Remove(target)
		}
		if ok {
			ok = timed("manifest", readManifest)
		}
	} else {
		ok = timed("manifest", readManifest)
		ok = timed("restore", func() (string, error) {
			if _, err := copyFileSync(backup, target); err != nil {
				return "", err
			}
			return "copied to " + target, nil
		}) && ok
	}
	if ok {
		ok = timed("checksum", func() (string, error) {
			sum, _, err := FileSHA256(target)
			if err != nil {
				return "", err
			}
			if sum != m.SHA256 {
				return "", fmt.Errorf("sha256 %s, the manifest says %s", short(sum), short(m.SHA256))
			}
			return "matches the manifest", nil
		})
	}
	var d dbCloser
	var restoredFigs map[string]TableFigures
	if ok {
		ok = timed("open", func() (string, error) {
			var err error
			d, err = openImmutable(ctx, target)
			return "", err
		})
	}
	if ok {
		defer d.Close()
		// Once the copy opens, every check runs and reports, whatever the
		// one before found: the drill's outcome is the list of problems.
		timed("integrity", func() (string, error) {
			problems, err := integrityCheck(ctx, d, true)
			if err != nil {
				return "", err
			}
			if len(problems) > 0 {
				return "", fmt.Errorf("integrity_check: %s", strings.Join(problems, "; "))
			}
			return "integrity_check ok", nil
		})
		timed("schema", func() (string, error) {
			v, probs, note := checkBackupSchema(ctx, d, target)
			if len(probs) > 0 {
				return "", fmt.Errorf("%s", strings.Join(probs, "; "))
			}
			if note != "" {
				return fmt.Sprintf("version %d valid; %s", v, note), nil
			}
			return fmt.Sprintf("version %d valid", v), nil
		})
		timed("rows", func() (string, error) {
			figs, err := tableFigures(ctx, d)
			if err != nil {
				return "", err
			}
			restoredFigs = figs
			var total int64
			for t, f := range figs {
				res.Tables[t] = f.Rows
				total += f.Rows
			}
			if diff := compareTables(m.Tables, figs); len(diff) > 0 {
				return "", fmt.Errorf("%s", strings.Join(diff, "; "))
			}
			return fmt.Sprintf("%d rows in %d tables, as the manifest", total, len(figs)), nil
		})
	}
	res.RTO = time.Since(t0)
	if err := ctx.Err(); err != nil {
		// Interrupted (Ctrl-C, SIGTERM, a deadline): the steps cut short
		// say nothing of the backup. The drill could not run: no report,
		// the last drill record is kept, and the journal says cancelled
		// (a deadline: failed, "interrupted: context deadline exceeded").
		return nil, fmt.Errorf("drill: %w: %w", ErrDrillInterrupted, err)
	}
	res.OK = len(res.Problems) == 0
	rpoKnown := !res.BackupTime.IsZero()
	if fromReplica {
		rpoKnown = replicaRPO(ctx, res, o.DBPath, restoredFigs, start)
	}
	judge := func(obj Objective) ObjectiveResult {
		or := ObjectiveResult{Objective: obj, RTOMet: res.OK && res.RTO <= obj.RTO}
		if obj.RealTime {
			// Real-time: no backup meets it; a replica within one sync
			// interval does.
			or.RPOMet = fromReplica && rpoKnown && res.RPO <= res.RealTime
		} else {
			or.RPOMet = rpoKnown && res.RPO <= obj.RPO
		}
		return or
	}
	for _, obj := range o.Objectives {
		res.Against = append(res.Against, judge(obj))
	}
	if mine := judge(rehearsed); res.OK {
		res.Missed = missedObjectives(mine, res)
		res.ObjectivesMet = len(res.Missed) == 0
	}
	res.Verdict = DrillVerdict(res)
	if o.StateDir != "" {
		if err := writeDrillReport(o.StateDir, res); err != nil {
			return res, err
		}
		rec := state.DrillRecord{Time: res.Time, Database: res.Database, Backup: res.Backup, OK: res.OK, Verdict: res.Verdict, Missed: res.Missed, RTO: res.RTO, RPO: res.RPO, ReportPath: res.ReportMD,
			RTOLimit: rehearsed.RTO, RPOLimit: rehearsed.RPO}
		if err := state.WriteLastDrill(o.StateDir, rec); err != nil {
			return res, err
		}
	}
	return res, nil
}

// missedObjectives says, for a drill that restored and verified, each
// objective of the rehearsed scenario it missed.
func missedObjectives(or ObjectiveResult, res *DrillResult) []string {
	var out []string
	if !or.RTOMet {
		out = append(out, fmt.Sprintf("objective missed: RTO %s, the restore and verification took %s", fmtObjective(or.RTO), humanize.Age(res.RTO)))
	}
	switch {
	case or.RPOMet:
	case res.Source == DrillSourceReplica:
		out = append(out, replicaMissed(or, res))
	case or.RealTime:
		out = append(out, fmt.Sprintf("objective missed: RPO real-time, which no backup meets (the backup was %s old): %s needs replication", humanize.Age(res.RPO), or.Scenario))
	case res.BackupTime.IsZero():
		out = append(out, fmt.Sprintf("objective missed: RPO %s, the backup's age is unknown", fmtObjective(or.RPO)))
	default:
		out = append(out, fmt.Sprintf("objective missed: RPO %s, the backup was %s old", fmtObjective(or.RPO), humanize.Age(res.RPO)))
	}
	return out
}

// fmtObjective writes an objective of the guide's table exactly, in the
// units humanize.Age reads a measured age in: "30 min", "1 h", "4 h".
func fmtObjective(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return fmtDur(d)
}

// DrillVerdict is the drill's outcome in the Nagios words that 'repops
// drill' exits with: OK (restored, verified, the rehearsed scenario's
// objectives met), WARNING (restored and verified, an objective missed),
// CRITICAL (the backup did not restore or verify).
func DrillVerdict(r *DrillResult) string {
	switch {
	case !r.OK:
		return "CRITICAL"
	case !r.ObjectivesMet:
		return "WARNING"
	}
	return "OK"
}

// dbCloser is what the drill needs of its scratch database.
type dbCloser interface {
	db.Querier
	Close() error
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func sameDir(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// backupTime reads the time from a backup's name.
func backupTime(path string) (time.Time, bool) {
	name := strings.TrimSuffix(filepath.Base(path), ".db")
	i := strings.LastIndex(name, "_")
	if i < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(state.BackupTimeLayout, name[i+1:])
	return t, err == nil
}

// writeDrillReport writes drill-<UTC>.md and .json under stateDir/drills.
func writeDrillReport(stateDir string, r *DrillResult) error {
	dir := filepath.Join(stateDir, "drills")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("drill report: %w", err)
	}
	stem := filepath.Join(dir, "drill-"+r.Time.UTC().Format(state.BackupTimeLayout))
	r.ReportMD, r.ReportJSON = stem+".md", stem+".json"
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(r.ReportJSON, append(js, '\n'), 0o600); err != nil {
		return fmt.Errorf("drill report: %w", err)
	}
	if err := os.WriteFile(r.ReportMD, []byte(DrillMarkdown(r)), 0o600); err != nil {
		return fmt.Errorf("drill report: %w", err)
	}
	return nil
}

// DrillMarkdown is the drill's report as Markdown.
func DrillMarkdown(r *DrillResult) string {
	var b strings.Builder
	verdict := "PASSED"
	switch DrillVerdict(r) {
	case "CRITICAL":
		verdict = "FAILED"
	case "WARNING":
		verdict = "PASSED with a WARNING: objective missed"
	}
	fmt.Fprintf(&b, "# DR drill %s: %s\n\n", r.Time.UTC().Format(time.RFC3339), verdict)
	if r.Source == DrillSourceReplica {
		fmt.Fprintf(&b, "- Database: `%s`\n- Source: the replica (Litestream)", r.Database)
		if r.SourceNote != "" {
			fmt.Fprintf(&b, "; %s", r.SourceNote)
		}
		fmt.Fprintf(&b, "\n- Restored position: txid %s, %s (the replica's newest: %s)\n- Restored into: `%s` (scratch; the live database was not touched)\n",
			orDefault(r.ReplicaTXID, "unknown"), fmtTime(r.ReplicaTXIDTime), fmtTime(r.ReplicaNewest), r.Scratch)
		if hb := r.Heartbeat; hb != nil {
			fmt.Fprintf(&b, "- Heartbeat: %s\n", heartbeatLine(hb))
		}
		fmt.Fprintf(&b, "- Measured RTO (litestream restore and verification): %s\n- Measured RPO (%s): %s\n", fmtDur(r.RTO), r.RPOBy, fmtDur(r.RPO))
	} else {
		fmt.Fprintf(&b, "- Database: `%s`\n", r.Database)
		if r.SourceNote != "" {
			fmt.Fprintf(&b, "- Source: the newest backup; %s\n", r.SourceNote)
		}
		fmt.Fprintf(&b, "- Backup: `%s` (taken %s)\n- Restored into: `%s` (scratch; the live database was not touched)\n",
			r.Backup, r.BackupTime.UTC().Format(time.RFC3339), r.Scratch)
		fmt.Fprintf(&b, "- Measured RTO (restore and verification): %s\n- Measured RPO (age of the backup): %s\n", fmtDur(r.RTO), fmtDur(r.RPO))
	}
	if r.Scenario != "" {
		if obj, err := ObjectiveFor(r.Scenario); err == nil {
			rpo := fmtObjective(obj.RPO)
			if obj.RealTime {
				rpo = "real-time"
				if r.Source == DrillSourceReplica {
					rpo += ", counted as " + fmtDur(r.RealTime)
				}
			}
			fmt.Fprintf(&b, "- Rehearsed scenario: %s (RTO %s, RPO %s): ", r.Scenario, fmtObjective(obj.RTO), rpo)
		}
		switch DrillVerdict(r) {
		case "OK":
			b.WriteString("objectives met\n")
		case "WARNING":
			b.WriteString("WARNING, " + strings.Join(r.Missed, "; ") + "\n")
		default:
			b.WriteString("not judged, the backup did not restore and verify\n")
		}
	}
	b.WriteString("\n")
	b.WriteString("## Steps\n\n| step | took | result |\n|---|---|---|\n")
	for _, s := range r.Steps {
		res := "ok"
		if !s.OK {
			res = "FAILED"
		}
		if s.Message != "" {
			res += ": " + mdCell(s.Message)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", s.Name, fmtDur(s.Took), res)
	}
	b.WriteString("\n## Against the guide's objectives\n\n| scenario | RTO | met | RPO | met |\n|---|---|---|---|---|\n")
	for _, a := range r.Against {
		rpo := fmtObjective(a.RPO)
		if a.RealTime {
			rpo = "real-time"
		}
		name := a.Scenario + " (for information)"
		if a.Scenario == r.Scenario {
			name = "**" + a.Scenario + "** (rehearsed)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", name, fmtObjective(a.RTO), yesNo(a.RTOMet), rpo, yesNo(a.RPOMet))
	}
	if hb := r.Heartbeat; hb != nil && len(hb.Tables) > 0 && hb.Unknown == "" {
		b.WriteString("\n## Heartbeat (rows committed before the drill against the restore)\n\n| table | live rows | newest live | restored rows | newest restored | missing |\n|---|---|---|---|---|---|\n")
		for _, t := range hb.Tables {
			fmt.Fprintf(&b, "| %s | %d | %s | %d | %s | %d |\n", t.Table, t.LiveRows, orDefault(t.LiveNewest, "-"), t.RestoredRows, orDefault(t.RestoredNewest, "-"), t.Missing)
		}
	}
	if len(r.Tables) > 0 {
		b.WriteString("\n## Rows restored\n\n| table | rows |\n|---|---|\n")
		for _, t := range sortedKeys(r.Tables) {
			fmt.Fprintf(&b, "| %s | %d |\n", t, r.Tables[t])
		}
	}
	if len(r.Problems) > 0 {
		b.WriteString("\n## Problems\n\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func boolFigure(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
