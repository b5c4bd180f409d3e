package chaos

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/repops/repops/internal/testsupport"
)

// env is one test's world: a database built by repops, a config naming
// its own state and backup dirs, and the foreign processes around it.
type env struct {
	dir, db, cfg, state, backups string

	running []*helper // helpers still running
	writers []*helper // every writer started (their logs are checked)
	errLogs []*helper // every helper with an error log

	errSeen     map[string]int  // bytes of each error log already reported
	lostOK      map[string]bool // tokens a restore lost, as it reported
	missingSeen map[string]bool // tokens already reported missing
	corrupt     bool            // the last check found the database damaged

	lastEnd time.Time // end of the last repops command (see waitNextSecond)
	seq     int

	parsed []parsedLog // per writer: what readLogs has parsed of its log
}

// parsedLog is the part of a writer's log readLogs has parsed: the
// complete lines before offset off.
type parsedLog struct {
	off     int64
	entries []entry
}

// newEnv builds the database with the real binary (repops demo
// --summary: a demo database, no console) in a fresh temp dir.
func newEnv(t testing.TB, appeals int) *env {
	t.Helper()
	if sqlite3CLI == "" {
		t.Fatal(needCLI)
	}
	dir := t.TempDir()
	e := &env{
		dir:     dir,
		db:      filepath.Join(dir, "architect.db"),
		cfg:     filepath.Join(dir, "repops.yml"),
		state:   filepath.Join(dir, "state"),
		backups: filepath.Join(dir, "backups"),
		errSeen: map[string]int{}, lostOK: map[string]bool{}, missingSeen: map[string]bool{},
	}
	// keep_last 3 and keep_within 1s keep the backup dir small; the
	// metrics URL answers nothing (status says the service is DEAD).
	cfg := fmt.Sprintf(`console:
  state_dir: %q
  sources:
    metrics_url: "http://127.0.0.1:1/metrics"
    timeout: 500ms
  backup:
    dir: %q
    keep_last: 3
    keep_within: 1s
`, e.state, e.backups)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"home", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	res := e.repops(t, 2*time.Minute, "demo", "--summary", "--appeals", strconv.Itoa(appeals), "--seed", "7")
	if res.code != 0 {
		t.Fatalf("building the fixture: %s", res)
	}
	t.Cleanup(func() { e.stopAll(t) })
	return e
}

// result is one finished repops command.
type result struct {
	args []string
	out  string // stdout and stderr, interleaved
	code int    // -1 when killed by a signal
	sig  syscall.Signal
	dur  time.Duration
	err  error
}

