package ops

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/db"
	"github.com/repops/repops/state"
)

func TestBackupBadInput(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(t *testing.T, o *BackupOptions)
		want  string // "" means success
	}{
		{"backup dir missing, parent exists: created 0700", func(t *testing.T, o *BackupOptions) {}, ""},
		{"backup dir and parent missing", func(t *testing.T, o *BackupOptions) {
			o.Dir = filepath.Join(o.Dir, "no", "such")
		}, "does not exist, nor its parent"},
		{"backup dir not writable", func(t *testing.T, o *BackupOptions) {
			os.Mkdir(o.Dir, 0o500)
		}, "not writable"},
		{"backup dir is a file", func(t *testing.T, o *BackupOptions) {
			os.WriteFile(o.Dir, []byte("x"), 0o600)
		}, "not a directory"},
		{"disk full", func(t *testing.T, o *BackupOptions) {
			o.FreeSpace = func(string) (uint64, error) { return 4096, nil }
		}, "not enough space"},
		{"database is not SQLite", func(t *testing.T, o *BackupOptions) {
			os.WriteFile(o.DBPath, []byte(strings.Repeat("hello\n", 100)), 0o600)
			os.Remove(o.DBPath + "-wal")
			os.Remove(o.DBPath + "-shm")
		}, "not an SQLite"},
		{"database is a directory", func(t *testing.T, o *BackupOptions) {
			o.DBPath = t.TempDir()
		}, "directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := newRecoveryDB(t, dir, 10)
			o := BackupOptions{DBPath: path, Dir: filepath.Join(dir, "backups")}
			c.setup(t, &o)
			res, err := Backup(ctx, o, nil)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if st, _ := os.Stat(o.Dir); st.Mode().Perm() != 0o700 {
					t.Fatalf("dir mode %v", st.Mode().Perm())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q (result %+v)", err, c.want, res)
			}
			if l, _ := state.ListBackups(o.Dir); len(l) > 0 {
				t.Fatalf("a backup is listed after a failure: %+v", l)
			}
		})
	}
}

func TestRestoreBadInput(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		setup  func(t *testing.T, live, backup string) (target string)
		force  bool
		want   string
		listed bool
	}{
		{"corrupt backup", func(t *testing.T, live, backup string) string {
			f, _ := os.OpenFile(backup, os.O_RDWR, 0)
			f.WriteAt([]byte(strings.Repeat("\xff", 4096)), 4096*2)
			f.Close()
			return live
		}, false, "checksum", true},
		{"backup of another schema", func(t *testing.T, live, backup string) string {
			// A database of something else, with a valid manifest.
			other := filepath.Join(t.TempDir(), "other.db")
			w, err := db.OpenWrite(ctx, other, db.Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			w.Exec(`CREATE TABLE t (x)`)
			w.Close()
			os.Remove(backup)
			if _, err := copyLiveToFile(ctx, other, backup); err != nil {
				t.Fatal(err)
			}
			m, _ := ReadManifest(backup)
			m.SHA256, m.Size, _ = FileSHA256(backup)
			writeManifest(backup, m)
			return live
		}, false, "schema", true},
		{"truncated manifest", func(t *testing.T, live, backup string) string {
			b, _ := os.ReadFile(ManifestPath(backup))
			os.WriteFile(ManifestPath(backup), b[:len(b)/2], 0o600)
			return live
		}, false, "manifest", true},
		{"restore onto a directory", func(t *testing.T, live, backup string) string {
			return t.TempDir()
		}, false, "is a directory", true},
		{"live database is not SQLite: restored, kept aside", func(t *testing.T, live, backup string) string {
			os.Remove(live + "-wal")
			os.Remove(live + "-shm")
			os.WriteFile(live, []byte(strings.Repeat("garbage\n", 100)), 0o600)
			return live
		}, false, "", true},
		{"corrupt backup with AcceptFailedVerification", func(t *testing.T, live, backup string) string {
			b, _ := os.ReadFile(ManifestPath(backup))
			os.WriteFile(ManifestPath(backup), b[:10], 0o600)
			return live
		}, true, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			live := newRecoveryDB(t, dir, 20)
			b, err := Backup(ctx, BackupOptions{DBPath: live, Dir: filepath.Join(dir, "backups")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			target := c.setup(t, live, b.Path)
			before, _ := os.ReadFile(target)
			res, err := Restore(ctx, RestoreOptions{DBPath: target, Backup: b.Path, Mode: RestoreOffline, AcceptFailedVerification: c.force,
				StateDir: filepath.Join(dir, "state")}, nil)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				mustIntegrity(t, target)
				if res.SafetyCopy == "" {
					t.Fatal("no safety copy")
				}
				if got, _ := os.ReadFile(res.SafetyCopy); string(got) != string(before) {
					t.Fatal("the safety copy is not the old file byte for byte")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
			if after, _ := os.ReadFile(target); string(after) != string(before) {
				t.Fatal("the target changed although the restore was refused")
			}
		})
	}
	t.Run("names with path separators are refused", func(t *testing.T) {
		for _, n := range []string{"../architect.db", "a/b.db", `..\x.db`, "..", "/etc/passwd"} {
			if _, err := ResolveBackup(t.TempDir(), "architect.db", n); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Errorf("%q: %v", n, err)
			}
		}
	})
}
