package tui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
	"github.com/repops/repops/state"
)

// The backups of the database, as the runbooks view shows them in three
// modes of its own: the list (:backups, rbBackups), the chooser a step
// with a backup parameter offers before it runs (restore, verify_backup,
// drill: rbChoose), and one backup's manifest (rbManifest, enter on a
// backup of the list, m in the chooser). The last DR drill's report
// (:drill, rbDrill) is here too. Everything is read in Cmds; the screens
// only draw what was read.

// backupsState is what the backup screens read and where they stand.
type backupsState struct {
	// list: the database's own backups, newest first, with their
	// manifests (ops.ListBackups, filtered by state.IsBackupOf); others
	// counts the other databases' backups in the same dir.
	list    []ops.BackupEntry
	others  int
	dir     string
	err     error
	loaded  bool
	loading bool
	sel     int
	off     int // the list's offset as last shown (runbooks_click.go)
	// The chooser: param is the step's parameter ("backup"), named the
	// value the runbook gives it ("latest" or a name), step its index.
	param string
	named string
	step  int
	// shown is the backup whose manifest is shown; ret the mode esc goes
	// back to from the manifest, the list or the drill report.
	shown *ops.BackupEntry
	ret   rbMode
	// scroll scrolls the manifest and the drill report.
	scroll scroller
	// The drill report.
	drill     *state.DrillRecord
	report    string
	reportAt  string
	drillErr  error
	drillRead bool
}

// backupsMsg is the database's backups as listBackupsCmd read them.
type backupsMsg struct {
	list   []ops.BackupEntry
	others int
	dir    string
	err    error
}

// drillReportMsg is the last DR drill's record and report.
type drillReportMsg struct {
	rec    *state.DrillRecord
	report string
	path   string
	err    error
}

// backupParam is the name of the step's backup parameter and the value
// the runbook gives it ("latest" when it gives none): ok when the step is
// an action that takes a backup (restore, verify_backup, drill).
func backupParam(s runbooks.Step) (name, value string, ok bool) {
	if s.Kind != runbooks.Action {
		return "", "", false
	}
	spec, found := runbooks.Actions()[s.Action]
	if !found {
		return "", "", false
	}
	p, found := spec.Param("backup")
	if !found {
		return "", "", false
	}
	value = s.Params[p.Name]
	if value == "" {
		value = p.Default
	}
	if value == "" {
		value = "latest"
	}
	return p.Name, value, true
}

// listBackupsCmd reads the database's backups off the event loop.
func (v runbooksView) listBackupsCmd() tea.Cmd {
	if v.ctx.Config == nil {
		return nil
	}
	dir, dbPath, now := v.ctx.Config.BackupDir(), v.ctx.Config.Database.Path, v.ctx.Now()
	return addressed(viewRunbooks, func() tea.Msg {
		all, err := ops.ListBackups(dir, now)
		msg := backupsMsg{dir: dir, err: err}
		for _, b := range all {
			if state.IsBackupOf(b.BackupFile, dbPath) {
				msg.list = append(msg.list, b)
			} else {
				msg.others++
			}
		}
		return msg
	})
}

// prefetchBackups reads the backups ahead when the step now offered
// takes one, so that its chooser opens at once on x.
func (v runbooksView) prefetchBackups() (runbooksView, tea.Cmd) {
	if !v.curOK || v.state.Status != runbooks.RunRunning {
		return v, nil
	}
	if _, _, ok := backupParam(v.cur.Step); !ok {
		return v, nil
	}
	v.bk.loading = true
	return v, v.listBackupsCmd()
}

// onBackups keeps the backups read; the chooser's and the list's
// selection stays on the backup it was on.
func (v runbooksView) onBackups(msg backupsMsg) (runbooksView, tea.Cmd) {
	var was string
	if v.bk.loaded && v.bk.sel < len(v.bk.list) {
		was = v.bk.list[v.bk.sel].Name
	}
	v.bk.list, v.bk.others, v.bk.dir, v.bk.err = msg.list, msg.others, msg.dir, msg.err
	v.bk.loaded, v.bk.loading = true, false
	v.bk.sel = 0
	if was != "" {
		for i, b := range v.bk.list {
			if b.Name == was {
				v.bk.sel = i
			}
		}
	}
	v.bk.sel = min(v.bk.sel, max(0, len(v.bk.list)-1))
	return v, nil
}

