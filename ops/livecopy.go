package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
)

// Tuning of the live copy (see copyLive).
const (
	// copyMmapSize is the source connection's PRAGMA mmap_size: the
	// backup API then reads the live database's pages from the mapping
	// instead of one read(2) per page. SQLite caps it at its compile-time
	// maximum (2 GiB by default); pages beyond are read as usual.
	copyMmapSize = 2 << 30
	// flushChunk is how much written data the background flusher lets
	// accumulate before starting its writeback: it bounds the copy's dirty
	// pages to about two chunks, so that the final fsync is short and the
	// service's own small fsyncs never queue behind hundreds of MB (ext4
	// data=ordered commits them together).
	flushChunk = 16 << 20
	// flushEvery is how often the flusher looks at the copy's size.
	flushEvery = 5 * time.Millisecond
)

// Methods of a live copy, recorded in the backup's manifest.
const (
	// MethodWALCopy: the database file copied as a file, in large pieces,
	// then the committed frames of its WAL applied (see walCopyInto).
	MethodWALCopy = "wal-copy"
	// MethodBackupAPI: SQLite's online backup API in one step (see
	// backupAPI), the fallback.
	MethodBackupAPI = "backup-api"
)

// liveCopy is what copyLive did.
type liveCopy struct {
	Method string // MethodWALCopy or MethodBackupAPI
	// Fallback says why the WAL-aware copy was not used (empty when it was).
	Fallback string
	// WALFrames is how many frames of the WAL were applied (wal-copy;
	// none when the database file alone was the snapshot).
	WALFrames int
	Pages     int64
	PageSize  int64
	Size      int64
	// Step is the consistent copy (background writeback included); Sync
	// is the header fix, truncation and final fsync.
	Step time.Duration
	Sync time.Duration
}

// copyHooks let tests act at the named points of a live copy (nil: none).
type copyHooks struct {
	afterSnapshot func() // the read transaction holds its snapshot
	afterWALIndex func() // the wal-index was read: the method is decided
	afterMainCopy func() // the database file is copied, the WAL not yet read
	// afterCopy is Backup's: the copy at path is made, not yet checked.
	afterCopy func(path string)
}

func callHook(f func()) {
	if f != nil {
		f()
	}
}

// liveCopyOptions tune copyLive.
type liveCopyOptions struct {
	backupAPIOnly bool // skip the WAL-aware copy
	hooks         copyHooks
}

// copyLiveToFile copies the live database at src into dst, a new file; see
// copyLive.
func copyLiveToFile(ctx context.Context, src, dst string) (*liveCopy, error) {
	return copyLive(ctx, src, dst, liveCopyOptions{})
}

