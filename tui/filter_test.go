package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/repops/repops/ops"
)

// typeInto presses each rune of s on a view's Update.
func typeInto[V any](v V, update func(V, string) V, s string) V {
	for _, r := range s {
		v = update(v, string(r))
	}
	return v
}

func TestListFilter(t *testing.T) {
	k := DefaultKeyMap()
	var f listFilter
	key := func(s string) (bool, bool) { return f.Key(press(s), &k) }
	if h, _ := key("a"); h || f.Editing() {
		t.Fatalf("a letter before / was the filter's (handled %v)", h)
	}
	key("/")
	for _, r := range "disk" {
		key(string(r))
	}
	if !f.Editing() || f.Text() != "disk" {
		t.Fatalf("typed: editing %v text %q", f.Editing(), f.Text())
	}
	key("enter")
	if f.Editing() || f.Text() != "disk" || !f.Match("Disk free") || f.Match("WAL size") {
		t.Fatalf("after enter: editing %v text %q", f.Editing(), f.Text())
	}
	// / starts afresh: the previous text is dropped, not appended to.
	if _, changed := key("/"); !changed || f.Text() != "" || !f.Editing() {
		t.Fatalf("a second /: text %q editing %v changed %v, want a fresh filter", f.Text(), f.Editing(), changed)
	}
	key("w")
	key("a")
	key("l")
	f.Key(tea.KeyPressMsg{Code: tea.KeyBackspace}, &k)
	if f.Text() != "wa" {
		t.Fatalf("after backspace: %q, want wa", f.Text())
	}
	key("esc")
	if f.Editing() || f.Active() {
		t.Fatalf("esc while typing: editing %v text %q, want cleared", f.Editing(), f.Text())
	}
	// Applied, esc clears it too.
	f = listFilter{text: "wal"}
	if h, changed := key("esc"); !h || !changed || f.Active() {
		t.Fatalf("esc on an applied filter: handled %v changed %v text %q", h, changed, f.Text())
	}
	for _, tc := range []struct{ cur, n, d, want int }{
		{0, 3, 1, 1}, {2, 3, 1, 0}, {0, 3, -1, 2}, {1, 3, -1, 0}, {0, 0, 1, 0},
	} {
		if got := cycle(tc.cur, tc.n, tc.d); got != tc.want {
			t.Errorf("cycle(%d, %d, %d) = %d, want %d", tc.cur, tc.n, tc.d, got, tc.want)
		}
	}
}

func TestWrapFull(t *testing.T) {
	long := strings.Repeat("x", 25)
	s := "a short start then " + long + " and\nan end"
	lines := wrapFull(s, 10, "  ")
	for _, l := range lines {
		if cellWidth(l) > 10 {
			t.Errorf("line %q is wider than 10", l)
		}
	}
	joined := strings.Join(lines, "")
	if strings.ReplaceAll(joined, " ", "") != strings.ReplaceAll(strings.ReplaceAll(s, "\n", ""), " ", "") {
		t.Errorf("something was cut:\n%s", strings.Join(lines, "\n"))
	}
}

// listed are the messages of the journal rows shown, below the heads.
func listed(v journalView) []string {
	var out []string
	for i, l := range strings.Split(ansi.Strip(v.View()), "\n") {
		if j := strings.Index(l, "entry "); i >= 2 && j >= 0 {
			out = append(out, l[j:j+len("entry 00")])
		}
	}
	return out
}

// selectedEntry is the message of the journal row under the marker.
func selectedEntry(v journalView) string {
	l := lineWith(ansi.Strip(v.View()), "▸")
	if i := strings.Index(l, "entry "); i >= 0 {
		return l[i : i+len("entry 00")]
	}
	return ""
}

func journalKey(v journalView, s string) journalView {
	v, _ = v.Update(press(s))
	return v
}

