package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
)

// checkFileEnv makes the test binary, re-executed, print what db.CheckFile
// says of a path (see TestMain), so that it can run as another user.
const checkFileEnv = "REPOPS_TEST_CHECKFILE"

func checkFileMain(path string) int {
	err := db.CheckFile(path)
	if err == nil {
		fmt.Println("ok")
		return 0
	}
	fmt.Println(err.Error())
	if errors.Is(err, db.ErrUnreadable) {
		fmt.Println("kind: unreadable")
	}
	return 1
}

// TestUnreadableDatabaseIsNotMissing: a database the user may not read is
// reported as such, not as "no such file" (which sent operators looking
// for a file that was there).
func TestUnreadableDatabaseIsNotMissing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the check as another user (nobody)")
	}
	_, dbPath, _ := recoveryEnv(t)
	if err := os.Chmod(dbPath, 0o600); err != nil {
		t.Fatal(err)
	}
	// The test's own temp dirs, searchable by nobody (the file stays 0600).
	for d := filepath.Dir(dbPath); d != filepath.Clean(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The test binary, where nobody can run it.
	binDir, err := os.MkdirTemp("", "repops-badfile")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(binDir)
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "cmd.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst.Close()
	// Every directory above the database must be searchable by nobody.
	for d := filepath.Dir(dbPath); d != "/" && d != "."; d = filepath.Dir(d) {
		var st unix.Stat_t
		if unix.Stat(d, &st) == nil && st.Mode&0o001 == 0 {
			t.Skipf("%s is not searchable by other users: cannot run the check as nobody here", d)
		}
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), checkFileEnv+"="+dbPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "kind: unreadable") || !strings.Contains(string(out), "permission denied") || strings.Contains(string(out), "no such file") {
		t.Fatalf("CheckFile as nobody on a root-only 0600 database said:\n%s", out)
	}
}

// TestSpecialFilesAreNotDatabases: a FIFO or a device given as the
// database is refused at once as not a regular file (a FIFO blocked the
// open, /dev/zero was called empty).
func TestSpecialFilesAreNotDatabases(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "architect.db")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero", "/dev/null"} {
		err := db.CheckFile(p)
		if !errors.Is(err, db.ErrNotSQLite) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("CheckFile(%s) = %v, want not a regular file", p, err)
		}
	}
}
