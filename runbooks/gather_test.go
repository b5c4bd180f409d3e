package runbooks

import (
	"context"
	"strings"
	"testing"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
)

// TestGatherStateUnits: gather_state writes each panel as the console
// shows it, with its unit (metrics.FormatValue), not a raw float.
func TestGatherStateUnits(t *testing.T) {
	path := testsupport.MigratedDB(t)
	ctx := context.Background()
	readings := MetricMap{
		metrics.PanelBackupAge:       {Value: 0.1822913870013889, State: "ok"},
		metrics.PanelProcessingP95:   {Value: 312.456, State: "ok"},
		metrics.PanelAppealErrorRate: {Value: 0.5, State: "ok"},
	}
	env := NewOpsEnv(EnvConfig{Config: testConfig(t, path), Actor: ops.Actor{User: "tester"},
		Metrics: func(context.Context) (MetricReader, error) { return readings, nil }})
	res, err := env.Act(ctx, "gather_state", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	details := strings.Join(res.Details, "\n")
	for _, want := range []string{
		metrics.PanelBackupAge + " = 0.182 h (ok)",
		metrics.PanelProcessingP95 + " = 312 ms (ok)",
		metrics.PanelAppealErrorRate + " = 0.5 % (ok)",
	} {
		if !strings.Contains(details, want) {
			t.Errorf("want %q in:\n%s", want, details)
		}
	}
	if strings.Contains(details, "0.1822913870013889") {
		t.Errorf("a raw float:\n%s", details)
	}
	if res.Figures[metrics.PanelBackupAge] != 0.1822913870013889 {
		t.Errorf("the figure itself is kept exact: %v", res.Figures[metrics.PanelBackupAge])
	}
}
