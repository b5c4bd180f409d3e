package ops

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
)

// Actor is who did something: the Unix user, the host, the SSH client's
// address when the operator came in over SSH, and the console session.
type Actor struct {
	User      string `json:"user"`
	Host      string `json:"host"`
	SSHClient string `json:"ssh_client,omitempty"` // client address from $SSH_CLIENT or $SSH_CONNECTION
	Session   string `json:"session,omitempty"`
	// Key is the SHA256 fingerprint of the SSH key a 'repops serve'
	// session logged in with (User is then the key's name in the
	// server's authorized_keys file, Host the server's host).
	Key string `json:"key,omitempty"`
}

// String is user@host, with the SSH client when there is one.
func (a Actor) String() string {
	s := a.User + "@" + a.Host
	if a.SSHClient != "" {
		s += " (from " + a.SSHClient + ")"
	}
	if a.Key != "" {
		s += " key " + a.Key
	}
	return s
}

// CurrentActor describes the operator running this process. The session
// is given by the caller (the console's session id); when empty a random
// one is made so that entries of one run can still be told apart.
func CurrentActor(session string) Actor {
	a := Actor{Session: session}
	if u, err := user.Current(); err == nil && u.Username != "" {
		a.User = u.Username
	} else if s := os.Getenv("USER"); s != "" {
		a.User = s
	} else {
		a.User = fmt.Sprintf("uid%d", os.Getuid())
	}
	a.Host, _ = os.Hostname()
	if a.Host == "" {
		a.Host = "localhost"
	}
	// $SSH_CLIENT is "client_ip client_port server_port"; $SSH_CONNECTION
	// is "client_ip client_port server_ip server_port".
	for _, v := range []string{"SSH_CLIENT", "SSH_CONNECTION"} {
		if f := strings.Fields(os.Getenv(v)); len(f) >= 2 {
			a.SSHClient = f[0] + ":" + f[1]
			break
		}
	}
	if a.Session == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		a.Session = hex.EncodeToString(b[:])
	}
	return a
}

// Outcomes of a journal entry.
const (
	OutcomeStarted = "started"
	OutcomeOK      = "ok"
	// OutcomeWarning: the procedure did its work but fell short of what
	// was asked of it (a drill that restored and verified the backup but
	// missed an objective of the guide's RTO/RPO table).
	OutcomeWarning   = "warning"
	OutcomeFailed    = "failed"
	OutcomeCancelled = "cancelled"
	OutcomeSkipped   = "skipped"
	OutcomeNote      = "note"
)

// Outcomes of an "alert" entry: the state a rule's alert moved to, as a
// collector saw it (see metrics.RuleChange). OutcomeWarning doubles as an
// alert's "outside target" state.
const (
	OutcomePending  = "pending"
	OutcomeFiring   = "firing"
	OutcomeResolved = "resolved"
	OutcomeUnknown  = "unknown"
)

// journalOutcomes is every outcome the journal's CHECK constraint takes,
// in the order the schema lists them (see upgradeJournalOutcomes).
var journalOutcomes = []string{OutcomeStarted, OutcomeOK, OutcomeFailed, OutcomeCancelled, OutcomeSkipped, OutcomeNote,
	OutcomeWarning, OutcomePending, OutcomeFiring, OutcomeResolved, OutcomeUnknown}

// Entry is one line of the incident timeline: who did what to which
// target, with which parameters, how it ended and the figures measured.
// Runbook, RunID and Step are set when a runbook step did it.
type Entry struct {
	Seq     int64              `json:"seq"`
	Time    time.Time          `json:"time"`
	Actor   Actor              `json:"actor"`
	Action  string             `json:"action"`
	Target  string             `json:"target,omitempty"`
	Params  map[string]any     `json:"params,omitempty"`
	Outcome string             `json:"outcome"`
	Figures map[string]float64 `json:"figures,omitempty"`
	Message string             `json:"message,omitempty"`
	Runbook string             `json:"runbook,omitempty"`
	RunID   string             `json:"run_id,omitempty"`
	Step    string             `json:"step,omitempty"`
	// Command is the shell equivalent of what was done ("repops backup
	// --db /srv/architect.db"), so that an incident can be replayed from
	// a shell; empty when there is none (a note, an alert).
	Command string `json:"command,omitempty"`
}

