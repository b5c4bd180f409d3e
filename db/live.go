package db

// The live file has one owner.
//
// SQLite's locks are POSIX advisory locks, and POSIX locks belong to the
// process, not to the descriptor: closing any descriptor of the database
// file (an os.Open for a header check, a hash, an fsync) releases every
// lock this process's SQLite connections hold on it. Another process that
// then closes its last connection finds no lock, checkpoints and deletes
// the WAL that our connections are still using, and the database is
// corrupt (sqlite.org/howtocorrupt.html, 2.2). The same holds for the
// -shm, where SQLite keeps the WAL's read marks. A second SQLite library
// in the process does the same (2.3), which is why Litestream runs as its
// own process beside repops, never inside it.
//
// So this package is the only one that touches a database's files, and it
// keeps three rules, which the code below makes mechanical:
//
//  1. Every SQLite connection this package opens is counted, per file,
//     with its owner's name (Options.Owner): Holders lists them, so a
//     restore knows the console, the simulator or the exporter of its own
//     process still has the file open.
//  2. While this package needs a descriptor of a database, its -wal or its
//     -shm (a header check, a copy, an fsync), it uses SQLite's own
//     descriptor when this process has one (never closing it), and opens
//     one of its own only when none is open, holding the file's gate so
//     that no SQLite connection of this process can open the file until
//     that descriptor is closed again. Connections are opened through the
//     same gate.
//  3. A file is replaced (an offline restore) only through Swap, which
//     closes every Handle's pool, refuses while any other connection of
//     this process is still open, and holds the gate for the replacement;
//     a Handle reopens at its next use, and also whenever the file at its
//     path is no longer the one its pool has open (replaced by another
//     process), so every component shows the restored database at its
//     next refresh.
//
// The -wal is the one companion SQLite never locks (its locks are on the
// database file and the -shm), so reading it through a descriptor of our
// own is safe; it still goes through this package (OpenWAL).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"
)

// liveFile is what this process knows of one database path: the gate, its
// open connections and its handles.
type liveFile struct {
	gate    chan struct{} // one slot: held while a connection opens, while a descriptor of ours is open, and through a Swap
	mu      sync.Mutex
	conns   map[uint64]string // open connections by serial number: owner
	handles map[*Handle]struct{}
	// swapping is non-nil while a Swap runs, and closed when it ends:
	// Handles wait for it instead of reopening the file being replaced.
	swapping chan struct{}
}

// waitSwap waits until no Swap runs on the file (at once when none does,
// or when ctx is a Swap's own).
func (f *liveFile) waitSwap(ctx context.Context) error {
	if ctx.Value(gateKey{f}) != nil {
		return nil
	}
	f.mu.Lock()
	ch := f.swapping
	f.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *liveFile) isSwapping(ctx context.Context) bool {
	if ctx.Value(gateKey{f}) != nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.swapping != nil
}

var registry = struct {
	sync.Mutex
	files  map[string]*liveFile
	serial uint64
}{files: map[string]*liveFile{}}

// canonical is the key of path in the registry: absolute, with symlinks
// resolved where the file exists.
func canonical(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	return abs
}

func fileFor(path string) *liveFile {
	key := canonical(path)
	registry.Lock()
	defer registry.Unlock()
	f := registry.files[key]
	if f == nil {
		f = &liveFile{gate: make(chan struct{}, 1), conns: map[uint64]string{}, handles: map[*Handle]struct{}{}}
		registry.files[key] = f
	}
	return f
}

// gateKey marks a context whose goroutine holds a file's gate (inside
// Swap's fn), so that opening a connection there does not wait for itself.
type gateKey struct{ f *liveFile }