// openBackups shows the backups list (:backups).
func (v runbooksView) openBackups() (runbooksView, tea.Cmd) {
	v.bk.ret = v.backTo()
	v.mode, v.bk.sel, v.bk.loading = rbBackups, 0, true
	return v, v.listBackupsCmd()
}

// backTo is the mode esc goes back to from :backups or :drill opened
// now: the mode the view is in, or where that mode itself goes back to
// when it is one of these screens (so that esc never goes round).
func (v runbooksView) backTo() rbMode {
	switch v.mode {
	case rbBackups, rbDrill:
		return v.bk.ret
	case rbManifest:
		if v.manifestFrom == rbBackups {
			return v.bk.ret
		}
		return rbRun
	case rbChoose:
		return rbRun
	}
	return v.mode
}

// openChooser offers the backups before the current step runs; the
// selection starts on the backup the runbook names (the newest for
// "latest"). The list read ahead is shown at once and read again.
func (v runbooksView) openChooser(param, named string) (runbooksView, tea.Cmd) {
	v.mode = rbChoose
	v.bk.param, v.bk.named, v.bk.step = param, named, v.cur.Index
	v.bk.sel = v.defaultBackup()
	v.bk.loading = true
	return v, v.listBackupsCmd()
}

// defaultBackup is the index of the backup the runbook names.
func (v runbooksView) defaultBackup() int {
	named := v.bk.named
	if named == "" || named == "latest" {
		return 0
	}
	base := filepath.Base(named)
	if !strings.HasSuffix(base, ".db") {
		base += ".db"
	}
	for i, b := range v.bk.list {
		if b.Name == base {
			return i
		}
	}
	return 0
}

// onChooseKey: enter (or x) uses the selected backup for the step, m
// shows its manifest, s skips the step instead, esc cancels; the other
// keys move the selection.
func (v runbooksView) onChooseKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	switch {
	case key.Matches(msg, k.Back) || msg.String() == "q":
		v.mode = rbRun
		return v, flash("cancelled: nothing was run", false)
	case key.Matches(msg, k.Enter, k.Do):
		return v.useBackup()
	case key.Matches(msg, k.Skip):
		v.mode = rbRun
		return v.ask(inReason, "skip: why? ", "the reason is journaled")
	case msg.String() == "m" || msg.String() == "i":
		return v.showManifest(rbChoose)
	}
	if v.moveSel(msg) {
		return v, nil
	}
	return v, flash("choose the backup: enter uses it · m its manifest · s skips the step · esc cancels", false)
}

// moveSel moves the backups' selection for a list key.
func (v *runbooksView) moveSel(msg tea.KeyPressMsg) bool {
	k := v.ctx.Keys
	n := len(v.bk.list)
	switch {
	case key.Matches(msg, k.Up):
		v.bk.sel = max(0, v.bk.sel-1)
	case key.Matches(msg, k.Down):
		v.bk.sel = min(max(0, n-1), v.bk.sel+1)
	case key.Matches(msg, k.PageUp):
		v.bk.sel = max(0, v.bk.sel-v.backupRows())
	case key.Matches(msg, k.PageDown):
		v.bk.sel = min(max(0, n-1), v.bk.sel+v.backupRows())
	case key.Matches(msg, k.Top):
		v.bk.sel = 0
	case key.Matches(msg, k.Bottom):
		v.bk.sel = max(0, n-1)
	default:
		return false
	}
	return true
}

// useBackup runs the step with the chosen backup: after the typed
// confirmation for a destructive one. With no backup to choose from, the
// step runs with the runbook's own parameter (and says why it cannot).
func (v runbooksView) useBackup() (runbooksView, tea.Cmd) {
	v.mode = rbRun
	if !v.curOK || v.cur.Index != v.bk.step {
		return v, flash("the run moved on: nothing was run", false)
	}
	v.choice = nil
	chosen := v.bk.named
	if len(v.bk.list) > 0 {
		chosen = v.bk.list[min(v.bk.sel, len(v.bk.list)-1)].Name
		v.choice = map[string]string{v.bk.param: chosen}
	}
	if v.cur.NeedsConfirm {
		return v.ask(inConfirm, fmt.Sprintf("type %s to run %s from %s (empty or esc cancels): ", v.cur.ConfirmWord, v.cur.Step.Action, chosen), "")
	}
	return v.doStep(runbooks.StepInput{Note: v.note, Rerun: v.cur.Interrupted})
}