func TestJournalFilterAndSort(t *testing.T) {
	since := fixedNow.Add(-24 * time.Hour)
	v := loadedJournal(t, newJournalView(journalCtx(t.TempDir(), 120, 40), &fakeJournal{entries: journalEntries(30)}, since))
	if got := selectedEntry(v); got != "entry 29" {
		t.Fatalf("selected at first %q, want the newest", got)
	}

	v = typeInto(journalKey(v, "/"), journalKey, "entry 1")
	if !v.capturing() {
		t.Fatal("typing the filter does not capture the keys")
	}
	out := ansi.Strip(v.View())
	if r := listed(v); len(r) != 10 || r[0] != "entry 10" || r[9] != "entry 19" {
		t.Fatalf("filtered live on 'entry 1': %v", r)
	}
	if !strings.Contains(lineWith(out, "Journal"), "/entry 1▏ 10 of 30 match") {
		t.Errorf("the head does not show the filter being typed: %q", lineWith(out, "Journal"))
	}
	v = journalKey(v, "enter")
	if v.capturing() || !strings.Contains(lineWith(ansi.Strip(v.View()), "Journal"), "filter entry 1 · 10 of 30 match") {
		t.Errorf("after enter: capturing %v, head %q", v.capturing(), lineWith(ansi.Strip(v.View()), "Journal"))
	}

	// n and N go through the matches, round both ends.
	for _, tc := range []struct{ key, want string }{
		{"n", "entry 10"}, {"n", "entry 11"}, {"N", "entry 10"}, {"N", "entry 19"}, {"N", "entry 18"},
	} {
		v = journalKey(v, tc.key)
		if got := selectedEntry(v); got != tc.want {
			t.Errorf("after %s: %q selected, want %q", tc.key, got, tc.want)
		}
	}

	// A second / starts afresh.
	v = typeInto(journalKey(v, "/"), journalKey, "entry 2")
	if r := listed(v); len(r) != 10 || r[0] != "entry 20" {
		t.Errorf("a second / with 'entry 2' shows %v, want entries 20 to 29 (not 'entry 1entry 2')", r)
	}
	v = journalKey(v, "esc")
	if v.filter.Active() || len(listed(v)) != 30 {
		t.Errorf("esc: filter %q, %d rows", v.filter.Text(), len(listed(v)))
	}

	// s turns the order: newest first, then oldest first again.
	v = journalKey(v, "s")
	if r := listed(v); r[0] != "entry 29" || r[len(r)-1] != "entry 00" || selectedEntry(v) != "entry 29" {
		t.Errorf("newest first: %v, selected %q", r, selectedEntry(v))
	}
	if h := lineWith(ansi.Strip(v.View()), "Journal"); !strings.Contains(h, "newest first") {
		t.Errorf("the head does not say the order: %q", h)
	}
	v = journalKey(v, "s")
	if r := listed(v); r[0] != "entry 00" || !strings.Contains(lineWith(ansi.Strip(v.View()), "Journal"), "oldest first") {
		t.Errorf("oldest first again: %v", r)
	}
}

func alertsKey(v alertsView, s string) alertsView {
	v, _ = v.Update(press(s))
	return v
}

// selectedAlert is the title of the alert row under the marker.
func selectedAlert(v alertsView) string {
	rs := v.rules()
	if len(rs) == 0 {
		return ""
	}
	return rs[min(v.selected, len(rs)-1)].Rule.Title
}

