package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// readOnlyMount mounts a small tmpfs at a temp dir, lets fill put files
// in it, then remounts it read-only, as errors=remount-ro leaves a
// filesystem. It skips, saying why, where mounting is not allowed.
func readOnlyMount(t *testing.T, fill func(dir string)) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a read-only tmpfs (run the tests as root, as .ci/run does)")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the read-only filesystem case is not tested", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	fill(dir)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
	return dir
}

// TestReadOnlyFilesystemCheckAndBackup: a database on a read-only
// filesystem with no -shm (the usual state after errors=remount-ro) can be
// checked and backed up, which is exactly when a backup is needed, and the
// commands say they read it as an immutable file.
func TestReadOnlyFilesystemCheckAndBackup(t *testing.T) {
	_, src, _ := recoveryEnv(t)
	body, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	ro := readOnlyMount(t, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "architect.db"), body, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	dbPath := filepath.Join(ro, "architect.db")
	if _, err := os.Stat(dbPath + "-shm"); err == nil {
		t.Fatal("the fixture has a -shm")
	}
	work := t.TempDir()
	cfg := filepath.Join(work, "repops.yml")
	conf := "database:\n  path: " + dbPath + "\nmonitoring:\n  metrics_enabled: false\nconsole:\n  state_dir: " + filepath.Join(work, "state") +
		"\n  backup:\n    dir: " + filepath.Join(work, "backups") + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := runRecovery(t, cfg, "", "check")
	if code != 0 || !strings.Contains(stdout, "OK") {
		t.Fatalf("check on a read-only filesystem: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "immutable") {
		t.Errorf("check does not say it read the database as an immutable file:\n%s", stderr)
	}
	stdout, stderr, code = runRecovery(t, cfg, "", "backup")
	if code != 0 {
		t.Fatalf("backup on a read-only filesystem: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "immutable") {
		t.Errorf("backup does not say it read the database as an immutable file:\n%s", stderr)
	}
	if _, stderr, code := runRecovery(t, cfg, "", "backups", "verify", filepath.Base(strings.Fields(stdout)[1])); code != 0 {
		t.Fatalf("the backup taken from the read-only filesystem does not verify: exit %d\n%s", code, stderr)
	}
}
