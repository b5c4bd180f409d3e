package runbooks

import (
	"testing"

	"github.com/repops/repops/config"
)

// testConfig is the default config on dbPath with the state and backup
// dirs in the test's temp dir.
func testConfig(t *testing.T, dbPath string) *config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.Database.Path = dbPath
	cfg.Console.StateDir = t.TempDir()
	cfg.Console.Backup.Dir = t.TempDir()
	return &cfg
}
