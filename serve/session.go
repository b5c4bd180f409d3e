package serve

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/repops/repops/presence"
)

// Identity is who a session is (presence.Identity: one type for the
// server, the presence hub and the console): the key's name, role and
// fingerprint, the client's address and the session's id.
type Identity = presence.Identity

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