// JournalFile is the journal's file name in the state dir.
const JournalFile = "journal.db"

// ErrJournalAppendOnly is what an attempt to change or delete a journal
// entry meets: the store itself refuses it.
var ErrJournalAppendOnly = errors.New("the ops journal is append-only")

// Journal is the ops journal: the append-only record of every procedure
// run, kept in the state dir, outside the live database, so that a restore
// never rolls it back.
//
// Decision: the store is an SQLite file (journal.db) rather than a JSON
// lines file. Several operators' processes append at once, and SQLite's
// locking serialises them with a busy timeout where a lines file would
// need its own locking to keep a sequence number; entries are read back by
// time through an index; and the store itself enforces append-only: BEFORE
// UPDATE and BEFORE DELETE triggers RAISE(ABORT), so no statement, from
// repops or the sqlite3 shell, changes history without first dropping the
// triggers (which is visible in the schema). Each append is its own
// transaction with synchronous=FULL in WAL mode: once Append returns, the
// entry survives a crash or a power loss.
type Journal struct {
	path     string
	db       *sql.DB
	setAside *JournalSetAside // what OpenJournal set aside, nil when nothing
}

const journalSchema = `
CREATE TABLE IF NOT EXISTS entries (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	time TEXT NOT NULL,
	user TEXT NOT NULL,
	host TEXT NOT NULL,
	ssh_client TEXT NOT NULL DEFAULT '',
	session TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	params TEXT NOT NULL DEFAULT '{}',
	outcome TEXT NOT NULL CHECK (outcome IN ('started','ok','failed','cancelled','skipped','note','warning','pending','firing','resolved','unknown')),
	figures TEXT NOT NULL DEFAULT '{}',
	message TEXT NOT NULL DEFAULT '',
	runbook TEXT NOT NULL DEFAULT '',
	run_id TEXT NOT NULL DEFAULT '',
	step TEXT NOT NULL DEFAULT '',
	ssh_key TEXT NOT NULL DEFAULT '',
	command TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS entries_time ON entries(time);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'the ops journal is append-only: entries cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'the ops journal is append-only: entries cannot be deleted'); END;
`

// journalTimeLayout sorts as text and keeps sub-second order.
const journalTimeLayout = "2006-01-02T15:04:05.000000000Z"

// OpenJournal opens (creating when missing) the journal in stateDir,
// creating the dir 0700.
//
// A damaged journal never stops a procedure: when the file is not SQLite,
// is truncated or corrupt, or fails PRAGMA quick_check, it is set aside,
// never deleted (renamed, with its -wal and -shm, to
// journal.db.damaged-<UTC time>, where its entries can still be read),
// a new journal is started, and its first entry ("journal.set-aside")
// says which file was set aside and why. One line on standard error says
// so too (see noteSetAside). Any other failure (a state dir that cannot be
// written, a journal locked beyond the busy timeout, a full disk) is
// returned as before: nothing is set aside for those.
//
// Several repops processes may open the journal at once, so the state dir
// is flocked: shared while a journal is opened and checked, exclusive
// while one is set aside. The process that sets it aside checks it again
// under the exclusive lock, so that a journal another process has just
// replaced is not set aside in its turn, and refuses when another process
// has the damaged file open (its SQLite locks are seen with F_GETLK).
func OpenJournal(stateDir string) (*Journal, error) {
	if stateDir == "" {
		return nil, errors.New("open ops journal: no state dir configured (console.state_dir)")
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("open ops journal: create state dir %s: %w", stateDir, err)
	}
	path := filepath.Join(stateDir, JournalFile)
	ctx := context.Background()
	unlock, _ := flockDir(ctx, stateDir, unix.LOCK_SH, journalLockWait)
	j, err := openJournalFile(ctx, path)
	unlock()
	if err == nil || !db.IsCorrupt(err) {
		return j, err
	}
	return recoverJournal(ctx, stateDir, path, err)
}

