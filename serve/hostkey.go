package serve

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"
)

// LoadHostKey reads the server's private host key at path, generating an
// ed25519 key there (0600, its directory 0700) when the file does not
// exist. generated says it was made now, so that the caller prints its
// fingerprint for the operators' known_hosts.
//
// Decision: a key file that others may read is refused, as sshd refuses
// one: whoever reads it can impersonate the server.
func LoadHostKey(path string) (signer gossh.Signer, generated bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := generateHostKey(path); err != nil {
			return nil, false, err
		}
		generated = true
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("read host key %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, false, fmt.Errorf("read host key %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("host key %s is readable by others (mode %04o): chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	signer, err = gossh.ParsePrivateKey(data)
	if err != nil {
		return nil, false, fmt.Errorf("host key %s is not an unencrypted OpenSSH private key (%v): give another console.serve.host_key, or move it away and a new one is generated", path, err)
	}
	return signer, generated, nil
}

// generateHostKey writes a new ed25519 private key in OpenSSH's format,
// never over an existing file.
func generateHostKey(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("generate host key: create %s: %w", filepath.Dir(path), err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate host key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "repops serve host key")
	if err != nil {
		return fmt.Errorf("generate host key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("generate host key %s: %w", path, err)
	}
	if _, err := f.Write(pem.EncodeToMemory(block)); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("generate host key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("generate host key %s: %w", path, err)
	}
	return f.Close()
}
