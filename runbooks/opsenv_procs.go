package runbooks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/replicate"
)

// The actions below call the ops and db procedures; each procedure that
// changes something (ops.Backup, ops.Restore, ops.Drill, ops.Archive,
// ops.Migrate, the optimisations) runs through ops.Run, which takes the
// procedure lock and journals its start and end, in addition to the
// runbook's step entries.

func (e *OpsEnv) backupDir(params map[string]string) string {
	if d := params["dir"]; d != "" {
		return d
	}
	return e.cfg.Config.BackupDir()
}

func (e *OpsEnv) backup(ctx context.Context, params map[string]string, progress ops.Progress) (ActionResult, error) {
	bc := e.cfg.Config.Console.Backup
	r, err := ops.Backup(ctx, ops.BackupOptions{
		DBPath: e.Target(), Dir: e.backupDir(params), StateDir: e.cfg.StateDir,
		KeepLast: bc.KeepLast, KeepWithin: bc.KeepWithin, Actor: e.cfg.Actor,
	}, progress)
	if err != nil {
		return ActionResult{}, err
	}
	res := ActionResult{
		Message: fmt.Sprintf("backup %s: %s, quick_check %s, copy %s", r.Manifest.Name, humanize.Bytes(r.Manifest.Size), r.Manifest.QuickCheck, r.CopyTook.Round(time.Millisecond)),
		Figures: map[string]float64{
			"bytes": float64(r.Manifest.Size), "copy_seconds": r.CopyTook.Seconds(), "seconds": r.Took.Seconds(),
			"schema_version": float64(r.Manifest.SchemaVersion), "removed": float64(len(r.Removed)),
		},
		Details: []string{"path " + r.Path, "sha256 " + r.Manifest.SHA256},
	}
	for t, f := range r.Manifest.Tables {
		res.Figures[t+"_rows"] = float64(f.Rows)
	}
	for _, old := range r.Removed {
		res.Details = append(res.Details, "retention removed "+old)
	}
	return res, nil
}

func (e *OpsEnv) resolveBackup(name string) (string, error) {
	if name == "" {
		name = "latest"
	}
	return ops.ResolveBackup(e.cfg.Config.BackupDir(), e.Target(), name)
}

func (e *OpsEnv) verifyBackup(ctx context.Context, params map[string]string, _ ops.Progress) (ActionResult, error) {
	path, err := e.resolveBackup(params["backup"])
	if err != nil {
		return ActionResult{}, err
	}
	r, err := ops.VerifyBackup(ctx, path)
	if err != nil {
		return ActionResult{}, err
	}
	res := ActionResult{
		Figures: map[string]float64{"schema_version": float64(r.SchemaVersion), "problems": float64(len(r.Problems)), "seconds": r.Took.Seconds()},
		Details: append([]string{"backup " + path}, r.Problems...),
	}
	for t, f := range r.Tables {
		res.Figures[t+"_rows"] = float64(f.Rows)
		res.Details = append(res.Details, fmt.Sprintf("%s: %d rows, newest %s", t, f.Rows, f.NewestCreatedAt))
	}
	if !r.OK() {
		res.Message = fmt.Sprintf("backup %s does NOT verify", path)
		return res, fmt.Errorf("backup %s does not verify: %s", path, strings.Join(r.Problems, "; "))
	}
	res.Message = fmt.Sprintf("backup %s verified: schema version %d", path, r.SchemaVersion)
	for _, n := range r.Notes {
		res.Message += "; " + n
	}
	return res, nil
}

