package serve

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

func newPub(t testing.TB) (string, gossh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.PublicKey()))), s
}

func TestParseKeys(t *testing.T) {
	a, sa := newPub(t)
	b, _ := newPub(t)
	cases := []struct {
		name, file string
		want       string // "" ok; else a part of the error
	}{
		{"ok", "# team\n\nrole=\"viewer\",name=\"vera\" " + a + " vera@laptop\nrole=\"admin\",name=\"ada\" " + b + "\n", ""},
		{"unknown role", "role=\"root\",name=\"x\" " + a + "\n", "keys:1: unknown role \"root\""},
		{"no role", "name=\"x\" " + a + "\n", "keys:1: no role"},
		{"no name", "\nrole=\"operator\" " + a + "\n", "keys:2: no name"},
		{"duplicate name", "role=\"operator\",name=\"x\" " + a + "\nrole=\"viewer\",name=\"x\" " + b + "\n", "keys:2: name \"x\" is already given to the key on line 1"},
		{"duplicate key", "role=\"operator\",name=\"x\" " + a + "\nrole=\"viewer\",name=\"y\" " + a + "\n", "keys:2: this key"},
		{"other option", "from=\"10.0.0.1\",role=\"viewer\",name=\"x\" " + a + "\n", "keys:1: option \"from=\\\"10.0.0.1\\\"\" is not understood"},
		{"not a key", "role=\"viewer\",name=\"x\" ssh-ed25519 AAAAnope\n", "keys:1: not a public key line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := parseKeys("keys", []byte(c.file))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				e, ok := k.Lookup(sa.PublicKey())
				if !ok || e.Name != "vera" || e.Role != RoleViewer || !e.Role.ReadOnly() || e.Fingerprint != gossh.FingerprintSHA256(sa.PublicKey()) {
					t.Errorf("vera's key: %+v %v", e, ok)
				}
				if k.Len() != 2 {
					t.Errorf("%d keys, want 2", k.Len())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error %v, want one line containing %q", err, c.want)
			}
		})
	}
}

// A keys file that changes is read again at the next login; one that
// breaks refuses everyone until it is fixed.
func TestKeyFileReload(t *testing.T) {
	a, sa := newPub(t)
	path := filepath.Join(t.TempDir(), "authorized_keys")
	write := func(s string) {
		t.Helper()
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil { // a new inode, as an editor's save
			t.Fatal(err)
		}
	}
	write("role=\"viewer\",name=\"vera\" " + a + "\n")
	f, err := OpenKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := f.Current(); err != nil || mustRole(k, sa) != RoleViewer {
		t.Fatalf("first: %v %v", err, mustRole(k, sa))
	}
	write("role=\"admin\",name=\"vera\" " + a + "\n")
	if k, err := f.Current(); err != nil || mustRole(k, sa) != RoleAdmin {
		t.Fatalf("after the change: %v %v", err, mustRole(k, sa))
	}
	write("role=\"boss\",name=\"vera\" " + a + "\n")
	if _, err := f.Current(); err == nil {
		t.Fatal("a broken file was accepted")
	}
	if _, err := OpenKeyFile(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
}

func mustRole(k *Keys, s gossh.Signer) Role {
	e, _ := k.Lookup(s.PublicKey())
	return e.Role
}

// The host key is generated 0600 on first start, reused after, and
// refused when others can read it.
func TestLoadHostKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "ssh_host_ed25519_key")
	s1, gen, err := LoadHostKey(path)
	if err != nil || !gen {
		t.Fatalf("first: %v generated %v", err, gen)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", fi.Mode().Perm())
	}
	s2, gen, err := LoadHostKey(path)
	if err != nil || gen || string(s1.PublicKey().Marshal()) != string(s2.PublicKey().Marshal()) {
		t.Fatalf("second: %v generated %v, same key %v", err, gen, string(s1.PublicKey().Marshal()) == string(s2.PublicKey().Marshal()))
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadHostKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a readable key: %v", err)
	}
}
