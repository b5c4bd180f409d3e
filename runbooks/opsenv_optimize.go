package runbooks

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/replicate"
)

// The optimisation and index actions: ops.Optimize (analyze, optimize,
// reindex, vacuum, incremental_vacuum, checkpoint), ops.IndexReport and
// ops.CreateIndex. Each says its cost first (ops.EstimateCost, the same
// figures the dry run shows), and its result carries that cost beside what
// it did. The procedures take the procedure lock and journal their own
// start and end (optimize.OP, index.create), in addition to the runbook's
// step entries.

// optimizeOp is the ops.OptimizeOp an action of the catalogue runs:
// incremental_vacuum is ops' incremental-vacuum. false for an action that
// is not an optimisation.
func optimizeOp(action string) (ops.OptimizeOp, bool) {
	op := ops.OptimizeOp(strings.ReplaceAll(action, "_", "-"))
	return op, slices.Contains(ops.OptimizeOps(), op)
}

// optimizeOptions are the options of the optimisation op with the step's
// parameters (already checked against the action's spec).
func (e *OpsEnv) optimizeOptions(op ops.OptimizeOp, params map[string]string) ops.OptimizeOptions {
	o := ops.OptimizeOptions{DBPath: e.Target(), DB: e.cfg.DB, Op: op, Target: params["target"], Recorder: e.recorder()}
	if v, ok := params["analysis_limit"]; ok {
		o.AnalysisLimit, _ = strconv.Atoi(v)
	}
	if v, ok := params["step_pages"]; ok {
		o.IncrementalPages, _ = strconv.Atoi(v)
	}
	if v, ok := params["max_pages"]; ok {
		o.MaxIncrementalPages, _ = strconv.ParseInt(v, 10, 64)
	}
	return o
}

// optimize runs one optimisation. Its figures: seconds taken, the
// estimated write-lock hold said before, the file and WAL sizes before and
// after, the free pages before and after (pages_freed), and for a
// checkpoint the WAL frames copied. A checkpoint that readers or writers
// kept from finishing fails (retry it).
func (e *OpsEnv) optimize(op ops.OptimizeOp) actionFunc {
	return func(ctx context.Context, params map[string]string, progress ops.Progress) (ActionResult, error) {
		if op == ops.OpCheckpoint {
			if err := replicate.RefuseCheckpoint(ctx, e.Target()); err != nil {
				return ActionResult{}, err
			}
		}
		r, err := ops.Optimize(ctx, e.optimizeOptions(op, params), progress)
		if r == nil {
			return ActionResult{}, err
		}
		c := r.Cost
		res := ActionResult{
			Figures: map[string]float64{
				"seconds": r.Took.Seconds(), "estimated_lock_seconds": c.LockHold.Seconds(), "estimated_seconds": c.Total.Seconds(),
				"work_bytes": float64(c.WorkBytes), "freed_bytes": float64(r.FreedBytes),
				"db_bytes_before": float64(r.Before.DB), "db_bytes_after": float64(r.After.DB),
				"wal_bytes_before": float64(r.Before.WAL), "wal_bytes_after": float64(r.After.WAL),
			},
			Details: append([]string{"cost said before it ran: " + stepCost(c).Summary}, costLines(c)...),
		}
		if pageSize, free, ferr := e.freePages(ctx); ferr == nil && pageSize > 0 {
			before := c.FreeBytes / pageSize
			res.Figures["free_pages_before"], res.Figures["free_pages_after"] = float64(before), float64(free)
			res.Figures["pages_freed"] = float64(max(0, before-free))
		}
		if r.LongestStep > 0 {
			res.Figures["longest_step_seconds"] = r.LongestStep.Seconds()
		}
		if op == ops.OpCheckpoint {
			res.Figures["busy"], res.Figures["log_frames"], res.Figures["checkpointed"] = boolFigure(r.Busy), float64(r.LogFrames), float64(r.Checkpointed)
		}
		target := ""
		if r.Target != "" {
			target = " " + r.Target
		}
		res.Message = fmt.Sprintf("%s%s done in %s (estimated write lock %s); file %s -> %s, WAL %s -> %s",
			op, target, r.Took.Round(time.Millisecond), roundDur(c.LockHold),
			humanize.Bytes(r.Before.DB), humanize.Bytes(r.After.DB), humanize.Bytes(r.Before.WAL), humanize.Bytes(r.After.WAL))
		if r.Message != "" && !strings.HasPrefix(r.Message, string(op)+" done in") {
			res.Message += "; " + r.Message
		}
		if err == nil && r.Busy {
			err = fmt.Errorf("checkpoint of %s did not finish: %s", e.Target(), r.Message)
		}
		return res, err
	}
}

