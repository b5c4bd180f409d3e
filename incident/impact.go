package incident

import (
	"sort"
	"time"

	"github.com/repops/repops/ops"
)

// impacts is each alert's worst value and time beyond its threshold in
// the window's entries, in the order the alerts first left OK.
func impacts(in []ops.Entry, end time.Time) []Impact {
	out := []Impact{}
	idx := map[string]int{}
	beyondSince := map[string]time.Time{}
	rank := map[string]int{ops.OutcomeWarning: 1, ops.OutcomePending: 2, ops.OutcomeFiring: 3}
	for _, e := range in {
		if e.Action != ActionAlert {
			continue
		}
		i, seen := idx[e.Target]
		if !seen {
			if !beyondOK(e.Outcome) {
				continue
			}
			i = len(out)
			idx[e.Target] = i
			out = append(out, Impact{Alert: e.Target})
		}
		im := &out[i]
		if s, ok := e.Params["title"].(string); ok && s != "" {
			im.Title = s
		}
		if s, ok := e.Params["unit"].(string); ok {
			im.Unit = s
		}
		below := e.Params["compare"] == "below"
		if v, ok := e.Figures["threshold"]; ok {
			im.Threshold = &v
		}
		for _, k := range []string{"value", "worst"} {
			v, ok := e.Figures[k]
			if !ok || !beyondOK(e.Outcome) && k == "value" {
				continue
			}
			if im.Worst == nil || (!below && v > *im.Worst) || (below && v < *im.Worst) {
				im.Worst = &v
			}
		}
		if rank[e.Outcome] > rank[im.WorstState] {
			im.WorstState = e.Outcome
		}
		beyond := e.Outcome == ops.OutcomePending || e.Outcome == ops.OutcomeFiring
		since, was := beyondSince[e.Target]
		switch {
		case beyond && !was:
			beyondSince[e.Target] = e.Time
		case !beyond && was:
			im.BeyondSeconds += seconds(e.Time.Sub(since))
			delete(beyondSince, e.Target)
		}
	}
	for a, since := range beyondSince {
		im := &out[idx[a]]
		im.BeyondSeconds += seconds(end.Sub(since))
		im.Ongoing = true
	}
	return out
}

func seconds(d time.Duration) int64 { return int64(d.Round(time.Second) / time.Second) }

func sortStrings(s []string) { sort.Strings(s) }
