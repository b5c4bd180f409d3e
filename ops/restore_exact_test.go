package ops

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/db"
)

// stmtRow is one row the statement writer committed: its rowid and its
// token (user_id), unique across the run even when the rowid is reused
// after a restore.
type stmtRow struct {
	id    int64
	token string
}

// stmtWriter is the service as the restore meets it: another process
// that opens a connection per statement, inserts one appeal in it, closes
// it, and logs the row only after its commit, as fast as it can.
type stmtWriter struct {
	cmd      *exec.Cmd
	stdin    interface{ Close() error }
	mu       sync.Mutex
	rows     []stmtRow
	failures []string
	done     chan struct{}
}

func startStmtWriter(t testing.TB, path string) *stmtWriter {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStatementWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), "REPOPS_TEST_STMT_WRITER_DB="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &stmtWriter{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "committed":
				id, _ := strconv.ParseInt(f[1], 10, 64)
				w.mu.Lock()
				w.rows = append(w.rows, stmtRow{id: id, token: f[2]})
				w.mu.Unlock()
			case len(f) > 0 && f[0] == "failed":
				w.mu.Lock()
				w.failures = append(w.failures, sc.Text())
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return w
}

func (w *stmtWriter) Committed() []stmtRow {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]stmtRow(nil), w.rows...)
}

