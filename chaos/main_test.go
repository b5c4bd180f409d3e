package chaos

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/repops/repops/internal/testsupport"
)

// bin is the repops binary built once for the package; self is this test
// binary, re-executed as the foreign processes; sqlite3CLI is the sqlite3
// shell ("" when it is not installed: the tests that need it fail).
var (
	bin        string
	self       string
	sqlite3CLI string
)

const needCLI = "needs the sqlite3 CLI: apt-get install sqlite3"

// The helper processes are this test binary started with helperEnv set to
// their kind; the other variables configure them.
const (
	helperEnv   = "REPOPS_CHAOS_HELPER" // writer, cliwriter, checkpointer, holder, checkpoint
	envDB       = "REPOPS_CHAOS_DB"
	envLog      = "REPOPS_CHAOS_LOG"    // writers: "id token" per committed row; others: progress
	envErrLog   = "REPOPS_CHAOS_ERRLOG" // every error other than SQLITE_BUSY
	envMaxSecs  = "REPOPS_CHAOS_MAX_SECONDS"
	envMaxCount = "REPOPS_CHAOS_MAX_COUNT"
	envSQLite3  = "REPOPS_CHAOS_SQLITE3"
	// envLatLog, when set, gives the Go writer a second log with one line
	// per statement it tried (see goWriter); its commit log keeps the
	// "id token" format every other consumer reads.
	envLatLog = "REPOPS_CHAOS_LATLOG"
)