// onBackupsKey: the :backups list; enter shows the manifest.
func (v runbooksView) onBackupsKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	switch {
	case key.Matches(msg, k.Back):
		v.mode = v.bk.ret
		return v, nil
	case key.Matches(msg, k.Enter):
		return v.showManifest(rbBackups)
	}
	v.moveSel(msg)
	return v, nil
}

// showManifest shows the selected backup's manifest; esc goes back to
// from.
func (v runbooksView) showManifest(from rbMode) (runbooksView, tea.Cmd) {
	if len(v.bk.list) == 0 {
		return v, flash("no backup to show", false)
	}
	b := v.bk.list[min(v.bk.sel, len(v.bk.list)-1)]
	v.bk.shown = &b
	v.manifestFrom = from
	v.mode = rbManifest
	v.bk.scroll.Top()
	return v, nil
}

// onManifestKey scrolls the manifest; esc goes back.
func (v runbooksView) onManifestKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	switch {
	case key.Matches(msg, k.Back):
		v.mode = v.manifestFrom
		return v, nil
	case v.manifestFrom == rbChoose && key.Matches(msg, k.Enter, k.Do):
		return v.useBackup()
	}
	lines, room := v.manifestPane()
	v.bk.scroll.Fit(len(lines), room)
	if !v.bk.scroll.Key(msg, k) && v.manifestFrom == rbChoose {
		return v, flash("esc back to the backups · enter uses this backup", false)
	}
	return v, nil
}

// backupState is a backup's verification state in words.
func backupState(b ops.BackupEntry) (word string, ok bool) {
	if b.State == ops.BackupOK {
		return "verified", true
	}
	return "not verified: " + b.State, false
}

// backupRows is how many backups the list screens show at once.
func (v runbooksView) backupRows() int { return max(1, v.ctx.bodyHeight()-5) }

// backupLines are the backups as rows of at most w cells: name, age,
// size and whether the manifest verifies; the selected one marked, the
// one the runbook names tagged.
func (v runbooksView) backupLines(w int) []string {
	st := v.ctx.Styles
	var out []string
	if v.bk.err != nil {
		return append(out, st.Error.Render(truncate("could not list the backups: "+v.bk.err.Error(), w)))
	}
	if !v.bk.loaded {
		return append(out, st.Muted.Render("reading the backups…"))
	}
	if len(v.bk.list) == 0 {
		db := ""
		if v.ctx.Config != nil {
			db = filepath.Base(v.ctx.Config.Database.Path)
		}
		return append(out, st.Muted.Render(truncate(fmt.Sprintf("no backups of %s in %s", db, v.bk.dir), w)))
	}
	nameW := 0
	for _, b := range v.bk.list {
		nameW = max(nameW, cellWidth(b.Name))
	}
	nameW = min(nameW, max(12, w-2-9-11-14))
	// Names too long for the row are told apart by their time, which a
	// cut name would lose ("architect-20261129T0200…"): the time shows
	// instead, to the second when two share a minute.
	names := make([]string, len(v.bk.list))
	cut := false
	for i, b := range v.bk.list {
		names[i] = b.Name
		cut = cut || cellWidth(b.Name) > nameW
	}
	if cut {
		layout := "2006-01-02 15:04"
		seen := map[string]bool{}
		for _, b := range v.bk.list {
			k := b.Time.UTC().Format(layout)
			if seen[k] {
				layout = "2006-01-02 15:04:05"
			}
			seen[k] = true
		}
		nameW = 0
		for i, b := range v.bk.list {
			if !b.Time.IsZero() {
				names[i] = b.Time.UTC().Format(layout)
			} else if r := []rune(b.Name); len(r) > 16 {
				names[i] = "…" + string(r[len(r)-15:])
			}
			nameW = max(nameW, cellWidth(names[i]))
		}
	}
	def := v.defaultBackup()
	off, end := v.backupWindow()
	for i := off; i < end; i++ {
		b := v.bk.list[i]
		mark := "  "
		if i == v.bk.sel {
			mark = st.Accent.Render("▸ ")
		}
		// The state in a word: verified, or why not (no-manifest,
		// bad-manifest, size-mismatch); the manifest says more.
		sw := st.State("ok").Render("✓ verified")
		if _, ok := backupState(b); !ok {
			sw = st.State("warning").Render("✗ " + b.State)
		}
		line := mark + padRight(truncate(names[i], nameW), nameW) + " " + fmt.Sprintf("%8s %10s", humanize.Age(b.Age), humanize.Bytes(b.Size)) + "  " + sw
		if v.mode == rbChoose && i == def {
			tag := " (runbook's)"
			if v.bk.named == "latest" {
				tag = " (latest)"
			}
			line += st.Muted.Render(tag)
		}
		out = append(out, truncate(line, w))
	}
	if n := len(v.bk.list) - end; n > 0 {
		out = append(out, st.Muted.Render(fmt.Sprintf("  ↓ %d more", n)))
	}
	return out
}

