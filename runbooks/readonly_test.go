package runbooks

import (
	"context"
	"errors"
	"testing"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// TestReadOnlyModeFollowsTheCommands: read-only mode refuses exactly the
// actions that write to the live database or beside it, as the commands
// do: a drill only reads, so it runs; a backup (the backup dir, its
// retention) and the writers are refused with the one read-only error of
// repops (ops.ErrReadOnlyMode), the commands' own.
func TestReadOnlyModeFollowsTheCommands(t *testing.T) {
	path := testsupport.MigratedDB(t)
	ctx := context.Background()
	cfg := testConfig(t, path)
	// A backup for the drill, taken outside read-only mode.
	if _, err := NewOpsEnv(EnvConfig{Config: cfg, Actor: ops.Actor{User: "tester"}}).Act(ctx, "backup", nil, nil); err != nil {
		t.Fatal(err)
	}
	ro := NewOpsEnv(EnvConfig{Config: cfg, ReadOnly: true, Actor: ops.Actor{User: "tester"}})
	for _, a := range []string{"drill"} {
		t.Run(a+" runs", func(t *testing.T) {
			if Actions()[a].Writes {
				t.Fatalf("the catalogue says %s writes the live database", a)
			}
			if _, err := ro.Act(ctx, a, nil, nil); err != nil {
				t.Fatalf("%s in read-only mode: %v", a, err)
			}
		})
	}
	for _, a := range []string{"backup", "restore", "migrate", "archive", "vacuum", "analyze", "checkpoint", "create_index"} {
		t.Run(a+" is refused", func(t *testing.T) {
			params := map[string]string{}
			if a == "restore" {
				params["backup"] = "latest"
			}
			if !Actions()[a].Writes {
				t.Fatalf("the catalogue says %s does not write the live database", a)
			}
			if _, err := ro.Act(ctx, a, params, nil); !errors.Is(err, ops.ErrReadOnlyMode) {
				t.Fatalf("%s in read-only mode: %v, want ops.ErrReadOnlyMode", a, err)
			}
		})
	}
}