// copyLive copies the live database at src into dst, a new file (created
// 0600; it must not exist), and fsyncs it. The copy is consistent while
// the service writes, and runs near the speed of a plain file copy
// without stalling the service:
//   - a database in WAL mode is copied as a file, then the committed
//     frames of its WAL are applied (walCopyInto): large reads and
//     writes, and the result is the database as of one commit;
//   - anything unexpected there (not WAL mode, a WAL or wal-index that
//     does not read as it should), and always with o.backupAPIOnly, the
//     copy is SQLite's backup API in one step (backupIntoNewFile), which
//     reads it in a single read transaction, and liveCopy.Fallback says
//     why;
//   - the room is reserved first (fallocate): a full disk fails now, not
//     half way, and the writes land in allocated blocks;
//   - the copy is written back to disk while it is made, at most about
//     two flushChunk pieces dirty at once, so that the final fsync is
//     short and the service's own small fsyncs never queue behind
//     hundreds of MB (ext4 data=ordered commits them together);
//   - the copy carries the source's WAL flag (header bytes 18 and 19 =
//     2); they are set to 1 (rollback journal), exactly what SQLite's
//     journal_mode=DELETE writes, so the file opens anywhere, read-only
//     included, with no -wal beside it;
//   - then one fsync, which finds little left to write.
func copyLive(ctx context.Context, src, dst string, o liveCopyOptions) (*liveCopy, error) {
	sizes, err := db.StatFiles(src)
	if err != nil {
		return nil, fmt.Errorf("back up: %w", err)
	}
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("back up: create %s: %w", dst, err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil { // whatever the umask
		return nil, fmt.Errorf("back up: %w", err)
	}
	if err := reserve(f, sizes.DB); err != nil {
		return nil, fmt.Errorf("back up: reserve %s for %s: %w", humanize.Bytes(sizes.DB), dst, err)
	}

	start := time.Now()
	lc := &liveCopy{}
	if !o.backupAPIOnly {
		wc, werr := walCopyInto(ctx, src, f, o.hooks)
		switch {
		case werr == nil:
			lc = wc
		case ctx.Err() != nil:
			return nil, fmt.Errorf("back up %s: %w", src, ctx.Err())
		default:
			// Start again from an empty file, with the room reserved.
			if err := f.Truncate(0); err != nil {
				return nil, fmt.Errorf("back up: %w", err)
			}
			if err := reserve(f, sizes.DB); err != nil {
				return nil, fmt.Errorf("back up: reserve %s for %s: %w", humanize.Bytes(sizes.DB), dst, err)
			}
			lc.Fallback = werr.Error()
		}
	}
	if lc.Method == "" {
		fl := startFlusher(f, flushChunk, flushEvery)
		pages, pageSize, err := backupIntoNewFile(ctx, dst, src)
		fl.Stop()
		if err != nil {
			return nil, fmt.Errorf("back up %s: %w", src, db.Classify(src, err))
		}
		lc.Method, lc.Pages, lc.PageSize = MethodBackupAPI, pages, pageSize
	}
	lc.Step = time.Since(start)

	start = time.Now()
	if err := markRollbackJournal(f); err != nil {
		return nil, fmt.Errorf("back up: finish %s: %w", dst, err)
	}
	lc.Size = lc.Pages * lc.PageSize
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("back up: finish %s: %w", dst, err)
	}
	if st.Size() != lc.Size {
		return nil, fmt.Errorf("back up: finish %s: the file has %d bytes, %d pages of %d bytes were copied", dst, st.Size(), lc.Pages, lc.PageSize)
	}
	// Give back the reserved blocks beyond the end (fallocate's room was
	// the source file's size; the copy may be smaller). Shrinking frees
	// them on every filesystem; truncating to the same size may not.
	if sizes.DB > lc.Size {
		if err := f.Truncate(lc.Size + 1); err != nil {
			return nil, fmt.Errorf("back up: finish %s: %w", dst, err)
		}
		if err := f.Truncate(lc.Size); err != nil {
			return nil, fmt.Errorf("back up: finish %s: %w", dst, err)
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("back up: sync %s: %w", dst, err)
	}
	lc.Sync = time.Since(start)
	return lc, nil
}

// walCopyInto copies the live database at src, in WAL mode, into dst (an
// empty file) as a file, and makes it consistent from its WAL. How, and
// why it is as consistent as the backup API (SQLite's wal.c is the
// reference for each claim):
//
//  1. A read transaction on a connection of its own takes a snapshot,
//     held until the end: it holds a read mark M, the last frame it sees.
//     No checkpoint copies a frame newer than M into the database file
//     (walCheckpoint's mxSafeFrame), and while M > 0 the WAL cannot be
//     restarted (walRestartLog needs every read lock but 0). With M = 0
//     (the WAL was wholly copied back, or empty) it reads the database
//     file only, no checkpoint can write to that file at all (a backfill
//     needs read lock 0 exclusively), and a writer may restart the WAL
//     once (new salts).
//  2. The wal-index header (-shm) is read, after the snapshot: the last
//     commit frame X (X >= M while M > 0) with its running checksum and
//     the WAL's salts, and nBackfill, the frames already in the database
//     file. nBackfill == X: everything up to X is in the file and no
//     later frame can get there while the snapshot is held (M = X, or
//     M = 0): the file alone is the snapshot, and the WAL is not read.
//     Otherwise the WAL's generation is fixed until the end (with M > 0
//     it cannot restart; with M = 0 it could only restart once fully
//     copied back, which this reader prevents), so frames 1..X stay as
//     they are.
//  3. The database file's first page_count pages are copied in large
//     pieces. A checkpoint may rewrite pages meanwhile, but only with
//     frames <= M: such a page may come out torn or old.
//  4. The WAL is read as SQLite's recovery reads it (scanWAL): frames
//     valid in sequence, up to the last commit C. C must be >= X, the
//     WAL's salts those of the wal-index, and the running checksum at X
//     the wal-index's: the WAL read is the one SQLite publishes. The
//     newest frame of each page up to C is written over the copy, and
//     the copy is cut or extended to C's database size. Every page a
//     checkpoint could have touched during step 3 has a frame <= M <= C,
//     so it is overwritten; every other page is as C has it. The result
//     is the database as of commit C, at or after the snapshot.
//
// Any other case is an error, and the caller falls back on the backup
// API. The database file and the -shm are read through the descriptors
// SQLite already has open (db.SQLiteFD), never opened and closed here; only
// the -wal, which SQLite does not lock, is (db.OpenWAL).
func walCopyInto(ctx context.Context, src string, dst *os.File, h copyHooks) (*liveCopy, error) {
	r, err := db.OpenRead(ctx, src, db.Options{MaxConns: 1})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	tx, err := r.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var n, pageSize, pageCount int64
	var mode string
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return nil, fmt.Errorf("take a snapshot: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, err
	}
	if mode != "wal" {
		return nil, fmt.Errorf("the database is not in WAL mode (journal_mode %s)", mode)
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return nil, err
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pageCount); err != nil {
		return nil, err
	}
	callHook(h.afterSnapshot)

	dbFD, dbSt, err := db.SQLiteFD(src, false)
	if err != nil {
		return nil, err
	}
	// SQLite opens the -shm read-write unless it cannot; read-only, it may
	// not trust it either (walBeginShmUnreliable): the backup API then.
	shmFD, _, err := db.SQLiteFD(src+"-shm", true)
	if err != nil {
		return nil, fmt.Errorf("the wal-index: %w", err)
	}
	idx, err := readWALIndex(shmFD)
	if err != nil {
		return nil, err
	}
	if idx.mxFrame > 0 && idx.pageSize != pageSize { // an empty WAL has no page size yet
		return nil, fmt.Errorf("the wal-index says pages of %d bytes, the database %d", idx.pageSize, pageSize)
	}
	useWAL := idx.nBackfill < idx.mxFrame
	callHook(h.afterWALIndex)

	if err := copyFileRange(ctx, dbFD, dbSt, dst, pageCount*pageSize, false); err != nil {
		return nil, fmt.Errorf("copy %s: %w", src, err)
	}
	callHook(h.afterMainCopy)
	lc := &liveCopy{Method: MethodWALCopy, Pages: pageCount, PageSize: pageSize}
	if useWAL {
		wf, err := db.OpenWAL(src)
		if err != nil {
			return nil, err
		}
		defer wf.Close()
		st, err := wf.Stat()
		if err != nil {
			return nil, err
		}
		s, err := scanWAL(wf, st.Size(), pageSize, idx.mxFrame)
		if err != nil {
			return nil, err
		}
		switch {
		case s.salt != idx.salt:
			return nil, errors.New("the WAL is not the one the wal-index describes (salts differ)")
		case s.commit < idx.mxFrame:
			return nil, fmt.Errorf("the WAL's valid frames end at commit frame %d, before frame %d that the wal-index records", s.commit, idx.mxFrame)
		case s.cksumAt != idx.frameCksum || s.bigEndCksum != idx.bigEndCksum:
			return nil, fmt.Errorf("the WAL's checksum at frame %d is not the wal-index's", idx.mxFrame)
		}
		lc.Pages = int64(s.dbPages)
		if err := dst.Truncate(lc.Pages * pageSize); err != nil {
			return nil, err
		}
		if lc.WALFrames, err = applyWAL(wf, dst, s); err != nil {
			return nil, err
		}
	} else if err := dst.Truncate(pageCount * pageSize); err != nil {
		return nil, err
	}
	if !db.FDIsFile(dbFD, dbSt) {
		return nil, fmt.Errorf("the descriptor of %s changed during the copy", src)
	}
	return lc, tx.Rollback()
}

// copyFileRange copies the first n bytes of the file open at srcFD (which
// must stay the file st describes) to the start of dst, in flushChunk
// pieces, each written back to disk while the next is copied, waiting
// for the one before: at most about two pieces are dirty at once, and the
// copy runs at the disk's pace. It stops early at the end of the source
// file (the rest is in the WAL). The data moves inside the kernel
// (copy_file_range), or through a 4 MiB buffer where that is not
// supported, or when buffered.
func copyFileRange(ctx context.Context, srcFD int, st unix.Stat_t, dst *os.File, n int64, buffered bool) error {
	dfd := int(dst.Fd())
	var buf []byte
	if buffered {
		buf = make([]byte, 4<<20)
	}
	prev := int64(-1)
	for off := int64(0); off < n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := min(flushChunk, n-off)
		done := int64(0)
		for done < chunk {
			var k int
			var err error
			if buf == nil {
				ro, wo := off+done, off+done
				k, err = unix.CopyFileRange(srcFD, &ro, dfd, &wo, int(chunk-done), 0)
				if err != nil && (errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) ||
					errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP)) {
					buf = make([]byte, 4<<20)
					continue
				}
			} else {
				k, err = unix.Pread(srcFD, buf[:min(int64(len(buf)), chunk-done)], off+done)
				if err == nil && k > 0 {
					_, err = dst.WriteAt(buf[:k], off+done)
				}
			}
			if err != nil {
				return err
			}
			if k == 0 {
				break // the end of the source file
			}
			done += int64(k)
		}
		if !db.FDIsFile(srcFD, st) {
			return errors.New("the descriptor changed during the copy")
		}
		if done == 0 {
			return nil
		}
		_ = unix.SyncFileRange(dfd, off, done, unix.SYNC_FILE_RANGE_WRITE)
		if prev >= 0 {
			_ = unix.SyncFileRange(dfd, prev, off-prev,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		}
		prev = off
		off += done
		if done < chunk {
			return nil
		}
	}
	return nil
}