func (e *OpsEnv) restore(ctx context.Context, params map[string]string, progress ops.Progress) (ActionResult, error) {
	if err := replicate.RefuseRestore(ctx, e.Target()); err != nil {
		return ActionResult{}, err
	}
	path, err := e.resolveBackup(params["backup"])
	if err != nil {
		return ActionResult{}, err
	}
	r, err := ops.Restore(ctx, ops.RestoreOptions{
		DBPath: e.Target(), Backup: path, Mode: ops.RestoreAuto, StateDir: e.cfg.StateDir, Actor: e.cfg.Actor,
	}, progress)
	if r == nil {
		return ActionResult{}, err
	}
	lost := fmt.Sprintf("%d rows newer than the backup lost (kept in the safety copy %s), data-loss window %s", r.LostRows, r.SafetyCopy, r.LostWindow)
	if r.LossUnknown != "" {
		lost = "loss unknown: " + r.LossUnknown
	}
	res := ActionResult{
		Message: fmt.Sprintf("restored %s (%s) in %s; %s", path, r.Mode, r.Took.Round(time.Millisecond), lost),
		Figures: map[string]float64{"seconds": r.Took.Seconds(), "lost_rows": float64(r.LostRows), "lost_window_seconds": r.LostWindow.Seconds()},
		Details: []string{"mode " + r.Mode, "safety copy " + r.SafetyCopy},
	}
	for t, f := range r.Tables {
		res.Figures[t+"_rows"] = float64(f.Rows)
	}
	for _, l := range r.Lost {
		res.Figures[l.Table+"_lost_rows"] = float64(l.NewerRows)
		d := fmt.Sprintf("%s: %d rows before, %d in the backup (%d newer than the backup lost)", l.Table, l.OldRows, l.RestoredRows, l.NewerRows)
		if l.NewerRows > 0 {
			d += fmt.Sprintf("; newest lost #%d", l.NewestLostID)
			if l.NewestLost != "" {
				d += fmt.Sprintf(" of %s, %s after the newest kept", l.NewestLost, l.Window)
			}
		}
		res.Details = append(res.Details, d)
	}
	if r.LossUnknown != "" {
		res.Details = append(res.Details, "loss unknown: "+r.LossUnknown)
	}
	res.Details = append(res.Details, r.QuickCheck...)
	res.Details = append(res.Details, r.SchemaProblems...)
	return res, err
}

func (e *OpsEnv) check(ctx context.Context, params map[string]string, _ ops.Progress) (ActionResult, error) {
	r, err := ops.Check(ctx, ops.CheckOptions{DBPath: e.Target(), Full: params["mode"] == "full", StateDir: e.cfg.StateDir})
	if r == nil {
		return ActionResult{}, err
	}
	res := ActionResult{
		Message: fmt.Sprintf("%s check: %s in %s", r.Mode, ops.StatusName(r.Status), r.Took.Round(time.Millisecond)),
		Figures: map[string]float64{"status": float64(r.Status), "corrupt": float64(len(r.Corrupt)), "foreign": float64(len(r.Foreign)), "schema": float64(len(r.Schema)), "seconds": r.Took.Seconds()},
	}
	res.Details = append(append(append(res.Details, r.Corrupt...), r.Foreign...), r.Schema...)
	if err == nil && r.Status == ops.CheckCritical {
		err = fmt.Errorf("integrity check of %s failed: %s: run the database-corruption runbook", e.Target(), strings.Join(r.Corrupt, "; "))
	}
	return res, err
}