// chooseView is the chooser: which step, which database, the backups.
func (v runbooksView) chooseView() string {
	return strings.Join(append(v.chooseHead(), v.backupLines(v.ctx.Width)...), "\n")
}

// chooseHead is the chooser's lines above the backups.
func (v runbooksView) chooseHead() []string {
	st := v.ctx.Styles
	w := v.ctx.Width
	head := st.Title.Render(fmt.Sprintf("Step %d of %d: %s", v.cur.Index+1, v.cur.Total, v.cur.Step.Name))
	lines := []string{truncate(head, w)}
	sub := fmt.Sprintf("choose the backup to %s (runbook: %s), newest first", v.cur.Step.Action, v.bk.named)
	lines = append(lines, wrapAll([]string{st.Muted.Render(sub)}, w)...)
	return append(lines, "")
}

// backupsView is :backups.
func (v runbooksView) backupsView() string {
	return strings.Join(append(v.backupsHead(), v.backupLines(v.ctx.Width)...), "\n")
}

// backupsHead is :backups' lines above the backups.
func (v runbooksView) backupsHead() []string {
	st := v.ctx.Styles
	head := st.Title.Render("Backups")
	if v.bk.loaded {
		head += st.Muted.Render(fmt.Sprintf("  %d in %s, newest first", len(v.bk.list), v.bk.dir))
		if v.bk.others > 0 {
			head += st.Muted.Render(fmt.Sprintf(" (+%d of other databases)", v.bk.others))
		}
	}
	return []string{truncate(head, v.ctx.Width), ""}
}

