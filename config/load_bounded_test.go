package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// loadGuarded runs Load and fails the test if it blocks (a named pipe
// read for ever is the failure under test): the guard is a deadline on
// the call, not a measure of its time. On a timeout it frees a reader
// stuck on the pipe by opening it itself.
func loadGuarded(t *testing.T, o LoadOptions, fifo string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- nil
				t.Errorf("Load panicked: %v", r)
			}
		}()
		_, _, err := Load(o)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		if fifo != "" {
			if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
				f.Close()
			}
		}
		t.Fatal("Load blocked")
		return nil
	}
}

// TestLoadBoundedInput: the config file is read only when it is a regular
// file of at most MaxFileSize; a named pipe (by --config, REPOPS_CONFIG or
// in the search path), a device or a huge file is one problem naming the
// file, found at once.
func TestLoadBoundedInput(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "repops.yml")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yml")
	body := strings.Repeat("# a comment line, padding the file past its limit\n", (2<<20)/50+1)
	if err := os.WriteFile(big, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// Just under the limit, a config of comments loads.
	under := filepath.Join(dir, "under.yml")
	if err := os.WriteFile(under, []byte(body[:MaxFileSize-200]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A search path that is a named pipe: config/reputation_$ENV.yml.
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	searched := filepath.Join(work, "config", "reputation_development.yml")
	if err := unix.Mkfifo(searched, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		o    LoadOptions
		fifo string
		file string
		want string
	}{
		{"a named pipe by --config", LoadOptions{File: fifo}, fifo, fifo, "not a regular file: it is a named pipe (FIFO)"},
		{"a named pipe by REPOPS_CONFIG", LoadOptions{Getenv: envOf(map[string]string{"REPOPS_CONFIG": fifo})}, fifo, fifo, "named pipe (FIFO)"},
		{"/dev/zero", LoadOptions{File: "/dev/zero"}, "", "/dev/zero", "not a regular file: it is a character device"},
		{"a 2 MiB file", LoadOptions{File: big}, "", big, "more than the limit of 1 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.Getenv == nil {
				tc.o.Getenv = envOf(nil)
			}
			err := loadGuarded(t, tc.o, tc.fifo)
			if err == nil {
				t.Fatal("loaded")
			}
			ps := problemsOf(t, err)
			msg := err.Error()
			if len(ps) != 1 || !strings.Contains(msg, tc.file+": cannot read config file: ") || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q (%d problems): want one line naming %s and saying %q", msg, len(ps), tc.file, tc.want)
			}
		})
	}
	t.Run("a named pipe in the search path", func(t *testing.T) {
		t.Chdir(work)
		err := loadGuarded(t, LoadOptions{Getenv: envOf(map[string]string{"HOME": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir()})}, searched)
		if err == nil || !strings.Contains(err.Error(), "reputation_development.yml: cannot read config file: not a regular file: it is a named pipe (FIFO)") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("just under the limit", func(t *testing.T) {
		if err := loadGuarded(t, LoadOptions{File: under, Getenv: envOf(nil)}, ""); err != nil {
			t.Fatal(err)
		}
	})
}