// freePages reads the page size and the free-list length as they are now.
func (e *OpsEnv) freePages(ctx context.Context) (pageSize, free int64, err error) {
	r, err := e.openRead(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	if err := r.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return 0, 0, err
	}
	err = r.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free)
	return pageSize, free, err
}

// indexReport is the index check: critical indexes, duplicates (their
// DROP statements are shown, never run), known indexes missing with what
// creating each would cost, and the hot queries' plans. It changes
// nothing and does not fail on what it finds: a runbook expects a figure
// (critical_missing, duplicates, missing, full_scans) when it must.
func (e *OpsEnv) indexReport(ctx context.Context, _ map[string]string, _ ops.Progress) (ActionResult, error) {
	r, err := e.openRead(ctx)
	if err != nil {
		return ActionResult{}, err
	}
	defer r.Close()
	rep, err := ops.IndexReport(ctx, r, e.Target())
	if err != nil {
		return ActionResult{}, fmt.Errorf("index report of %s: %w", e.Target(), err)
	}
	plans, err := ops.ExplainHotQueries(ctx, r)
	if err != nil {
		return ActionResult{}, fmt.Errorf("index report of %s: %w", e.Target(), err)
	}
	res := ActionResult{Figures: map[string]float64{"indexes": float64(len(rep.Indexes))}}
	var critMissing, drop, scans int
	for _, c := range rep.Critical {
		switch {
		case !c.Present:
			critMissing++
			res.Details = append(res.Details, fmt.Sprintf("critical index %s on %s(%s) MISSING (%s): create it with create_index", c.Def.Name, c.Def.Table, strings.Join(c.Def.Columns, ", "), c.Def.Purpose))
		case c.PresentAs != c.Def.Name:
			res.Details = append(res.Details, fmt.Sprintf("critical index %s present as %s (same columns)", c.Def.Name, c.PresentAs))
		default:
			res.Details = append(res.Details, fmt.Sprintf("critical index %s present", c.Def.Name))
		}
	}
	for _, d := range rep.Duplicates {
		drop += len(d.Drop)
		res.Details = append(res.Details, fmt.Sprintf("duplicate indexes on %s(%s): keep %s, %s can go (%s: not run by repops)",
			d.Table, strings.Join(d.Columns, ", "), d.Keep, strings.Join(d.Drop, ", "), strings.Join(d.DropSQL, " ")))
	}
	for _, m := range rep.Missing {
		res.Details = append(res.Details, fmt.Sprintf("known index %s on %s(%s) missing (%s): creating it holds the write lock about %s",
			m.Def.Name, m.Def.Table, strings.Join(m.Def.Columns, ", "), m.Def.Source, roundDur(m.Cost.LockHold)))
	}
	for _, p := range plans {
		if p.FullScan {
			scans++
			res.Details = append(res.Details, fmt.Sprintf("query %s (%s) scans: %s", p.Query.Name, p.Query.Purpose, strings.Join(p.Scans, "; ")))
		}
	}
	res.Figures["critical_missing"], res.Figures["duplicates"], res.Figures["missing"], res.Figures["full_scans"] =
		float64(critMissing), float64(drop), float64(len(rep.Missing)), float64(scans)
	res.Message = fmt.Sprintf("%d indexes; %d of %d critical missing, %d duplicate(s), %d known missing, %d of %d hot queries scan",
		len(rep.Indexes), critMissing, len(rep.Critical), drop, len(rep.Missing), scans, len(plans))
	return res, nil
}