// reserve allocates n bytes for f without changing its size. A
// filesystem without fallocate is not an error (the free-space check
// stands); a full one is.
func reserve(f *os.File, n int64) error {
	if n <= 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}

// backupIntoNewFile runs the backup API from the live database at src
// into the database file at dst (empty), through a connection with no
// journal, no syncs and an exclusive lock, closed before it returns:
// nothing writes to dst after. The source connection reads through mmap
// (copyMmapSize).
func backupIntoNewFile(ctx context.Context, dst, src string) (pages, pageSize int64, err error) {
	r, err := db.OpenRead(ctx, src, db.Options{MaxConns: 1})
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	sc, err := r.Conn(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer sc.Close()
	if _, err := sc.ExecContext(ctx, fmt.Sprintf("PRAGMA mmap_size = %d", copyMmapSize)); err != nil {
		return 0, 0, err
	}
	w, err := openNewFile(dst)
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	dc, err := w.Conn(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("create %s: %w", dst, db.Classify(dst, err))
	}
	defer dc.Close()
	n, err := backupAPI(ctx, dc, sc)
	if err != nil {
		return 0, 0, err
	}
	if err := dc.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return 0, 0, fmt.Errorf("read the page size of %s: %w", dst, err)
	}
	if err := dc.Close(); err != nil {
		return 0, 0, err
	}
	return int64(n), pageSize, w.Close()
}