func TestAlertsFilterAndSort(t *testing.T) {
	v := newAlertsView(tablesCtx(120, 40), nil)
	v, _ = v.Update(snapshotMsg{gen: 1, snap: testSnapshot()})
	all := len(v.rules())

	v = typeInto(alertsKey(v, "/"), alertsKey, "rate")
	var want []string
	for _, a := range testSnapshot().Alerts {
		if strings.Contains(strings.ToLower(a.Rule.Title+" "+a.Rule.Name+" "+a.State.String()+" "+a.Rule.Severity+" "+a.Runbook+" "+a.Rule.Panel), "rate") {
			want = append(want, a.Rule.Title)
		}
	}
	rs := v.rules()
	if len(rs) != len(want) || len(rs) < 2 || len(rs) == all {
		t.Fatalf("filter 'rate': %d rules, want %d of %d", len(rs), len(want), all)
	}
	out := ansi.Strip(v.View())
	if h := lineWith(out, "Alerts"); !strings.Contains(h, fmt.Sprintf("/rate▏ %d of %d match", len(rs), all)) || !strings.Contains(h, "sort state") {
		t.Errorf("head %q lacks the filter and its count", h)
	}
	v = alertsKey(v, "enter")
	if v.detail || v.filter.Editing() {
		t.Fatalf("enter while typing opened the detail (%v) or kept typing (%v)", v.detail, v.filter.Editing())
	}
	// n and N through the matches, round both ends.
	titles := func() []string {
		var o []string
		for _, a := range v.rules() {
			o = append(o, a.Rule.Title)
		}
		return o
	}()
	n := len(titles)
	for i, tc := range []struct {
		key  string
		want int
	}{{"n", 1}, {"N", 0}, {"N", n - 1}, {"n", 0}} {
		v = alertsKey(v, tc.key)
		if got := selectedAlert(v); got != titles[tc.want] {
			t.Errorf("press %d (%s): %q selected, want %q", i, tc.key, got, titles[tc.want])
		}
	}
	// A second / is fresh: 'disk' alone, not 'ratedisk'.
	v = typeInto(alertsKey(v, "/"), alertsKey, "disk")
	if rs := v.rules(); len(rs) != 1 || rs[0].Rule.Title != "Disk free" {
		t.Errorf("a second / with 'disk': %v", titles)
	}
	v = alertsKey(v, "esc")
	if len(v.rules()) != all {
		t.Errorf("esc left %d of %d rules", len(v.rules()), all)
	}

	// O: state, severity, age, state.
	first := func() string { return v.rules()[0].Rule.Title }
	if first() != "Appeal error rate" {
		t.Fatalf("by state: first %q", first())
	}
	v = alertsKey(v, "O")
	if h := lineWith(ansi.Strip(v.View()), "Alerts"); v.sortBy != alertsBySeverity || !strings.Contains(h, "sort severity") {
		t.Errorf("after O: %v, head %q", v.sortBy, h)
	}
	rs = v.rules()
	for i := 1; i < len(rs); i++ {
		if sevRank(rs[i].Rule.Severity) > sevRank(rs[i-1].Rule.Severity) {
			t.Errorf("by severity: %s (%s) after %s (%s)", rs[i].Rule.Title, rs[i].Rule.Severity, rs[i-1].Rule.Title, rs[i-1].Rule.Severity)
		}
	}
	v = alertsKey(v, "O")
	// The latest change first: the critical one (4 min), the warning (20 min).
	if rs := v.rules(); v.sortBy != alertsByAge || rs[0].Rule.Title != "Appeal error rate" || rs[1].Rule.Title != "Negotiation duration" {
		t.Errorf("by age: %v %q %q", v.sortBy, rs[0].Rule.Title, rs[1].Rule.Title)
	}
	v = alertsKey(v, "O")
	if v.sortBy != alertsByState {
		t.Errorf("a third s: %v, want state again", v.sortBy)
	}
}

func sevRank(s string) int {
	return map[string]int{"critical": 3, "warning": 2, "info": 1}[s]
}