func (f *liveFile) enter(ctx context.Context) error {
	if ctx.Value(gateKey{f}) != nil {
		return nil
	}
	select {
	case f.gate <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *liveFile) leave(ctx context.Context) {
	if ctx.Value(gateKey{f}) == nil {
		<-f.gate
	}
}

func (f *liveFile) add(owner string) uint64 {
	registry.Lock()
	registry.serial++
	n := registry.serial
	registry.Unlock()
	f.mu.Lock()
	f.conns[n] = owner
	f.mu.Unlock()
	return n
}

func (f *liveFile) remove(n uint64) {
	f.mu.Lock()
	delete(f.conns, n)
	f.mu.Unlock()
}

// Holder is a component of this process with connections open on a
// database.
type Holder struct {
	Owner string
	Conns int
}

func (h Holder) String() string { return fmt.Sprintf("%s (%d connection(s))", h.Owner, h.Conns) }

// Holders lists the components of this process that have connections open
// on the database at path, by owner (Options.Owner; "repops" when unset).
func Holders(path string) []Holder {
	f := fileFor(path)
	f.mu.Lock()
	defer f.mu.Unlock()
	by := map[string]int{}
	for _, o := range f.conns {
		by[o]++
	}
	out := make([]Holder, 0, len(by))
	for o, n := range by {
		out = append(out, Holder{Owner: o, Conns: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Owner < out[j].Owner })
	return out
}

// trackedConn is a go-sqlite3 connection counted in the registry until it
// closes. Embedding keeps every interface database/sql looks for.
type trackedConn struct {
	*sqlite3.SQLiteConn
	done func()
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.SQLiteConn.Close()
	c.once.Do(c.done)
	return err
}

// SQLiteConn is the go-sqlite3 connection behind a driver connection that
// (*sql.Conn).Raw hands out, for the backup API and the authorizer.
func SQLiteConn(driverConn any) (*sqlite3.SQLiteConn, bool) {
	switch c := driverConn.(type) {
	case *trackedConn:
		return c.SQLiteConn, true
	case *sqlite3.SQLiteConn:
		return c, true
	}
	return nil, false
}

// withDescriptor runs fn with a descriptor of file (the database at
// dbPath, or its -shm): SQLite's own when this process has one open,
// otherwise one opened for fn (read-write when rw) and closed after it,
// with the gate held throughout so that no connection of this process
// opens the database meanwhile. fn must not close fd. SQLite's descriptor
// stays open while fn runs only if the caller holds a transaction on a
// connection of its own (SQLite defers closing a descriptor of a file
// while any of its connections holds a lock on it): callers that may find
// SQLite's descriptor hold one, or tolerate a read error.
func withDescriptor(ctx context.Context, dbPath, file string, rw bool, fn func(fd int) error) error {
	f := fileFor(dbPath)
	if err := f.enter(ctx); err != nil {
		return err
	}
	defer f.leave(ctx)
	if fd, _, err := sqliteFD(file, rw); err == nil {
		return fn(fd)
	}
	flags := os.O_RDONLY
	if rw {
		flags = os.O_RDWR
	}
	own, err := os.OpenFile(file, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer own.Close()
	return fn(int(own.Fd()))
}

// sqliteFD finds a descriptor this process already has open on the file at
// path and that can be read (and written, when rw).
func sqliteFD(path string, rw bool) (int, unix.Stat_t, error) {
	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		return -1, want, err
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1, want, fmt.Errorf("list this process's open files: %w", err)
	}
	for _, e := range ents {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Dev != want.Dev || st.Ino != want.Ino {
			continue
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_ACCMODE == unix.O_WRONLY || (rw && fl&unix.O_ACCMODE != unix.O_RDWR) {
			continue
		}
		return fd, want, nil
	}
	return -1, want, fmt.Errorf("no open descriptor of %s in this process", path)
}

// SQLiteFD returns the descriptor SQLite has open on the database at path
// (or, with its "-shm" suffix, its wal-index), to read it (and write it,
// when rw) without opening and closing another descriptor of the file. The
// caller holds a read transaction on a connection of this process to the
// database for as long as it uses the descriptor, and never closes it.
func SQLiteFD(path string, rw bool) (int, unix.Stat_t, error) {
	return sqliteFD(path, rw)
}

// FDIsFile reports whether fd still refers to the file st describes.
func FDIsFile(fd int, st unix.Stat_t) bool {
	var now unix.Stat_t
	return unix.Fstat(fd, &now) == nil && now.Dev == st.Dev && now.Ino == st.Ino
}

// OpenWAL opens the -wal of the database at path for reading. SQLite takes
// no lock on the WAL file (its locks are on the database and the -shm), so
// this descriptor, and its closing, leaves every lock of this process as
// it was.
func OpenWAL(path string) (*os.File, error) {
	return os.OpenFile(path+"-wal", os.O_RDONLY|unix.O_NOFOLLOW, 0)
}

// SyncWAL makes the WAL of the database at path durable (fsync), through
// SQLite's descriptor when one is open. A missing WAL is not an error.
func SyncWAL(ctx context.Context, path string) error {
	err := withDescriptor(ctx, path, path+"-wal", false, func(fd int) error { return unix.Fsync(fd) })
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Handle is a pool on a database that outlives a replacement of its file:
// a long-running component (the console's sources, the simulator, the
// exporter) keeps a Handle, not a *sql.DB, and asks it for the pool at
// each use. Swap closes every Handle's pool before it replaces the file;
// DB reopens it, and also reopens whenever the file at the path is not the
// one the pool has open (another process replaced it).
type Handle struct {
	path  string
	write bool
	o     Options
	mu    sync.Mutex
	pool  *sql.DB
	ino   uint64
	dev   uint64
	file  *liveFile
	close bool
}

// NewHandle returns a Handle on the database at path, for reading (or for
// writing, with write); nothing is opened before the first DB. o.Owner
// names the component in Holders.
func NewHandle(path string, write bool, o Options) *Handle {
	h := &Handle{path: path, write: write, o: o, file: fileFor(path)}
	h.file.mu.Lock()
	h.file.handles[h] = struct{}{}
	h.file.mu.Unlock()
	return h
}

// Path is the database's path.
func (h *Handle) Path() string { return h.path }

// DB returns the pool, opening it when needed. While a Swap replaces the
// file it waits for the end (bounded by ctx), then opens the new file.
func (h *Handle) DB(ctx context.Context) (*sql.DB, error) {
	for {
		if err := h.file.waitSwap(ctx); err != nil {
			return nil, err
		}
		h.mu.Lock()
		if !h.file.isSwapping(ctx) {
			break // h.mu held: a Swap starting now waits for it in Drop
		}
		h.mu.Unlock()
	}
	defer h.mu.Unlock()
	if h.close {
		return nil, fmt.Errorf("database %s: the handle is closed", h.path)
	}
	if h.pool != nil {
		var st unix.Stat_t
		if unix.Stat(h.path, &st) == nil && (st.Ino == h.ino && st.Dev == h.dev) {
			return h.pool, nil
		}
		// Replaced (or gone): let go of the old file.
		h.pool.Close()
		h.pool = nil
	}
	var (
		p   *sql.DB
		err error
	)
	if h.write {
		p, err = OpenWrite(ctx, h.path, h.o)
	} else {
		p, err = OpenRead(ctx, h.path, h.o)
	}
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Stat(h.path, &st); err == nil {
		h.ino, h.dev = st.Ino, st.Dev
	}
	h.pool = p
	return p, nil
}

// Drop closes the pool (the next DB reopens it).
func (h *Handle) Drop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pool != nil {
		h.pool.Close()
		h.pool = nil
	}
}

// Close closes the pool for good.
func (h *Handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.close = true
	h.file.mu.Lock()
	delete(h.file.handles, h)
	h.file.mu.Unlock()
	if h.pool == nil {
		return nil
	}
	err := h.pool.Close()
	h.pool = nil
	return err
}

// ErrHeld is Swap's refusal: a component of this process kept the database
// open.
var ErrHeld = errors.New("is held open by this process")

// swapWait is how long Swap waits for connections to close (a variable
// for the tests).
var swapWait = 10 * time.Second

// Swap replaces the database at path through fn, safely for this
// process: it closes the pool of every Handle on the path, waits (at most
// 10 s) until no connection of this process is open on it, then runs fn
// with the gate held, so that no connection opens until fn has returned
// (but those fn opens itself, through the ctx it is given).
// A connection still open after the wait makes it refuse with ErrHeld,
// naming the owners; nothing was changed then. Handles reopen at their
// next use.
func Swap(ctx context.Context, path string, fn func(ctx context.Context) error) error {
	f := fileFor(path)
	// Mark the swap first, so that no Handle reopens, then close the
	// Handles' pools (a Handle opening right now finishes, through the
	// gate, and is closed here), then take the gate. Taking the gate
	// first would deadlock with a Handle that holds its mutex while its
	// open waits for the gate.
	for {
		f.mu.Lock()
		if f.swapping == nil {
			f.swapping = make(chan struct{})
			break
		}
		ch := f.swapping
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	handles := make([]*Handle, 0, len(f.handles))
	for h := range f.handles {
		handles = append(handles, h)
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		close(f.swapping)
		f.swapping = nil
		f.mu.Unlock()
	}()
	for _, h := range handles {
		h.Drop()
	}
	if err := f.enter(ctx); err != nil {
		return err
	}
	defer f.leave(ctx)
	deadline := time.Now().Add(swapWait)
	for {
		held := Holders(path)
		if len(held) == 0 {
			break
		}
		if time.Now().After(deadline) {
			names := make([]string, len(held))
			for i, h := range held {
				names[i] = h.String()
			}
			return &FileError{Path: path, Kind: ErrHeld, Detail: strings.Join(names, ", "),
				Hint: "finish or close what uses it in this repops (a run, a view), or restore online; nothing was changed"}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fn(context.WithValue(ctx, gateKey{f}, true))
}
