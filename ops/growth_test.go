package ops

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

func TestGrowthSnapshots(t *testing.T) {
	path := testsupport.MigratedDB(t)
	state := filepath.Join(t.TempDir(), "state")
	ctx := context.Background()
	disk := func(dir string) (DiskSpace, error) {
		return DiskSpace{Dir: dir, Free: 100 << 20, Total: 1 << 30, FS: "x"}, nil
	}
	seedAppeals(t, path, seedSpec{New: 500})
	s1, err := snapshotWith(ctx, path, state, disk, testNow.Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	seedAppeals(t, path, seedSpec{New: 5000})
	s2, err := snapshotWith(ctx, path, state, disk, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Tables["appeals"].Rows != 5500 || s1.Tables["appeals"].Rows != 500 || s2.Tables["appeals"].Bytes <= s1.Tables["appeals"].Bytes {
		t.Fatalf("snapshots: %+v / %+v", s1.Tables["appeals"], s2.Tables["appeals"])
	}
	snaps, err := ReadSnapshots(state, path)
	if err != nil || len(snaps) != 2 {
		t.Fatalf("read: %d, %v", len(snaps), err)
	}
	g := Growth(snaps)
	if g.Tables[0].Table != "appeal_negotiation_messages" && g.Tables[0].Table != "appeals" {
		t.Fatalf("fastest-growing table: %+v", g.Tables)
	}
	var appeals TableGrowth
	for _, tg := range g.Tables {
		if tg.Table == "appeals" {
			appeals = tg
		}
	}
	if math.Abs(appeals.RowsPerDay-2500) > 1 {
		t.Fatalf("appeals per day: %v", appeals.RowsPerDay)
	}
	want := float64(100<<20) / g.FileBytesPerDay
	if g.FileBytesPerDay <= 0 || math.Abs(g.DaysUntilFull-want) > 0.01 {
		t.Fatalf("file growth %v/day, days until full %v (want %v)", g.FileBytesPerDay, g.DaysUntilFull, want)
	}
	// Another database's snapshots are not mixed in.
	if other, _ := ReadSnapshots(state, filepath.Join(t.TempDir(), "other.db")); len(other) != 0 {
		t.Fatalf("other database: %d snapshots", len(other))
	}
}

func TestGrowthFileBounded(t *testing.T) {
	state := t.TempDir()
	for i := 0; i < GrowthKeep+5; i++ {
		if err := appendSnapshot(state, &GrowthSnapshot{Time: testNow.Add(time.Duration(i) * time.Hour), Database: "/x.db"}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(state, GrowthFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != GrowthKeep {
		t.Fatalf("%d lines, want %d", n, GrowthKeep)
	}
	snaps, _ := ReadSnapshots(state, "/x.db")
	if !snaps[len(snaps)-1].Time.Equal(testNow.Add(time.Duration(GrowthKeep+4) * time.Hour)) {
		t.Fatalf("newest kept: %v", snaps[len(snaps)-1].Time)
	}
}

func TestGrowthNotEnoughSnapshots(t *testing.T) {
	for _, tc := range []struct {
		name  string
		snaps []GrowthSnapshot
		note  string
	}{
		{"none", nil, "no snapshots"},
		{"one", []GrowthSnapshot{{Time: testNow, FileBytes: 10}}, "one snapshot"},
		{"shrinking", []GrowthSnapshot{{Time: testNow, FileBytes: 10}, {Time: testNow.Add(48 * time.Hour), FileBytes: 5}}, "not growing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := Growth(tc.snaps)
			if g.DaysUntilFull != -1 || !strings.Contains(g.Note, tc.note) {
				t.Fatalf("%+v", g)
			}
		})
	}
}
