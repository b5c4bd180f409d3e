package ops

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/db"
)

// sqliteWAL is a database whose recent commits are only in its WAL, as
// SQLite wrote them: the files copied aside while the writer that made
// them is still open (closing it would checkpoint and delete the WAL).
type sqliteWAL struct {
	main, wal []byte // the database file and its -wal, as they were
	pageSize  int64
	pageCount int64 // the database's size after the last commit
	rows      int64 // appeals after the last commit
	lastTx    int64 // appeals inserted by the last transaction
}

// makeSQLiteWAL builds a database of 50 appeals, checkpointed, then
// commits 30 single-row inserts and one transaction of 40 rows into its
// WAL (no checkpoint), and copies the files aside.
func makeSQLiteWAL(t *testing.T) sqliteWAL {
	t.Helper()
	ctx := context.Background()
	path := newRecoveryDB(t, t.TempDir(), 50)
	w, err := db.OpenWrite(ctx, path, db.Options{WALAutocheckpoint: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	ins := `INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('w', hex(randomblob(300)), 'pending', datetime('now'), datetime('now'))`
	for i := 0; i < 30; i++ {
		if _, err := w.Exec(ins); err != nil {
			t.Fatal(err)
		}
	}
	out := sqliteWAL{lastTx: 40}
	err = db.Tx(ctx, w, func(tx *sql.Tx) error {
		for i := 0; i < 40; i++ {
			if _, err := tx.Exec(ins); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w.QueryRow("PRAGMA page_size").Scan(&out.pageSize)
	w.QueryRow("PRAGMA page_count").Scan(&out.pageCount)
	w.QueryRow("SELECT count(*) FROM appeals").Scan(&out.rows)
	if out.main, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if out.wal, err = os.ReadFile(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	if len(out.wal) < walHeaderSize+70*(walFrameHeaderSize+int(out.pageSize)) {
		t.Fatalf("the WAL has %d bytes: the commits were checkpointed", len(out.wal))
	}
	return out
}

// applyToCopy writes main, cut or extended to s's size, with s's frames
// of wal applied, as a rollback-journal database file, and returns its
// path.
func applyToCopy(t *testing.T, main, wal []byte, s *walScan) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "applied.db")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(main)
	if err := f.Truncate(int64(s.dbPages) * s.pageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := applyWAL(bytes.NewReader(wal), f, s); err != nil {
		t.Fatal(err)
	}
	if err := markRollbackJournal(f); err != nil {
		t.Fatal(err)
	}
	return p
}

func countAppeals(t *testing.T, path string) int64 {
	t.Helper()
	d, err := openImmutable(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int64
	if err := d.QueryRow("SELECT count(*) FROM appeals").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestScanWALMadeBySQLite reads a WAL that SQLite wrote: every frame is
// valid, the last is the last commit with the database's size, and the
// frames applied to the database file give the database SQLite sees,
// page for page the backup API's copy. A torn last frame loses only its
// transaction; a damaged frame ends the WAL before it; a bad header is
// refused.
func TestScanWALMadeBySQLite(t *testing.T) {
	sw := makeSQLiteWAL(t)
	frameSize := int64(walFrameHeaderSize) + sw.pageSize
	frames := uint32((int64(len(sw.wal)) - walHeaderSize) / frameSize)

	t.Run("whole", func(t *testing.T) {
		s, err := scanWAL(bytes.NewReader(sw.wal), int64(len(sw.wal)), sw.pageSize, frames)
		if err != nil {
			t.Fatal(err)
		}
		if s.valid != frames || s.commit != frames || int64(s.dbPages) != sw.pageCount {
			t.Fatalf("valid %d, commit %d, pages %d; want %d frames, the last a commit of %d pages", s.valid, s.commit, s.dbPages, frames, sw.pageCount)
		}
		p := applyToCopy(t, sw.main, sw.wal, s)
		mustIntegrity(t, p)
		if n := countAppeals(t, p); n != sw.rows {
			t.Fatalf("%d appeals, want %d", n, sw.rows)
		}
		// The backup API's copy of the same database, from the same files.
		live := filepath.Join(t.TempDir(), "live.db")
		os.WriteFile(live, sw.main, 0o600)
		os.WriteFile(live+"-wal", sw.wal, 0o600)
		ref := filepath.Join(t.TempDir(), "ref.db")
		if _, _, err := backupIntoNewFile(context.Background(), ref, live); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		want, _ := os.ReadFile(ref)
		if len(got) != len(want) {
			t.Fatalf("%d bytes, the backup API's copy %d", len(got), len(want))
		}
		// Page 1's header has the change counter; the rest is content.
		if !bytes.Equal(got[100:], want[100:]) {
			t.Fatal("the pages differ from the backup API's copy")
		}
	})
	t.Run("big-endian checksums", func(t *testing.T) {
		// The same WAL as a big-endian machine writes it (magic 0x377f0683).
		be := bytes.Clone(sw.wal)
		binary.BigEndian.PutUint32(be[0:], walMagic|1)
		s1, s2 := walChecksum(true, be[:24], 0, 0)
		binary.BigEndian.PutUint32(be[24:], s1)
		binary.BigEndian.PutUint32(be[28:], s2)
		for off := int64(walHeaderSize); off+frameSize <= int64(len(be)); off += frameSize {
			fr := be[off : off+frameSize]
			s1, s2 = walChecksum(true, fr[:8], s1, s2)
			s1, s2 = walChecksum(true, fr[walFrameHeaderSize:], s1, s2)
			binary.BigEndian.PutUint32(fr[16:], s1)
			binary.BigEndian.PutUint32(fr[20:], s2)
		}
		s, err := scanWAL(bytes.NewReader(be), int64(len(be)), sw.pageSize, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !s.bigEndCksum || s.commit != frames || int64(s.dbPages) != sw.pageCount {
			t.Fatalf("big-endian %v, commit %d of %d frames, %d pages", s.bigEndCksum, s.commit, frames, s.dbPages)
		}
		if n := countAppeals(t, applyToCopy(t, sw.main, be, s)); n != sw.rows {
			t.Fatalf("%d appeals, want %d", n, sw.rows)
		}
	})
	t.Run("torn last frame", func(t *testing.T) {
		cut := sw.wal[:int64(len(sw.wal))-frameSize/2]
		s, err := scanWAL(bytes.NewReader(cut), int64(len(cut)), sw.pageSize, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s.valid != frames-1 || s.commit >= frames-1 || s.commit == 0 {
			t.Fatalf("valid %d, commit %d of %d frames", s.valid, s.commit, frames)
		}
		p := applyToCopy(t, sw.main, cut, s)
		mustIntegrity(t, p)
		if n := countAppeals(t, p); n != sw.rows-sw.lastTx {
			t.Fatalf("%d appeals, want %d (the last transaction lost)", n, sw.rows-sw.lastTx)
		}
	})
	t.Run("damaged frame", func(t *testing.T) {
		bad := bytes.Clone(sw.wal)
		k := int64(10)
		bad[walHeaderSize+(k-1)*frameSize+walFrameHeaderSize+100] ^= 0xff
		s, err := scanWAL(bytes.NewReader(bad), int64(len(bad)), sw.pageSize, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s.valid != uint32(k-1) || s.commit >= uint32(k) {
			t.Fatalf("valid %d, commit %d; want the WAL to end before frame %d", s.valid, s.commit, k)
		}
		mustIntegrity(t, applyToCopy(t, sw.main, bad, s))
	})
	t.Run("changed between scan and apply", func(t *testing.T) {
		s, err := scanWAL(bytes.NewReader(sw.wal), int64(len(sw.wal)), sw.pageSize, 0)
		if err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(sw.wal)
		first := int64(s.frames()[0].frame) // the first frame applied
		bad[walHeaderSize+(first-1)*frameSize+walFrameHeaderSize+7] ^= 0xff
		f, _ := os.Create(filepath.Join(t.TempDir(), "x.db"))
		defer f.Close()
		if _, err := applyWAL(bytes.NewReader(bad), f, s); err == nil || !strings.Contains(err.Error(), "changed") {
			t.Fatalf("applyWAL over a changed frame: %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		for _, b := range [][]byte{nil, sw.wal[:walHeaderSize]} {
			s, err := scanWAL(bytes.NewReader(b), int64(len(b)), sw.pageSize, 0)
			if err != nil || s.commit != 0 || len(s.pages) != 0 {
				t.Fatalf("%d bytes: %v %+v", len(b), err, s)
			}
		}
	})
	for _, c := range []struct {
		name     string
		edit     func(h []byte)
		pageSize int64
		want     string
	}{
		{"bad magic", func(h []byte) { h[0] = 0 }, sw.pageSize, "magic"},
		{"bad version", func(h []byte) { binary.BigEndian.PutUint32(h[4:], 3007001) }, sw.pageSize, "version"},
		{"page size mismatch", func(h []byte) {}, sw.pageSize * 2, "page size"},
		{"header checksum", func(h []byte) { h[17] ^= 1 }, sw.pageSize, "checksum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(sw.wal)
			c.edit(b[:walHeaderSize])
			_, err := scanWAL(bytes.NewReader(b), int64(len(b)), c.pageSize, 0)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one about %s", err, c.want)
			}
		})
	}
}

// TestParseWALIndex reads the wal-index of a live database and refuses a
// dirty one.
func TestParseWALIndex(t *testing.T) {
	ctx := context.Background()
	path := newRecoveryDB(t, t.TempDir(), 20)
	w, err := db.OpenWrite(ctx, path, db.Options{WALAutocheckpoint: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	for i := 0; i < 5; i++ {
		w.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('w','x','pending',datetime('now'),datetime('now'))`)
	}
	b, err := os.ReadFile(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := parseWALIndex(b[:walIndexHeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(path + "-wal")
	var ps, pc int64
	w.QueryRow("PRAGMA page_size").Scan(&ps)
	w.QueryRow("PRAGMA page_count").Scan(&pc)
	s, err := scanWAL(bytes.NewReader(wal), int64(len(wal)), ps, idx.mxFrame)
	if err != nil {
		t.Fatal(err)
	}
	if idx.pageSize != ps || int64(idx.nPage) != pc || idx.mxFrame != s.commit || idx.nBackfill != 0 ||
		idx.salt != s.salt || idx.frameCksum != s.cksumAt {
		t.Fatalf("wal-index %+v; the WAL: commit %d, cksum %v, salt %x; pages %d of %d bytes", idx, s.commit, s.cksumAt, s.salt, pc, ps)
	}
	dirty := bytes.Clone(b[:walIndexHeaderSize])
	dirty[48+16]++ // the second copy's mxFrame
	if _, err := parseWALIndex(dirty); err != errDirtyWALIndex {
		t.Fatalf("two copies differ: %v", err)
	}
	dirty = bytes.Clone(b[:walIndexHeaderSize])
	dirty[16]++
	dirty[48+16]++ // both copies, checksum now wrong
	if _, err := parseWALIndex(dirty); err != errDirtyWALIndex {
		t.Fatalf("bad checksum: %v", err)
	}
}

// checkSnapshotCopy fails unless the database at path passes
// integrity_check, holds every id of before, and its appeals are a
// prefix of the ids (no gap): the database as of one commit.
func checkSnapshotCopy(t *testing.T, path string, before []int64) int64 {
	t.Helper()
	mustIntegrity(t, path)
	got := appealIDs(t, path)
	for _, id := range before {
		if !got[id] {
			t.Fatalf("row %d, committed before the copy began, is not in it", id)
		}
	}
	var maxID int64
	for id := range got {
		maxID = max(maxID, id)
	}
	for id := int64(1); id <= maxID; id++ {
		if !got[id] {
			t.Fatalf("the copy has row %d but not row %d: not a snapshot", maxID, id)
		}
	}
	return maxID
}

// checkpointLoop runs PRAGMA wal_checkpoint(PASSIVE) on its own
// connection until stopped (bounded: 20000 runs).
func checkpointLoop(t *testing.T, path string) (stop func() int) {
	k, err := db.OpenWrite(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	n := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer k.Close()
		for ; n < 20000; n++ {
			select {
			case <-done:
				return
			default:
			}
			k.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			time.Sleep(200 * time.Microsecond)
		}
	}()
	return func() int { close(done); wg.Wait(); return n }
}

// TestCopyLiveUnderCheckpointStorms copies a database again and again
// while a separate process inserts, in these settings: a
// wal_autocheckpoint of 4 pages and a goroutine running passive
// checkpoints in a loop (the WAL is copied back and restarted all the
// time), on a small database and on one of 40 MB (copied in several
// pieces, checkpoints landing meanwhile); and no checkpoint at all (the
// WAL only grows). Each copy is made by the WAL-aware copy (a rare
// fallback allowed) and is a snapshot.
func TestCopyLiveUnderCheckpointStorms(t *testing.T) {
	for _, c := range []struct {
		name     string
		autockpt string
		storm    bool
		bigRows  int // rows of 1 KiB added first: a copy in several pieces
		runs     int
	}{
		{"checkpoint storm", "4", true, 0, 20},
		{"no checkpoint", "-1", false, 0, 20},
		{"checkpoint storm, 40 MB", "4", true, 40_000, 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := newRecoveryDB(t, dir, 2000)
			if c.bigRows > 0 {
				w, err := db.OpenWrite(ctx, path, db.Options{})
				if err != nil {
					t.Fatal(err)
				}
				_, err = w.Exec(`WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT ?)
					INSERT INTO appeals (user_id, reason, status, created_at, updated_at)
					SELECT 'big', hex(randomblob(480)), 'pending', datetime('now'), datetime('now') FROM n`, c.bigRows)
				w.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			w := startWriterProc(t, path, "REPOPS_TEST_WRITER_AUTOCKPT="+c.autockpt)
			w.WaitFor(t, 20)
			stop := func() int { return 0 }
			if c.storm {
				stop = checkpointLoop(t, path)
			}
			fromWAL, fallbacks := 0, 0
			for i := 0; i < c.runs; i++ {
				before := w.Committed()
				dst := filepath.Join(dir, "copy.db")
				lc, err := copyLive(ctx, path, dst, liveCopyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if lc.Method != MethodWALCopy {
					fallbacks++
					t.Logf("run %d: %s (%s)", i, lc.Method, lc.Fallback)
				} else if lc.WALFrames > 0 {
					fromWAL++
				}
				checkSnapshotCopy(t, dst, before)
				removeDBFiles(dst)
				w.WaitFor(t, 3)
			}
			ckpts := stop()
			_, failures := w.Stop(t)
			if len(failures) > 0 {
				t.Fatalf("the writer had %d failed writes: %v", len(failures), failures[0])
			}
			t.Logf("%d copies: %d with WAL frames applied, %d from the database file alone, %d by the backup API; %d checkpoints run",
				c.runs, fromWAL, c.runs-fromWAL-fallbacks, fallbacks, ckpts)
			if fallbacks > max(1, c.runs/10) {
				t.Fatalf("%d of %d copies fell back on the backup API", fallbacks, c.runs)
			}
		})
	}
}

// walSalts reads the salts of the WAL header at path.
func walSalts(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, walHeaderSize)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b[16:24]
}

// TestCopyLiveSnapshotCases drives the WAL-aware copy through each of its
// cases with a separate process inserting, at chosen points of the copy:
//   - the WAL wholly checkpointed when the snapshot is taken (read mark
//     0), and the writer restarting it (new salts) before the wal-index is
//     read: the restarted WAL's frames are applied;
//   - the same, restarted after the wal-index is read: the database file
//     alone is the snapshot, exactly;
//   - a read mark > 0, with checkpoints copying frames up to it into the
//     database file after the wal-index is read and after the file is
//     copied: the WAL's frames overwrite whatever they changed.
func TestCopyLiveSnapshotCases(t *testing.T) {
	ctx := context.Background()
	type point int
	const (
		afterSnapshot point = iota
		afterWALIndex
	)
	for _, c := range []struct {
		name    string
		restart point
	}{
		{"mark 0, WAL restarted before the wal-index is read", afterSnapshot},
		{"mark 0, WAL restarted after the wal-index is read", afterWALIndex},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := newRecoveryDB(t, dir, 100)
			w := startWriterProc(t, path, "REPOPS_TEST_WRITER_AUTOCKPT=-1")
			w.WaitFor(t, 20)
			// Hold the write lock: the writer waits; then copy every frame
			// back: the next reader takes read mark 0.
			b, err := db.OpenWrite(ctx, path, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			bc, _ := b.Conn(ctx)
			defer bc.Close()
			if _, err := bc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
			var snapMax int64
			bc.QueryRowContext(ctx, "SELECT max(id) FROM appeals").Scan(&snapMax)
			k, _ := db.OpenWrite(ctx, path, db.Options{})
			defer k.Close()
			var busy, log, done int
			if err := k.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil || log != done || log == 0 {
				t.Fatalf("checkpoint: %v, %d of %d frames", err, done, log)
			}
			before := w.Committed()
			salts := walSalts(t, path+"-wal")
			release := func() {
				if _, err := bc.ExecContext(ctx, "ROLLBACK"); err != nil {
					t.Error(err)
				}
				w.WaitFor(t, 30) // the writer restarts the WAL and commits
				if bytes.Equal(walSalts(t, path+"-wal"), salts) {
					t.Error("the writer did not restart the WAL")
				}
			}
			var h copyHooks
			if c.restart == afterSnapshot {
				h.afterSnapshot = release
			} else {
				h.afterWALIndex = release
			}
			dst := filepath.Join(dir, "copy.db")
			lc, err := copyLive(ctx, path, dst, liveCopyOptions{hooks: h})
			if err != nil {
				t.Fatal(err)
			}
			if _, failures := w.Stop(t); len(failures) > 0 {
				t.Fatalf("failed writes: %v", failures)
			}
			if lc.Method != MethodWALCopy {
				t.Fatalf("method %s: %s", lc.Method, lc.Fallback)
			}
			got := checkSnapshotCopy(t, dst, before)
			switch c.restart {
			case afterSnapshot:
				if lc.WALFrames == 0 || got <= snapMax {
					t.Fatalf("%d frames applied, max id %d (snapshot %d): the restarted WAL was not applied", lc.WALFrames, got, snapMax)
				}
			case afterWALIndex:
				if lc.WALFrames != 0 || got != snapMax {
					t.Fatalf("%d frames applied, max id %d: want the snapshot's file alone (max id %d)", lc.WALFrames, got, snapMax)
				}
			}
		})
	}
	t.Run("mark above 0, checkpoints during the copy", func(t *testing.T) {
		dir := t.TempDir()
		path := newRecoveryDB(t, dir, 100)
		w := startWriterProc(t, path, "REPOPS_TEST_WRITER_AUTOCKPT=-1")
		w.WaitFor(t, 40)
		k, _ := db.OpenWrite(ctx, path, db.Options{})
		defer k.Close()
		var done int
		checkpoint := func() {
			var busy, log int
			if err := k.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
				t.Error(err)
			}
			w.WaitFor(t, 10)
		}
		before := w.Committed()
		dst := filepath.Join(dir, "copy.db")
		lc, err := copyLive(ctx, path, dst, liveCopyOptions{hooks: copyHooks{afterWALIndex: checkpoint, afterMainCopy: checkpoint}})
		if err != nil {
			t.Fatal(err)
		}
		if _, failures := w.Stop(t); len(failures) > 0 {
			t.Fatalf("failed writes: %v", failures)
		}
		if lc.Method != MethodWALCopy || lc.WALFrames == 0 || done == 0 {
			t.Fatalf("method %s (%s), %d frames applied, %d frames checkpointed", lc.Method, lc.Fallback, lc.WALFrames, done)
		}
		checkSnapshotCopy(t, dst, before)
	})
}

// TestBackupMethod: the backup of a WAL database is a WAL-aware copy; of a
// rollback-journal one, the backup API's; a WAL-aware copy that fails
// its checks is made again with the backup API; the manifest says which.
func TestBackupMethod(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		setup    func(t *testing.T, path string)
		corrupt  bool
		method   string
		fallback string
	}{
		{"WAL source", func(t *testing.T, path string) {}, false, MethodWALCopy, ""},
		{"rollback-journal source", func(t *testing.T, path string) {
			w, _ := db.OpenWrite(ctx, path, db.Options{})
			defer w.Close()
			if _, err := w.Exec("PRAGMA journal_mode = DELETE"); err != nil {
				t.Fatal(err)
			}
		}, false, MethodBackupAPI, "not in WAL mode"},
		{"copy failing quick_check", func(t *testing.T, path string) {}, true, MethodBackupAPI, "failed its checks"},
		{"WAL header unreadable", func(t *testing.T, path string) {}, false, MethodBackupAPI, "not a WAL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := newRecoveryDB(t, t.TempDir(), 300)
			c.setup(t, path)
			o := backupOpts(t, path)
			if c.corrupt {
				o.copyHooks.afterCopy = func(p string) { corruptFilePages(t, p) }
			}
			if c.fallback == "not a WAL" {
				// Commits left in the WAL by a connection kept open, then
				// the WAL's magic damaged once the method is chosen: the
				// backup API, which reads frames through the wal-index,
				// makes the copy.
				w, err := db.OpenWrite(ctx, path, db.Options{WALAutocheckpoint: -1})
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				if _, err := w.Exec(`UPDATE appeals SET status = 'approved' WHERE id % 3 = 0`); err != nil {
					t.Fatal(err)
				}
				o.copyHooks.afterWALIndex = func() {
					f, err := os.OpenFile(path+"-wal", os.O_RDWR, 0)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					b := make([]byte, 1)
					f.ReadAt(b, 0)
					f.WriteAt([]byte{^b[0]}, 0)
					t.Cleanup(func() { f, _ := os.OpenFile(path+"-wal", os.O_RDWR, 0); f.WriteAt(b, 0); f.Close() })
				}
			}
			res, err := Backup(ctx, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Method != c.method || res.Manifest.Method != c.method || !strings.Contains(res.Manifest.Fallback, c.fallback) ||
				(c.fallback == "") != (res.Fallback == "") {
				t.Fatalf("method %s / manifest %s, fallback %q", res.Method, res.Manifest.Method, res.Manifest.Fallback)
			}
			if v, err := VerifyBackup(ctx, res.Path); err != nil || !v.OK() || v.Tables["appeals"].Rows != 300 {
				t.Fatalf("verify: %v %v", err, v)
			}
			m, err := ReadManifest(res.Path)
			if err != nil || m.Method != c.method {
				t.Fatalf("manifest on disk: %v %+v", err, m)
			}
			if c.fallback == "not a WAL" {
				d, _ := openImmutable(ctx, res.Path)
				defer d.Close()
				var n int
				d.QueryRow(`SELECT count(*) FROM appeals WHERE status = 'approved'`).Scan(&n)
				if n != 100 {
					t.Fatalf("%d approved appeals in the backup, want the 100 committed in the WAL", n)
				}
			}
		})
	}
}

// corruptFilePages overwrites pages in the middle of the file at path.
func corruptFilePages(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 1024)
	for off := int64(4096 * 3); off < st.Size()-4096; off += 4096 * 2 {
		f.WriteAt(garbage, off)
	}
}

// TestCopyFileRange copies a file in pieces, inside the kernel and
// through a buffer, and stops at the source's end.
func TestCopyFileRange(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	data := make([]byte, flushChunk+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	os.WriteFile(src, data, 0o600)
	for _, c := range []struct {
		name     string
		buffered bool
		n        int64
		want     int
	}{
		{"copy_file_range", false, int64(len(data)), len(data)},
		{"buffered", true, int64(len(data)), len(data)},
		{"source shorter than asked", false, int64(len(data)) + 3*flushChunk, len(data)},
		{"part", true, 5000, 5000},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			_, st, err := db.SQLiteFD(src, false)
			if err != nil {
				t.Fatal(err)
			}
			out, err := os.Create(filepath.Join(t.TempDir(), "dst"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			if err := copyFileRange(context.Background(), int(in.Fd()), st, out, c.n, c.buffered); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out.Name())
			if !bytes.Equal(got, data[:c.want]) {
				t.Fatalf("copied %d bytes, want the first %d of the source", len(got), c.want)
			}
		})
	}
}
