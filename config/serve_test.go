package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// console.serve: its defaults, four_eyes following the environment unless
// set, and a bad value located at its line.
func TestServeConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noEnv := func(string) string { return "" }
	l, err := LoadWithSources(LoadOptions{File: write("console:\n  state_dir: /srv/st\n"), Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Config.Console.Serve
	if s.Listen != "127.0.0.1:2222" || s.MaxSessions != 16 || s.IdleTimeout.String() != "30m0s" || s.LoginRate != 10 || l.Config.FourEyesOn() {
		t.Errorf("defaults: %+v four eyes %v", s, l.Config.FourEyesOn())
	}
	if l.Config.ServeHostKey() != "/srv/st/ssh_host_ed25519_key" || l.Config.ServeAuthorizedKeys() != "/srv/st/authorized_keys" {
		t.Errorf("key files: %s %s", l.Config.ServeHostKey(), l.Config.ServeAuthorizedKeys())
	}
	l, err = LoadWithSources(LoadOptions{File: write("console:\n  state_dir: /srv/st\n"), Getenv: noEnv, Environment: "production"})
	if err != nil || !l.Config.FourEyesOn() {
		t.Errorf("production: four eyes %v (%v), want on", l.Config.FourEyesOn(), err)
	}
	l, err = LoadWithSources(LoadOptions{File: write("console:\n  serve:\n    four_eyes: false\n"), Getenv: noEnv, Environment: "production"})
	if err != nil || l.Config.FourEyesOn() {
		t.Errorf("production with four_eyes: false: %v (%v), want off", l.Config.FourEyesOn(), err)
	}
	_, err = LoadWithSources(LoadOptions{File: write("console:\n  serve:\n    listen: nowhere\n"), Getenv: noEnv})
	if err == nil || !strings.Contains(err.Error(), "c.yml:3: console.serve.listen: must be host:port") {
		t.Errorf("bad listen: %v", err)
	}
}

// TestServeKeyFilesNeverTheDatabase: a host key or keys file named as the
// database (or its -wal) is a config error naming the key.
func TestServeKeyFilesNeverTheDatabase(t *testing.T) {
	for _, tc := range []struct{ key, yaml string }{
		{"console.serve.host_key", "database:\n  path: /var/lib/gaia/architect.db\nconsole:\n  serve:\n    host_key: /var/lib/gaia/architect.db\n"},
		{"console.serve.authorized_keys", "database:\n  path: /var/lib/gaia/architect.db\nconsole:\n  serve:\n    authorized_keys: /var/lib/gaia/architect.db-wal\n"},
	} {
		path := filepath.Join(t.TempDir(), "c.yml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadWithSources(LoadOptions{File: path, Getenv: func(string) string { return "" }})
		if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), "must not be the database") {
			t.Fatalf("%s: %v", tc.key, err)
		}
	}
}
