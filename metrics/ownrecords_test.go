package metrics

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/state"
)

// TestDatabaseSourceOwnRecords: the state dir and the backup dir are
// shared by every database the config names. The backup age, the last
// integrity check and the drill age of a database count only what was
// recorded of it (compared as absolute, cleaned paths, or by the backup's
// name): another database's, or a drill record that names none, is not
// this one's.
func TestDatabaseSourceOwnRecords(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path, stateDir, backupDir := testDB(t, now)
	other := filepath.Join(filepath.Dir(path), "notdb.db")
	collect := func(t *testing.T) Result {
		t.Helper()
		src := NewDatabaseSource(DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir, NoSizes: true})
		defer src.Close()
		res, err := src.Collect(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	t.Run("another database's records", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(backupDir, state.BackupFileName("notdb.db", now.Add(-time.Minute))), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := state.WriteLastCheck(stateDir, state.CheckRecord{Time: now.Add(-time.Hour), Database: other, Mode: "quick", OK: true}); err != nil {
			t.Fatal(err)
		}
		if err := state.WriteLastDrill(stateDir, state.DrillRecord{Time: now.Add(-time.Hour), Database: other, OK: true}); err != nil {
			t.Fatal(err)
		}
		res := collect(t)
		if v := res.Panels[PanelBackupAge]; !v.OK || !math.IsInf(v.V, 1) {
			t.Errorf("backup age %+v: another database's backup counted", v)
		}
		if v := res.Panels[PanelIntegrityOK]; v.OK || !strings.Contains(v.Reason, "no integrity check of this database recorded") {
			t.Errorf("integrity %+v: another database's check counted", v)
		}
		if v := res.Panels[PanelIntegrityAge]; !v.OK || !math.IsInf(v.V, 1) {
			t.Errorf("integrity age %+v", v)
		}
		if v := res.Panels[PanelDrillAge]; !v.OK || !math.IsInf(v.V, 1) {
			t.Errorf("drill age %+v: another database's drill counted", v)
		}
	})
	t.Run("a drill record naming no database", func(t *testing.T) {
		if err := state.WriteLastDrill(stateDir, state.DrillRecord{Time: now.Add(-time.Hour), OK: true}); err != nil {
			t.Fatal(err)
		}
		if v := collect(t).Panels[PanelDrillAge]; !v.OK || !math.IsInf(v.V, 1) {
			t.Errorf("drill age %+v: a record of an unknown database counted", v)
		}
	})
	t.Run("this database's records, by another spelling of its path", func(t *testing.T) {
		spelled := filepath.Join(filepath.Dir(path), ".", "sub", "..", filepath.Base(path))
		if err := state.WriteLastCheck(stateDir, state.CheckRecord{Time: now.Add(-24 * time.Hour), Database: spelled, Mode: "quick", OK: true}); err != nil {
			t.Fatal(err)
		}
		if err := state.WriteLastDrill(stateDir, state.DrillRecord{Time: now.Add(-48 * time.Hour), Database: spelled, OK: true}); err != nil {
			t.Fatal(err)
		}
		res := collect(t)
		if v := res.Panels[PanelIntegrityOK]; !v.OK || v.V != 1 {
			t.Errorf("integrity %+v", v)
		}
		if v := res.Panels[PanelIntegrityAge]; !v.OK || v.V != 1 {
			t.Errorf("integrity age %+v, want 1 day", v)
		}
		if v := res.Panels[PanelDrillAge]; !v.OK || v.V != 2 {
			t.Errorf("drill age %+v, want 2 days", v)
		}
	})
}
