package runbooks

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/internal/fsutil"
)

// TestLoadRunBounded: a run's state file that is a named pipe, a device
// or a huge file is refused at once with one line naming it, by LoadRun
// and by ListRuns ('repops runbook runs', 'resume'); neither blocks. The
// guard is a deadline on the call, not a measure of its time.
func TestLoadRunBounded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		make    func(t *testing.T, path string)
		wantErr error
		msg     string
	}{
		{"a named pipe", func(t *testing.T, path string) {
			if err := unix.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, fsutil.ErrNotRegular, "named pipe (FIFO)"},
		{"a link to /dev/zero", func(t *testing.T, path string) {
			if err := os.Symlink("/dev/zero", path); err != nil {
				t.Fatal(err)
			}
		}, fsutil.ErrNotRegular, "character device"},
		{"a 9 MiB file", func(t *testing.T, path string) {
			b := append([]byte(`{"note": "`), bytes.Repeat([]byte("x"), 9<<20)...)
			if err := os.WriteFile(path, append(b, `"}`...), 0o600); err != nil {
				t.Fatal(err)
			}
		}, fsutil.ErrTooLarge, "more than the limit of 8 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			if err := os.MkdirAll(runDir(state), 0o700); err != nil {
				t.Fatal(err)
			}
			path := statePath(state, "r1")
			tc.make(t, path)
			for _, call := range []struct {
				name string
				fn   func() error
			}{
				{"LoadRun", func() error { _, err := LoadRun(state, "r1"); return err }},
				{"ListRuns", func() error { _, err := ListRuns(state); return err }},
			} {
				done := make(chan error, 1)
				go func() { done <- call.fn() }()
				var err error
				select {
				case err = <-done:
				case <-time.After(20 * time.Second):
					if f, ferr := os.OpenFile(path, os.O_RDWR, 0); ferr == nil {
						f.Close()
					}
					t.Fatalf("%s blocked", call.name)
				}
				if !errors.Is(err, tc.wantErr) || errors.Is(err, ErrNoSuchRun) || !strings.Contains(err.Error(), filepath.Base(path)) ||
					!strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("%s: error %v: want one line naming %s and saying %q", call.name, err, path, tc.msg)
				}
			}
		})
	}
}
