package serve

import (
	"context"
	"fmt"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	bm "charm.land/wish/v2/bubbletea"
)

// consoleMiddleware runs one console per session.
func (s *Server) consoleMiddleware(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		s.serveSession(sess)
		next(sess)
	}
}

func (s *Server) serveSession(sess ssh.Session) {
	pty, winch, ok := sess.Pty()
	if !ok {
		wish.Fatalln(sess, "repops serve: the console needs a terminal: connect with ssh -t, without a command")
		return
	}
	keys, err := s.o.Keys.Current()
	key, known := keys.Lookup(sess.PublicKey())
	if err != nil || !known {
		// The key was removed (or the file broken) since it logged in.
		wish.Fatalln(sess, "repops serve: this key is no longer allowed in")
		return
	}
	now := s.o.Now()
	se := &Session{Started: now, Identity: Identity{
		Name: key.Name, Role: key.Role, Fingerprint: key.Fingerprint,
		Addr: sess.RemoteAddr().String(), Session: newSessionID(),
	}}
	se.lastKey.Store(now.UnixNano())
	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	var reasonMu sync.Mutex
	var reason string
	end := func(why string) {
		reasonMu.Lock()
		if reason == "" {
			reason = why
		}
		reasonMu.Unlock()
		cancel()
	}
	if msg := s.admit(se, end); msg != "" {
		s.o.Log.Info("session refused", "client", se.Identity.Addr, "key", se.Identity.Name, "why", msg)
		wish.Fatalln(sess, "repops serve: "+msg)
		return
	}
	defer s.leave(se)
	s.o.Log.Info("session start", "session", se.String(), "term", pty.Term, "width", pty.Window.Width, "height", pty.Window.Height)

	model, done, err := s.o.Console(ctx, se)
	if err != nil {
		wish.Fatalln(sess, "repops serve: the console could not start: "+err.Error())
		return
	}
	opts := append(bm.MakeOptions(sess),
		tea.WithInput(keyReader{r: sess, s: se, now: s.o.Now}),
		tea.WithoutSignalHandler(), tea.WithFPS(s.o.FPS))
	p := tea.NewProgram(model, opts...)
	go s.watchSession(ctx, p, winch, se, end)
	final, runErr := p.Run()
	if done != nil {
		done(final)
	}
	cancel()
	reasonMu.Lock()
	why := reason
	reasonMu.Unlock()
	s.o.Log.Info("session end", "session", se.String(), "duration", s.o.Now().Sub(se.Started).Round(time.Second).String(), "why", why, "error", runErr)
	if why != "" {
		wish.Println(sess, "\r\n"+why+"\r")
	}
	_ = sess.Exit(0)
}

// watchSession forwards window resizes to the console, ends it when its
// context ends (the client left, the server drains), and closes it after
// IdleTimeout without a key.
func (s *Server) watchSession(ctx context.Context, p *tea.Program, winch <-chan ssh.Window, se *Session, end func(string)) {
	idle := time.NewTimer(s.o.IdleTimeout)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			p.Quit()
			return
		case w := <-winch:
			p.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
		case <-idle.C:
			left := se.LastKey().Add(s.o.IdleTimeout).Sub(s.o.Now())
			if left <= 0 {
				end(fmt.Sprintf("repops serve: session closed after %s without a key (console.serve.idle_timeout)", s.o.IdleTimeout))
				continue
			}
			idle.Reset(left)
		}
	}
}

// admit registers a session, or says why it cannot open.
func (s *Server) admit(se *Session, end func(string)) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping != "" {
		return "the server is stopping"
	}
	if len(s.sessions) >= s.o.MaxSessions {
		return fmt.Sprintf("%d sessions already, the maximum (console.serve.max_sessions): try again later", len(s.sessions))
	}
	s.sessions[se] = end
	return ""
}

func (s *Server) leave(se *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, se)
	if s.stopping != "" && len(s.sessions) == 0 && s.idle != nil {
		select {
		case <-s.idle:
		default:
			close(s.idle)
		}
	}
}
