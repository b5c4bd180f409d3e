package tui

import (
	tea "charm.land/bubbletea/v2"
)

// startSilence opens the silence form on the selected alert, or (ack)
// looks for the run of its runbook under way to acknowledge it.
func (v alertsView) startSilence(ack bool) (alertsView, tea.Cmd) {
	rs := v.rules()
	switch {
	case v.svc == nil:
		return v, flash("silences are not available in this console", true)
	case v.ctx.ReadOnly:
		return v, flash("read-only mode: silences are not created (the console was started with --read-only or console.read_only)", true)
	case len(rs) == 0:
		return v, nil
	}
	a := rs[min(v.selected, len(rs)-1)]
	if !silenceable(a) {
		return v, flash(a.Rule.Title+" is "+a.State.String()+": there is no alert to silence", true)
	}
	if !ack {
		v.form = newSilenceForm(v.ctx, a, "")
		return v, v.form.previewCmd(v.svc, v.snap)
	}
	if a.Runbook == "" {
		return v, flash("no runbook is linked to "+a.Rule.Title+": silence it with s instead", true)
	}
	svc, rb, rule := v.svc, a.Runbook, a.Rule.Name
	return v, func() tea.Msg {
		id, ok := svc.RunFor(rb)
		return ackRunMsg{rule: rule, runID: id, ok: ok}
	}
}

// onSilenceMsg takes the silence service's answers.
func (v alertsView) onSilenceMsg(msg tea.Msg) (alertsView, tea.Cmd) {
	switch msg := msg.(type) {
	case silencePreviewMsg:
		if v.form.open && matchersText(v.form.labels) == msg.key {
			p := msg.p
			v.form.preview = &p
		}
	case silenceCreatedMsg:
		v.form.creating = false
		if msg.err != nil {
			v.form.err = msg.err.Error()
			return v, nil
		}
		v.form.open = false
		what := "silence"
		if msg.info.Ack {
			what = "acknowledgement"
		}
		text := what + " " + shortSilenceID(msg.info.ID) + " created: until " + msg.info.EndsAt.In(v.ctx.Now().Location()).Format("Jan 2 15:04")
		if msg.info.Command != "" {
			text += " · same as: " + msg.info.Command
		}
		return v, flash(text, false)
	case silencesListedMsg:
		v.sil.loading = false
		v.sil.list, v.sil.err = msg.list, msg.err
		v.sil.selected = min(v.sil.selected, max(0, len(msg.list)-1))
	case silenceChangedMsg:
		var c tea.Cmd = flash(msg.what, false)
		if msg.err != nil {
			c = flash(msg.err.Error(), true)
		}
		return v, tea.Batch(c, listSilencesCmd(v.svc))
	case ackRunMsg:
		if !msg.ok {
			return v, flash("no run of its runbook is under way: open it with o and start it; a then acknowledges the alert for the run", true)
		}
		for _, a := range v.rules() {
			if a.Rule.Name == msg.rule && silenceable(a) {
				v.form = newSilenceForm(v.ctx, a, msg.runID)
				return v, v.form.previewCmd(v.svc, v.snap)
			}
		}
	}
	return v, nil
}
