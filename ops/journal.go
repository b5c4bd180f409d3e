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
	"math"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/repops/repops/db"
)

// Actor is who did something: the Unix user, the host, the SSH client's
// address when the operator came in over SSH, and the console session.
type Actor struct {
	User      string `json:"user"`
	Host      string `json:"host"`
	SSHClient string `json:"ssh_client,omitempty"` // client address from $SSH_CLIENT or $SSH_CONNECTION
	Session   string `json:"session,omitempty"`
}

// String is user@host, with the SSH client when there is one.
func (a Actor) String() string {
	s := a.User + "@" + a.Host
	if a.SSHClient != "" {
		s += " (from " + a.SSHClient + ")"
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
	OutcomeStarted   = "started"
	OutcomeOK        = "ok"
	OutcomeFailed    = "failed"
	OutcomeCancelled = "cancelled"
	OutcomeSkipped   = "skipped"
	OutcomeNote      = "note"
)

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
	path string
	db   *sql.DB
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
	outcome TEXT NOT NULL CHECK (outcome IN ('started','ok','failed','cancelled','skipped','note')),
	figures TEXT NOT NULL DEFAULT '{}',
	message TEXT NOT NULL DEFAULT '',
	runbook TEXT NOT NULL DEFAULT '',
	run_id TEXT NOT NULL DEFAULT '',
	step TEXT NOT NULL DEFAULT ''
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
func OpenJournal(stateDir string) (*Journal, error) {
	if stateDir == "" {
		return nil, errors.New("open ops journal: no state dir configured (console.state_dir)")
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("open ops journal: create state dir %s: %w", stateDir, err)
	}
	path := filepath.Join(stateDir, JournalFile)
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{Create: true, Synchronous: "FULL", BusyTimeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open ops journal %s: %w", path, err)
	}
	if _, err := w.ExecContext(ctx, journalSchema); err != nil {
		w.Close()
		return nil, fmt.Errorf("open ops journal %s: create schema: %w", path, db.Classify(path, err))
	}
	_ = os.Chmod(path, 0o600)
	return &Journal{path: path, db: w}, nil
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
		(time, user, host, ssh_client, session, action, target, params, outcome, figures, message, runbook, run_id, step)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Time.Format(journalTimeLayout), e.Actor.User, e.Actor.Host, e.Actor.SSHClient, e.Actor.Session,
		e.Action, e.Target, string(params), e.Outcome, string(figures), e.Message, e.Runbook, e.RunID, e.Step)
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
		action, target, params, outcome, figures, message, runbook, run_id, step FROM entries`
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
			&e.Action, &e.Target, &params, &e.Outcome, &figures, &e.Message, &e.Runbook, &e.RunID, &e.Step); err != nil {
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
		who := e.Actor.User + "@" + e.Actor.Host
		if e.Actor.SSHClient != "" {
			who += " from " + e.Actor.SSHClient
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
		return db.FormatBytes(int64(math.Round(v)))
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
