package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/internal/testsupport"
)

// TestArchiveFileNoSpace: a run into a separate archive file whose
// filesystem has not the room for what the dry run says would move is
// refused before anything moves, in one line naming the archive file's
// directory and the room needed.
func TestArchiveFileNoSpace(t *testing.T) {
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 1000, New: 100})
	before := countRows(t, path, "")
	o := archiveOpts(path, t)
	dir := t.TempDir()
	o.ArchiveFile = filepath.Join(dir, "archive.db")
	dry := o
	dry.DryRun = true
	plan, err := Archive(context.Background(), dry, nil)
	if err != nil {
		t.Fatal(err)
	}
	var asked string
	o.StatFS = func(d string) (DiskSpace, error) {
		asked = d
		return DiskSpace{Dir: d, Free: plan.Bytes(), Total: 1 << 30, FS: "full"}, nil
	}
	_, err = Archive(context.Background(), o, nil)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("got %v, want ErrNoSpace", err)
	}
	msg := err.Error()
	if asked != dir || !strings.Contains(msg, dir) || strings.Contains(msg, "\n") {
		t.Fatalf("statfs of %q; the error does not name the archive file's directory %s in one line: %s", asked, dir, msg)
	}
	if want := humanize.Bytes(archiveSpaceNeed(plan.Bytes())); !strings.Contains(msg, want) {
		t.Fatalf("the error does not say the room needed (%s): %s", want, msg)
	}
	if _, err := os.Stat(o.ArchiveFile); !os.IsNotExist(err) {
		t.Fatalf("the archive file was created: %v", err)
	}
	if got := countRows(t, path, ""); got != before {
		t.Fatalf("rows moved: %+v -> %+v", before, got)
	}
	// Room enough: the run goes.
	o.StatFS = func(d string) (DiskSpace, error) { return DiskSpace{Dir: d, Free: 1 << 40, FS: "big"}, nil }
	if _, err := Archive(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
}

// TestArchiveFileMode: a new archive file, and its -wal and -shm, are
// 0600 whatever the umask: they hold users' appeals and messages.
func TestArchiveFileMode(t *testing.T) {
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 200, New: 20})
	o := archiveOpts(path, t)
	o.ArchiveFile = filepath.Join(t.TempDir(), "archive.db")
	if err := prepareArchiveFile(context.Background(), o.ArchiveFile); err != nil {
		t.Fatal(err)
	}
	// The companions exist while a connection is open.
	a, err := db.OpenWrite(context.Background(), o.ArchiveFile, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Exec(`CREATE TABLE IF NOT EXISTS t (x); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{o.ArchiveFile, o.ArchiveFile + "-wal", o.ArchiveFile + "-shm"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s is %04o, want 0600", filepath.Base(f), st.Mode().Perm())
		}
	}
}

// TestArchiveFileFullMidRun: the archive file's filesystem fills after
// some batches moved (a 2 MB tmpfs, the free-space check fooled): the
// error says how many rows moved, where they are and that a rerun
// finishes, never "nothing was changed"; every moved row is in the
// archive file, identical, and no row is lost.
func TestArchiveFileFullMidRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs for the archive file (run the tests as root)")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the full archive filesystem is not tested", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 20000, New: 100})
	snap := filepath.Join(t.TempDir(), "before.db")
	r, err := db.OpenWrite(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Exec(`VACUUM INTO ?`, snap)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	o := archiveOpts(path, t)
	o.ArchiveFile = filepath.Join(dir, "archive.db")
	o.BatchRows = 500
	o.StatFS = func(d string) (DiskSpace, error) { return DiskSpace{Dir: d, Free: 1 << 40, FS: "lies"}, nil }
	res, err := Archive(context.Background(), o, nil)
	if err == nil {
		t.Fatalf("the run fit in 2 MB (%d rows): make the database larger", res.Rows())
	}
	msg := err.Error()
	t.Log(msg)
	if res == nil || res.Rows() == 0 {
		t.Fatalf("no rows moved before the failure: %v", err)
	}
	for _, want := range []string{fmt.Sprintf("moving %d rows", res.Rows()),
		fmt.Sprintf("%d appeals", res.Tables[0].Rows), o.ArchiveFile, "safe", "run the same archive again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "nothing was changed") {
		t.Errorf("the error says nothing was changed after %d rows moved: %s", res.Rows(), msg)
	}
	// Every row of before is in the live file or in the archive,
	// identical, and the archive holds at least every row the run says
	// moved.
	c, err := db.OpenWrite(context.Background(), snap, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	if _, err := c.Exec(`ATTACH DATABASE ? AS arch; ATTACH DATABASE ? AS live`, "file:"+o.ArchiveFile+"?mode=ro", "file:"+path+"?mode=ro"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []archiveSpec{appealsSpec(), messagesSpec()} {
		var lost, archived int64
		q := fmt.Sprintf(`SELECT count(*) FROM main.%[1]s AS l WHERE NOT EXISTS (SELECT 1 FROM live.%[1]s AS c WHERE c.id = l.id AND %[3]s)
			AND NOT EXISTS (SELECT 1 FROM arch.%[2]s AS c WHERE c.id = l.id AND %[3]s)`, s.live, s.archive, s.same("l", "c"))
		if err := c.QueryRow(q).Scan(&lost); err != nil {
			t.Fatal(err)
		}
		if lost != 0 {
			t.Errorf("%s: %d rows lost", s.live, lost)
		}
		if err := c.QueryRow(`SELECT count(*) FROM arch.` + s.archive).Scan(&archived); err != nil {
			t.Fatal(err)
		}
		var moved int64
		for _, tr := range res.Tables {
			if tr.Table == s.live {
				moved = tr.Rows
			}
		}
		if archived < moved {
			t.Errorf("%s: %d rows said moved, %d in the archive file", s.live, moved, archived)
		}
	}
}
