package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
	"github.com/repops/repops/tui"
)

// runbookOptions are the flags of 'repops runbook run' and 'resume'.
type runbookOptions struct {
	id     string // runbook id (run) or run id (resume)
	dryRun bool
	yes    bool
	rerun  bool
	alert  string // list: only runbooks for this alert
	json   bool   // list: print JSON
	// checkTimeout bounds each check step (run, resume); zero is
	// runbooks.DefaultCheckTimeout.
	checkTimeout time.Duration
}

// newRunbookCmd is 'repops runbook list|show|run|resume|runs'.
func newRunbookCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runbook",
		Short: "The guide's procedures as step-by-step runbooks: list, show, run, resume",
		Long: `Runbooks walk an operator through one of the operations guide's procedures
against the live database, step by step: manual steps are ticked off, checks
run read-only queries or read metrics, actions run repops' procedures. Every
step is recorded in the ops journal, and a run survives the process dying:
'repops runbook resume' continues where it stopped.

The catalogue is built in; console.runbook_dir adds runbooks or replaces
built-in ones by id.`,
	}
	var o runbookOptions
	list := &cobra.Command{
		Use:   "list",
		Short: "List the runbooks (id, severity, steps, title, when to use)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRunbookList(cmd.Context(), a, o)
		},
	}
	list.Flags().StringVar(&o.alert, "alert", "", "only the runbooks for this alert rule or symptom")
	list.Flags().BoolVar(&o.json, "json", false, "print JSON: each runbook (id, title, severity, steps, destructive, when, alerts) and the skipped files' problems")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Print a runbook's text and its plan",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.id = args[0]
			return runRunbookShow(cmd.Context(), a, o)
		},
	}
	run := &cobra.Command{
		Use:   "run ID",
		Short: "Run a runbook against the configured database",
		Long: `Run a runbook step by step. On a terminal each step is offered: manual
steps are ticked off (done, or skipped with a reason), destructive steps need
the database's file name typed; the default answer is always to stop, and a
stopped run can be resumed. --yes answers for automation (cron, CI): manual
steps are recorded as "acknowledged by --yes" and destructive steps are
confirmed. --dry-run prints the plan and changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.id = args[0]
			return runRunbookRun(cmd.Context(), a, o)
		},
	}
	resume := &cobra.Command{
		Use:   "resume [RUNID]",
		Short: "Resume a stopped or interrupted run (the newest when no id is given)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.id = args[0]
			}
			return runRunbookResume(cmd.Context(), a, o)
		},
	}
	for _, c := range []*cobra.Command{run, resume} {
		c.Flags().BoolVarP(&o.yes, "yes", "y", false, "answer every prompt: tick off manual steps and confirm destructive ones (automation)")
		c.Flags().BoolVar(&o.rerun, "rerun", false, "with --yes, re-run a destructive step that an earlier process started and did not finish")
		c.Flags().DurationVar(&o.checkTimeout, "check-timeout", runbooks.DefaultCheckTimeout, "stop a check step (its query or its metric read) after this long; the step then fails")
	}
	run.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the plan: every step, what it would do and change; run nothing")
	runs := &cobra.Command{
		Use:   "runs",
		Short: "List the runs kept in the state dir, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRunbookRuns(cmd.Context(), a)
		},
	}
	cmd.AddCommand(list, show, run, resume, runs)
	return cmd
}

func (a *app) runbookCatalogue() (*runbooks.Catalogue, error) {
	cat, err := runbooks.Load(a.cfg.Console.RunbookDir)
	if err != nil {
		return nil, fmt.Errorf("load runbooks: %w", err)
	}
	printRunbookProblems(a.err, cat, a.cfg.Console.RunbookDir)
	return cat, nil
}

// printRunbookProblems writes the files of the runbook dir that were
// skipped as warnings to w (stderr): one line per problem, file:line:
// message, then what it means. The command goes on with the rest of the
// catalogue.
func printRunbookProblems(w io.Writer, cat *runbooks.Catalogue, dir string) {
	if len(cat.Problems) == 0 {
		return
	}
	for _, p := range cat.Problems {
		fmt.Fprintf(w, "repops: warning: %v\n", p)
	}
	n := cat.SkippedFiles()
	files := "file"
	if n != 1 {
		files = "files"
	}
	fmt.Fprintf(w, "repops: warning: %d %s of %s (console.runbook_dir) skipped; the other runbooks and the built-in ones are loaded. Fix the %s and 'repops runbook list' shows it.\n", n, files, dir, files)
}

// Problems are the runbook dir's files that were skipped, for the
// console's runbook list (tui.RunbookProblems); none until the catalogue
// is loaded, or when it failed to load.
func (l *lazyRunbooks) Problems() []error {
	if !l.ready() {
		return nil
	}
	if p, ok := l.svc.(tui.RunbookProblems); ok {
		return p.Problems()
	}
	return nil
}

func runRunbookList(_ context.Context, a *app, o runbookOptions) error {
	cat, err := a.runbookCatalogue()
	if err != nil {
		return err
	}
	list := cat.List()
	if o.alert != "" {
		list = cat.ForAlert(o.alert)
		if len(list) == 0 {
			return withCode(exitFailure, fmt.Errorf("no runbook for alert %q: 'repops runbook list' shows them all", o.alert))
		}
	}
	if o.json {
		rules, err := effectiveRules(a)
		if err != nil {
			return err
		}
		return writeRunbookListJSON(a.out, cat, list, rules)
	}
	// Two lines a runbook, within 80 columns (an SSH terminal): the id,
	// severity, steps and title, then, indented, what it is for (its
	// alerts and situations); what does not fit is cut with ….
	const width = 80
	idW := len("ID")
	for _, rb := range list {
		idW = max(idW, utf8.RuneCountInString(rb.ID))
	}
	idW = min(idW, 28)
	prefix := idW + 2 + 8 + 2 + 5 + 2
	destructive := false
	fmt.Fprintf(a.out, "%-*s  %-8s  %5s  %s\n", idW, "ID", "SEVERITY", "STEPS", "TITLE")
	for _, rb := range list {
		steps := fmt.Sprint(len(rb.Steps))
		if rb.Destructive() {
			steps += "*"
			destructive = true
		}
		fmt.Fprintf(a.out, "%-*s  %-8s  %5s  %s\n", idW, fitCell(rb.ID, idW), rb.Severity, steps, fitCell(rb.Title, width-prefix))
		if len(rb.When) > 0 {
			fmt.Fprintf(a.out, "    %s\n", fitCell("when: "+strings.Join(rb.When, ", "), width-4))
		}
	}
	if destructive {
		fmt.Fprintln(a.out, "* has destructive steps: each runs only when the database's name is typed")
	}
	if len(cat.Overridden) > 0 {
		fmt.Fprintf(a.out, "\nreplaced from %s: %s\n", a.cfg.Console.RunbookDir, strings.Join(cat.Overridden, ", "))
	}
	return nil
}

// runbookListJSON is 'runbook list --json'. The problems are the files
// of console.runbook_dir that were skipped (also written to standard
// error as warnings); the runbooks listed are all the others.
type runbookListJSON struct {
	Runbooks []runbookJSON `json:"runbooks"`
	// Overridden are the built-in runbooks replaced from the directory.
	Overridden   []string             `json:"overridden"`
	Problems     []runbookProblemJSON `json:"problems"`
	SkippedFiles int                  `json:"skipped_files"`
}

type runbookJSON struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	Steps    int    `json:"steps"`
	// Destructive: a step runs only when the database's name is typed.
	Destructive bool `json:"destructive"`
	// When are the alert rules and symptoms the runbook names; Alerts are
	// the configured alert rules whose alert opens it in the console (the
	// rule's runbook, or the runbook whose when names the rule).
	When       []string `json:"when"`
	Alerts     []string `json:"alerts"`
	Aliases    []string `json:"aliases"`
	Tags       []string `json:"tags"`
	RTOSeconds float64  `json:"rto_seconds,omitempty"`
	RPOSeconds float64  `json:"rpo_seconds,omitempty"`
	File       string   `json:"file"`
}

type runbookProblemJSON struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
	// Error is the whole problem as the warning prints it, file:line: message.
	Error string `json:"error"`
}

// runbookAlerts maps each runbook id to the rules whose alert opens it,
// resolved as the console resolves them: the rule's runbook when the
// catalogue has it (by id or alias), else the catalogue's first runbook
// for the rule's name.
func runbookAlerts(cat *runbooks.Catalogue, rules []metrics.Rule) map[string][]string {
	out := map[string][]string{}
	for _, r := range rules {
		id := ""
		if rb, ok := cat.Get(r.Runbook); ok && r.Runbook != "" {
			id = rb.ID
		} else if found := cat.ForAlert(r.Name); len(found) > 0 {
			id = found[0].ID
		}
		if id != "" {
			out[id] = append(out[id], r.Name)
		}
	}
	return out
}

func writeRunbookListJSON(w io.Writer, cat *runbooks.Catalogue, list []*runbooks.Runbook, rules []metrics.Rule) error {
	alerts := runbookAlerts(cat, rules)
	out := runbookListJSON{Runbooks: []runbookJSON{}, Overridden: nonNil(cat.Overridden), Problems: []runbookProblemJSON{}, SkippedFiles: cat.SkippedFiles()}
	for _, rb := range list {
		out.Runbooks = append(out.Runbooks, runbookJSON{
			ID: rb.ID, Title: rb.Title, Severity: rb.Severity, Steps: len(rb.Steps), Destructive: rb.Destructive(),
			When: nonNil(rb.When), Alerts: nonNil(alerts[rb.ID]), Aliases: nonNil(rb.Aliases), Tags: nonNil(rb.Tags),
			RTOSeconds: rb.Objectives.RTO.Seconds(), RPOSeconds: rb.Objectives.RPO.Seconds(), File: rb.File,
		})
	}
	for _, p := range cat.Problems {
		pj := runbookProblemJSON{Message: p.Error(), Error: p.Error()}
		var pe *runbooks.ParseError
		if errors.As(p, &pe) {
			pj.File, pj.Line, pj.Message = pe.File, pe.Line, pe.Msg
		}
		out.Problems = append(out.Problems, pj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// nonNil is s, or an empty list: JSON readers get [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *app) getRunbook(cat *runbooks.Catalogue, id string) (*runbooks.Runbook, error) {
	rb, ok := cat.Get(id)
	if !ok {
		return nil, usageError("no runbook %q: 'repops runbook list' shows them", id)
	}
	return rb, nil
}

func runRunbookShow(ctx context.Context, a *app, o runbookOptions) error {
	cat, err := a.runbookCatalogue()
	if err != nil {
		return err
	}
	rb, err := a.getRunbook(cat, o.id)
	if err != nil {
		return err
	}
	rb = rb.Expand(runbooks.VarsFromConfig(a.cfg))
	fmt.Fprintf(a.out, "# %s (%s)\n\nid: %s   severity: %s   source: %s\n", rb.Title, rb.ID, rb.ID, rb.Severity, rb.File)
	fmt.Fprintf(a.out, "when: %s\n", strings.Join(rb.When, ", "))
	if ob := rb.Objectives; ob.RTO > 0 || ob.RPO > 0 {
		fmt.Fprintf(a.out, "objectives: RTO %s, RPO %s %s\n", ob.RTO, ob.RPO, rb.Scenario)
	}
	if rb.Intro != "" {
		fmt.Fprintf(a.out, "\n%s\n", rb.Intro)
	}
	for i, s := range rb.Steps {
		fmt.Fprintf(a.out, "\n## %d. %s  [%s]\n", i+1, s.Name, stepKind(s))
		if s.Text != "" {
			fmt.Fprintf(a.out, "\n%s\n", s.Text)
		}
	}
	fmt.Fprintln(a.out)
	printPlan(ctx, a, rb)
	return nil
}

func stepKind(s runbooks.Step) string {
	switch {
	case s.Kind == runbooks.Action && s.Destructive():
		return "action " + s.Action + ", destructive"
	case s.Kind == runbooks.Action:
		return "action " + s.Action
	case s.Kind == runbooks.Check && s.Metric != nil:
		return "check metric " + s.Metric.Name
	case s.Kind == runbooks.Check:
		return "check query"
	}
	return "manual"
}

// printPlan prints the dry run of rb on the configured database, with the
// estimated cost of its optimisation and index steps (read-only).
func printPlan(ctx context.Context, a *app, rb *runbooks.Runbook) {
	w, target := a.out, a.cfg.Database.Path
	est := runbooks.NewOpsEnv(runbooks.EnvConfig{Config: a.cfg, DB: a.dbOptions(), Actor: ops.CurrentActor(""), ReadOnly: true})
	fmt.Fprintf(w, "Plan of %s on %s (nothing is run):\n", rb.ID, target)
	for _, p := range runbooks.PlanWithCosts(ctx, rb, est) {
		fmt.Fprintf(w, "%2d. %s [%s]\n    does:    %s\n    changes: %s\n", p.Index+1, p.Name, p.Kind, p.Does, p.Changes)
		if c := p.Cost; c != nil {
			for _, l := range c.Lines {
				fmt.Fprintf(w, "    cost:    %s\n", l)
			}
		}
		if p.Confirm != "" {
			fmt.Fprintf(w, "    confirm: type %s (or --yes)\n", p.Confirm)
		}
		if p.OnFailure != "" {
			fmt.Fprintf(w, "    %s\n", p.OnFailure)
		}
	}
}

// runbookEngine builds the real Env and the engine for the configured
// database. close releases the metrics engine.
func (a *app) runbookEngine(ctx context.Context, o runbookOptions) (eng *runbooks.Engine, close func(), err error) {
	actor := ops.CurrentActor("")
	var (
		mu     sync.Mutex
		engine *metrics.Engine
		cycles int
	)
	readMetrics := func(ctx context.Context) (runbooks.MetricReader, error) {
		mu.Lock()
		defer mu.Unlock()
		if engine == nil {
			mo, err := metrics.OptionsFromConfig(a.cfg)
			if err != nil {
				return nil, err
			}
			if engine, err = metrics.NewEngine(mo); err != nil {
				return nil, err
			}
		}
		snap := engine.Cycle(ctx)
		if cycles == 0 {
			// Rates and quantiles need two scrapes.
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(2 * time.Second):
			}
			snap = engine.Cycle(ctx)
		}
		cycles++
		return runbooks.SnapshotReader(snap), nil
	}
	env := runbooks.NewOpsEnv(runbooks.EnvConfig{
		Config: a.cfg, DB: a.dbOptions(), Actor: actor, ReadOnly: a.readOnly, Metrics: readMetrics,
	})
	eng = runbooks.NewEngine(env, runbooks.EngineOptions{StateDir: a.cfg.StateDir(), Actor: actor, Vars: runbooks.VarsFromConfig(a.cfg), CheckTimeout: o.checkTimeout})
	return eng, func() {
		mu.Lock()
		defer mu.Unlock()
		if engine != nil {
			engine.Close()
		}
	}, nil
}

func runRunbookRun(ctx context.Context, a *app, o runbookOptions) error {
	if o.checkTimeout < 0 {
		return usageError("--check-timeout %s: must not be negative", o.checkTimeout)
	}
	cat, err := a.runbookCatalogue()
	if err != nil {
		return err
	}
	rb, err := a.getRunbook(cat, o.id)
	if err != nil {
		return err
	}
	if o.dryRun {
		printPlan(ctx, a, rb.Expand(runbooks.VarsFromConfig(a.cfg)))
		return nil
	}
	eng, closeEng, err := a.runbookEngine(ctx, o)
	if err != nil {
		return err
	}
	defer closeEng()
	run, err := eng.Start(rb)
	if err != nil {
		return err
	}
	defer run.Close()
	fmt.Fprintf(a.out, "Run %s of %s (%s) on %s\n", run.ID(), rb.ID, rb.Title, a.cfg.Database.Path)
	return driveRunbook(ctx, a, run, o)
}

func runRunbookResume(ctx context.Context, a *app, o runbookOptions) error {
	if o.checkTimeout < 0 {
		return usageError("--check-timeout %s: must not be negative", o.checkTimeout)
	}
	cat, err := a.runbookCatalogue()
	if err != nil {
		return err
	}
	eng, closeEng, err := a.runbookEngine(ctx, o)
	if err != nil {
		return err
	}
	defer closeEng()
	run, err := eng.Resume(o.id, cat)
	if errors.Is(err, runbooks.ErrNoSuchRun) {
		return withCode(exitUsage, err) // a run id that names no run, as an unknown runbook id
	}
	if err != nil {
		return err
	}
	defer run.Close()
	st := run.State()
	fmt.Fprintf(a.out, "Resuming run %s of %s at step %q\n", run.ID(), st.RunbookID, st.CurrentStep())
	return driveRunbook(ctx, a, run, o)
}

func runRunbookRuns(_ context.Context, a *app) error {
	runs, err := runbooks.ListRuns(a.cfg.StateDir())
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintln(a.out, "no runs")
		return nil
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tRUNBOOK\tSTATUS\tSTEP\tSTARTED\tBY")
	for _, r := range runs {
		step := r.CurrentStep()
		if step == "" {
			step = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.RunID, r.RunbookID, r.Status, step, r.StartedAt.Local().Format("2006-01-02 15:04"), r.Actor)
	}
	return tw.Flush()
}

// errStopped is a run left paused by the operator's answer.
var errStopped = errors.New("stopped")

// driveRunbook offers each step in turn until the run stands still, and
// maps the end to the exit status: finished 0, anything else 1.
func driveRunbook(ctx context.Context, a *app, run *runbooks.Run, o runbookOptions) error {
	for !run.Done() {
		cur, ok := run.Current()
		if !ok {
			break
		}
		printStep(a.out, cur)
		input, err := askStep(a, cur, o)
		if errors.Is(err, errStopped) {
			reason := "stopped by the operator"
			if err.Error() != errStopped.Error() {
				reason = err.Error()
			}
			if serr := run.Stop(reason); serr != nil {
				return serr
			}
			break
		}
		if err != nil {
			return err
		}
		res, err := run.Do(ctx, input, progressPrinter(a.err))
		if err != nil {
			fmt.Fprintf(a.out, "  %v\n", err)
			if errors.Is(err, runbooks.ErrConfirmMismatch) || errors.Is(err, runbooks.ErrCancelled) || errors.Is(err, runbooks.ErrInterrupted) {
				if serr := run.Stop(err.Error()); serr != nil {
					return serr
				}
				break
			}
			return err
		}
		printResult(a.out, res)
	}
	st := run.State()
	switch st.Status {
	case runbooks.RunFinished:
		var failed []string
		for _, s := range st.Steps {
			if s.Outcome == runbooks.Failed {
				failed = append(failed, strconv.Quote(s.Name))
			}
		}
		if len(failed) > 0 {
			return withCode(exitWarning, fmt.Errorf("run %s finished with %d failed step(s): %s", st.RunID, len(failed), strings.Join(failed, ", ")))
		}
		fmt.Fprintf(a.out, "\nRun %s finished.\n", st.RunID)
		return nil
	case runbooks.RunAborted:
		return withCode(exitFailure, fmt.Errorf("run %s aborted: %s", st.RunID, st.Note))
	default:
		return withCode(exitFailure, fmt.Errorf("run %s %s at step %q (%s): continue with 'repops runbook resume %s'", st.RunID, st.Status, st.CurrentStep(), st.Note, st.RunID))
	}
}

func printStep(w io.Writer, cur runbooks.Current) {
	s := cur.Step
	fmt.Fprintf(w, "\n[%d/%d] %s  (%s)\n", cur.Index+1, cur.Total, s.Name, stepKind(s))
	if s.Text != "" {
		for _, line := range strings.Split(s.Text, "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	if cur.Interrupted {
		fmt.Fprintf(w, "  ! this step was started at %s and did not finish: check what it did (repops journal) before running it again\n", cur.Record.StartedAt.Local().Format(time.RFC3339))
	}
}

// askStep turns the operator's answer (or --yes) into the step's input.
// The default, an empty line or end of input, is always to stop.
func askStep(a *app, cur runbooks.Current, o runbookOptions) (runbooks.StepInput, error) {
	s := cur.Step
	if o.yes {
		switch {
		case s.Kind == runbooks.Manual:
			return runbooks.StepInput{Note: "acknowledged by --yes"}, nil
		case cur.NeedsConfirm && cur.Interrupted && !o.rerun:
			return runbooks.StepInput{}, fmt.Errorf("%w: step %q is destructive and was interrupted; resume on a terminal, or add --rerun", errStopped, s.Name)
		case cur.NeedsConfirm:
			return runbooks.StepInput{Confirm: cur.ConfirmWord, Rerun: o.rerun, Note: "confirmed by --yes"}, nil
		}
		return runbooks.StepInput{}, nil
	}
	var prompt string
	switch {
	case cur.NeedsConfirm:
		prompt = fmt.Sprintf("Type %s to run this destructive step, 's REASON' to skip, Enter to stop: ", cur.ConfirmWord)
	case s.Kind == runbooks.Manual:
		prompt = "Done? 'd [NOTE]' done, 's REASON' skip, Enter to stop: "
	case s.Kind == runbooks.Check:
		prompt = "Run the check? 'y', 's REASON' skip, Enter to stop: "
	default:
		prompt = "Run it? 'y', 's REASON' skip, Enter to stop: "
	}
	line, err := a.prompt.Input(prompt)
	if err != nil && !errors.Is(err, io.EOF) {
		return runbooks.StepInput{}, err
	}
	if line == "" {
		if errors.Is(err, io.EOF) {
			return runbooks.StepInput{}, fmt.Errorf("%w: no answer (end of input); use --yes to run unattended", errStopped)
		}
		return runbooks.StepInput{}, errStopped
	}
	verb, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case verb == "s" || verb == "skip":
		return runbooks.StepInput{Skip: true, Reason: rest}, nil
	case cur.NeedsConfirm:
		return runbooks.StepInput{Confirm: line, Rerun: cur.Interrupted}, nil
	case s.Kind == runbooks.Manual && (verb == "d" || verb == "done"):
		return runbooks.StepInput{Note: rest}, nil
	case s.Kind != runbooks.Manual && (verb == "y" || verb == "yes"):
		return runbooks.StepInput{Note: rest}, nil
	}
	return runbooks.StepInput{}, fmt.Errorf("%w: answer %q not understood", errStopped, line)
}

func printResult(w io.Writer, r runbooks.StepResult) {
	mark := map[runbooks.Outcome]string{runbooks.Done: "done", runbooks.Passed: "PASS", runbooks.Failed: "FAIL", runbooks.Skipped: "skipped"}[r.Outcome]
	if r.Message == "done" {
		fmt.Fprintf(w, "  => %s\n", mark)
	} else {
		fmt.Fprintf(w, "  => %s: %s\n", mark, strings.TrimPrefix(r.Message, "done: "))
	}
	if r.Err != nil {
		fmt.Fprintf(w, "     %v\n", r.Err)
	}
	for _, d := range r.Details {
		fmt.Fprintf(w, "     %s\n", d)
	}
	if r.Data != nil && len(r.Data.Columns) > 0 && len(r.Data.Rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "     %s\n", strings.Join(r.Data.Columns, "\t"))
		for i, row := range r.Data.Rows {
			if i == 10 {
				fmt.Fprintf(tw, "     ... %d more rows\n", r.Data.Count-10)
				break
			}
			fmt.Fprintf(tw, "     %s\n", strings.Join(row, "\t"))
		}
		tw.Flush()
	}
}

// progressPrinter prints an action's progress to w, at most a line per
// phase change or per second.
func progressPrinter(w io.Writer) ops.Progress {
	var mu sync.Mutex
	var last time.Time
	var phase string
	return func(e ops.ProgressEvent) {
		mu.Lock()
		defer mu.Unlock()
		if e.Phase == phase && time.Since(last) < time.Second {
			return
		}
		phase, last = e.Phase, time.Now()
		switch f := e.Fraction(); {
		case f >= 0:
			fmt.Fprintf(w, "     %s %3.0f%% (%d/%d %s) %s\n", e.Phase, 100*f, e.Done, e.Total, e.Unit, e.Message)
		case e.Done > 0:
			fmt.Fprintf(w, "     %s %d %s %s\n", e.Phase, e.Done, e.Unit, e.Message)
		case e.Message != "":
			fmt.Fprintf(w, "     %s\n", phaseLine(e.Phase, e.Message))
		}
	}
}
