package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

// served is a 'repops serve' started by a test on 127.0.0.1, port 0, on
// the demo database, with three keys: a viewer, an operator and one that
// is not in the keys file.
type served struct {
	root, dbDir, dbPath, stateDir, work, cfgPath string
	port                                         string
	keys                                         map[string]string // name -> private key file
	fingerprints                                 map[string]string
	cmd                                          *exec.Cmd
	mu                                           sync.Mutex
	log                                          strings.Builder
	exited                                       chan struct{}
}

// sshBin is Debian's OpenSSH client; the tests need it.
func sshBin(t testing.TB) string {
	t.Helper()
	for _, tool := range []string{"ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the serve tests need OpenSSH's %s: apt-get install openssh-client", tool)
		}
	}
	p, _ := exec.LookPath("ssh")
	return p
}

// startServe makes the demo database, the keys and the config, and starts
// the server; it is stopped (SIGTERM) at the test's end unless the test
// stopped it.
func startServe(t testing.TB, extraConfig string) *served {
	t.Helper()
	return startServeKeys(t, extraConfig, defaultServeKeys)
}

// serveKey is a key the test makes: its name and its role in the keys
// file ("" leaves it out of the file).
type serveKey struct{ name, role string }

// defaultServeKeys: a viewer, an operator and a key that is not in the
// file.
var defaultServeKeys = []serveKey{{"vera", "viewer"}, {"otto", "operator"}, {"mallory", ""}}

// startServeKeys is startServe with the given keys.
func startServeKeys(t testing.TB, extraConfig string, keys []serveKey) *served {
	t.Helper()
	sshBin(t)
	s := &served{root: t.TempDir(), keys: map[string]string{}, fingerprints: map[string]string{}, exited: make(chan struct{})}
	s.dbDir, s.stateDir, s.work = filepath.Join(s.root, "db"), filepath.Join(s.root, "state"), filepath.Join(s.root, "work")
	for _, d := range []string{s.dbDir, s.stateDir, s.work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s.dbPath = filepath.Join(s.dbDir, "demo.db")
	s.cfgPath = filepath.Join(s.root, "serve.yml")
	refresh := "2s"
	if _, bench := t.(*testing.B); bench {
		refresh = "1s"
	}
	cfg := fmt.Sprintf("console:\n  refresh_interval: %s\n  state_dir: %s\n  serve:\n    listen: 127.0.0.1:0\n    login_rate: 1000\n%s", refresh, s.stateDir, extraConfig)
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cli(t, "demo", "--db", s.dbPath, "--appeals", "300", "--summary")
	var lines []string
	for _, k := range keys {
		path := filepath.Join(s.root, "key_"+k.name)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", k.name, "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		s.keys[k.name] = path
		out, err := exec.Command("ssh-keygen", "-lf", path+".pub").Output()
		if err != nil {
			t.Fatalf("ssh-keygen -lf: %v", err)
		}
		s.fingerprints[k.name] = strings.Fields(string(out))[1]
		if k.role != "" {
			pub, _ := os.ReadFile(path + ".pub")
			lines = append(lines, fmt.Sprintf("role=%q,name=%q %s", k.role, k.name, strings.TrimSpace(string(pub))))
		}
	}
	if err := os.WriteFile(filepath.Join(s.stateDir, "authorized_keys"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "--config", s.cfgPath, "--db", s.dbPath, "serve")
	s.cmd.Dir = s.work
	// The collector's table-size scan would start 10 s in: not the
	// subject here.
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(s.exited)
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`on ssh://127\.0\.0\.1:(\d+) `)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
		_ = s.cmd.Wait()
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("repops serve's log:\n%s", s.logText())
		}
	})
	select {
	case s.port = <-ready:
	case <-s.exited:
		t.Fatalf("repops serve exited:\n%s", s.logText())
	case <-time.After(20 * time.Second):
		t.Fatalf("repops serve did not say where it listens in 20s:\n%s", s.logText())
	}
	return s
}

func (s *served) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// stop sends SIGTERM and waits for the server to end (at most 15 s).
func (s *served) stop(t testing.TB) {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("repops serve did not stop within 15 s of SIGTERM")
	}
}