func (r result) String() string {
	how := fmt.Sprintf("exit %d", r.code)
	if r.sig != 0 {
		how = fmt.Sprintf("killed by signal %d (%s)", int(r.sig), r.sig)
	}
	if r.err != nil && r.code == 0 && r.sig == 0 {
		how += fmt.Sprintf(" (%v)", r.err)
	}
	return fmt.Sprintf("`repops %s`: %s after %s; output:\n%s", strings.Join(r.args, " "), how, r.dur.Round(time.Millisecond), indent(r.out))
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// command is a repops process on the env's config and database, in its
// own working dir, with the machine's config and the guide's variables
// kept out.
func (e *env) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--config", e.cfg, "--db", e.db}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Dir = filepath.Join(e.dir, "work")
	cmd.Env = e.environ()
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (e *env) environ() []string {
	drop := map[string]bool{
		"DATABASE_PATH": true, "ENVIRONMENT": true, "LOG_LEVEL": true, "ENABLE_NOTIFICATIONS": true,
		"ENABLE_ML_PREDICTIONS": true, "MAX_DB_CONNECTIONS": true, "CACHE_ENABLED": true, "CACHE_TTL_MINUTES": true,
		"METRICS_ENABLED": true, "METRICS_PORT": true, "HEALTH_CHECK_INTERVAL": true, "REPOPS_CONFIG": true,
		"HOME": true, "XDG_CONFIG_HOME": true, "XDG_STATE_HOME": true, helperEnv: true,
	}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	home := filepath.Join(e.dir, "home")
	return append(out, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_STATE_HOME="+filepath.Join(home, ".state"), "NO_COLOR=1")
}

// repops runs one command to its end (bounded by timeout).
func (e *env) repops(t testing.TB, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := e.command(ctx, args...)
	var out testsupport.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	e.lastEnd = time.Now()
	r := result{args: args, out: out.String(), dur: time.Since(start), err: err}
	r.code, r.sig = exitOf(cmd, err)
	if ctx.Err() != nil {
		r.out += fmt.Sprintf("\n(the test killed it after its %s timeout)", timeout)
	}
	return r
}

func exitOf(cmd *exec.Cmd, err error) (int, syscall.Signal) {
	if cmd.ProcessState == nil {
		return -1, 0
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, ws.Signal()
	}
	return cmd.ProcessState.ExitCode(), 0
}

// waitNextSecond: backups are named to the UTC second and a second one in
// the same second is refused ("two backups in one second"); before a
// command that may take a backup, wait for the clock to pass the second
// of the previous one.
//
// A backup is named at some moment of its command's run, so the wait is
// for the second after the end of the last repops command (e.lastEnd, set
// by every function that runs one).
func (e *env) waitNextSecond(t testing.TB) {
	t.Helper()
	last := e.lastEnd.UTC().Truncate(time.Second)
	deadline := time.Now().Add(3 * time.Second)
	for !time.Now().UTC().Truncate(time.Second).After(last) {
		if time.Now().After(deadline) {
			t.Fatalf("the clock did not pass %s", last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- the foreign processes ----

type helper struct {
	kind        string
	cmd         *exec.Cmd
	log, errLog string
	stderr      *testsupport.Buffer
	done        chan struct{}
	waitErr     error
}

func (h *helper) String() string { return fmt.Sprintf("%s pid %d", h.kind, h.cmd.Process.Pid) }

func (h *helper) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// startHelper starts this test binary as a foreign process of kind.
func (e *env) startHelper(t testing.TB, kind string, extra ...string) *helper {
	t.Helper()
	e.seq++
	h := &helper{
		kind:   kind,
		log:    filepath.Join(e.dir, fmt.Sprintf("%s-%d.log", kind, e.seq)),
		errLog: filepath.Join(e.dir, fmt.Sprintf("%s-%d.errors", kind, e.seq)),
		stderr: &testsupport.Buffer{},
		done:   make(chan struct{}),
	}
	for _, p := range []string{h.log, h.errLog} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h.cmd = exec.Command(self)
	h.cmd.Env = append(os.Environ(), helperEnv+"="+kind, envDB+"="+e.db, envLog+"="+h.log,
		envErrLog+"="+h.errLog, envSQLite3+"="+sqlite3CLI, envMaxSecs+"=240")
	h.cmd.Env = append(h.cmd.Env, extra...)
	h.cmd.Stdout, h.cmd.Stderr = h.stderr, h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start the %s helper: %v", kind, err)
	}
	go func() {
		h.waitErr = h.cmd.Wait()
		close(h.done)
	}()
	e.running = append(e.running, h)
	e.errLogs = append(e.errLogs, h)
	if kind == "writer" || kind == "cliwriter" {
		e.writers = append(e.writers, h)
	}
	return h
}

// startWriters starts the Go writer and the sqlite3 CLI writer and waits
// until each has committed a few rows.
func (e *env) startWriters(t testing.TB) []*helper {
	t.Helper()
	ws := []*helper{e.startHelper(t, "writer"), e.startHelper(t, "cliwriter")}
	for _, w := range ws {
		e.waitLines(t, w, 5, 30*time.Second, "its first rows")
	}
	return ws
}

// startCheckpointer starts the checkpointer and waits for its first phase.
func (e *env) startCheckpointer(t testing.TB) *helper {
	t.Helper()
	h := e.startHelper(t, "checkpointer")
	e.waitLines(t, h, 1, 30*time.Second, "its first checkpoints")
	return h
}

// startHolder starts a process that keeps the database open.
func (e *env) startHolder(t testing.TB) *helper {
	t.Helper()
	h := e.startHelper(t, "holder")
	e.waitLines(t, h, 1, 30*time.Second, "its connection open")
	return h
}

// waitLines polls h's log until it has n lines.
func (e *env) waitLines(t testing.TB, h *helper, n int, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for countLines(h.log) < n {
		if h.exited() {
			t.Fatalf("%s exited waiting for %s: %v\n%s\nerrors: %s", h, what, h.waitErr, h.stderr, readFile(h.errLog))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s within %s (%d lines of %d)\nerrors: %s", h, what, d, countLines(h.log), n, readFile(h.errLog))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the helper's exit 0.
func (e *env) stop(t testing.TB, h *helper) {
	t.Helper()
	if h.cmd.Process != nil && !h.exited() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
		t.Errorf("%s did not stop within 20s of SIGTERM", h)
	}
	if h.waitErr != nil {
		t.Errorf("%s: %v\n%s", h, h.waitErr, h.stderr)
	}
	for i, r := range e.running {
		if r == h {
			e.running = append(e.running[:i], e.running[i+1:]...)
			break
		}
	}
}

func (e *env) stopWriters(t testing.TB) {
	t.Helper()
	for _, h := range append([]*helper(nil), e.running...) {
		if h.kind == "writer" || h.kind == "cliwriter" {
			e.stop(t, h)
		}
	}
}

func (e *env) stopAll(t testing.TB) {
	for _, h := range append([]*helper(nil), e.running...) {
		e.stop(t, h)
	}
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// ---- the writers' commit logs ----

// entry is one committed row as a writer logged it.
type entry struct {
	id     int64
	token  string
	writer int // index in e.writers
	line   int // 0-based line in its log
}

func (x entry) String() string { return fmt.Sprintf("id %d (%s)", x.id, x.token) }

// readLogs returns every writer's complete lines, in order. The logs only
// grow: what was parsed before is kept (e.parsed) and only the new complete
// lines are read, so that a long run (the soak) does not parse its whole
// history at every check. The slices returned must not be changed.
func (e *env) readLogs(t testing.TB) [][]entry {
	t.Helper()
	out := make([][]entry, len(e.writers))
	for len(e.parsed) < len(e.writers) {
		e.parsed = append(e.parsed, parsedLog{})
	}
	for w, h := range e.writers {
		p := &e.parsed[w]
		f, err := os.Open(h.log)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(io.NewSectionReader(f, p.off, 1<<62))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		end := bytes.LastIndexByte(b, '\n') + 1 // a line without its newline is not complete yet
		lines := strings.Split(string(b[:end]), "\n")
		lines = lines[:len(lines)-1]
		for _, l := range lines {
			i := len(p.entries)
			fl := strings.Fields(l)
			if len(fl) != 2 {
				t.Fatalf("%s: bad log line %d: %q", h, i+1, l)
			}
			id, err := strconv.ParseInt(fl[0], 10, 64)
			if err != nil {
				t.Fatalf("%s: bad log line %d: %q", h, i+1, l)
			}
			p.entries = append(p.entries, entry{id: id, token: fl[1], writer: w, line: i})
		}
		p.off += int64(end)
		out[w] = p.entries[:len(p.entries):len(p.entries)]
	}
	return out
}

// marks: each writer's line count now (running or not).
func (e *env) marks() []int {
	m := make([]int, len(e.writers))
	for w, h := range e.writers {
		m[w] = countLines(h.log)
	}
	return m
}

// waitWritersPast waits until every running writer has logged k lines past
// m: a writer commits, logs, then starts its next statement, so once it has
// logged two more lines every row it committed before m was taken is in
// its log.
func (e *env) waitWritersPast(t testing.TB, m []int, k int, why string) {
	t.Helper()
	for w, h := range e.writers {
		if h.exited() || !e.isRunning(h) {
			continue
		}
		deadline := time.Now().Add(30 * time.Second)
		for countLines(h.log) < m[w]+k {
			if h.exited() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s committed nothing for 30s %s (%d lines, waiting for %d)\nits errors: %s", h, why, countLines(h.log), m[w]+k, readFile(h.errLog))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (e *env) isRunning(h *helper) bool {
	for _, r := range e.running {
		if r == h {
			return true
		}
	}
	return false
}

// ---- the checks ----

// inspect opens a fresh connection (the test process has no other
// connection or descriptor of the database open), runs quick_check or
// integrity_check, reads the writers' rows and closes.
func (e *env) inspect(full bool) (check string, rows map[int64]string, err error) {
	d, err := sql.Open("sqlite3", writerDSN(e.db, 10000))
	if err != nil {
		return "", nil, err
	}
	defer d.Close()
	d.SetMaxOpenConns(1)
	pragma := "PRAGMA quick_check"
	if full {
		pragma = "PRAGMA integrity_check"
	}
	r, err := d.Query(pragma)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", pragma, err)
	}
	var lines []string
	for r.Next() {
		var s string
		if err := r.Scan(&s); err != nil {
			r.Close()
			return "", nil, err
		}
		lines = append(lines, s)
	}
	if err := r.Err(); err != nil {
		return "", nil, fmt.Errorf("%s: %w", pragma, err)
	}
	r.Close()
	check = strings.Join(lines, "\n")
	rows = map[int64]string{}
	r, err = d.Query("SELECT id, reason FROM appeals WHERE user_id IN ('chaos-writer', 'chaos-cli')")
	if err != nil {
		return check, nil, fmt.Errorf("read the writers' rows: %w", err)
	}
	defer r.Close()
	for r.Next() {
		var id int64
		var reason string
		if err := r.Scan(&id, &reason); err != nil {
			return check, nil, err
		}
		rows[id] = reason
	}
	return check, rows, r.Err()
}

// readOnlyDSN opens a copy read-only: immutable when it is one file,
// through its -wal when it has one (an offline safety copy).
func readOnlyDSN(path string) string {
	if _, err := os.Stat(path + "-wal"); err == nil {
		return "file:" + path + "?mode=ro"
	}
	return "file:" + path + "?mode=ro&immutable=1"
}

// readWriterRows reads the writers' rows of a database that is not the
// live one (a backup, a safety copy), read-only.
func readWriterRows(path string) (map[int64]string, error) {
	d, err := sql.Open("sqlite3", readOnlyDSN(path))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	r, err := d.Query("SELECT id, reason FROM appeals WHERE user_id IN ('chaos-writer', 'chaos-cli')")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rows := map[int64]string{}
	for r.Next() {
		var id int64
		var reason string
		if err := r.Scan(&id, &reason); err != nil {
			return nil, err
		}
		rows[id] = reason
	}
	return rows, r.Err()
}

// checkSafety is the check after every command: the database passes
// quick_check (integrity_check when full), no helper logged an error, and
// every row a writer logged as committed is in the database, except those
// for which mayLose says a restore may have taken them (returned, so that
// the caller can compare them with what repops reported).
func (e *env) checkSafety(t testing.TB, after string, full bool, mayLose func(x entry) bool) (lost []entry) {
	t.Helper()
	return e.checkSafetyReport(t, after, full, mayLose).lost
}

// safetyReport is what checkSafetyReport found.
type safetyReport struct {
	helperErrors int     // helpers that logged new errors
	corrupt      bool    // the check failed, or the database could not be checked
	missing      []entry // committed rows gone, newly reported
	lost         []entry // gone, as mayLose allows
}

// checkSafetyReport is checkSafety, returning what it found besides
// reporting it.
func (e *env) checkSafetyReport(t testing.TB, after string, full bool, mayLose func(x entry) bool) (r safetyReport) {
	t.Helper()
	logs := e.readLogs(t) // before the database is read: every row logged is committed
	for _, h := range e.errLogs {
		s := readFile(h.errLog)
		if len(s) > e.errSeen[h.errLog] {
			t.Errorf("after %s\n%s logged errors:\n%s", after, h, indent(s[e.errSeen[h.errLog]:]))
			e.errSeen[h.errLog] = len(s)
			r.helperErrors++
		}
	}
	check, rows, err := e.inspect(full)
	what := "quick_check"
	if full {
		what = "integrity_check"
	}
	if err != nil {
		e.corrupt = true
		r.corrupt = true
		t.Errorf("after %s\nthe database cannot be checked: %v (%s: %q)", after, err, what, check)
		return r
	}
	if check != "ok" {
		e.corrupt = true
		r.corrupt = true
		t.Errorf("after %s\nPRAGMA %s on %s:\n%s", after, what, e.db, indent(check))
	}
	var missing []entry
	for _, l := range logs {
		for _, x := range l {
			if e.lostOK[x.token] || rows[x.id] == x.token {
				continue
			}
			if mayLose != nil && mayLose(x) {
				r.lost = append(r.lost, x)
				continue
			}
			if !e.missingSeen[x.token] {
				e.missingSeen[x.token] = true
				missing = append(missing, x)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("after %s\n%d committed rows are missing from the database (id, writer token; the row now at that id): %s",
			after, len(missing), e.describe(missing, rows))
	}
	r.missing = missing
	return r
}

// describe lists entries (the first 30) with the writer and what the
// database has at their ids now.
func (e *env) describe(xs []entry, rows map[int64]string) string {
	var b strings.Builder
	for i, x := range xs {
		if i == 30 {
			fmt.Fprintf(&b, "\n    ... and %d more", len(xs)-30)
			break
		}
		now := "no writer's row"
		if r, ok := rows[x.id]; ok {
			now = r
		}
		fmt.Fprintf(&b, "\n    %s, line %d of %s; now at id %d: %s", x, x.line+1, e.writers[x.writer].kind, x.id, now)
	}
	return b.String()
}

// backupRow is one line of `repops backups`.
type backupRow struct{ name, state string }

var backupNameRe = regexp.MustCompile(`^architect_\d{8}T\d{6}Z\.db$`)

// checkBackupsListed: `repops backups` lists only finished backups: every
// name a backup's, every state ok. Returns them, newest first.
func (e *env) checkBackupsListed(t testing.TB, after string) []backupRow {
	t.Helper()
	res := e.repops(t, time.Minute, "backups")
	if res.code != 0 {
		t.Errorf("after %s\n%s", after, res)
		return nil
	}
	var rows []backupRow
	sc := bufio.NewScanner(strings.NewReader(res.out))
	header := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] == "NAME" {
			header = true
			continue
		}
		if !header {
			continue
		}
		r := backupRow{name: f[0], state: f[len(f)-1]}
		rows = append(rows, r)
		if r.state != "ok" || !backupNameRe.MatchString(r.name) {
			t.Errorf("after %s\n`repops backups` lists %s in state %q (a half-written or bad backup):\n%s", after, r.name, r.state, indent(res.out))
		}
	}
	return rows
}

// checkpointOnlyFailure: `runbook run database-optimization` exits 1 when
// a step failed, and its "Checkpoint the WAL" step (on_failure: continue)
// fails when readers or writers keep the checkpoint from finishing, as the
// foreign processes may: that alone is not a failure of the run.
func checkpointOnlyFailure(r result) bool {
	return r.code == 0 || (r.code == 1 && strings.Contains(r.out, `finished with 1 failed step(s): "Checkpoint the WAL"`))
}

// ---- archive fixtures ----

// addOldSettled inserts n old settled appeals (user chaos-old, two years
// old, approved) with two negotiation messages each, for archive to move.
// From the test process, on a fresh connection closed at once.
func (e *env) addOldSettled(t testing.TB, n int) {
	t.Helper()
	d, err := sql.Open("sqlite3", writerDSN(e.db, 10000)+"&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.SetMaxOpenConns(1)
	tx, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		res, err := tx.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at, resolved_at)
VALUES ('chaos-old', 'old settled', 'approved', datetime('now', '-730 days'), datetime('now', '-729 days'), datetime('now', '-729 days'))`)
		if err != nil {
			tx.Rollback()
			t.Fatalf("insert old appeals: %v", err)
		}
		id, _ := res.LastInsertId()
		for _, sender := range []string{"user", "reviewer"} {
			if _, err := tx.Exec(`INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at)
VALUES (?, ?, 'chaos-old message', datetime('now', '-730 days'))`, id, sender); err != nil {
				tx.Rollback()
				t.Fatalf("insert old messages: %v", err)
			}
		}
	}
	// The newest appeal and message stay live ones (recent, pending), as
	// in production: archiving the rows with the largest ids would let
	// SQLite reuse their ids (the tables are not AUTOINCREMENT) for the
	// next rows, which archive cannot tell from changed rows.
	res, err := tx.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at)
VALUES ('chaos-sentinel', 'newest', 'pending', datetime('now'), datetime('now'))`)
	if err == nil {
		id, _ := res.LastInsertId()
		_, err = tx.Exec(`INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at)
VALUES (?, 'user', 'newest', datetime('now'))`, id)
	}
	if err != nil {
		tx.Rollback()
		t.Fatalf("insert the newest rows: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("insert old appeals: %v", err)
	}
}

// checkArchived: every old appeal and message the test inserted is in
// exactly one place, the live table or the archive (allMoved: the
// archive), and none was lost.
func (e *env) checkArchived(t testing.TB, after string, inserted int, allMoved bool) {
	t.Helper()
	d, err := sql.Open("sqlite3", writerDSN(e.db, 10000))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.SetMaxOpenConns(1)
	q := func(s string) int {
		var n int
		if err := d.QueryRow(s).Scan(&n); err != nil {
			t.Errorf("after %s\n%s: %v", after, s, err)
		}
		return n
	}
	live := q(`SELECT count(*) FROM appeals WHERE user_id = 'chaos-old'`)
	arch := q(`SELECT count(*) FROM appeals_archive WHERE user_id = 'chaos-old'`)
	both := q(`SELECT count(*) FROM appeals a JOIN appeals_archive x ON x.id = a.id WHERE a.user_id = 'chaos-old' AND x.user_id = 'chaos-old'`)
	mlive := q(`SELECT count(*) FROM appeal_negotiation_messages WHERE body = 'chaos-old message'`)
	march := q(`SELECT count(*) FROM appeal_negotiation_messages_archive WHERE body = 'chaos-old message'`)
	mboth := q(`SELECT count(*) FROM appeal_negotiation_messages m JOIN appeal_negotiation_messages_archive x ON x.id = m.id WHERE m.body = 'chaos-old message' AND x.body = 'chaos-old message'`)
	if live+arch-both != inserted || both != 0 || mlive+march-mboth != 2*inserted || mboth != 0 {
		t.Errorf("after %s\nold appeals: %d inserted, %d live, %d archived, %d in both; their messages: %d inserted, %d live, %d archived, %d in both",
			after, inserted, live, arch, both, 2*inserted, mlive, march, mboth)
	}
	if allMoved && (live != 0 || mlive != 0) {
		t.Errorf("after %s\narchive succeeded but left %d old appeals and %d old messages in the live tables", after, live, mlive)
	}
}

// ---- schema version ----

// downgrade takes migration 3 back out, as if the database predated it
// (as cmd/repops' TestMigrateApplyBacksUpFirst does); a no-op when no
// trace of it is there.
func (e *env) downgrade(t testing.TB) {
	t.Helper()
	d, err := sql.Open("sqlite3", writerDSN(e.db, 10000)+"&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.SetMaxOpenConns(1)
	var n int
	if err := d.QueryRow(`SELECT (SELECT count(*) FROM repops_migrations WHERE version = 3) +
(SELECT count(*) FROM goose_db_version WHERE version_id = 3) +
(SELECT count(*) FROM sqlite_schema WHERE name IN ('appeals_archive', 'appeal_negotiation_messages_archive'))`).Scan(&n); err != nil {
		t.Fatalf("downgrade: %v", err)
	}
	if n == 0 {
		return
	}
	tx, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"DROP TABLE IF EXISTS appeal_negotiation_messages_archive", "DROP TABLE IF EXISTS appeals_archive",
		"DELETE FROM goose_db_version WHERE version_id = 3", "DELETE FROM repops_migrations WHERE version = 3"} {
		if _, err := tx.Exec(s); err != nil {
			tx.Rollback()
			t.Fatalf("downgrade: %s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("downgrade: %v", err)
	}
}

// ---- output parsing ----

// lostRes read how many appeals rows a restore says it lost: the loss
// table of `repops restore` ("appeals  BEFORE  RESTORED  LOST  NEWEST
// LOST") or the figures of the runbook's restore step ("appeals: N rows
// before, M after|in the backup (K newer than the backup lost)").
var lostRes = []*regexp.Regexp{
	regexp.MustCompile(`(?m)^\s*appeals\s+\d+\s+\d+\s+(\d+)\b`),
	regexp.MustCompile(`(?m)^\s*appeals: \d+ rows before, [^(\n]*\((\d+) newer than the backup lost\)`),
}

func parseLost(out string) (int, bool) {
	for _, re := range lostRes {
		if m := re.FindStringSubmatch(out); m != nil {
			n, err := strconv.Atoi(m[1])
			return n, err == nil
		}
	}
	return 0, false
}

// sortEntries orders entries by writer and line, for messages.
func sortEntries(xs []entry) {
	sort.Slice(xs, func(i, j int) bool {
		if xs[i].writer != xs[j].writer {
			return xs[i].writer < xs[j].writer
		}
		return xs[i].line < xs[j].line
	})
}

var errNoAddr = errors.New("no address in the output")

// waitForAddr polls a running command's output for re's first group.
func waitForAddr(out *testsupport.Buffer, re *regexp.Regexp, done <-chan struct{}, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], nil
		}
		select {
		case <-done:
			return "", fmt.Errorf("exited: %w", errNoAddr)
		default:
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w within %s", errNoAddr, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