// WaitFor waits until n more rows are logged (bounded: 20 s).
func (w *stmtWriter) WaitFor(t testing.TB, n int) {
	t.Helper()
	base := len(w.Committed())
	deadline := time.Now().Add(20 * time.Second)
	for len(w.Committed()) < base+n {
		if time.Now().After(deadline) {
			t.Fatalf("the writer logged %d rows in 20 s, waited for %d", len(w.Committed())-base, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (w *stmtWriter) Stop(t testing.TB) ([]stmtRow, []string) {
	t.Helper()
	w.stdin.Close()
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the writer did not stop")
	}
	w.cmd.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]stmtRow(nil), w.rows...), append([]string(nil), w.failures...)
}

// TestHelperStatementWriter is not a test: it is stmtWriter's process,
// run when REPOPS_TEST_STMT_WRITER_DB is set. It writes until its stdin
// closes (bounded: 60 s).
func TestHelperStatementWriter(t *testing.T) {
	path := os.Getenv("REPOPS_TEST_STMT_WRITER_DB")
	if path == "" {
		return
	}
	stop := make(chan struct{})
	go func() {
		buf := make([]byte, 1)
		os.Stdin.Read(buf)
		close(stop)
	}()
	params := url.Values{}
	params.Set("mode", "rw")
	params.Set("_busy_timeout", "30000")
	params.Set("_txlock", "immediate")
	params.Set("_journal_mode", "WAL")
	dsn := db.URI(path, params)
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for seq := 1; time.Now().Before(deadline); seq++ {
		select {
		case <-stop:
			os.Exit(0)
		default:
		}
		token := fmt.Sprintf("w%d", seq)
		id, err := func() (int64, error) {
			d, err := sql.Open("sqlite3", dsn)
			if err != nil {
				return 0, err
			}
			defer d.Close()
			d.SetMaxOpenConns(1)
			r, err := d.ExecContext(ctx, `INSERT INTO appeals (user_id, reason, status, created_at, updated_at)
				VALUES (?, 'live', 'pending', strftime('%Y-%m-%d %H:%M:%f', 'now'), datetime('now'))`, token)
			if err != nil {
				return 0, err
			}
			return r.LastInsertId()
		}()
		if err != nil {
			fmt.Printf("failed %s %v\n", token, err)
			continue
		}
		fmt.Printf("committed %d %s\n", id, token) // the connection is closed: committed
	}
	os.Exit(0)
}

// appealTokens reads the appeals of the database at path (the live one,
// or with file a backup or a single-file safety copy): token -> id, the
// token being the user_id of the writers' rows (w<seq>, "after") and
// "#<id>" for the others (seeded with shared user ids).
func appealTokens(t testing.TB, path string, file bool) map[string]int64 {
	t.Helper()
	var q *sql.DB
	var err error
	if file {
		q, err = openImmutable(context.Background(), path)
	} else {
		q, err = db.OpenRead(context.Background(), path, db.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	rows, err := q.Query(`SELECT id, user_id FROM appeals`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id int64
		var tok string
		if err := rows.Scan(&id, &tok); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, "w") && tok != "after" {
			tok = fmt.Sprintf("#%d", id)
		}
		out[tok] = id
	}
	return out
}

func lossOf(res *RestoreResult, table string) TableLoss {
	for _, l := range res.Lost {
		if l.Table == table {
			return l
		}
	}
	return TableLoss{}
}

// TestRestoreOnlineExact: an online restore under a writer in another
// process that opens a connection per statement, at full speed. The
// safety copy and the restore are one step under the write lock, so:
// every row logged before the safety copy started is in the safety copy;
// every row the writer logged is in the restored database or in the
// safety copy, none lost from both; and the reported loss is exactly the
// safety copy's rows beyond the backup, none of which is live.
func TestRestoreOnlineExact(t *testing.T) {
	ctx := context.Background()
	path := newRecoveryDB(t, t.TempDir(), 100)
	o := backupOpts(t, path)
	w := startStmtWriter(t, path)
	w.WaitFor(t, 20)
	b, err := Backup(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, 20) // rows that the restore rolls back
	var atLock []stmtRow
	var steps []string
	res, err := Restore(ctx, RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreAuto, StateDir: o.StateDir, Actor: testActor(),
		afterStep: func(s string) {
			steps = append(steps, s)
			if s == "locked" {
				atLock = w.Committed()
			}
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != RestoreOnline {
		t.Fatalf("auto mode chose %s with a writer in another process", res.Mode)
	}
	if strings.Join(steps, ",") != "verified,locked,safety-copy,restored" {
		t.Fatalf("steps %v", steps)
	}
	w.WaitFor(t, 20) // rows after the restore
	rows, failures := w.Stop(t)
	if len(failures) > 0 {
		t.Fatalf("%d failed writes during the online restore: %v", len(failures), failures[0])
	}
	if len(res.SafetyFiles) != 1 || res.SafetyFiles[0] != res.SafetyCopy {
		t.Fatalf("safety files %v: want the single-file WAL-aware copy %s", res.SafetyFiles, res.SafetyCopy)
	}
	mustIntegrity(t, path)
	safety := appealTokens(t, res.SafetyCopy, true)
	live := appealTokens(t, path, false)
	backup := appealTokens(t, b.Path, true)
	var backupMax int64
	for _, id := range backup {
		backupMax = max(backupMax, id)
	}
	for _, r := range atLock {
		if _, ok := safety[r.token]; !ok {
			t.Fatalf("row %d (%s), logged before the safety copy started, is not in the safety copy", r.id, r.token)
		}
	}
	for _, r := range rows {
		_, inSafety := safety[r.token]
		_, inLive := live[r.token]
		if !inSafety && !inLive {
			t.Fatalf("row %d (%s), committed by the writer, is neither in the restored database nor in the safety copy", r.id, r.token)
		}
	}
	var lost, newest int64
	for tok, id := range safety {
		if id > backupMax {
			lost++
			newest = max(newest, id)
			if _, ok := live[tok]; ok {
				t.Fatalf("row %s (id %d) beyond the backup is still live: the restore did not roll it back", tok, id)
			}
		}
	}
	if lost < 20 {
		t.Fatalf("%d rows of the safety copy beyond the backup, want >= 20 (the writer wrote them after the backup)", lost)
	}
	l := lossOf(res, "appeals")
	if l.NewerRows != lost || res.LostRows != lost {
		t.Fatalf("reported loss %d (total %d), want %d: the rows of the safety copy beyond the backup", l.NewerRows, res.LostRows, lost)
	}
	if l.NewestLostID != newest || l.RestoredRows != int64(len(backup)) || l.OldRows != int64(len(safety)) {
		t.Fatalf("loss %+v: want newest lost id %d, %d rows in the backup, %d before", l, newest, len(backup), len(safety))
	}
	if l.NewestLost == "" || l.NewestKept == "" || l.NewestLost < l.NewestKept {
		t.Fatalf("loss %+v: the newest lost row must be newer than the newest kept", l)
	}
	if want := db.ParseTime(l.NewestLost).Sub(db.ParseTime(l.NewestKept)); l.Window != want || res.LostWindow < want {
		t.Fatalf("window %s (total %s), want %s", l.Window, res.LostWindow, want)
	}
	entries := journalEntries(t, o.StateDir)
	last := entries[len(entries)-1]
	if last.Figures["lost_rows"] != float64(lost) || last.Figures["appeals_lost_rows"] != float64(lost) ||
		last.Figures["appeals_newest_lost_id"] != float64(newest) || last.Figures["lost_window_seconds"] != res.LostWindow.Seconds() {
		t.Fatalf("journal figures %v", last.Figures)
	}
}

// handleAppeals counts the appeals through h, the way a console panel
// reads at its refresh.
func handleAppeals(t testing.TB, h *db.Handle) (int, *sql.DB) {
	t.Helper()
	p, err := h.DB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := p.QueryRow(`SELECT count(*) FROM appeals`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n, p
}

// addAppeals commits n appeals into the database at path.
func addAppeals(t testing.TB, path string, n int) {
	t.Helper()
	w, err := db.OpenWrite(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < n; i++ {
		if _, err := w.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('late','x','pending',datetime('now'),datetime('now'))`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRestoreAutoIsOnlineWithAHandleOpen: a db.Handle of this process
// (the console) has the file open and no other process does: auto mode
// restores online (the old OpenFileHolders, which skips this process,
// chose offline and renamed the file from under it), and the handle's
// pool, still open, reads the restored database at its next DB.
func TestRestoreAutoIsOnlineWithAHandleOpen(t *testing.T) {
	ctx := context.Background()
	path := newRecoveryDB(t, t.TempDir(), 30)
	o := backupOpts(t, path)
	b, err := Backup(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	addAppeals(t, path, 5)
	h := db.NewHandle(path, false, db.Options{Owner: "console"})
	defer h.Close()
	n, before := handleAppeals(t, h)
	if n != 35 {
		t.Fatalf("%d appeals before, want 35", n)
	}
	if others, _ := OpenFileHolders(path); len(others) != 0 {
		t.Fatalf("other processes hold the file: %v", others)
	}
	res, err := Restore(ctx, RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreAuto, StateDir: o.StateDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != RestoreOnline {
		t.Fatalf("auto mode chose %s with the console's handle open", res.Mode)
	}
	n, after := handleAppeals(t, h)
	if n != 30 {
		t.Fatalf("the handle reads %d appeals after the restore, want the backup's 30", n)
	}
	if after != before {
		t.Fatal("an online restore reopened the handle's pool: it should not need to")
	}
	if res.LostRows != 5 {
		t.Fatalf("lost %d rows, want 5: %+v", res.LostRows, res.Lost)
	}
}

// TestRestoreOfflineWithHandlesOpen: an explicit offline restore with a
// console handle and a simulator write handle open closes their pools,
// swaps the file, and both reopen on the restored one: a write through
// the simulator's handle afterwards lands in the live file (before the
// fix it went to the deleted inode and was lost).
func TestRestoreOfflineWithHandlesOpen(t *testing.T) {
	ctx := context.Background()
	path := newRecoveryDB(t, t.TempDir(), 30)
	o := backupOpts(t, path)
	b, err := Backup(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	addAppeals(t, path, 5)
	console := db.NewHandle(path, false, db.Options{Owner: "console"})
	defer console.Close()
	sim := db.NewHandle(path, true, db.Options{Owner: "simulator"})
	defer sim.Close()
	_, before := handleAppeals(t, console)
	if _, err := sim.DB(ctx); err != nil {
		t.Fatal(err)
	}
	if hs := db.Holders(path); len(hs) != 2 {
		t.Fatalf("holders %v, want the console and the simulator", hs)
	}
	res, err := Restore(ctx, RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreOffline, StateDir: o.StateDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != RestoreOffline || res.LostRows != 5 {
		t.Fatalf("mode %s, lost %d", res.Mode, res.LostRows)
	}
	if err := before.Ping(); err == nil {
		t.Fatal("the console's old pool is still open after the swap")
	}
	n, after := handleAppeals(t, console)
	if n != 30 || after == before {
		t.Fatalf("the console's handle reads %d appeals (want 30) (reopened: %v)", n, after != before)
	}
	sp, err := sim.DB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('after','x','pending',datetime('now'),datetime('now'))`); err != nil {
		t.Fatal(err)
	}
	if got := appealTokens(t, path, false); got["after"] == 0 || len(got) != 31 {
		t.Fatalf("the simulator's write after the restore is not in the live file (%d appeals)", len(got))
	}
	if got := appealTokens(t, res.SafetyCopy, false); len(got) != 35 {
		t.Fatalf("the safety copy has %d appeals, want 35", len(got))
	}
	mustIntegrity(t, path)
}

// TestHelperHolder is not a test: it is a process that keeps the database
// at REPOPS_TEST_HOLD_DB open until its stdin closes.
func TestHelperHolder(t *testing.T) {
	path := os.Getenv("REPOPS_TEST_HOLD_DB")
	if path == "" {
		return
	}
	r, err := db.OpenRead(context.Background(), path, db.Options{MaxConns: 1})
	if err != nil {
		fmt.Println("failed", err)
		os.Exit(1)
	}
	var n int
	r.QueryRow(`SELECT count(*) FROM appeals`).Scan(&n)
	fmt.Println("open")
	buf := make([]byte, 1)
	os.Stdin.Read(buf)
	r.Close()
	os.Exit(0)
}

// startHolder starts a process that keeps the database at path open
// (TestHelperHolder) and returns once it has, with its "pid N (comm)".
func startHolder(t testing.TB, path string) (stop func(), name string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHolder$", "-test.count=1")
	cmd.Env = append(os.Environ(), "REPOPS_TEST_HOLD_DB="+path)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() { stdin.Close(); cmd.Wait() }
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "open" {
		stop()
		t.Fatalf("holder: %q", line)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
	if err != nil {
		stop()
		t.Fatal(err)
	}
	return stop, fmt.Sprintf("pid %d (%s)", cmd.Process.Pid, strings.TrimSpace(string(comm)))
}

// TestRestoreAutoGoesOnlineWhenAProcessOpensTheFileLate: auto mode saw no
// other process and chose offline; one opens the file before the
// replacement (as a service that opens a connection per statement does
// between two looks). The last check, inside db.Swap, finds it, nothing
// is touched, and the restore goes online instead.
func TestRestoreAutoGoesOnlineWhenAProcessOpensTheFileLate(t *testing.T) {
	ctx := context.Background()
	path, o, b := backedUp(t, 4)
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	var steps []string
	res, err := Restore(ctx, RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreAuto, StateDir: o.StateDir,
		afterStep: func(s string) {
			steps = append(steps, s)
			if s == "temp-written" {
				stop, _ = startHolder(t, path)
			}
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != RestoreOnline || strings.Join(steps, ",") != "verified,temp-written,locked,safety-copy,restored" {
		t.Fatalf("mode %s, steps %v: want offline given up before the swap, then online", res.Mode, steps)
	}
	if n := len(appealIDs(t, path)); n != 20 || res.LostRows != 4 {
		t.Fatalf("%d appeals after the restore (want 20), %d lost (want 4)", n, res.LostRows)
	}
	noTempLeft(t, path)
}

// TestRestoreOfflineRefusesAProcessThatOpensTheFileLate: the same late
// process under an explicit offline restore: the last check, inside
// db.Swap, refuses, naming it, and nothing is changed.
func TestRestoreOfflineRefusesAProcessThatOpensTheFileLate(t *testing.T) {
	ctx := context.Background()
	path, o, b := backedUp(t, 4)
	var stop func()
	var name string
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	res, err := Restore(ctx, RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreOffline, StateDir: o.StateDir,
		afterStep: func(s string) {
			if s == "temp-written" {
				stop, name = startHolder(t, path)
			}
		}}, nil)
	if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("offline restore with a process that opened the file late: %v; want a refusal naming %s", err, name)
	}
	if res.SafetyCopy != "" {
		t.Fatalf("a refused restore reports a safety copy %s", res.SafetyCopy)
	}
	if n := len(appealIDs(t, path)); n != 24 {
		t.Fatalf("%d appeals after a refused restore, want 24", n)
	}
	noTempLeft(t, path)
}

// TestRestoreOfflineRefusesNamingTheProcess: an offline restore while
// another process has the file open is refused, naming that process by
// pid and command, and changes nothing.
func TestRestoreOfflineRefusesNamingTheProcess(t *testing.T) {
	ctx := context.Background()
	path, o, b := backedUp(t, 3)
	stop, want := startHolder(t, path)
	defer stop()
	hs, err := OpenFileHolders(path)
	if err != nil || len(hs) != 1 || hs[0].String() != want {
		t.Fatalf("OpenFileHolders = %v, %v; want [%s]", hs, err, want)
	}
	res, err := Restore(ctx, RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreOffline, StateDir: o.StateDir}, nil)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--online") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("offline restore under another process: %v; want a refusal naming %s", err, want)
	}
	if res.SafetyCopy != "" {
		t.Fatalf("a refused restore made a safety copy %s", res.SafetyCopy)
	}
	if n := len(appealIDs(t, path)); n != 23 {
		t.Fatalf("%d appeals after a refused restore, want 23", n)
	}
}

// TestRestoreOfflineKeepsOwnerAndMode: as root, an offline restore of a
// file owned by 1234:1234 with mode 0640 leaves the restored file, and
// the -wal and -shm it is reopened with, owned and moded the same.
func TestRestoreOfflineKeepsOwnerAndMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give files to another user")
	}
	ctx := context.Background()
	path := newRecoveryDB(t, t.TempDir(), 20)
	o := backupOpts(t, path)
	b, err := Backup(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 1234, 1234); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	check := func(when, p string) {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		s := st.Sys().(*syscall.Stat_t)
		if s.Uid != 1234 || s.Gid != 1234 || st.Mode().Perm() != 0o640 {
			t.Errorf("%s: %s is %d:%d %04o, want 1234:1234 0640", when, filepath.Base(p), s.Uid, s.Gid, st.Mode().Perm())
		}
	}
	reopened := false
	_, err = Restore(ctx, RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreOffline, StateDir: o.StateDir,
		afterStep: func(s string) {
			if s == "reopened" { // the restore's own WAL connection is open
				reopened = true
				for _, p := range []string{path, path + "-wal", path + "-shm"} {
					check("reopened into WAL mode", p)
				}
			}
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reopened {
		t.Fatal("no reopened step")
	}
	check("after the restore", path)
	// And as the service finds it: its first connection's -wal and -shm.
	r, err := db.OpenRead(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, p := range []string{path + "-wal", path + "-shm"} {
		check("opened again", p)
	}
}

// backedUp is a 20-appeal database with a backup of it, then added more
// appeals: what a restore of that backup loses.
func backedUp(t *testing.T, added int) (path string, o BackupOptions, b *BackupResult) {
	t.Helper()
	path = newRecoveryDB(t, t.TempDir(), 20)
	o = backupOpts(t, path)
	b, err := Backup(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	addAppeals(t, path, added)
	return path, o, b
}

// noTempLeft fails when a temp file is left beside the database.
func noTempLeft(t *testing.T, path string) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp*")); len(m) > 0 {
		t.Fatalf("temp files left: %v", m)
	}
}
