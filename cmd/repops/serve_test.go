package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesBadKeysFile: a keys file with an unknown role, a
// missing name, a duplicate, or none at all stops 'repops serve' before
// it listens, with exit 64 and one line naming the file and the line.
func TestServeRefusesBadKeysFile(t *testing.T) {
	cfg, _, stateDir := recoveryEnv(t)
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq0ynEFqm8DgdSGh3gQc+SlRE3ODnpuxPlGnHAIpkCW"
	const other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBFl3QMTlYy7MsQuOmLq5cm7TrW5t8h3WTnGvOHiGFWk"
	keys := filepath.Join(stateDir, "authorized_keys")
	cases := []struct{ name, file, want string }{
		{"missing", "", "does not exist"},
		{"unknown role", `role="root",name="a" ` + key + "\n", keys + `:1: unknown role "root"`},
		{"no name", "# ops\n" + `role="viewer" ` + key + "\n", keys + ":2: no name"},
		{"duplicate name", `role="viewer",name="a" ` + key + "\n" + `role="admin",name="a" ` + other + "\n", keys + `:2: name "a" is already given`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_ = os.Remove(keys)
			if c.file != "" {
				if err := os.MkdirAll(stateDir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(keys, []byte(c.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan struct{})
			var stderr string
			var code int
			go func() {
				defer close(done)
				_, stderr, code = runRecovery(t, cfg, "", "serve", "--listen", "127.0.0.1:0")
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("repops serve started with a bad keys file")
			}
			if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("exit %d, stderr %q; want %d and one line with %q", code, stderr, exitUsage, c.want)
			}
			if strings.Contains(stderr, "serving") {
				t.Errorf("it listened: %s", stderr)
			}
		})
	}
}