// cli runs repops with the test's config and database.
func (s *served) cli(t testing.TB, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--config", s.cfgPath, "--db", s.dbPath}, args...)...)
	cmd.Dir = s.work
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("repops %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// sshArgs is the OpenSSH command line to the server with key name's key
// (none for ""), extra options before the host.
func (s *served) sshArgs(name string, extra ...string) []string {
	args := []string{"-F", "/dev/null", "-p", s.port, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"}
	if name != "" {
		args = append(args, "-o", "IdentitiesOnly=yes", "-i", s.keys[name])
	}
	return append(append(args, extra...), "127.0.0.1")
}

// sshLine is sshArgs as one shell command line (for tmux).
func (s *served) sshLine(name string, extra ...string) string {
	return "ssh " + strings.Join(s.sshArgs(name, extra...), " ")
}

// runSSH runs ssh to the end (at most 20 s) and returns its output and
// exit code.
func runSSH(t *testing.T, args []string, after ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshBin(t), append(args, after...)...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	if ctx.Err() != nil {
		t.Fatalf("ssh %v did not end in 20 s:\n%s", args, out)
	}
	return string(out), code
}

// TestServeRefuses: what the server refuses, with a real OpenSSH client:
// a key not in the keys file, a password (and keyboard-interactive), a
// command (exec), a session without a pty, and port forwarding (-L, -R,
// -W); the refused key's login is never a session.
func TestServeRefuses(t *testing.T) {
	s := startServe(t, "")
	cases := []struct {
		name string
		args []string
		want *regexp.Regexp
	}{
		{"unknown key", s.sshArgs("mallory", "-tt"), regexp.MustCompile(`Permission denied \(publickey\)`)},
		{"password", s.sshArgs("", "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no", "-tt"),
			regexp.MustCompile(`Permission denied \(publickey\)`)},
		{"exec", append(s.sshArgs("otto"), "ls", "/"), regexp.MustCompile(`exec request failed`)},
		{"exec with a pty", append(s.sshArgs("otto", "-tt"), "ls"), regexp.MustCompile(`exec request failed`)},
		{"no pty", s.sshArgs("otto", "-T"), regexp.MustCompile(`the console needs a terminal`)},
		{"remote forwarding", s.sshArgs("otto", "-N", "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:127.0.0.1:"+s.port),
			regexp.MustCompile(`remote port forwarding failed`)},
		{"stdio forwarding", s.sshArgs("otto", "-W", "127.0.0.1:"+s.port), regexp.MustCompile(`open failed|stdio forwarding failed`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := runSSH(t, c.args)
			if code == 0 || !c.want.MatchString(out) {
				t.Errorf("ssh %s: exit %d, want non-zero and %s; output:\n%s", c.name, code, c.want, out)
			}
			if strings.Contains(out, "bin") && c.name == "exec" {
				t.Errorf("the command ran: %s", out)
			}
		})
	}
	t.Run("local forwarding", func(t *testing.T) { localForwardRefused(t, s) })
	// No session may have opened for the refused key.
	if strings.Contains(s.logText(), "mallory") {
		t.Errorf("the unknown key reached a session:\n%s", s.logText())
	}
}

// localForwardRefused: ssh -N -L listens on the client's side and asks
// the server for a channel only when a connection comes; the connection
// made here through it must be closed without reaching the server's own
// port (whose first bytes would be its SSH banner).
func localForwardRefused(t *testing.T, s *served) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lport := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshBin(t), s.sshArgs("otto", "-N", "-L", "127.0.0.1:"+lport+":127.0.0.1:"+s.port)...)
	var stderr testsupport.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var conn net.Conn
	for i := 0; i < 200; i++ {
		if conn, err = net.DialTimeout("tcp", "127.0.0.1:"+lport, time.Second); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if conn == nil {
		t.Fatalf("ssh -L never listened on %s: %v; ssh said: %s", lport, err, stderr.String())
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, rerr := conn.Read(buf)
	if n > 0 {
		t.Fatalf("a connection forwarded with -L reached the server's port: read %q", buf[:n])
	}
	// Refused: ssh closes the local connection when the server refuses
	// the channel (a timeout would mean it was left hanging).
	if ne, ok := rerr.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the forwarded connection was neither refused nor served in 10 s; ssh said: %s", stderr.String())
	}
}
