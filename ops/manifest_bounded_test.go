package ops

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/internal/fsutil"
)

// guarded runs fn and fails the test if it blocks (a manifest read for
// ever is the failure under test): a deadline on the call, not a measure
// of its time. On a timeout, unblock frees what is stuck.
func guarded(t *testing.T, what string, fn func(), unblock func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		if unblock != nil {
			unblock()
		}
		t.Fatalf("%s blocked", what)
	}
}

// TestReadManifestBounded: a manifest that is a named pipe, a device or
// a huge file is refused at once with one line naming it; 'backups'
// lists the backup as bad-manifest and verification reports it, neither
// hangs nor changes the backup.
func TestReadManifestBounded(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 5)
	o := backupOpts(t, path)
	res, err := Backup(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	mpath := ManifestPath(res.Path)
	backupBytes, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		make    func(t *testing.T)
		wantErr error
		msg     string
	}{
		{"a named pipe", func(t *testing.T) {
			if err := unix.Mkfifo(mpath, 0o600); err != nil {
				t.Fatal(err)
			}
		}, fsutil.ErrNotRegular, "named pipe (FIFO)"},
		{"a link to /dev/zero", func(t *testing.T) {
			if err := os.Symlink("/dev/zero", mpath); err != nil {
				t.Fatal(err)
			}
		}, fsutil.ErrNotRegular, "character device"},
		{"a 5 MiB file", func(t *testing.T) {
			b := append([]byte(`{"padding": "`), bytes.Repeat([]byte("x"), 5<<20)...)
			if err := os.WriteFile(mpath, append(b, `"}`...), 0o600); err != nil {
				t.Fatal(err)
			}
		}, fsutil.ErrTooLarge, "more than the limit of 4 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Remove(mpath); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			tc.make(t)
			unblock := func() {
				if f, err := os.OpenFile(mpath, os.O_RDWR, 0); err == nil {
					f.Close()
				}
			}
			var rerr error
			guarded(t, "ReadManifest", func() { _, rerr = ReadManifest(res.Path) }, unblock)
			if !errors.Is(rerr, tc.wantErr) || !strings.Contains(rerr.Error(), mpath) || !strings.Contains(rerr.Error(), tc.msg) ||
				strings.Contains(rerr.Error(), "\n") {
				t.Fatalf("error %v: want one line naming %s and saying %q", rerr, mpath, tc.msg)
			}
			var list []BackupEntry
			guarded(t, "ListBackups", func() { list, err = ListBackups(o.Dir, time.Now()) }, unblock)
			if err != nil || len(list) != 1 || list[0].State != BackupBadManifest {
				t.Fatalf("list %+v, err %v: want the backup as %s", list, err, BackupBadManifest)
			}
			var vr *VerifyResult
			guarded(t, "VerifyBackup", func() { vr, err = VerifyBackup(context.Background(), res.Path) }, unblock)
			if err != nil || vr == nil || len(vr.Problems) == 0 || !strings.HasPrefix(vr.Problems[0], "manifest: ") {
				t.Fatalf("verify %+v, err %v: want the manifest reported", vr, err)
			}
			after, err := os.ReadFile(res.Path)
			if err != nil || !bytes.Equal(after, backupBytes) {
				t.Fatalf("the backup changed (%v)", err)
			}
		})
	}
}
