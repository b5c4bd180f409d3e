// Package db opens the reputation service's SQLite database safely, applies
// and validates its schema, and measures it. It is plain Go with
// context.Context, used by the CLI, the console and tests alike.
package db

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"
)

// Options tunes a connection. The zero value is usable: defaults fill in.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection before failing with ErrLocked. Default 5 s.
	BusyTimeout time.Duration
	// CacheSize is PRAGMA cache_size (pages when positive, KiB when
	// negative), from the config's database.cache_size. 0 keeps SQLite's.
	CacheSize int
	// WALAutocheckpoint is PRAGMA wal_autocheckpoint in pages; 0 keeps
	// SQLite's default of 1000.
	WALAutocheckpoint int
	// MaxConns caps the pool. Default 4 for readers, 1 for writers (SQLite
	// has one writer at a time; more connections only queue on the lock).
	MaxConns int
	// Synchronous is PRAGMA synchronous for writers: "FULL" (default: a
	// commit survives power loss) or "NORMAL".
	Synchronous string
	// Owner names the component that opens the pool, in Holders (for
	// example "console", "simulator"); default "repops".
	Owner string
	// Create lets OpenWrite create a missing database file. Only
	// 'repops migrate apply --create' and the demo set it.
	Create bool
}

func (o Options) withDefaults(write bool) Options {
	if o.Owner == "" {
		o.Owner = "repops"
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.MaxConns == 0 {
		o.MaxConns = 4
		if write {
			o.MaxConns = 1
		}
	}
	if o.Synchronous == "" {
		o.Synchronous = "FULL"
	}
	return o
}

// sqliteMagic is the first 16 bytes of every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// CheckFile looks at the file at path before SQLite does, so that the usual
// mistakes get a precise error instead of SQLite's "unable to open database
// file" or, worse, a new empty database: a missing file, a directory, an
// empty file, something that is not a regular file or not SQLite, a file
// shorter than its header says (truncated). It reads the first 100 bytes
// and changes nothing; the read goes through SQLite's descriptor when this
// process has the file open (see "The live file has one owner" in
// live.go), so checking never drops a lock.
func CheckFile(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return checkFile(ctx, path)
}

// checkFile is CheckFile under ctx (which may say that this goroutine
// holds the file's gate, inside Swap).
func checkFile(ctx context.Context, path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fileError(path, ErrNotFound, "")
	case errors.Is(err, fs.ErrPermission):
		return &FileError{Path: path, Kind: ErrUnreadable, Detail: err.Error(), Hint: hints[ErrUnreadable]}
	case err != nil:
		return &FileError{Path: path, Kind: ErrNotFound, Detail: err.Error(), Hint: "check the path and its permissions"}
	case st.IsDir():
		return fileError(path, ErrIsDirectory, "")
	case !st.Mode().IsRegular():
		return fileError(path, ErrNotSQLite, "not a regular file: "+st.Mode().Type().String())
	case st.Size() == 0:
		return fileError(path, ErrEmpty, "")
	}
	hdr := make([]byte, 100)
	var n int
	// SQLite's descriptor may be closed (and its number reused) by a
	// connection closing meanwhile: the read counts only if the descriptor
	// was the file before and after it; otherwise it is read again, at most
	// three times.
	for try := 0; try < 3; try++ {
		n = 0
		changed := false
		err = withDescriptor(ctx, path, path, false, func(fd int) error {
			var before unix.Stat_t
			if err := unix.Fstat(fd, &before); err != nil {
				changed = true
				return err
			}
			for n < len(hdr) {
				k, err := unix.Pread(fd, hdr[n:], int64(n))
				if err != nil {
					changed = !FDIsFile(fd, before)
					return err
				}
				if k == 0 {
					break
				}
				n += k
			}
			changed = !FDIsFile(fd, before) || before.Ino != st.Sys().(*syscall.Stat_t).Ino
			return nil
		})
		if !changed {
			break
		}
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		return &FileError{Path: path, Kind: ErrUnreadable, Detail: err.Error(), Hint: hints[ErrUnreadable]}
	case err != nil:
		return &FileError{Path: path, Kind: ErrNotSQLite, Detail: err.Error(), Hint: hints[ErrNotSQLite]}
	}
	if n < len(sqliteMagic) || !bytes.Equal(hdr[:len(sqliteMagic)], sqliteMagic) {
		return fileError(path, ErrNotSQLite, "no SQLite header")
	}
	if n < 100 {
		return fileError(path, ErrCorrupt, fmt.Sprintf("truncated: %d bytes, shorter than the 100-byte header", st.Size()))
	}
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fileError(path, ErrCorrupt, fmt.Sprintf("invalid page size %d in the header", pageSize))
	}
	// The in-header page count is valid when the change counter matches
	// "version-valid-for". A WAL may hold pages not yet checkpointed into
	// the file, so a short file is only called truncated without a WAL.
	pages := int64(binary.BigEndian.Uint32(hdr[28:32]))
	if binary.BigEndian.Uint32(hdr[24:28]) == binary.BigEndian.Uint32(hdr[92:96]) && pages > 0 {
		if want := pages * pageSize; st.Size() < want && !hasWAL(path) {
			return fileError(path, ErrCorrupt, fmt.Sprintf("truncated: %d bytes, the header says %d", st.Size(), want))
		}
	}
	return nil
}

