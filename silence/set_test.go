package silence

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/metrics"
)

func TestSetMatchAndGuard(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	st := NewStore(dir)
	firing := map[string]string{"alertname": "ReputationApiErrorRate", "severity": "critical"}
	short, _ := st.Create(ctx, testSilence(now.Add(-2*time.Hour), 2*time.Hour+5*time.Minute, "ends soon"))
	long, _ := st.Create(ctx, Silence{Matchers: []Matcher{{"alertname", OpEqual, "ReputationApiErrorRate"}}, StartsAt: now.Add(-2 * time.Hour),
		EndsAt: now.Add(3 * time.Hour), CreatedBy: "bob@host", Comment: "longer"})
	idle, _ := st.Create(ctx, Silence{Matchers: []Matcher{{"alertname", OpEqual, "Nothing"}}, StartsAt: now.Add(-2 * time.Hour),
		EndsAt: now.Add(3 * time.Hour), CreatedBy: "bob@host", Comment: "stale"})
	ack, _ := st.Create(ctx, Silence{Matchers: []Matcher{{"alertname", OpEqual, "ReputationApiErrorRate"}}, StartsAt: now.Add(-time.Minute),
		EndsAt: now.Add(4 * time.Hour), CreatedBy: "carol@host", Comment: "on it", Ack: true, RunID: "run-1"})

	set := NewSet(st, dir)
	ended := map[string]bool{"run-1": false}
	set.RunEnded = func(id string) bool { return ended[id] }
	if err := set.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	ref, ok := set.Match(firing, now)
	if !ok || ref.ID != ack.ID || !ref.Ack || ref.RunID != "run-1" {
		t.Fatalf("match %+v %v, want the ack (ending last)", ref, ok)
	}
	// The run ends: the ack is over, the longest silence covers.
	ended["run-1"] = true
	_ = set.Refresh(ctx)
	if ref, _ = set.Match(firing, now); ref.ID != long.ID {
		t.Fatalf("match %+v, want %s once the ack's run ended", ref, long.ID)
	}
	if _, ok := set.Match(map[string]string{"alertname": "Other"}, now); ok {
		t.Fatal("an unrelated alert matched")
	}

	ws := set.Warnings(now, []map[string]string{firing})
	var kinds []string
	for _, w := range ws {
		kinds = append(kinds, w.Kind+":"+w.SilenceID)
	}
	got := strings.Join(kinds, " ")
	if !strings.Contains(got, "ending:"+short.ID) || !strings.Contains(got, "unmatched:"+idle.ID) || strings.Contains(got, "unmatched:"+long.ID) {
		t.Fatalf("warnings %v: want %s ending and %s unmatched", ws, short.ID, idle.ID)
	}
	// The last-matched times are kept in the state dir for the next
	// process.
	_ = set.Refresh(ctx)
	if _, err := os.Stat(filepath.Join(dir, MatchedFile)); err != nil {
		t.Fatal(err)
	}
	again := NewSet(st, dir)
	_ = again.Refresh(ctx)
	if got := again.LastMatched(long.ID); !got.Equal(now.UTC()) && !got.Equal(now) {
		t.Fatalf("last matched %v, want %v from the file", got, now)
	}
}

func TestApplyKeepsState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := NewStore(dir)
	r := metrics.Rule{Name: "api_error_rate", Title: "API errors", Severity: metrics.SeverityCritical, Panel: "api_error_rate"}
	labels := metrics.AlertLabels(r, metrics.StateCritical)
	now := time.Now()
	if _, err := st.Create(ctx, Silence{Matchers: FromLabels(labels), StartsAt: now, EndsAt: now.Add(time.Hour), CreatedBy: "a@h", Comment: "x"}); err != nil {
		t.Fatal(err)
	}
	set := NewSet(st, dir)
	_ = set.Refresh(ctx)
	snap := metrics.Snapshot{Time: now.Add(time.Second), Alerts: []metrics.AlertStatus{
		{Rule: r, State: metrics.StateCritical, Configured: true},
		{Rule: metrics.Rule{Name: "disk_free", Severity: "warning"}, State: metrics.StateOK, Configured: true},
	}}
	Apply(&snap, set)
	if snap.Alerts[0].Silenced == nil || snap.Alerts[0].State != metrics.StateCritical {
		t.Fatalf("alert %+v: want silenced and still critical", snap.Alerts[0])
	}
	if snap.Alerts[1].Silenced != nil {
		t.Fatal("an OK rule is never silenced")
	}
	if snap.Verdict() != metrics.StateCritical {
		t.Fatalf("verdict %v: a silence must not make the verdict OK", snap.Verdict())
	}
}