// manifestLines are every field of the shown backup's manifest, each
// wrapped to w cells: nothing is cut.
func (v runbooksView) manifestLines(w int) []string {
	st := v.ctx.Styles
	b := v.bk.shown
	if b == nil {
		return nil
	}
	word, _ := backupState(*b)
	field := func(label, value string) string { return st.Muted.Render(label+": ") + value }
	out := []string{
		field("file", b.Path),
		field("taken", fmt.Sprintf("%s (%s ago)", b.Time.UTC().Format(time.RFC3339), humanize.Age(b.Age))),
		field("size", fmt.Sprintf("%s (%d bytes)", humanize.Bytes(b.Size), b.Size)),
		field("state", word),
	}
	if b.Detail != "" {
		out = append(out, field("detail", b.Detail))
	}
	m := b.Manifest
	if m == nil {
		out = append(out, st.State("warning").Render("no manifest: "+ops.ManifestPath(b.Path)+" is missing or unreadable"))
		return wrapAll(out, w)
	}
	out = append(out,
		field("manifest", ops.ManifestPath(b.Path)),
		field("manifest version", fmt.Sprint(m.ManifestVersion)),
		field("name", m.Name),
		field("source", m.Source),
		field("created", m.Created.UTC().Format(time.RFC3339)),
		field("size (manifest)", fmt.Sprintf("%d bytes", m.Size)),
		field("page size", fmt.Sprintf("%d bytes", m.PageSize)),
		field("page count", fmt.Sprint(m.PageCount)),
		field("sha256", m.SHA256),
		field("schema version", fmt.Sprint(m.SchemaVersion)),
		field("quick_check", m.QuickCheck),
	)
	method := m.Method
	if method == "" {
		method = "(not recorded)"
	}
	out = append(out, field("method", method))
	if m.Fallback != "" {
		out = append(out, field("fallback", m.Fallback))
	}
	out = append(out, field("took", fmtTook(time.Duration(m.DurationSeconds*float64(time.Second)))))
	actor := m.Actor.User + "@" + m.Actor.Host
	if m.Actor.SSHClient != "" {
		actor += " from " + m.Actor.SSHClient
	}
	if m.Actor.Session != "" {
		actor += " (session " + m.Actor.Session + ")"
	}
	out = append(out, field("actor", actor))
	names := make([]string, 0, len(m.Tables))
	for t := range m.Tables {
		names = append(names, t)
	}
	sort.Strings(names)
	out = append(out, st.Muted.Render(fmt.Sprintf("tables (%d):", len(names))))
	for _, t := range names {
		f := m.Tables[t]
		line := fmt.Sprintf("  %s: %s rows, max rowid %d", t, fmtGrouped(float64(f.Rows)), f.MaxRowID)
		if f.NewestCreatedAt != "" {
			line += ", newest " + f.NewestCreatedAt
		}
		out = append(out, line)
	}
	return wrapAll(out, w)
}

// manifestPane is the manifest below its head, and the rows it has.
func (v runbooksView) manifestPane() (lines []string, room int) {
	return v.manifestLines(v.ctx.Width), max(1, v.ctx.bodyHeight()-1)
}

func (v runbooksView) manifestView() string {
	st := v.ctx.Styles
	name := ""
	if v.bk.shown != nil {
		name = v.bk.shown.Name
	}
	body, room := v.manifestPane()
	lines := append([]string{truncate(st.Title.Render("Backup "+name), v.ctx.Width)}, paneRows(st, v.bk.scroll, body, room)...)
	return strings.Join(lines, "\n")
}

// openDrill shows the last DR drill's report (:drill).
func (v runbooksView) openDrill() (runbooksView, tea.Cmd) {
	v.bk.ret = v.backTo()
	v.mode = rbDrill
	v.bk.scroll.Top()
	return v, v.readDrillCmd()
}

// readDrillCmd reads the last drill of the database (its record in the
// state dir) and its report (the Markdown the drill wrote in
// state dir/drills); without a record, the newest report there.
func (v runbooksView) readDrillCmd() tea.Cmd {
	if v.ctx.Config == nil {
		return nil
	}
	dir, dbPath := v.ctx.Config.StateDir(), v.ctx.Config.Database.Path
	return addressed(viewRunbooks, func() tea.Msg {
		var msg drillReportMsg
		rec, ok, err := state.ReadDrillOf(dir, dbPath)
		if err != nil {
			msg.err = err
		}
		path := ""
		if ok {
			msg.rec = &rec
			path = rec.ReportPath
		}
		if path == "" {
			mds, _ := filepath.Glob(filepath.Join(dir, "drills", "*.md"))
			jss, _ := filepath.Glob(filepath.Join(dir, "drills", "*.json"))
			all := append(mds, jss...)
			// drill-<UTC>.md: the names sort by time; a Markdown report
			// before its JSON of the same drill.
			sort.Slice(all, func(i, j int) bool {
				si, sj := strings.TrimSuffix(strings.TrimSuffix(all[i], ".md"), ".json"), strings.TrimSuffix(strings.TrimSuffix(all[j], ".md"), ".json")
				if si != sj {
					return si > sj
				}
				return strings.HasSuffix(all[i], ".md")
			})
			if len(all) > 0 {
				path = all[0]
			}
		}
		if path == "" {
			return msg
		}
		b, err := fsutil.ReadRegularFile(context.Background(), path, 4<<20)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("the report %s is gone", path)
			}
			msg.err = errors.Join(msg.err, err)
			return msg
		}
		msg.path, msg.report = path, string(b)
		if strings.HasSuffix(path, ".json") {
			var anyJSON any
			if json.Unmarshal(b, &anyJSON) == nil {
				if pretty, err := json.MarshalIndent(anyJSON, "", "  "); err == nil {
					msg.report = string(pretty)
				}
			}
		}
		return msg
	})
}