// indexesToCreate reads which known indexes create_index would create:
// the named one, or every missing critical index of the guide when none
// is named. present names the ones the database already has (by name or
// by an index on the same columns), which are not created again.
func (e *OpsEnv) indexesToCreate(ctx context.Context, params map[string]string) (create []ops.MissingIndex, present []string, err error) {
	r, err := e.openRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	rep, err := ops.IndexReport(ctx, r, e.Target())
	if err != nil {
		return nil, nil, fmt.Errorf("create index: read the indexes of %s: %w", e.Target(), err)
	}
	name := params["index"]
	for _, m := range rep.Missing {
		if (name == "" && m.Def.Critical) || m.Def.Name == name {
			create = append(create, m)
		}
	}
	if name != "" && len(create) == 0 {
		present = append(present, name)
	}
	if name == "" {
		for _, c := range rep.Critical {
			switch {
			case c.Present && c.PresentAs != c.Def.Name:
				present = append(present, c.Def.Name+" (as "+c.PresentAs+")")
			case c.Present:
				present = append(present, c.Def.Name)
			}
		}
	}
	return create, present, nil
}

// createIndex creates known indexes (ops.CreateIndex): the named one, or
// every missing critical one. An index the database has is not an error:
// the step is then done with nothing created (figure created 0).
func (e *OpsEnv) createIndex(ctx context.Context, params map[string]string, progress ops.Progress) (ActionResult, error) {
	create, present, err := e.indexesToCreate(ctx, params)
	if err != nil {
		return ActionResult{}, err
	}
	res := ActionResult{Figures: map[string]float64{"created": 0, "present": float64(len(present))}}
	for _, p := range present {
		res.Details = append(res.Details, p+": the database has it (or an index on the same columns); not created")
	}
	var took, estimated time.Duration
	for i, m := range create {
		if progress != nil {
			progress(ops.ProgressEvent{Phase: "create-index", Done: int64(i), Total: int64(len(create)), Unit: "indexes",
				Message: fmt.Sprintf("creating %s on %s: holds the write lock about %s", m.Def.Name, m.Def.Table, roundDur(m.Cost.LockHold))})
		}
		r, err := ops.CreateIndex(ctx, ops.CreateIndexOptions{DBPath: e.Target(), DB: e.cfg.DB, Name: m.Def.Name, Recorder: e.recorder()})
		if r != nil {
			took += r.Took
			estimated += r.Cost.LockHold
			res.Details = append(res.Details, fmt.Sprintf("created %s: %s in %s (estimated write lock %s)", m.Def.Name, m.Def.SQL(), r.Took.Round(time.Millisecond), roundDur(r.Cost.LockHold)))
		}
		res.Figures["seconds"], res.Figures["estimated_lock_seconds"] = took.Seconds(), estimated.Seconds()
		if err != nil {
			res.Message = fmt.Sprintf("%d of %d index(es) created; %s failed", i, len(create), m.Def.Name)
			return res, err
		}
		res.Figures["created"] = float64(i + 1)
	}
	if progress != nil && len(create) > 0 {
		progress(ops.ProgressEvent{Phase: "create-index", Done: int64(len(create)), Total: int64(len(create)), Unit: "indexes", Message: "done"})
	}
	switch {
	case len(create) == 0:
		res.Message = "nothing to create: " + strings.Join(present, ", ") + " present"
	default:
		res.Message = fmt.Sprintf("%d index(es) created in %s", len(create), took.Round(time.Millisecond))
	}
	return res, nil
}