// journalLockWait is how long OpenJournal waits for the state dir's flock
// (another repops setting a damaged journal aside).
const journalLockWait = 30 * time.Second

// openJournalFile opens the journal at path, checks it (PRAGMA
// quick_check) and creates its schema when missing. A damaged file is an
// error for which db.IsCorrupt is true.
func openJournalFile(ctx context.Context, path string) (*Journal, error) {
	w, err := db.OpenWrite(ctx, path, db.Options{Create: true, Synchronous: "FULL", BusyTimeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open ops journal %s: %w", path, err)
	}
	var check string
	if err := w.QueryRowContext(ctx, `PRAGMA quick_check(1)`).Scan(&check); err != nil {
		w.Close()
		return nil, fmt.Errorf("open ops journal %s: quick_check: %w", path, db.Classify(path, err))
	}
	if check != "ok" {
		w.Close()
		return nil, fmt.Errorf("open ops journal %s: %w", path, &db.FileError{Path: path, Kind: db.ErrCorrupt, Detail: "quick_check: " + check})
	}
	if _, err := w.ExecContext(ctx, journalSchema); err != nil {
		w.Close()
		return nil, fmt.Errorf("open ops journal %s: create schema: %w", path, db.Classify(path, err))
	}
	if err := upgradeJournalOutcomes(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open ops journal %s: %w", path, db.Classify(path, err))
	}
	if err := addJournalColumns(ctx, w, "ssh_key", "command"); err != nil {
		w.Close()
		return nil, fmt.Errorf("open ops journal %s: %w", path, db.Classify(path, err))
	}
	_ = os.Chmod(path, 0o600)
	return &Journal{path: path, db: w}, nil
}

// upgradeJournalOutcomes lets a journal created before an outcome
// existed (OutcomeWarning; the alert states pending, firing, resolved,
// unknown) take it: its entries table's CHECK lists the outcomes, and the
// list is replaced by journalOutcomes, a superset of every older list.
//
// Decision: through PRAGMA writable_schema, the procedure SQLite's ALTER
// TABLE documentation gives for a change that leaves the stored format as
// it is (a CHECK constraint that every stored row still meets), rather
// than copying the table into a new one: the append-only triggers forbid
// deleting the old table's rows, and a copy would be a second history.
// It runs once, in one transaction, with schema_version incremented so
// that every other connection rereads the schema.
func upgradeJournalOutcomes(ctx context.Context, w *sql.DB) error {
	var ddl string
	if err := w.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'entries'`).Scan(&ddl); err != nil {
		return fmt.Errorf("read the journal's schema: %w", err)
	}
	old := outcomeCheck.FindString(ddl)
	upgraded := "outcome IN ('" + strings.Join(journalOutcomes, "','") + "')"
	if old == "" || old == upgraded {
		return nil
	}
	c, err := w.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("upgrade the journal's outcomes: %w", err)
	}
	err = func() error {
		var version int64
		if err := c.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&version); err != nil {
			return err
		}
		if _, err := c.ExecContext(ctx, `PRAGMA writable_schema = ON`); err != nil {
			return err
		}
		defer func() { _, _ = c.ExecContext(ctx, `PRAGMA writable_schema = OFF`) }()
		if _, err := c.ExecContext(ctx, `UPDATE sqlite_schema SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'entries'`,
			old, upgraded); err != nil {
			return err
		}
		_, err := c.ExecContext(ctx, fmt.Sprintf(`PRAGMA schema_version = %d`, version+1))
		return err
	}()
	if err != nil {
		_, _ = c.ExecContext(ctx, `ROLLBACK`)
		return fmt.Errorf("upgrade the journal's outcomes: %w", err)
	}
	if _, err := c.ExecContext(ctx, `COMMIT`); err != nil {
		_, _ = c.ExecContext(ctx, `ROLLBACK`)
		return fmt.Errorf("upgrade the journal's outcomes: %w", err)
	}
	return nil
}

// outcomeCheck finds the outcome list of the entries table's CHECK.
var outcomeCheck = regexp.MustCompile(`outcome IN \([^)]*\)`)

// addJournalColumns adds the text columns named (ssh_key: Actor.Key, the
// fingerprint of a 'repops serve' session's key; command: Entry.Command,
// the shell equivalent) to a journal created before they existed. ADD
// COLUMN with a constant default rewrites no row (SQLite reads the
// default for rows stored without it), so the append-only triggers are
// not involved and the history stays as it was written; another process
// adding one at the same moment is not an error.
func addJournalColumns(ctx context.Context, w *sql.DB, names ...string) error {
	for _, name := range names {
		var n int
		if err := w.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('entries') WHERE name = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("read the journal's columns: %w", err)
		}
		if n > 0 {
			continue
		}
		if _, err := w.ExecContext(ctx, `ALTER TABLE entries ADD COLUMN `+name+` TEXT NOT NULL DEFAULT ''`); err != nil &&
			!strings.Contains(err.Error(), "duplicate column") {
			return fmt.Errorf("add the journal's %s column: %w", name, err)
		}
	}
	return nil
}

// JournalSetAside says that OpenJournal found the journal damaged and set
// it aside: the file (Path), the name it now has (SetAsideAs), its
// companions moved with it, and why.
type JournalSetAside struct {
	Time       time.Time `json:"time"`
	Path       string    `json:"path"`
	SetAsideAs string    `json:"set_aside_as"`
	Files      []string  `json:"files"`
	Reason     string    `json:"reason"`
}

// SetAside is what OpenJournal set aside to open this journal; nil when
// the journal opened as it was.
func (j *Journal) SetAside() *JournalSetAside { return j.setAside }

// recoverJournal sets the damaged journal at path aside and starts a new
// one; cause is why the first open failed.
func recoverJournal(ctx context.Context, stateDir, path string, cause error) (*Journal, error) {
	unlock, err := flockDir(ctx, stateDir, unix.LOCK_EX, journalLockWait)
	if err != nil {
		return nil, fmt.Errorf("open ops journal %s: it %s, and it cannot be set aside now (%w): retry", path, damageReason(cause), err)
	}
	defer unlock()
	// Another repops may have set it aside meanwhile: then the journal
	// at path is a new one, and opens.
	j, err := openJournalFile(ctx, path)
	if err == nil || !db.IsCorrupt(err) {
		return j, err
	}
	now := time.Now().UTC()
	sa := &JournalSetAside{Time: now, Path: path, Reason: damageReason(err)}
	err = db.Swap(ctx, path, func(context.Context) error {
		var err error
		sa.SetAsideAs, sa.Files, err = setJournalAside(path, now)
		return err
	})
	var held *journalHeldError
	switch {
	case errors.As(err, &held):
		return nil, fmt.Errorf("open ops journal %s: it %s, and another process (pid %d) has it open, so it is not set aside: stop that process and retry (a new journal is started then)",
			path, sa.Reason, held.pid)
	case err != nil:
		return nil, fmt.Errorf("open ops journal %s: it %s, and it could not be set aside (%w): move %s (with its -wal and -shm) out of %s; a new journal is started then",
			path, sa.Reason, err, JournalFile, stateDir)
	}
	_ = db.SyncDir(stateDir)
	if j, err = openJournalFile(ctx, path); err != nil {
		return nil, fmt.Errorf("%w (after setting the damaged journal aside as %s)", err, sa.SetAsideAs)
	}
	j.setAside = sa
	noteSetAside(sa)
	moved := make([]string, len(sa.Files))
	for i, f := range sa.Files {
		moved[i] = filepath.Base(f)
	}
	_, _ = j.Append(Entry{Actor: CurrentActor(""), Action: "journal.set-aside", Target: path, Outcome: OutcomeNote,
		Params: map[string]any{"set_aside_as": sa.SetAsideAs, "files": moved, "reason": sa.Reason},
		Message: fmt.Sprintf("the ops journal %s %s: set aside as %s (its entries are there, for reading with sqlite3), and this new journal started",
			path, sa.Reason, sa.SetAsideAs)})
	return j, nil
}

// noteSetAside says on standard error, in one line naming both files,
// that the journal was set aside.
//
// Decision: this is the one line package ops writes itself. The journal
// is opened by every procedure (backup, restore, archive, drill, runbook
// steps) through OpenJournal, which has no writer of the caller's, and
// the operator must learn at once, where the command runs, that the
// timeline before now is in another file. The new journal's first entry
// says the same for the console and the exports.
func noteSetAside(sa *JournalSetAside) {
	fmt.Fprintf(os.Stderr, "repops: the ops journal %s %s: set aside as %s, and a new journal started\n", sa.Path, sa.Reason, sa.SetAsideAs)
}

// damageReason is why a journal is damaged, in words, without the advice a
// *db.FileError gives about a live database (which does not apply to the
// journal): "is corrupt (quick_check: ...)".
func damageReason(err error) string {
	var fe *db.FileError
	s := err.Error()
	if errors.As(err, &fe) {
		s = fe.Kind.Error()
		if fe.Detail != "" {
			s += " (" + fe.Detail + ")"
		}
	}
	return humanize.OneLine(s)
}

// setJournalAside renames the journal at path and its -wal and -shm to
// path.damaged-<UTC time>[-N] (the companions keeping their suffix, so
// that sqlite3 opens the set-aside file with its WAL), the companions
// first, so that a new journal never meets the old one's WAL. It refuses
// when another process has the journal open: its writes would go on into
// the set-aside file, and its last close would delete the new journal's
// WAL by name.
func setJournalAside(path string, now time.Time) (string, []string, error) {
	if pid := journalHolder(path); pid != 0 {
		return "", nil, &journalHeldError{pid: pid}
	}
	base := path + ".damaged-" + now.Format("20060102T150405Z")
	aside := base
	for n := 2; ; n++ {
		taken := false
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if _, err := os.Lstat(aside + suffix); err == nil {
				taken = true
			}
		}
		if !taken {
			break
		}
		aside = fmt.Sprintf("%s-%d", base, n)
	}
	var moved []string
	for _, suffix := range []string{"-wal", "-shm", ""} {
		if _, err := os.Lstat(path + suffix); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Rename(path+suffix, aside+suffix); err != nil {
			// Put back what was moved: the journal stays as it was.
			for _, m := range moved {
				_ = os.Rename(m, path+strings.TrimPrefix(m, aside))
			}
			return "", nil, err
		}
		moved = append(moved, aside+suffix)
	}
	return aside, moved, nil
}

// journalHeldError is setJournalAside's refusal: another process has the
// journal open.
type journalHeldError struct{ pid int }

func (e *journalHeldError) Error() string {
	return fmt.Sprintf("another process (pid %d) has it open", e.pid)
}

// journalHolder returns the pid of another process that holds an SQLite
// lock on the journal at path or its -shm (every connection in WAL mode
// holds one on the -shm while it is open), 0 when none does. It is called
// inside db.Swap, so this process has no connection of its own open on
// the file and the descriptor opened here releases no lock of ours.
func journalHolder(path string) int {
	for _, p := range []string{path + "-shm", path} {
		st, err := os.Lstat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if err != nil {
			continue
		}
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
		err = unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk)
		f.Close()
		if err == nil && lk.Type != unix.F_UNLCK {
			return int(lk.Pid)
		}
	}
	return 0
}

// flockDir takes a flock (how: unix.LOCK_SH or unix.LOCK_EX) on the
// directory dir, waiting at most wait; the returned func releases it.
// A filesystem without flock on directories is no error: the returned
// func then does nothing.
func flockDir(ctx context.Context, dir string, how int, wait time.Duration) (func(), error) {
	d, err := os.Open(dir)
	if err != nil {
		return func() {}, nil
	}
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(d.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(d.Fd()), unix.LOCK_UN); d.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			d.Close()
			return func() {}, nil
		}
		if time.Now().After(deadline) {
			d.Close()
			return func() {}, fmt.Errorf("another repops holds the state dir %s (setting a damaged journal aside?) for over %s", dir, wait)
		}
		select {
		case <-ctx.Done():
			d.Close()
			return func() {}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Path is the journal file.
func (j *Journal) Path() string { return j.path }

// Append records e, filling Seq and Time (Time is kept when set, for
// imports; normally it is now). Outcome defaults to "note".
func (j *Journal) Append(e Entry) (Entry, error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.Outcome == "" {
		e.Outcome = OutcomeNote
	}
	if e.Action == "" {
		return e, errors.New("append to ops journal: an entry needs an action")
	}
	params, err := json.Marshal(nonNilMap(e.Params))
	if err != nil {
		return e, fmt.Errorf("append to ops journal: encode parameters: %w", err)
	}
	figures, err := json.Marshal(sanitizeFigures(e.Figures))
	if err != nil {
		return e, fmt.Errorf("append to ops journal: encode figures: %w", err)
	}
	res, err := j.db.ExecContext(context.Background(), `INSERT INTO entries
		(time, user, host, ssh_client, session, action, target, params, outcome, figures, message, runbook, run_id, step, ssh_key, command)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Time.Format(journalTimeLayout), e.Actor.User, e.Actor.Host, e.Actor.SSHClient, e.Actor.Session,
		e.Action, e.Target, string(params), e.Outcome, string(figures), e.Message, e.Runbook, e.RunID, e.Step, e.Actor.Key, e.Command)
	if err != nil {
		return e, fmt.Errorf("append to ops journal %s: %w", j.path, db.Classify(j.path, err))
	}
	e.Seq, _ = res.LastInsertId()
	return e, nil
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// sanitizeFigures drops NaN and infinities, which JSON cannot carry.
func sanitizeFigures(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if v != v || v > 1e308 || v < -1e308 {
			continue
		}
		out[k] = v
	}
	return out
}

