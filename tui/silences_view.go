package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/internal/humanize"
)

// Keys of the silences list (:silences).
var (
	expireKey = key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "expire"))
	extendKey = key.NewBinding(key.WithKeys("+"), key.WithHelp("+", "extend 1h"))
)

// silencesList is the alerts view's :silences screen: every silence with
// its countdown; x expires the selected one (y/N), + extends it by an
// hour.
type silencesList struct {
	open     bool
	loading  bool
	list     []SilenceInfo
	err      error
	selected int
	// confirm: x was pressed; the next key answers "expire? y/N".
	confirm bool
}

// openSilences shows the list and asks the service for it.
func (v alertsView) openSilences() (alertsView, tea.Cmd) {
	v.form.open, v.detail = false, false
	v.sil.open, v.sil.confirm = true, false
	if v.svc == nil {
		v.sil.err = fmt.Errorf("silences are not available in this console")
		return v, nil
	}
	v.sil.loading = true
	return v, listSilencesCmd(v.svc)
}

// onSilencesKey handles a key in the silences list.
func (v alertsView) onSilencesKey(msg tea.KeyPressMsg) (alertsView, tea.Cmd) {
	k := v.ctx.Keys
	if v.sil.confirm {
		v.sil.confirm = false
		if s := msg.String(); s != "y" && s != "Y" {
			return v, flash("not expired", false)
		}
		x, ok := v.selectedSilence()
		if !ok {
			return v, nil
		}
		svc, id := v.svc, x.ID
		return v, func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), silenceTimeout)
			defer cancel()
			err := svc.Expire(ctx, id)
			return silenceChangedMsg{what: "silence " + shortSilenceID(id) + " expired", err: err}
		}
	}
	n := len(v.sil.list)
	switch {
	case key.Matches(msg, k.Back):
		v.sil.open = false
	case key.Matches(msg, k.Up):
		v.sil.selected = max(0, v.sil.selected-1)
	case key.Matches(msg, k.Down):
		v.sil.selected = min(max(0, n-1), v.sil.selected+1)
	case key.Matches(msg, expireKey), key.Matches(msg, extendKey):
		if v.ctx.ReadOnly {
			return v, flash("read-only mode: silences are not changed (the console was started with --read-only or console.read_only)", true)
		}
		x, ok := v.selectedSilence()
		if !ok || !x.InForce {
			return v, flash("no silence in force is selected", true)
		}
		if key.Matches(msg, expireKey) {
			v.sil.confirm = true
			return v, flash(fmt.Sprintf("expire silence %s on %s now? y/N", shortSilenceID(x.ID), x.Matchers), true)
		}
		svc, id := v.svc, x.ID
		return v, func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), silenceTimeout)
			defer cancel()
			info, err := svc.Extend(ctx, id, time.Hour)
			return silenceChangedMsg{what: "silence " + shortSilenceID(info.ID) + " extended: ends " + info.EndsAt.Format("15:04"), err: err}
		}
	}
	return v, nil
}

func (v alertsView) selectedSilence() (SilenceInfo, bool) {
	if len(v.sil.list) == 0 {
		return SilenceInfo{}, false
	}
	return v.sil.list[min(v.sil.selected, len(v.sil.list)-1)], true
}

// silencesView draws the list.
func (v alertsView) silencesView() string {
	st := v.ctx.Styles
	w := v.ctx.Width
	now := v.ctx.Now()
	backend := ""
	if v.svc != nil {
		backend = "  in Alertmanager"
		if v.svc.Backend() != "alertmanager" {
			backend = "  kept by repops in its state dir (no Alertmanager configured)"
		}
	}
	lines := []string{truncate(st.Title.Render("Silences")+st.Muted.Render(backend), w)}
	switch {
	case v.sil.err != nil:
		return strings.Join(append(lines, st.Error.Render(truncate(v.sil.err.Error(), w))), "\n")
	case v.sil.loading && len(v.sil.list) == 0:
		return strings.Join(append(lines, st.Muted.Render("loading…")), "\n")
	case len(v.sil.list) == 0:
		return strings.Join(append(lines, st.Muted.Render("no silences: s on an alert (in the alerts view) silences it")), "\n")
	}
	for i, x := range v.sil.list {
		mark := "  "
		if i == min(v.sil.selected, len(v.sil.list)-1) {
			mark = st.Accent.Render("▸ ")
		}
		left := "ended"
		switch {
		case x.InForce:
			left = "ends in " + humanize.Age(x.EndsAt.Sub(now))
		case x.Ack && now.Before(x.EndsAt):
			left = "run over"
		}
		kind := ""
		if x.Ack {
			kind = " ack"
		}
		state := "ok"
		if !x.InForce {
			state = "unknown"
		}
		// Two lines each: who and why first (what an operator reads at
		// 80 columns), then what it matches.
		lines = append(lines, truncate(fmt.Sprintf("%s%s %s%s by %s: %q", mark, shortSilenceID(x.ID),
			st.StateText(state, padRight(left, 14)), kind, x.CreatedBy, x.Comment), w))
		lines = append(lines, truncate(st.Muted.Render("    "+x.Matchers), w))
	}
	return strings.Join(lines, "\n")
}

func shortSilenceID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// silencesHints are the list's keys.
func (v alertsView) silencesHints() []key.Binding {
	k := v.ctx.Keys
	return []key.Binding{k.Up, k.Down, expireKey, extendKey, k.Back}
}
