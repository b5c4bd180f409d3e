package ops

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// newRecoveryDB is a migrated database with n appeals, each with one
// negotiation message, in dir/architect.db.
func newRecoveryDB(t testing.TB, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "architect.db")
	ctx := context.Background()
	w := testsupport.OpenMigrated(t, path)
	defer w.Close()
	err := db.Tx(ctx, w, func(tx *sql.Tx) error {
		for i := 0; i < n; i++ {
			r, err := tx.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at)
				VALUES (?, 'seed', 'pending', datetime('now', '-1 day'), datetime('now', '-1 day'))`, fmt.Sprintf("u%d", i%50))
			if err != nil {
				return err
			}
			id, _ := r.LastInsertId()
			if _, err := tx.Exec(`INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at)
				VALUES (?, 'user', 'hello', datetime('now', '-1 day'))`, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// appealIDs reads every appeal id of the database at path.
func appealIDs(t testing.TB, path string) map[int64]bool {
	t.Helper()
	r, err := db.OpenRead(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rows, err := r.Query(`SELECT id FROM appeals`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		out[id] = true
	}
	return out
}

// mustIntegrity fails unless the database at path passes integrity_check.
func mustIntegrity(t testing.TB, path string) {
	t.Helper()
	r, err := db.OpenRead(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	problems, err := integrityCheck(context.Background(), r, true)
	if err != nil || len(problems) > 0 {
		t.Fatalf("integrity_check of %s: %v %v", path, err, problems)
	}
}

// writerProc is a separate process inserting appeals continuously, one
// transaction each, and printing the id of every committed one.
type writerProc struct {
	cmd        *exec.Cmd
	mu         sync.Mutex
	ids        []int64
	failures   []string
	done       chan struct{}
	stdinClose func() error
}

// startWriterProc re-executes the test binary as TestHelperWriter, with
// env added to its environment (REPOPS_TEST_WRITER_AUTOCKPT=N sets its
// wal_autocheckpoint; -1 turns it off).
func startWriterProc(t testing.TB, path string, env ...string) *writerProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), "REPOPS_TEST_WRITER_DB="+path), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	_ = stdin // closed by Stop: the writer stops at EOF
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &writerProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "committed "):
				id, _ := strconv.ParseInt(strings.TrimPrefix(line, "committed "), 10, 64)
				w.mu.Lock()
				w.ids = append(w.ids, id)
				w.mu.Unlock()
			case strings.HasPrefix(line, "failed "):
				w.mu.Lock()
				w.failures = append(w.failures, line)
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	w.stdinClose = stdin.Close
	return w
}

// Committed is a copy of the ids committed so far.
func (w *writerProc) Committed() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.ids...)
}

// WaitFor waits until n more rows are committed (bounded: 20 s).
func (w *writerProc) WaitFor(t testing.TB, n int) {
	t.Helper()
	base := len(w.Committed())
	deadline := time.Now().Add(20 * time.Second)
	for len(w.Committed()) < base+n {
		if time.Now().After(deadline) {
			t.Fatalf("writer committed %d rows in 20 s, waited for %d", len(w.Committed())-base, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Stop ends the writer and returns its committed ids and failures.
func (w *writerProc) Stop(t testing.TB) ([]int64, []string) {
	t.Helper()
	w.stdinClose()
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("writer did not stop")
	}
	w.cmd.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.ids...), append([]string(nil), w.failures...)
}

// TestHelperWriter is not a test: it is the writer process of the tests
// above, run when REPOPS_TEST_WRITER_DB is set. It inserts until its
// stdin closes (bounded: 60 s or 100000 rows), as the service would.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv("REPOPS_TEST_WRITER_DB")
	if path == "" {
		return
	}
	stop := make(chan struct{})
	go func() {
		buf := make([]byte, 1)
		os.Stdin.Read(buf)
		close(stop)
	}()
	ctx := context.Background()
	autockpt, _ := strconv.Atoi(os.Getenv("REPOPS_TEST_WRITER_AUTOCKPT"))
	w, err := db.OpenWrite(ctx, path, db.Options{BusyTimeout: 20 * time.Second, Synchronous: "NORMAL", WALAutocheckpoint: autockpt})
	if err != nil {
		fmt.Printf("failed open: %v\n", err)
		os.Exit(1)
	}
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		select {
		case <-stop:
			w.Close()
			os.Exit(0)
		default:
		}
		r, err := w.ExecContext(ctx, `INSERT INTO appeals (user_id, reason, status, created_at, updated_at)
			VALUES ('writer', 'live', 'pending', datetime('now'), datetime('now'))`)
		if err != nil {
			fmt.Printf("failed %v\n", err)
			continue
		}
		id, _ := r.LastInsertId()
		fmt.Printf("committed %d\n", id)
		time.Sleep(time.Millisecond)
	}
	w.Close()
	os.Exit(0)
}
