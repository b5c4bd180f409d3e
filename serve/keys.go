package serve

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/repops/repops/presence"
	"os"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"
)

// Role is what a key may do in the console (presence.Role).
type Role = presence.Role

// The roles, weakest first.
const (
	RoleViewer   = presence.Viewer
	RoleOperator = presence.Operator
	RoleAdmin    = presence.Admin
)

func parseRole(s string) (Role, bool) {
	switch r := Role(s); r {
	case RoleViewer, RoleOperator, RoleAdmin:
		return r, true
	}
	return "", false
}

// Key is one line of the keys file: a public key, the name the journal
// records for it and its role.
type Key struct {
	Name        string
	Role        Role
	Fingerprint string // SHA256:..., as ssh-keygen -lf prints it
	Public      gossh.PublicKey
	Line        int
}

// Keys is a parsed keys file: the keys allowed in, by their wire form.
type Keys struct {
	Path  string
	byKey map[string]Key
	names []string
}

// Len is the number of keys.
func (k *Keys) Len() int { return len(k.byKey) }

// Lookup is the key's entry, if the key is allowed in.
func (k *Keys) Lookup(pub gossh.PublicKey) (Key, bool) {
	if k == nil || pub == nil {
		return Key{}, false
	}
	e, ok := k.byKey[string(pub.Marshal())]
	return e, ok
}

// ParseKeys reads the keys file at path. Its format is OpenSSH's
// authorized_keys, with two options on every line, both required:
//
//	role="operator",name="alice" ssh-ed25519 AAAA... alice@laptop
//
// Decision: no other option is accepted. OpenSSH's own options
// (from=, command=, no-pty, ...) are not enforced by repops, and a line
// that seemed to restrict a key but did not would be worse than a refused
// file. An unknown role, a missing name, a name or a key given twice is
// one error naming the file and the line; the server does not start (or,
// on a reload, refuses every login until the file is fixed).
func ParseKeys(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("keys file %s does not exist: create it with one line per key, role=\"viewer|operator|admin\",name=\"NAME\" followed by the public key (see the README's \"Serving the console over SSH\")", path)
		}
		return nil, fmt.Errorf("read keys file %s: %w", path, err)
	}
	return parseKeys(path, data)
}

func parseKeys(path string, data []byte) (*Keys, error) {
	k := &Keys{Path: path, byKey: map[string]Key{}}
	names := map[string]int{}
	for i, raw := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		line := bytes.TrimSpace(raw)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, args...))
		}
		pub, _, opts, rest, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, bad("not a public key line (%v): expected role=\"operator\",name=\"alice\" ssh-ed25519 AAAA...", err)
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, bad("one key per line")
		}
		e := Key{Public: pub, Fingerprint: gossh.FingerprintSHA256(pub), Line: n}
		var role string
		for _, o := range opts {
			name, value, ok := strings.Cut(o, "=")
			if ok && len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			switch {
			case ok && name == "role":
				role = value
			case ok && name == "name":
				e.Name = value
			default:
				return nil, bad("option %q is not understood by repops serve: only role=\"...\" and name=\"...\"", o)
			}
		}
		r, ok := parseRole(role)
		if role == "" {
			return nil, bad("no role: add role=\"viewer\", role=\"operator\" or role=\"admin\" before the key")
		}
		if !ok {
			return nil, bad("unknown role %q: use viewer, operator or admin", role)
		}
		e.Role = r
		if strings.TrimSpace(e.Name) == "" {
			return nil, bad("no name: add name=\"...\" (who the key is, as the journal records it)")
		}
		if first, dup := names[e.Name]; dup {
			return nil, bad("name %q is already given to the key on line %d", e.Name, first)
		}
		if prev, dup := k.byKey[string(pub.Marshal())]; dup {
			return nil, bad("this key (%s) is already on line %d (%s)", e.Fingerprint, prev.Line, prev.Name)
		}
		names[e.Name] = n
		k.byKey[string(pub.Marshal())] = e
		k.names = append(k.names, e.Name)
	}
	return k, nil
}

// KeyFile is the keys file as the server uses it: parsed at start, and
// parsed again when it changes (checked at every login, cheap: one stat)
// or on Reload (SIGHUP). Decision: a file that no longer parses refuses
// every login until it is fixed, rather than keeping the old keys: a
// key being removed to revoke access must not stay valid because of a
// typo on another line.
type KeyFile struct {
	path string
	mu   sync.Mutex
	keys *Keys
	err  error
	stat fileStamp
}

type fileStamp struct {
	size, mtime, ino int64
}

// OpenKeyFile parses path; an error is the one line to show the operator.
func OpenKeyFile(path string) (*KeyFile, error) {
	f := &KeyFile{path: path}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload parses the file again, whatever its stamp.
func (f *KeyFile) Reload() error {
	st, _ := stamp(f.path)
	keys, err := ParseKeys(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys, f.err, f.stat = keys, err, st
	return err
}

// Current is the keys in force, reparsed first when the file changed.
func (f *KeyFile) Current() (*Keys, error) {
	st, _ := stamp(f.path)
	f.mu.Lock()
	same := st == f.stat
	f.mu.Unlock()
	if !same {
		_ = f.Reload()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys, f.err
}

// Path is the keys file's path.
func (f *KeyFile) Path() string { return f.path }
