package fsutil

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// readGuarded runs ReadRegularFile and fails the test if it blocks: a
// read that never returns is the failure under test, so the guard is a
// deadline on the call, not a measure of its time. On a timeout it frees
// the stuck reader by opening the pipe itself.
func readGuarded(t *testing.T, path string, limit int64) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := ReadRegularFile(context.Background(), path, limit)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(20 * time.Second):
		if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
			f.Close()
		}
		t.Fatalf("ReadRegularFile(%s) blocked", path)
		return nil, nil
	}
}

func TestReadRegularFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.yml")
	if err := os.WriteFile(small, []byte("a: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exact := filepath.Join(dir, "exact")
	if err := os.WriteFile(exact, bytes.Repeat([]byte("x"), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	over := filepath.Join(dir, "over")
	if err := os.WriteFile(over, bytes.Repeat([]byte("x"), 1025), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "zero-link")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		path    string
		limit   int64
		want    string // content when it reads
		wantErr error
		msg     string
	}{
		{name: "a small file", path: small, limit: 1024, want: "a: 1\n"},
		{name: "exactly the limit", path: exact, limit: 1024, want: strings.Repeat("x", 1024)},
		{name: "one byte over", path: over, limit: 1024, wantErr: ErrTooLarge, msg: "more than the limit of 1 KiB"},
		{name: "a named pipe", path: fifo, limit: 1 << 20, wantErr: ErrNotRegular, msg: "named pipe (FIFO)"},
		{name: "/dev/zero", path: "/dev/zero", limit: 1 << 20, wantErr: ErrNotRegular, msg: "character device"},
		{name: "a link to /dev/zero", path: link, limit: 1 << 20, wantErr: ErrNotRegular, msg: "character device"},
		{name: "a directory", path: dir, limit: 1 << 20, wantErr: ErrNotRegular, msg: "a directory"},
		{name: "missing", path: filepath.Join(dir, "nope"), limit: 1 << 20, wantErr: fs.ErrNotExist},
		// /proc files say they are empty: the limit still holds.
		{name: "a /proc file over the limit", path: "/proc/self/maps", limit: 16, wantErr: ErrTooLarge, msg: "more than the limit of 16 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := readGuarded(t, tc.path, tc.limit)
			if tc.wantErr == nil {
				if err != nil || string(b) != tc.want {
					t.Fatalf("read %q, %v", b, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || b != nil {
				t.Fatalf("err %v (read %d bytes), want %v", err, len(b), tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line saying %q", err, tc.msg)
			}
		})
	}
	// A pipe put in the file's place after the look: the open does not
	// wait for a writer, and the descriptor is refused.
	t.Run("a named pipe after the look", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := readOpened(context.Background(), fifo, 1<<20)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Fatalf("err %v", err)
			}
		case <-time.After(20 * time.Second):
			if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
				f.Close()
			}
			t.Fatal("opening a named pipe blocked")
		}
	})
	t.Run("a cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := ReadRegularFile(ctx, small, 1024); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	})
}
