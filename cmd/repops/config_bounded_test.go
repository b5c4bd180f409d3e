package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/internal/testsupport"
)

// runUnblocked runs repops with args and fails the test if it does not
// return: a command that blocks for ever is the failure under test, so
// the guard is a deadline on the call, not a measure of its time. On a
// timeout it frees a reader stuck on fifo by opening the pipe itself.
func runUnblocked(t *testing.T, fifo string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	type result struct {
		stdout, stderr string
		code           int
	}
	done := make(chan result, 1)
	go func() {
		o, e, c := runRepopsIn(t, "", args...)
		done <- result{o, e, c}
	}()
	select {
	case r := <-done:
		return r.stdout, r.stderr, r.code
	case <-time.After(20 * time.Second):
		if fifo != "" {
			if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
				f.Close()
			}
		}
		t.Fatalf("repops %s blocked", strings.Join(args, " "))
		return "", "", 0
	}
}

// TestConfigBoundedInput: a config named by --config or REPOPS_CONFIG that
// is a named pipe, /dev/zero or a 2 MiB file stops the command at once
// with exit 64 and one line naming the file; nothing is created.
func TestConfigBoundedInput(t *testing.T) {
	work := configTestEnv(t)
	fifo := filepath.Join(work, "repops.yml")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(work, "big.yml")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding, not a config\n", (2<<20)/24+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	before := strings.Join(testsupport.DirNames(t, work), " ")
	for _, tc := range []struct {
		name string
		env  string // REPOPS_CONFIG
		args []string
		file string
		want string
	}{
		{"a named pipe by --config", "", []string{"--config", fifo, "backup"}, fifo, "named pipe (FIFO)"},
		{"a named pipe by REPOPS_CONFIG", fifo, []string{"journal"}, fifo, "named pipe (FIFO)"},
		{"/dev/zero by --config", "", []string{"--config", "/dev/zero", "backup"}, "/dev/zero", "character device"},
		{"a 2 MiB file", "", []string{"--config", big, "journal"}, big, "more than the limit of 1 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("REPOPS_CONFIG", tc.env)
			_, stderr, code := runUnblocked(t, fifo, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", code, exitUsage, stderr)
			}
			if strings.Contains(strings.TrimSpace(stderr), "\n") || !strings.Contains(stderr, tc.file+": cannot read config file") ||
				!strings.Contains(stderr, tc.want) {
				t.Fatalf("stderr %q: want one line naming %s and saying %q", stderr, tc.file, tc.want)
			}
			if after := strings.Join(testsupport.DirNames(t, work), " "); after != before {
				t.Fatalf("the working dir now holds %s, it held %s", after, before)
			}
		})
	}
}
