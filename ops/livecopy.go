package ops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
)

// Tuning of the live copy (see copyLiveToFile).
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

// liveCopy is what copyLiveToFile did.
type liveCopy struct {
	Pages    int64
	PageSize int64
	Size     int64
	// Step is the backup API's single step (background writeback
	// included); Sync is the header fix, truncation and final fsync.
	Step time.Duration
	Sync time.Duration
}

// copyLiveToFile copies the live database at src into dst, a new file
// (created 0600; it must not exist), and fsyncs it. The copy is
// consistent while the service writes: SQLite's backup API in one step
// (backupAPI) reads it in a single read transaction. It is tuned to run
// near the speed of a plain file copy without stalling the service:
//   - the source connection reads through mmap (copyMmapSize);
//   - the room is reserved first (fallocate): a full disk fails now, not
//     half way, and the writes land in allocated blocks;
//   - the destination has no journal, no syncs and an exclusive lock:
//     SQLite writes each page straight into the file, once;
//   - a background flusher writes the copy back in flushChunk pieces
//     while it is made (bounded dirty data; see flushChunk);
//   - the copy carries the source's WAL flag (header bytes 18 and 19 =
//     2); they are set to 1 (rollback journal), exactly what SQLite's
//     journal_mode=DELETE writes, so the file opens anywhere, read-only
//     included, with no -wal beside it;
//   - then one fsync, which finds little left to write.
func copyLiveToFile(ctx context.Context, src, dst string) (*liveCopy, error) {
	sizes, err := db.StatFiles(src)
	if err != nil {
		return nil, fmt.Errorf("back up: %w", err)
	}
	r, err := db.OpenRead(ctx, src, db.Options{MaxConns: 1})
	if err != nil {
		return nil, fmt.Errorf("back up: %w", err)
	}
	defer r.Close()
	sc, err := r.Conn(ctx)
	if err != nil {
		return nil, db.Classify(src, fmt.Errorf("back up %s: %w", src, err))
	}
	defer sc.Close()
	if _, err := sc.ExecContext(ctx, fmt.Sprintf("PRAGMA mmap_size = %d", copyMmapSize)); err != nil {
		return nil, db.Classify(src, fmt.Errorf("back up %s: %w", src, err))
	}

	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("back up: create %s: %w", dst, err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil { // whatever the umask
		return nil, fmt.Errorf("back up: %w", err)
	}
	if err := reserve(f, sizes.DB); err != nil {
		return nil, fmt.Errorf("back up: reserve %s for %s: %w", db.FormatBytes(sizes.DB), dst, err)
	}

	res := &liveCopy{}
	start := time.Now()
	fl := startFlusher(f, flushChunk, flushEvery)
	pages, pageSize, err := backupIntoNewFile(ctx, dst, sc)
	fl.Stop()
	if err != nil {
		return nil, fmt.Errorf("back up %s: %w", src, db.Classify(src, err))
	}
	res.Step = time.Since(start)
	res.Pages, res.PageSize = pages, pageSize

	start = time.Now()
	if err := markRollbackJournal(f); err != nil {
		return nil, fmt.Errorf("back up: finish %s: %w", dst, err)
	}
	res.Size = pages * pageSize
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("back up: finish %s: %w", dst, err)
	}
	if st.Size() != res.Size {
		return nil, fmt.Errorf("back up: finish %s: the file has %d bytes, %d pages of %d bytes were copied", dst, st.Size(), pages, pageSize)
	}
	// Give back the reserved blocks beyond the end (fallocate's room was
	// the source file's size; the copy may be smaller). Shrinking frees
	// them on every filesystem; truncating to the same size may not.
	if sizes.DB > res.Size {
		if err := f.Truncate(res.Size + 1); err != nil {
			return nil, fmt.Errorf("back up: finish %s: %w", dst, err)
		}
		if err := f.Truncate(res.Size); err != nil {
			return nil, fmt.Errorf("back up: finish %s: %w", dst, err)
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("back up: sync %s: %w", dst, err)
	}
	res.Sync = time.Since(start)
	return res, nil
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

// backupIntoNewFile runs the backup API from src into the database file
// at dst (empty), through a connection with no journal, no syncs and an
// exclusive lock, closed before it returns: nothing writes to dst after.
func backupIntoNewFile(ctx context.Context, dst string, src *sql.Conn) (pages, pageSize int64, err error) {
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
	n, err := backupAPI(ctx, dc, src)
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