func hasWAL(path string) bool {
	st, err := os.Stat(path + "-wal")
	return err == nil && st.Size() > 0
}

// URI is the go-sqlite3 DSN for the file at path with params: a "file:"
// URI of the absolute path. go-sqlite3 hands mode=, immutable= and the
// other URI parameters to SQLite only in a URI; a plain "path?mode=ro" is
// silently read-write. Every DSN of repops, in this package and in ops'
// opens of backup files and scratch copies, is built here.
func URI(path string, params url.Values) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	// Escape what SQLite's URI parser would read as the query or fragment, so
	// that a path containing them is still one path.
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(abs)
	return "file:" + p + "?" + params.Encode()
}

// connector opens connections with go-sqlite3 and runs per-connection
// pragmas that the DSN cannot carry (wal_autocheckpoint).
type connector struct {
	path    string // the database, for the registry (live.go)
	owner   string
	dsn     string
	pragmas []string
	drv     *sqlite3.SQLiteDriver
	// noAttach forbids ATTACH. mode=ro and query_only bind the main
	// database only: ATTACH on a read-only connection opens (and creates)
	// another file read-write. Read connections allow no attached database.
	noAttach bool
}

// Connect opens a connection through the file's gate (so that it never
// opens while this package has a descriptor of its own on the file) and
// counts it in the registry until it closes.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	f := fileFor(c.path)
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	conn, err := c.drv.Open(c.dsn)
	f.leave(ctx)
	if err != nil {
		return nil, err
	}
	sc := conn.(*sqlite3.SQLiteConn)
	n := f.add(c.owner)
	tc := &trackedConn{SQLiteConn: sc, done: func() { f.remove(n) }}
	if c.noAttach {
		sc.SetLimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
	}
	for _, p := range c.pragmas {
		if _, err := sc.ExecContext(ctx, p, nil); err != nil {
			tc.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return tc, nil
}

func (c *connector) Driver() driver.Driver { return c.drv }

// OpenBulk opens a pool of one connection that creates the file at path
// for a bulk load, with the rollback journal and syncs off, and runs
// pragmas on the connection. Only for a new private file that nobody else
// opens and that the caller fsyncs and renames into place once complete
// (sim's demo database): a crash leaves a file to throw away.
func OpenBulk(path string, pragmas ...string) *sql.DB {
	params := url.Values{}
	params.Set("mode", "rwc")
	params.Set("_journal_mode", "OFF")
	params.Set("_synchronous", "OFF")
	pool := sql.OpenDB(&connector{dsn: URI(path, params), pragmas: pragmas, drv: &sqlite3.SQLiteDriver{}})
	pool.SetMaxOpenConns(1)
	return pool
}

// OpenRead opens the database at path for reading only: mode=ro and
// query_only, so no statement through it can change the file, and no
// ATTACH, so none can open or create another file. It never
// creates a file. The first read happens here, so a file that is not a
// usable database fails now with a FileError.
func OpenRead(ctx context.Context, path string, o Options) (*sql.DB, error) {
	o = o.withDefaults(false)
	if err := checkFile(ctx, path); err != nil {
		return nil, err
	}
	params := url.Values{}
	params.Set("mode", "ro")
	params.Set("_query_only", "1")
	if ImmutableNote(path) != "" {
		params.Set("immutable", "1")
	}
	params.Set("_busy_timeout", fmt.Sprint(o.BusyTimeout.Milliseconds()))
	var pragmas []string
	if o.CacheSize != 0 {
		pragmas = append(pragmas, fmt.Sprintf("PRAGMA cache_size = %d", o.CacheSize))
	}
	return openPool(ctx, path, &connector{path: path, owner: o.Owner, dsn: URI(path, params), pragmas: pragmas, drv: &sqlite3.SQLiteDriver{}, noAttach: true}, o)
}

// ImmutableNote says, when the database at path can only be read as an
// immutable file, why: its directory cannot be written (a read-only
// filesystem, typically after errors=remount-ro) and it has no -shm (nor a
// -wal with frames), so SQLite could not create the wal-index a WAL
// database needs and would fail with "unable to open database file". No
// process can be writing such a file, so reading it with immutable=1 (no
// locks, no -shm) is exact. OpenRead then does so; commands print the note.
// Empty when the database opens as usual.
func ImmutableNote(path string) string {
	dir := filepath.Dir(path)
	if unix.Access(dir, unix.W_OK) == nil {
		return ""
	}
	if _, err := os.Lstat(path + "-shm"); err == nil {
		return ""
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		return ""
	}
	return fmt.Sprintf("%s cannot be written (read-only filesystem?) and %s has no -shm: reading it as an immutable file, which is exact since nothing can be writing it", dir, filepath.Base(path))
}

// OpenWrite opens the database at path for a procedure that writes: WAL,
// a busy timeout, IMMEDIATE transactions (BEGIN takes the write lock, so a
// transaction never fails half way for want of it), foreign keys on, and the
// config's cache_size and wal_autocheckpoint. It refuses a read-only file or
// filesystem before SQLite is asked, and creates a missing file only when
// o.Create is set.
func OpenWrite(ctx context.Context, path string, o Options) (*sql.DB, error) {
	o = o.withDefaults(true)
	mode := "rw"
	if o.Create {
		mode = "rwc"
		if err := checkCreatable(ctx, path); err != nil {
			return nil, err
		}
	} else if err := checkFile(ctx, path); err != nil {
		return nil, err
	}
	if err := checkWritable(path); err != nil {
		return nil, err
	}
	params := url.Values{}
	params.Set("mode", mode)
	params.Set("_busy_timeout", fmt.Sprint(o.BusyTimeout.Milliseconds()))
	params.Set("_txlock", "immediate")
	params.Set("_foreign_keys", "1")
	params.Set("_journal_mode", "WAL")
	params.Set("_synchronous", o.Synchronous)
	var pragmas []string
	if o.CacheSize != 0 {
		pragmas = append(pragmas, fmt.Sprintf("PRAGMA cache_size = %d", o.CacheSize))
	}
	if o.WALAutocheckpoint != 0 {
		pragmas = append(pragmas, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", o.WALAutocheckpoint))
	}
	return openPool(ctx, path, &connector{path: path, owner: o.Owner, dsn: URI(path, params), pragmas: pragmas, drv: &sqlite3.SQLiteDriver{}}, o)
}

func openPool(ctx context.Context, path string, c *connector, o Options) (*sql.DB, error) {
	pool := sql.OpenDB(c)
	pool.SetMaxOpenConns(o.MaxConns)
	pool.SetMaxIdleConns(o.MaxConns)
	var n int
	if err := pool.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		pool.Close()
		err = Classify(path, err)
		var fe *FileError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return pool, nil
}

// checkWritable refuses a file without write permission bits (honoured even
// as root, where the kernel would let the write through) and a file or
// directory on a read-only filesystem.
func checkWritable(path string) error {
	if st, err := os.Stat(path); err == nil {
		if st.Mode().Perm()&0o222 == 0 {
			return fileError(path, ErrReadOnly, fmt.Sprintf("mode %04o", st.Mode().Perm()))
		}
		if err := unix.Access(path, unix.W_OK); err != nil {
			return fileError(path, ErrReadOnly, err.Error())
		}
	}
	// SQLite writes -wal and -shm beside the file.
	if err := unix.Access(filepath.Dir(path), unix.W_OK); err != nil {
		return &FileError{Path: path, Kind: ErrReadOnly, Detail: "its directory is not writable: " + err.Error(), Hint: hints[ErrReadOnly]}
	}
	return nil
}

// checkCreatable allows a missing file, or an existing one that passes
// CheckFile or is empty (SQLite initialises an empty file).
func checkCreatable(ctx context.Context, path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			return &FileError{Path: path, Kind: ErrNotFound, Detail: "its directory does not exist", Hint: "create the directory first"}
		}
		return nil
	}
	if err == nil && !st.IsDir() && st.Size() == 0 {
		return nil
	}
	return checkFile(ctx, path)
}

// FileSizes are the sizes on disk of a database and its WAL.
type FileSizes struct {
	DB, WAL, SHM int64
}

// StatFiles returns the sizes of path and its -wal and -shm; missing
// companions count as zero.
func StatFiles(path string) (FileSizes, error) {
	var s FileSizes
	st, err := os.Stat(path)
	if err != nil {
		return s, fmt.Errorf("stat database %s: %w", path, err)
	}
	s.DB = st.Size()
	if st, err := os.Stat(path + "-wal"); err == nil {
		s.WAL = st.Size()
	}
	if st, err := os.Stat(path + "-shm"); err == nil {
		s.SHM = st.Size()
	}
	return s, nil
}