func TestTablesFilterAndSort(t *testing.T) {
	v := newTablesView(tablesCtx(120, 40), nil)
	v, _ = v.Update(tablesLoadedMsg{report: tablesReport(10_000), at: fixedNow})
	r := tablesReport(10_000 + 7200)
	r.Tables[3].Rows += 100 // messages, estimated
	v, _ = v.Update(tablesLoadedMsg{report: r, at: fixedNow.Add(time.Hour)})
	order := func() string {
		var o []string
		for _, s := range v.tables() {
			o = append(o, s.Name)
		}
		return strings.Join(o, " ")
	}
	key := func(s string) { v, _ = v.Update(press(s)) }
	if got := order(); got != "appeals appeal_negotiation_messages ml_predictions" {
		t.Fatalf("as listed: %s", got)
	}
	for _, tc := range []struct{ label, want string }{
		{"sort size", "appeal_negotiation_messages appeals ml_predictions"},
		{"sort growth", "appeals appeal_negotiation_messages ml_predictions"},
		{"sort as listed", "appeals appeal_negotiation_messages ml_predictions"},
	} {
		key("s")
		if got := order(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.label, got, tc.want)
		}
		if h := lineWith(ansi.Strip(v.View()), "Tables"); !strings.Contains(h, tc.label) {
			t.Errorf("the head %q does not say %q", h, tc.label)
		}
	}
	// By size the indexes stay under their table.
	key("s")
	out := ansi.Strip(v.View())
	if a, i, m := strings.Index(out, "appeals "), strings.Index(out, "└ idx_appeals_created"), strings.Index(out, "appeal_negotiation_messages "); !(m < a && a < i) {
		t.Errorf("by size, the indexes left their table:\n%s", out)
	}

	// The filter matches a table by its indexes' names too, and is fresh
	// on each /.
	key("/")
	for _, r := range "user_status" {
		key(string(r))
	}
	if got := order(); got != "appeals" {
		t.Errorf("'user_status' (an index of appeals): %s", got)
	}
	key("enter")
	key("/")
	for _, r := range "ml" {
		key(string(r))
	}
	if got := order(); got != "ml_predictions" {
		t.Errorf("a second / with 'ml': %s, want ml_predictions alone", got)
	}
	if h := lineWith(ansi.Strip(v.View()), "Tables"); !strings.Contains(h, "/ml▏ 1 of 3 match") {
		t.Errorf("head %q", h)
	}
	key("esc")
	if got := order(); !strings.Contains(got, "appeals") || v.filter.Active() {
		t.Errorf("esc: %s", got)
	}
}

// TestTablesMatchesScroll: n brings the next matching table to the top of
// a list longer than the screen, N the previous, round both ends.
func TestTablesMatchesScroll(t *testing.T) {
	r := TableReport{FileBytes: 1 << 30}
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("table_%02d", i)
		if i%10 == 5 {
			name = fmt.Sprintf("audit_%02d", i)
		}
		r.Tables = append(r.Tables, TableStat{Name: name, Rows: int64(i), Bytes: 1 << 20})
		for j := 0; j < 8; j++ {
			r.Tables = append(r.Tables, TableStat{Name: fmt.Sprintf("idx_%02d_%d", i, j), Table: name, Bytes: 1 << 10})
		}
	}
	v := newTablesView(tablesCtx(120, 24), nil)
	v, _ = v.Update(tablesLoadedMsg{report: r, at: fixedNow})
	for _, s := range []string{"/", "a", "u", "d", "i", "t", "enter"} {
		v, _ = v.Update(press(s))
	}
	top := func() string {
		for _, l := range strings.Split(ansi.Strip(v.View()), "\n") {
			if strings.HasPrefix(l, "audit_") {
				return l[:len("audit_00")]
			}
		}
		return ""
	}
	if got := top(); got != "audit_05" {
		t.Fatalf("filtered: first %q", got)
	}
	for _, tc := range []struct{ key, want string }{{"n", "audit_15"}, {"n", "audit_25"}, {"N", "audit_15"}, {"N", "audit_05"}} {
		v, _ = v.Update(press(tc.key))
		if got := top(); got != tc.want {
			t.Errorf("after %s: first %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestFilterTypingInTheConsole: letters typed into a filter are text,
// not the console's keys (d would go to the dashboard, q would quit).
func TestFilterTypingInTheConsole(t *testing.T) {
	m := loaded(t, func(o *Options) { o.Journal = &fakeJournal{entries: []ops.Entry{}} })
	m, _ = step(t, m, press("a"))
	m = typeText(t, m, "/disk")
	if m.focus != viewAlerts || m.alerts.filter.Text() != "disk" {
		t.Fatalf("focus %v, filter %q: typing went to the global keys", m.focus, m.alerts.filter.Text())
	}
	if rs := m.alerts.rules(); len(rs) != 1 {
		t.Errorf("%d rules match 'disk'", len(rs))
	}
}