// Estimate implements Estimator: the cost of an optimisation from
// ops.EstimateCost, of create_index from the index report, as the database
// is now. It only reads.
func (e *OpsEnv) Estimate(ctx context.Context, action string, params map[string]string) (*StepCost, error) {
	if op, ok := optimizeOp(action); ok {
		c, err := ops.EstimateCost(ctx, e.optimizeOptions(op, params))
		if err != nil {
			return nil, err
		}
		return stepCost(c), nil
	}
	if action != "create_index" {
		return nil, nil
	}
	create, present, err := e.indexesToCreate(ctx, params)
	if err != nil {
		return nil, err
	}
	sc := &StepCost{}
	var names []string
	for _, m := range create {
		names = append(names, m.Def.Name)
		sc.LockHold = max(sc.LockHold, m.Cost.LockHold)
		sc.Total += m.Cost.Total
		sc.Lines = append(sc.Lines, fmt.Sprintf("%s: %s; write lock about %s", m.Def.Name, m.Def.SQL(), roundDur(m.Cost.LockHold)))
		for _, l := range costLines(m.Cost) {
			sc.Lines = append(sc.Lines, "  "+l)
		}
		if m.Cost.SpaceError != "" && sc.Refused == "" {
			sc.Refused = m.Cost.SpaceError
		}
	}
	switch {
	case len(create) == 0:
		sc.Summary = "nothing: " + strings.Join(present, ", ") + " present; no write lock"
	default:
		sc.Summary = fmt.Sprintf("creates %s; write lock about %s per index at most, %s in all", strings.Join(names, ", "),
			roundDur(sc.LockHold), roundDur(sc.Total))
	}
	if sc.Refused != "" {
		sc.Summary += "; REFUSED: " + sc.Refused
	}
	return sc, nil
}

// stepCost is an optimisation's cost as the plan shows it.
func stepCost(c ops.Cost) *StepCost {
	sc := &StepCost{LockHold: c.LockHold, Total: c.Total, Lines: costLines(c), Refused: c.SpaceError}
	var parts []string
	parts = append(parts, lockText(c))
	if c.WorkBytes > 0 {
		parts = append(parts, humanize.Bytes(c.WorkBytes)+" read and rewritten")
	}
	switch c.Op {
	case ops.OpVacuum:
		parts = append(parts, humanize.Bytes(c.FreeBytes)+" of free pages returned to the filesystem")
	case ops.OpIncrementalVacuum:
		parts = append(parts, humanize.Bytes(c.WorkBytes)+" of free pages returned, in steps")
	}
	if c.SpaceError != "" {
		parts = append(parts, "REFUSED: "+c.SpaceError)
	}
	sc.Summary = strings.Join(parts, "; ")
	return sc
}

// lockText says how long the write lock is held: the longest the
// service's writers wait.
func lockText(c ops.Cost) string {
	switch {
	case !c.BlocksWriters:
		return "no write lock"
	case c.Steps > 0:
		return fmt.Sprintf("write lock about %s per step, %d steps, %s in all", roundDur(c.LockHold), c.Steps, roundDur(c.Total))
	}
	return fmt.Sprintf("write lock about %s in one hold (the service's writes wait that long)", roundDur(c.LockHold))
}

// roundDur is an estimated duration to the millisecond, "under 1ms" when
// shorter but not zero.
func roundDur(d time.Duration) string {
	if d > 0 && d < time.Millisecond {
		return "under 1ms"
	}
	return d.Round(time.Millisecond).String()
}

// costLines is a cost estimate in full beyond its summary (stepCost), one
// fact a line.
func costLines(c ops.Cost) []string {
	var lines []string
	if c.AutoVacuum != "" {
		lines = append(lines, fmt.Sprintf("database %s: %s in use, %s of free pages, auto_vacuum %s", humanize.Bytes(c.DBBytes), humanize.Bytes(c.InUseBytes), humanize.Bytes(c.FreeBytes), c.AutoVacuum))
	}
	for _, s := range c.Space {
		lines = append(lines, fmt.Sprintf("needs %s in %s for %s", humanize.Bytes(s.Bytes), s.Dir, s.What))
	}
	seen := map[string]bool{}
	for _, f := range c.Free {
		if !seen[f.Dir] {
			seen[f.Dir] = true
			lines = append(lines, fmt.Sprintf("%s free in %s", humanize.Bytes(f.Free), f.Dir))
		}
	}
	if c.SpaceError != "" {
		lines = append(lines, "REFUSED: "+c.SpaceError)
	}
	if c.Cheaper != "" {
		lines = append(lines, "cheaper: "+c.Cheaper)
	}
	if c.Preflight != "" {
		lines = append(lines, "pre-flight: "+c.Preflight)
	}
	if c.Basis != "" {
		lines = append(lines, "estimate "+c.Basis)
	}
	return lines
}
