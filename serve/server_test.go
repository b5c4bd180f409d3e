package serve

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	gossh "golang.org/x/crypto/ssh"
)

// hello is the smallest console: it says who the session is.
type hello struct{ who string }

func (h hello) Init() tea.Cmd { return nil }
func (h hello) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok && k.String() == "q" {
		return h, tea.Quit
	}
	return h, nil
}
func (h hello) View() tea.View { return tea.NewView("hello " + h.who) }

// syncBuf is a buffer several goroutines write.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	srv    *Server
	addr   string
	signer gossh.Signer
	served chan error
}

func startTestServer(t *testing.T, o Options) *testServer {
	t.Helper()
	pub, signer := newPub(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(keys, []byte("role=\"operator\",name=\"otto\" "+pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kf, err := OpenKeyFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := LoadHostKey(filepath.Join(dir, "host_key"))
	if err != nil {
		t.Fatal(err)
	}
	o.HostKey, o.Keys = host, kf
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	o.Console = func(_ context.Context, s *Session) (tea.Model, func(tea.Model), error) {
		return hello{who: s.Identity.Banner()}, nil, nil
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, addr: l.Addr().String(), signer: signer, served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); <-ts.served })
	return ts
}

// open logs in and starts a shell with a pty; out collects what the
// session shows, ended is closed when the session ends.
func (ts *testServer) open(t *testing.T) (sess *gossh.Session, out *syncBuf, ended chan struct{}) {
	t.Helper()
	c, err := gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(ts.signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sess, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 40, 120, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	out = &syncBuf{}
	sess.Stdout, sess.Stderr = out, out
	if _, err := sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	ended = make(chan struct{})
	go func() { _ = sess.Wait(); close(ended) }()
	return sess, out, ended
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 400 {
			t.Fatalf("waited 20 s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitEnded(t *testing.T, ended chan struct{}, out *syncBuf) {
	t.Helper()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatalf("the session did not end; it showed:\n%s", out.String())
	}
}

// The session after the maximum is told so in one line and closed.
func TestServerMaxSessions(t *testing.T) {
	ts := startTestServer(t, Options{MaxSessions: 2, IdleTimeout: time.Hour, LoginRate: 100})
	for i := 0; i < 2; i++ {
		_, out, _ := ts.open(t)
		waitFor(t, "the console", func() bool { return strings.Contains(out.String(), "hello otto · operator") })
	}
	_, out, ended := ts.open(t)
	waitEnded(t, ended, out)
	if !strings.Contains(out.String(), "2 sessions already, the maximum") {
		t.Errorf("the third session showed %q", out.String())
	}
}

// A session without a key for IdleTimeout is closed with a message.
func TestServerIdleTimeout(t *testing.T) {
	ts := startTestServer(t, Options{MaxSessions: 4, IdleTimeout: 300 * time.Millisecond, LoginRate: 100})
	_, out, ended := ts.open(t)
	waitEnded(t, ended, out)
	if !strings.Contains(out.String(), "closed after 300ms without a key") {
		t.Errorf("the idle session showed %q", out.String())
	}
}

// Drain tells every session the server is stopping and closes it.
func TestServerDrain(t *testing.T) {
	ts := startTestServer(t, Options{MaxSessions: 4, IdleTimeout: time.Hour, LoginRate: 100})
	var outs []*syncBuf
	var ends []chan struct{}
	for i := 0; i < 3; i++ {
		_, out, ended := ts.open(t)
		waitFor(t, "the console", func() bool { return strings.Contains(out.String(), "hello otto") })
		outs, ends = append(outs, out), append(ends, ended)
	}
	ts.srv.Drain("repops serve is stopping", 5*time.Second)
	for i := range outs {
		waitEnded(t, ends[i], outs[i])
		if !strings.Contains(outs[i].String(), "repops serve is stopping") {
			t.Errorf("session %d showed %q", i, outs[i].String())
		}
	}
	if n := ts.srv.Sessions(); n != 0 {
		t.Errorf("%d sessions after the drain", n)
	}
}

// The login rate per address: the logins past it are refused.
func TestServerLoginRate(t *testing.T) {
	ts := startTestServer(t, Options{MaxSessions: 10, IdleTimeout: time.Hour, LoginRate: 2})
	var refused int
	for i := 0; i < 4; i++ {
		_, out, ended := ts.open(t)
		waitFor(t, "the console or the refusal", func() bool {
			return strings.Contains(out.String(), "hello otto") || strings.Contains(out.String(), "rate limit")
		})
		if strings.Contains(out.String(), "rate limit") {
			refused++
			waitEnded(t, ended, out)
		}
	}
	if refused != 2 {
		t.Errorf("%d of 4 logins refused at 2 a minute, want 2", refused)
	}
}
