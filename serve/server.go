// Package serve is 'repops serve': the console served over SSH with
// charm.land/wish. Keys come from an authorized_keys-style file with a
// role per key (viewer, operator, admin); every session runs its own
// console program on the session's pty; one collector feeds them all.
//
// What an SSH client may do is the least the console needs: public-key
// authentication only, one interactive shell with a pty per session; no
// exec, no subsystem, no port, agent or X11 forwarding.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	"charm.land/wish/v2/ratelimiter"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/time/rate"
)

// ConsoleFunc builds the console of one session; done is called with the
// program's final model when the session ends.
type ConsoleFunc func(ctx context.Context, s *Session) (m tea.Model, done func(final tea.Model), err error)

// Options configure the server.
type Options struct {
	HostKey gossh.Signer
	Keys    *KeyFile
	// MaxSessions is the most sessions at once.
	MaxSessions int
	// IdleTimeout closes a session without a key for that long.
	IdleTimeout time.Duration
	// LoginRate is the sessions one address may open per minute.
	LoginRate int
	Console   ConsoleFunc
	Log       *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// FPS is the most frames a second each console draws (default 10).
	FPS int
}

// Server is the SSH server of 'repops serve'.
type Server struct {
	o   Options
	ssh *ssh.Server

	mu       sync.Mutex
	sessions map[*Session]func(reason string)
	stopping string
	idle     chan struct{} // closed when the last session ends while stopping
}

// New builds the server.
func New(o Options) (*Server, error) {
	if o.HostKey == nil || o.Keys == nil || o.Console == nil {
		return nil, errors.New("serve: a host key, a keys file and a console are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.FPS <= 0 {
		o.FPS = 10
	}
	o.MaxSessions = max(1, o.MaxSessions)
	o.LoginRate = max(1, o.LoginRate)
	s := &Server{o: o, sessions: map[*Session]func(string){}}
	limiter := ratelimiter.NewRateLimiter(rate.Limit(float64(o.LoginRate)/60), o.LoginRate, 4096)
	srv, err := wish.NewServer(
		func(srv *ssh.Server) error { srv.AddHostKey(o.HostKey); return nil },
		wish.WithVersion("repops"),
		wish.WithPublicKeyAuth(s.allowKey),
		// Middlewares run last first: the rate limit, then the console.
		wish.WithMiddleware(s.consoleMiddleware, ratelimiter.Middleware(limiter)),
		func(srv *ssh.Server) error {
			// Only an interactive shell: an exec request (a command on
			// ssh's command line) is refused before any handler runs.
			srv.SessionRequestCallback = func(_ ssh.Session, kind string) bool { return kind == "shell" }
			// Only session channels (no direct-tcpip: no -L, no -W), no
			// global requests (no tcpip-forward: no -R), no subsystem.
			srv.ChannelHandlers = map[string]ssh.ChannelHandler{"session": refuseForwarding}
			srv.RequestHandlers = map[string]ssh.RequestHandler{}
			srv.SubsystemHandlers = map[string]ssh.SubsystemHandler{}
			srv.LocalPortForwardingCallback = nil
			srv.ReversePortForwardingCallback = nil
			return nil
		},
	)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	s.ssh = srv
	return s, nil
}

// allowKey is the public-key authentication: the key must be in the keys
// file now (reparsed when it changed). Password and keyboard-interactive
// have no handler, so the server does not offer them.
func (s *Server) allowKey(ctx ssh.Context, key ssh.PublicKey) bool {
	keys, err := s.o.Keys.Current()
	if err != nil {
		s.o.Log.Warn("login refused: the keys file is broken", "error", err, "client", ctx.RemoteAddr().String())
		return false
	}
	_, ok := keys.Lookup(key)
	return ok
}

// Serve serves on l until Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.ssh.Serve(l)
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

// Sessions is the number of sessions open now.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Drain ends every session with msg (one line each sees after its
// console closes), refuses new ones, waits for them at most wait, then
// closes the server and its connections.
func (s *Server) Drain(msg string, wait time.Duration) {
	s.mu.Lock()
	s.stopping = msg
	s.idle = make(chan struct{})
	if len(s.sessions) == 0 {
		close(s.idle)
	}
	for _, end := range s.sessions {
		end(msg)
	}
	idle := s.idle
	s.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
		s.o.Log.Warn("sessions still open after the drain, closing their connections", "wait", wait.String())
	}
	_ = s.ssh.Close()
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error { return s.ssh.Close() }