func (e *OpsEnv) drill(ctx context.Context, params map[string]string, progress ops.Progress) (ActionResult, error) {
	o := ops.DrillOptions{DBPath: e.Target(), BackupDir: e.cfg.Config.BackupDir(), Backup: params["backup"], StateDir: e.cfg.StateDir, Actor: e.cfg.Actor,
		Scenario: params["scenario"]}
	if rp := e.cfg.Config.Console.Replication; len(rp.Replicas) > 0 {
		// Replication configured: the drill restores the replica (issue 15).
		o.LitestreamConfig, o.RealTime = e.cfg.Config.LitestreamConfig(), max(rp.SyncInterval, ops.DrillRealTime)
	}
	if _, err := ops.ObjectiveFor(o.Scenario); err != nil {
		return ActionResult{}, fmt.Errorf("drill: %w", err)
	}
	r, err := ops.Drill(ctx, o, progress)
	if r == nil {
		return ActionResult{}, err
	}
	res := ActionResult{
		Message: fmt.Sprintf("drill of %s (%s): %s; RTO %s, RPO %s", r.Backup, r.Scenario, ops.DrillVerdict(r), r.RTO.Round(time.Millisecond), r.RPO.Round(time.Second)),
		Figures: map[string]float64{"rto_seconds": r.RTO.Seconds(), "rpo_seconds": r.RPO.Seconds(), "ok": boolFigure(r.OK), "objectives_met": boolFigure(r.ObjectivesMet)},
	}
	res.Details = append(res.Details, r.Missed...)
	for _, a := range r.Against {
		role := "for information"
		if a.Scenario == r.Scenario {
			role = "rehearsed"
		}
		res.Details = append(res.Details, fmt.Sprintf("%s (%s): RTO %s met %v, RPO %s met %v", a.Scenario, role, a.RTO, a.RTOMet, a.RPO, a.RPOMet))
	}
	for t, n := range r.Tables {
		res.Figures[t+"_rows"] = float64(n)
	}
	if r.ReportMD != "" {
		res.Details = append(res.Details, "report "+r.ReportMD)
	}
	res.Details = append(res.Details, r.Problems...)
	switch {
	case err != nil:
	case !r.OK:
		err = fmt.Errorf("the drill found problems: %s (report %s)", strings.Join(r.Problems, "; "), r.ReportMD)
	case !r.ObjectivesMet:
		// Restored and verified but an objective missed: a WARNING, which
		// the step must not show as done (✓). The engine has no warning
		// outcome: the step fails, and the runbook's on_failure decides
		// whether the run goes on.
		err = fmt.Errorf("WARNING: the backup restored and verified, but %s: %s (report %s)", r.Scenario, strings.Join(r.Missed, "; "), r.ReportMD)
	}
	return res, err
}

func (e *OpsEnv) validateSchema(ctx context.Context, _ map[string]string, _ ops.Progress) (ActionResult, error) {
	r, err := e.openRead(ctx)
	if err != nil {
		return ActionResult{}, err
	}
	defer r.Close()
	rep, err := db.Validate(ctx, r)
	if err != nil {
		return ActionResult{}, db.Classify(e.Target(), err)
	}
	res := ActionResult{Figures: map[string]float64{
		"version": float64(rep.Version), "latest": float64(rep.Latest), "tables": float64(rep.Tables),
		"indexes": float64(rep.Indexes), "problems": float64(len(rep.Problems)),
	}}
	for _, p := range rep.Problems {
		res.Details = append(res.Details, p.String())
	}
	if !rep.OK() {
		res.Message = fmt.Sprintf("schema version %d: %d problem(s)", rep.Version, len(rep.Problems))
		return res, fmt.Errorf("schema of %s does not validate: %d problem(s), first: %s", e.Target(), len(rep.Problems), rep.Problems[0])
	}
	res.Message = fmt.Sprintf("schema valid: version %d of %d, %d tables, %d indexes", rep.Version, rep.Latest, rep.Tables, rep.Indexes)
	return res, nil
}

func (e *OpsEnv) tableSizes(ctx context.Context, _ map[string]string, _ ops.Progress) (ActionResult, error) {
	r, err := e.openRead(ctx)
	if err != nil {
		return ActionResult{}, err
	}
	defer r.Close()
	s, err := db.TableSizes(ctx, r, e.Target(), db.SizeOptions{})
	if err != nil {
		return ActionResult{}, err
	}
	res := ActionResult{Figures: map[string]float64{"bytes": float64(s.PageSize * s.PageCount)}}
	for _, o := range s.Objects {
		if o.Kind == "table" {
			res.Figures[o.Name+"_rows"] = float64(o.Rows)
			if o.Bytes >= 0 {
				res.Figures[o.Name+"_bytes"] = float64(o.Bytes)
			}
		}
		size := "?"
		if o.Bytes >= 0 {
			size = humanize.Bytes(o.Bytes)
		}
		res.Details = append(res.Details, fmt.Sprintf("%-5s %-40s %12s rows %10s", o.Kind, o.Name, db.FormatCount(o.Rows), size))
	}
	res.Message = fmt.Sprintf("%d tables and indexes, %s in all", len(s.Objects), humanize.Bytes(s.PageSize*s.PageCount))
	return res, nil
}
