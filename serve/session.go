package serve

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/repops/repops/ops"
)

// Identity is who a session is: the key's name, role and fingerprint, the
// client's address and the session's id. The presence hub (another
// package) is given it when a session joins.
type Identity struct {
	Name        string
	Role        Role
	Fingerprint string
	Addr        string
	Session     string
}

// Banner is what the console's banner shows: "alice · operator".
func (i Identity) Banner() string { return i.Name + " · " + string(i.Role) }

// Actor is the journal's actor for everything this session does: the
// key's name as the user, the server's host, the client's address, the
// key's fingerprint and the session id.
func (i Identity) Actor() ops.Actor {
	a := ops.CurrentActor(i.Session)
	a.User, a.SSHClient, a.Key = i.Name, i.Addr, i.Fingerprint
	return a
}

// Session is one SSH session of the console: its identity, and what a
// later part (presence, following, handover) needs to reach it.
type Session struct {
	Identity Identity
	Started  time.Time
	// lastKey is when the operator last typed (UnixNano): the idle
	// timeout counts from it.
	lastKey atomic.Int64
}

func newSessionID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// LastKey is when the operator last typed (the session's start before).
func (s *Session) LastKey() time.Time { return time.Unix(0, s.lastKey.Load()) }

// keyReader is the session's input as the console reads it: every read
// is a key (or a mouse event) from the operator, which resets the idle
// timeout.
type keyReader struct {
	r   io.Reader
	s   *Session
	now func() time.Time
}

func (k keyReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.s.lastKey.Store(k.now().UnixNano())
	}
	return n, err
}

// String is the session as the server's log shows it.
func (s *Session) String() string {
	return fmt.Sprintf("%s (%s, %s) from %s session %s", s.Identity.Name, s.Identity.Role, s.Identity.Fingerprint, s.Identity.Addr, s.Identity.Session)
}