// Entries returns the entries at or after since (all when since is zero),
// oldest first.
func (j *Journal) Entries(since time.Time) ([]Entry, error) {
	const cols = `SELECT seq, time, user, host, ssh_client, session,
		action, target, params, outcome, figures, message, runbook, run_id, step, ssh_key, command FROM entries`
	var rows *sql.Rows
	var err error
	if since.IsZero() {
		rows, err = j.db.QueryContext(context.Background(), cols+` ORDER BY seq`)
	} else {
		rows, err = j.db.QueryContext(context.Background(), cols+` WHERE time >= ? ORDER BY seq`, since.UTC().Format(journalTimeLayout))
	}
	if err != nil {
		return nil, fmt.Errorf("read ops journal %s: %w", j.path, db.Classify(j.path, err))
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var ts, params, figures string
		if err := rows.Scan(&e.Seq, &ts, &e.Actor.User, &e.Actor.Host, &e.Actor.SSHClient, &e.Actor.Session,
			&e.Action, &e.Target, &params, &e.Outcome, &figures, &e.Message, &e.Runbook, &e.RunID, &e.Step, &e.Actor.Key, &e.Command); err != nil {
			return nil, fmt.Errorf("read ops journal %s: %w", j.path, err)
		}
		e.Time, _ = time.Parse(journalTimeLayout, ts)
		if params != "" && params != "{}" {
			_ = json.Unmarshal([]byte(params), &e.Params)
		}
		if figures != "" && figures != "{}" {
			_ = json.Unmarshal([]byte(figures), &e.Figures)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read ops journal %s: %w", j.path, err)
	}
	return out, nil
}

// Close closes the journal.
func (j *Journal) Close() error {
	if j == nil || j.db == nil {
		return nil
	}
	return j.db.Close()
}

// ExportJSON writes entries as one JSON array, indented.
func ExportJSON(w io.Writer, entries []Entry) error {
	if entries == nil {
		entries = []Entry{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(entries)
}

// ExportMarkdown writes entries as an incident timeline: a Markdown table
// with one row per entry, parameters and figures inline.
func ExportMarkdown(w io.Writer, entries []Entry) error {
	var b strings.Builder
	b.WriteString("# Ops journal\n\n")
	if len(entries) == 0 {
		b.WriteString("No entries.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "%d entries, %s to %s (UTC).\n\n", len(entries),
		entries[0].Time.UTC().Format(time.RFC3339), entries[len(entries)-1].Time.UTC().Format(time.RFC3339))
	b.WriteString("| # | time (UTC) | who | action | target | outcome | details |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, e := range entries {
		var details []string
		if e.Message != "" {
			details = append(details, e.Message)
		}
		if len(e.Params) > 0 {
			details = append(details, "params: "+formatParams(e.Params))
		}
		if len(e.Figures) > 0 {
			details = append(details, "figures: "+formatFigures(e.Figures))
		}
		if e.Runbook != "" {
			rb := "runbook " + e.Runbook
			if e.Step != "" {
				rb += " step " + e.Step
			}
			if e.RunID != "" {
				rb += " (run " + e.RunID + ")"
			}
			details = append(details, rb)
		}
		if e.Command != "" {
			details = append(details, "same as: `"+e.Command+"`")
		}
		who := e.Actor.User + "@" + e.Actor.Host
		if e.Actor.SSHClient != "" {
			who += " from " + e.Actor.SSHClient
		}
		if e.Actor.Key != "" {
			who += " key " + e.Actor.Key
		}
		if e.Actor.Session != "" {
			who += " [" + e.Actor.Session + "]"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", e.Seq, e.Time.UTC().Format("2006-01-02 15:04:05"),
			mdCell(who), mdCell(e.Action), mdCell(e.Target), e.Outcome, mdCell(strings.Join(details, "; ")))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatParams(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func formatFigures(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+FormatFigure(k, m[k]))
	}
	return strings.Join(parts, " ")
}

// FormatFigure is a journal figure as a person reads it, by its name's
// convention: a name with "bytes" in binary units (18.0 MiB); one ending
// in "seconds" with three significant digits and a unit (36.7 ms, 4.57 s;
// 2m5s from a minute); one ending in "percent" with %; a whole number
// grouped by thousands (1,234,567); any other with three significant
// digits. The JSON export keeps the exact numbers.
func FormatFigure(name string, v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case strings.Contains(name, "bytes") && v >= 0:
		return humanize.Bytes(int64(math.Round(v)))
	case strings.HasSuffix(name, "seconds"):
		switch a := math.Abs(v); {
		case a == 0:
			return "0 s"
		case a < 1:
			return fmt.Sprintf("%.3g ms", v*1000)
		case a < 60:
			return fmt.Sprintf("%.3g s", v)
		default:
			return time.Duration(v * float64(time.Second)).Round(time.Second).String()
		}
	case strings.HasSuffix(name, "percent"):
		return fmt.Sprintf("%.3g %%", v)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return groupThousands(int64(v))
	case math.Abs(v) >= 1000:
		return groupThousands(int64(math.Round(v)))
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// groupThousands writes n with a comma every three digits.
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// mdCell keeps a value on one table row.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}