func (v runbooksView) onDrillReport(msg drillReportMsg) (runbooksView, tea.Cmd) {
	v.bk.drill, v.bk.report, v.bk.reportAt, v.bk.drillErr, v.bk.drillRead = msg.rec, msg.report, msg.path, msg.err, true
	return v, nil
}

// drillPane is the drill's record and report, wrapped to the width.
func (v runbooksView) drillPane() (lines []string, room int) {
	st := v.ctx.Styles
	w := v.ctx.Width
	room = max(1, v.ctx.bodyHeight()-1)
	if !v.bk.drillRead {
		return []string{st.Muted.Render("reading the last drill…")}, room
	}
	var out []string
	if r := v.bk.drill; r != nil {
		verdict := r.DrillVerdict()
		out = append(out, st.State(strings.ToLower(verdict)).Render(verdict)+fmt.Sprintf(" · %s (%s ago) · backup %s", r.Time.UTC().Format(time.RFC3339), humanize.Age(v.ctx.Now().Sub(r.Time)), r.Backup))
		out = append(out, fmt.Sprintf("RTO %s (objective %s) · RPO %s (objective %s)", fmtTook(r.RTO), humanize.Age(r.RTOLimit), fmtTook(r.RPO), humanize.Age(r.RPOLimit)))
		if len(r.Missed) > 0 {
			out = append(out, st.State("warning").Render("missed: "+strings.Join(r.Missed, "; ")))
		}
	}
	if v.bk.drillErr != nil {
		out = append(out, st.Error.Render(v.bk.drillErr.Error()))
	}
	if v.bk.report == "" {
		if v.bk.drill == nil && v.bk.drillErr == nil {
			out = append(out, "No DR drill on record: run the DR drill runbook, or 'repops drill'.")
		}
		return wrapAll(out, w), room
	}
	out = append(out, st.Muted.Render("report "+v.bk.reportAt), "")
	for _, l := range strings.Split(strings.TrimRight(v.bk.report, "\n"), "\n") {
		if strings.HasPrefix(l, "#") {
			l = st.Bold.Render(strings.TrimSpace(strings.TrimLeft(l, "#")))
		}
		out = append(out, l)
	}
	return wrapAll(out, w), room
}

func (v runbooksView) drillView() string {
	st := v.ctx.Styles
	body, room := v.drillPane()
	lines := append([]string{st.Title.Render("Last DR drill")}, paneRows(st, v.bk.scroll, body, room)...)
	return strings.Join(lines, "\n")
}

// onDrillKey scrolls the report; esc goes back.
func (v runbooksView) onDrillKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	if key.Matches(msg, k.Back) {
		v.mode = v.bk.ret
		return v, nil
	}
	lines, room := v.drillPane()
	v.bk.scroll.Fit(len(lines), room)
	v.bk.scroll.Key(msg, k)
	return v, nil
}

// backupHints are the keys of the backup screens and the drill report.
func (v runbooksView) backupHints() []key.Binding {
	k := v.ctx.Keys
	switch v.mode {
	case rbChoose:
		use := k.Enter
		use.SetHelp(keyName(k.Enter), "use this backup")
		man := key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "manifest"))
		skip := k.Skip
		back := k.Back
		back.SetHelp(keyName(k.Back), "cancel")
		return []key.Binding{use, back, man, k.Down, skip}
	case rbBackups:
		open := k.Enter
		open.SetHelp(keyName(k.Enter), "manifest")
		return []key.Binding{open, k.Down, k.Back}
	case rbManifest:
		if v.manifestFrom == rbChoose {
			use := k.Enter
			use.SetHelp(keyName(k.Enter), "use this backup")
			return []key.Binding{use, k.Back, k.Down, k.PageDown}
		}
	}
	// esc first: the way back is always shown.
	return []key.Binding{k.Back, k.Down, k.PageDown, k.Top}
}