func TestMain(m *testing.M) {
	if kind := os.Getenv(helperEnv); kind != "" {
		os.Exit(runHelper(kind))
	}
	sqlite3CLI, _ = exec.LookPath("sqlite3")
	var err error
	if self, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: find the test binary:", err)
		os.Exit(1)
	}
	if b := os.Getenv("REPOPS_CHAOS_BIN"); b != "" {
		// A binary built elsewhere (another revision, to see what the
		// suite finds in it), instead of this tree's.
		bin = b
		os.Exit(m.Run())
	}
	b, cleanup, err := testsupport.BuildRepops("repops-chaos-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// runHelper is the main of a foreign process. Every loop is bounded by
// REPOPS_CHAOS_MAX_SECONDS and REPOPS_CHAOS_MAX_COUNT, and stops at SIGTERM
// once its current statement is done.
func runHelper(kind string) int {
	dbPath := os.Getenv(envDB)
	maxSecs, _ := strconv.Atoi(os.Getenv(envMaxSecs))
	if maxSecs <= 0 {
		maxSecs = 300
	}
	maxCount, _ := strconv.Atoi(os.Getenv(envMaxCount))
	if maxCount <= 0 {
		maxCount = 200000
	}
	until := time.Now().Add(time.Duration(maxSecs) * time.Second)
	var stopped atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		stopped.Store(true)
	}()
	h := &helperRun{db: dbPath, until: until, maxCount: maxCount, stopped: &stopped}
	var err error
	if p := os.Getenv(envLatLog); p != "" && kind == "writer" {
		if h.latLog, err = openAppend(p); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	if kind != "checkpoint" {
		if h.log, err = openAppend(os.Getenv(envLog)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if h.errLog, err = openAppend(os.Getenv(envErrLog)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	switch kind {
	case "writer":
		h.goWriter()
	case "cliwriter":
		h.cliWriter(os.Getenv(envSQLite3))
	case "checkpointer":
		h.checkpointer()
	case "holder":
		h.holder()
	case "checkpoint":
		return checkpointOnce(dbPath)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", kind)
		return 2
	}
	return 0
}

type helperRun struct {
	db          string
	until       time.Time
	maxCount    int
	stopped     *atomic.Bool
	log, errLog *os.File
	latLog      *os.File // the Go writer's latency log (nil: none)
}

func openAppend(path string) (*os.File, error) {
	if path == "" {
		return nil, errors.New("helper: no log path")
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

func (h *helperRun) running(i int) bool {
	return i < h.maxCount && time.Now().Before(h.until) && !h.stopped.Load()
}

// pause waits d, or less when SIGTERM comes: the writers' pacing, so that
// two cores are left to repops.
func (h *helperRun) pause(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) && !h.stopped.Load() {
		time.Sleep(min(time.Until(end), 50*time.Millisecond))
	}
}

func (h *helperRun) logError(format string, args ...any) {
	fmt.Fprintf(h.errLog, "%s pid %d: %s\n", time.Now().UTC().Format(time.RFC3339Nano), os.Getpid(), fmt.Sprintf(format, args...))
}

// isBusy: SQLITE_BUSY (any extended code), what a writer gets after its
// busy timeout while another holds the lock. Not a failure.
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrBusy
}

// writerDSN never creates the file (mode=rw): a writer that finds no
// database says so in its error log instead of making an empty one.
func writerDSN(path string, busyMS int) string {
	return fmt.Sprintf("file:%s?mode=rw&_busy_timeout=%d", path, busyMS)
}

const insertAppeal = `INSERT INTO appeals (user_id, reason, status, created_at, updated_at)
VALUES (?, ?, 'pending', datetime('now'), datetime('now'))`

// goWriter: one new connection per statement (open, one INSERT, close),
// the committed id logged only after the commit.
//
// With a latency log (REPOPS_CHAOS_LATLOG) it also writes, after each
// statement, whatever its outcome, one line
//
//	OUTCOME ID TOKEN LATENCY_MS START_NS END_NS CLOSE_MS
//
// OUTCOME ok (committed), busy (SQLITE_BUSY after the 5 s busy timeout)
// or err (any other error), each followed by "+closeerr" when the close
// failed; ID the committed id (0 unless ok); LATENCY_MS the time from the
// start of the statement (the connection is opened lazily, by it) until
// the commit returned; START_NS, END_NS those moments in Unix nanoseconds;
// CLOSE_MS how long the close took after it (the last connection's close
// checkpoints the WAL).
func (h *helperRun) goWriter() {
	pid := os.Getpid()
	for i := 0; h.running(i); i++ {
		token := fmt.Sprintf("g%d-%d", pid, i+1)
		d, err := sql.Open("sqlite3", writerDSN(h.db, 5000))
		if err != nil {
			h.logError("open: %v", err)
			h.pause(5 * time.Millisecond)
			continue
		}
		var id int64
		start := time.Now()
		res, err := d.Exec(insertAppeal, "chaos-writer", token)
		if err == nil {
			id, err = res.LastInsertId()
		}
		end := time.Now()
		cerr := d.Close()
		closed := time.Now()
		outcome := "ok"
		switch {
		case err == nil:
			fmt.Fprintf(h.log, "%d %s\n", id, token)
		case isBusy(err):
			outcome, id = "busy", 0
		default:
			outcome, id = "err", 0
			h.logError("insert %s: %v", token, err)
		}
		if cerr != nil {
			outcome += "+closeerr"
			h.logError("close after %s: %v", token, cerr)
		}
		if h.latLog != nil {
			fmt.Fprintf(h.latLog, "%s %d %s %.3f %d %d %.3f\n", outcome, id, token,
				float64(end.Sub(start))/float64(time.Millisecond), start.UnixNano(), end.UnixNano(),
				float64(closed.Sub(end))/float64(time.Millisecond))
		}
		h.pause(5 * time.Millisecond)
	}
}

// cliWriter: one sqlite3 process per statement.
func (h *helperRun) cliWriter(cli string) {
	if cli == "" {
		h.logError("%s", needCLI)
		return
	}
	pid := os.Getpid()
	for i := 0; h.running(i); i++ {
		token := fmt.Sprintf("c%d-%d", pid, i+1)
		stmt := fmt.Sprintf("INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('chaos-cli', '%s', 'pending', datetime('now'), datetime('now')); SELECT last_insert_rowid();", token)
		cmd := exec.Command(cli, "-batch", "-bail", "-cmd", ".timeout 5000", "file:"+h.db+"?mode=rw", stmt)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		out := strings.TrimSpace(stdout.String())
		id, perr := strconv.ParseInt(out, 10, 64)
		switch {
		case err == nil && perr == nil && stderr.Len() == 0:
			fmt.Fprintf(h.log, "%d %s\n", id, token)
		case err != nil && strings.Contains(stderr.String(), "database is locked") && out == "":
		default:
			h.logError("sqlite3 %s: %v; stdout %q; stderr %q", token, err, out, stderr.String())
		}
		h.pause(10 * time.Millisecond)
	}
}

// checkpointer holds one connection and checkpoints PASSIVE, RESTART and
// TRUNCATE in turn. Decision: it closes its connection for half a second
// every 1.5 s, because a connection held the whole time would keep the
// writers from ever being the last connection, the case where their close
// checkpoints and deletes the WAL; both cases are wanted.
func (h *helperRun) checkpointer() {
	modes := []string{"PASSIVE", "RESTART", "TRUNCATE"}
	n := 0
	for phase := 1; h.running(n); phase++ {
		d, err := sql.Open("sqlite3", writerDSN(h.db, 1000))
		if err != nil {
			h.logError("open: %v", err)
			return
		}
		d.SetMaxOpenConns(1)
		end := time.Now().Add(1500 * time.Millisecond)
		done, busy := 0, 0
		for time.Now().Before(end) && h.running(n) {
			mode := modes[n%len(modes)]
			n++
			var b, logPages, ckpt int
			err := d.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&b, &logPages, &ckpt)
			switch {
			case err == nil:
				done++
				busy += b
			case isBusy(err):
				busy++
			default:
				h.logError("wal_checkpoint(%s): %v", mode, err)
			}
			h.pause(20 * time.Millisecond)
		}
		if err := d.Close(); err != nil {
			h.logError("close: %v", err)
		}
		fmt.Fprintf(h.log, "phase %d: %d checkpoints, %d busy\n", phase, done, busy)
		h.pause(500 * time.Millisecond)
	}
}

// holder keeps one connection open (after one read) until SIGTERM, so
// that /proc shows the database open by this process.
func (h *helperRun) holder() {
	d, err := sql.Open("sqlite3", writerDSN(h.db, 5000))
	if err != nil {
		h.logError("open: %v", err)
		return
	}
	d.SetMaxOpenConns(1)
	d.SetMaxIdleConns(1)
	var n int
	if err := d.QueryRow("SELECT count(*) FROM appeals").Scan(&n); err != nil {
		h.logError("read: %v", err)
		d.Close()
		return
	}
	fmt.Fprintf(h.log, "ready pid %d: %d appeals\n", os.Getpid(), n)
	for h.running(0) {
		h.pause(50 * time.Millisecond)
	}
	if err := d.Close(); err != nil {
		h.logError("close: %v", err)
	}
}

// checkpointOnce runs one wal_checkpoint(TRUNCATE) and prints its result
// ("busy log checkpointed") on stdout.
func checkpointOnce(path string) int {
	d, err := sql.Open("sqlite3", writerDSN(path, 2000))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer d.Close()
	var b, logPages, ckpt int
	if err := d.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&b, &logPages, &ckpt); err != nil {
		if isBusy(err) {
			fmt.Println("busy error:", err)
			return 0
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%d %d %d\n", b, logPages, ckpt)
	return 0
}
