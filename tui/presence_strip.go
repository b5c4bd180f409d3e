package tui

import (
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/repops/repops/presence"
)

// The presence strip: one line under the banner, who else is on,
// shortened by priority to the terminal's width, e.g.
//
//	3 on: alice (operator, runbook restore step 4, lock) · bob (viewer, dashboard, idle 2m)
//
// A request for approval that this console can answer takes the line.

// peerOrder sorts the others by what an operator most needs to know: the
// lock's holder, then those driving a run, then operators, then the most
// recently active.
func peerOrder(ps []presence.Peer) []presence.Peer {
	out := append([]presence.Peer(nil), ps...)
	rank := func(p presence.Peer) int {
		switch {
		case p.HoldsLock:
			return 0
		case p.RunID != "":
			return 1
		case p.Role.CanOperate():
			return 2
		}
		return 3
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := rank(out[i]), rank(out[j]); ri != rj {
			return ri < rj
		}
		return out[i].Idle < out[j].Idle
	})
	return out
}

// peerWhere is where a peer is: its run's step, or its view.
func peerWhere(p presence.Peer) string {
	if p.RunID != "" {
		return fmt.Sprintf("runbook %s step %d", p.Runbook, p.Step)
	}
	if p.View == "" {
		return "dashboard"
	}
	return p.View
}

// peerForms are a peer's forms, longest first: everything; without the
// role; the name with its lock; the name alone.
func peerForms(p presence.Peer) []string {
	lock, idle := "", ""
	if p.HoldsLock {
		lock = ", lock"
	}
	if p.Idle >= presence.IdleShown {
		idle = ", idle " + fmtIdle(p.Idle)
	}
	short := p.Name
	if p.HoldsLock {
		short += " (lock)"
	}
	return []string{
		fmt.Sprintf("%s (%s, %s%s%s)", p.Name, p.Role, peerWhere(p), lock, idle),
		fmt.Sprintf("%s (%s%s%s)", p.Name, peerWhere(p), lock, idle),
		short,
	}
}

// stripText is the strip for width cells, without styles.
func stripText(self presence.Peer, peers []presence.Peer, width int) string {
	n := len(peers) + 1
	head := fmt.Sprintf("%d on: ", n)
	if len(peers) == 0 {
		return fmt.Sprintf("1 on: only you (%s, %s)", self.Name, self.Role)
	}
	ps := peerOrder(peers)
	forms := make([][]string, len(ps))
	level := make([]int, len(ps))
	for i, p := range ps {
		forms[i] = peerForms(p)
	}
	build := func(shown int) string {
		parts := make([]string, 0, shown+1)
		for i := 0; i < shown; i++ {
			parts = append(parts, forms[i][level[i]])
		}
		if shown < len(ps) {
			parts = append(parts, fmt.Sprintf("+%d more (:who)", len(ps)-shown))
		}
		return head + strings.Join(parts, " · ")
	}
	shown := len(ps)
	// Shorten the lowest-priority peers first, one form at a time; when
	// every one is at its shortest, leave the last ones out.
	for {
		s := build(shown)
		if ansi.StringWidth(s) <= width || shown == 0 {
			return s
		}
		shortened := false
		for i := shown - 1; i >= 0; i-- {
			if level[i] < len(forms[i])-1 {
				level[i]++
				shortened = true
				break
			}
		}
		if !shortened {
			shown--
		}
	}
}

// approvalAsk is the line that asks this console for an approval.
func approvalAsk(ps []presence.Pending) string {
	p := ps[0]
	s := fmt.Sprintf("%s asks approval: %s step %d on %s · :approve %s · :deny %s", p.From.Name, p.Runbook, p.Step, p.Target, p.ID, p.ID)
	if len(ps) > 1 {
		s += fmt.Sprintf(" (+%d more: :who)", len(ps)-1)
	}
	return s
}

// strip is the presence line under the banner.
func (m Model) strip() string {
	st := m.ctx.Styles
	w := m.ctx.Width
	if !m.pr.loaded {
		return truncate(st.Muted.Render(" who is on: reading…"), w)
	}
	r := m.pr.read
	if len(r.pending) > 0 && r.self.Role.CanOperate() {
		return truncate(st.State("warning").Render(" "+approvalAsk(r.pending)), w)
	}
	return truncate(st.Muted.Render(" "+stripText(r.self, r.peers, w-1)), w)
}

// whoView is :who: everyone on, with where they are and the pending
// approvals.
func (m Model) whoView() string {
	st := m.ctx.Styles
	r := m.pr.read
	lines := []string{st.Title.Render("Who is on") + st.Muted.Render("  esc leaves · :follow NAME · :handover NAME"), ""}
	all := append([]presence.Peer{r.self}, peerOrder(r.peers)...)
	for _, p := range all {
		name := p.Name
		if p.Self {
			name += " (you)"
		}
		lock := ""
		if p.HoldsLock {
			lock = st.State("warning").Render(" holds the procedure lock")
		}
		fp := p.Fingerprint
		if len(fp) > 20 {
			fp = fp[:20] + "…"
		}
		lines = append(lines, fmt.Sprintf("  %-16s %-8s %-34s idle %-6s %s%s", name, p.Role, peerWhere(p), fmtIdle(p.Idle), st.Muted.Render(p.Addr+" "+fp), lock))
	}
	if len(r.pending) > 0 {
		lines = append(lines, "", st.Title.Render("Approvals awaited"))
		for _, p := range r.pending {
			lines = append(lines, fmt.Sprintf("  #%s %s: %s step %d (%s) on %s, waiting %s", p.ID, p.From.Name, p.Runbook, p.Step, p.Title, p.Target, fmtIdle(m.ctx.Now().Sub(p.Since))))
		}
	}
	return strings.Join(lines, "\n")
}

// followView is :follow NAME: that operator's run, read-only.
func (m Model) followView() string {
	st := m.ctx.Styles
	r := m.pr.read
	lines := []string{st.Title.Render("Following "+r.following) + st.Muted.Render("  read-only · esc leaves"), ""}
	switch {
	case r.gone:
		lines = append(lines, st.Error.Render("  "+r.following+" has left"))
	case r.followRun == nil:
		lines = append(lines, st.Muted.Render("  "+r.following+" drives no run now"))
	default:
		p := r.followRun
		lines = append(lines,
			fmt.Sprintf("  %s  run %s", st.Accent.Render(p.Runbook), p.RunID),
			fmt.Sprintf("  step %d of %d: %s", p.Step, p.Total, p.Title),
			"  state: "+st.State(followState(p.State)).Render(p.State), "")
		for _, l := range p.Lines {
			lines = append(lines, "  "+l)
		}
	}
	return strings.Join(lines, "\n")
}

func followState(s string) string {
	switch s {
	case "failed":
		return "critical"
	case "running", "awaiting approval":
		return "warning"
	}
	return "ok"
}