// markRollbackJournal sets the file format version bytes (offsets 18 and
// 19 of the header) of the closed database file f from 2 (WAL) to 1
// (rollback journal): what PRAGMA journal_mode=DELETE does to a database
// leaving WAL mode, without opening a -wal to do it. A file already at 1
// is left alone; any other value is refused.
func markRollbackJournal(f *os.File) error {
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, 18); err != nil {
		return fmt.Errorf("read the header: %w", err)
	}
	switch {
	case b[0] == 1 && b[1] == 1:
		return nil
	case b[0] == 2 && b[1] == 2:
		_, err := f.WriteAt([]byte{1, 1}, 18)
		return err
	default:
		return fmt.Errorf("unexpected file format version bytes %d, %d in the header", b[0], b[1])
	}
}

// flusher writes a file back to disk in the background while another
// writer (SQLite) extends it: each time chunk more bytes exist, it starts
// their writeback (sync_file_range WRITE) and waits for the previous
// chunk's, so that at most about two chunks are dirty at once. It is only
// an optimization: the final fsync is what makes the file durable, and a
// writeback error is reported by that fsync (errseq).
type flusher struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func startFlusher(f *os.File, chunk int64, every time.Duration) *flusher {
	fl := &flusher{stop: make(chan struct{})}
	fd := int(f.Fd())
	fl.wg.Add(1)
	go func() {
		defer fl.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		var off, prev int64 = 0, -1
		for {
			select {
			case <-fl.stop:
				return
			case <-t.C:
			}
			var st unix.Stat_t
			if unix.Fstat(fd, &st) != nil {
				return
			}
			for st.Size-off >= chunk {
				_ = unix.SyncFileRange(fd, off, chunk, unix.SYNC_FILE_RANGE_WRITE)
				if prev >= 0 {
					_ = unix.SyncFileRange(fd, prev, chunk,
						unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
				}
				prev, off = off, off+chunk
			}
		}
	}()
	return fl
}

// Stop ends the flusher and waits for it.
func (fl *flusher) Stop() {
	close(fl.stop)
	fl.wg.Wait()
}
