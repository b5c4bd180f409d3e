package replicate

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/repops/repops/config"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/internal/testsupport"
)

const sshdBinary = "/usr/sbin/sshd"

// sshdServer is a real OpenSSH sshd run by the test on 127.0.0.1.
type sshdServer struct {
	Addr       string // 127.0.0.1:port
	User       string // the current user, whom it lets in with ClientKey
	ClientKey  string // private key file (ed25519, no passphrase)
	HostKeyPub string // its host key, "ssh-ed25519 AAAA... comment"
	OtherKey   string // another public key: not the host's
	log        *testsupport.Buffer
}

// sshKeygen makes an ed25519 key pair at path (no passphrase) and returns
// the public key's line.
func sshKeygen(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", filepath.Base(path), "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -f %s: %v: %s", path, err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pub))
}

// startSSHD runs /usr/sbin/sshd in the foreground (-D -e) as the current
// user, on a free port of 127.0.0.1, with a temp host key, a temp client
// key in a temp authorized_keys and the sftp subsystem (internal-sftp).
// It is killed at the end of the test.
func startSSHD(t *testing.T) *sshdServer {
	t.Helper()
	if _, err := os.Stat(sshdBinary); err != nil {
		t.Fatalf("%s: %v: apt-get install openssh-server (.ci/run installs it)", sshdBinary, err)
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatalf("ssh-keygen: %v: apt-get install openssh-client (.ci/run installs it)", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd run as root needs its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshd's privilege separation dir /run/sshd: %v", err)
		}
	}
	dir := t.TempDir()
	s := &sshdServer{User: u.Username, ClientKey: filepath.Join(dir, "client_ed25519"), log: &testsupport.Buffer{}}
	hostKey := filepath.Join(dir, "host_ed25519")
	s.HostKeyPub = sshKeygen(t, hostKey)
	clientPub := sshKeygen(t, s.ClientKey)
	s.OtherKey = sshKeygen(t, filepath.Join(dir, "other_ed25519"))
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, []byte(clientPub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sshd's log:\n%s", lastLines(s.log.String(), 40))
		}
	})

	// A free port can be taken between the probe and sshd's bind: retry.
	for attempt := 1; ; attempt++ {
		s.Addr = freeCheckAddr(t)
		_, port, _ := net.SplitHostPort(s.Addr)
		conf := filepath.Join(dir, "sshd_config")
		body := strings.Join([]string{
			"Port " + port,
			"ListenAddress 127.0.0.1",
			"HostKey " + hostKey,
			"AuthorizedKeysFile " + authKeys,
			"PubkeyAuthentication yes",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"PermitRootLogin prohibit-password",
			"StrictModes no",
			"UsePAM no",
			"PidFile " + filepath.Join(dir, "sshd.pid"),
			"Subsystem sftp internal-sftp",
			"",
		}, "\n")
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sshdBinary, "-D", "-e", "-f", conf)
		cmd.Stdout, cmd.Stderr = s.log, s.log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sshd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		err := waitSSHBanner(s.Addr, exited, 10*time.Second)
		if err == nil {
			return s
		}
		logs := s.log.String()
		if attempt < 3 && strings.Contains(logs, "Address already in use") {
			continue
		}
		hint := ""
		if os.Geteuid() != 0 {
			hint = fmt.Sprintf(" (sshd run as the non-root user %s refused to start; run the test as root, or as a user sshd accepts)", u.Username)
		}
		t.Fatalf("sshd on %s: %v%s\n%s", s.Addr, err, hint, lastLines(logs, 20))
	}
}

// waitSSHBanner waits (bounded) until addr answers with an SSH banner.
func waitSSHBanner(addr string, exited <-chan struct{}, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-exited:
			return errors.New("sshd exited")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "SSH-2.0-") {
				return nil
			}
			err = fmt.Errorf("banner %q: %v", line, rerr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no SSH banner within %s: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// withHostKey is Litestream's config data with host-key set on the
// replica: Litestream v0.5.18's sftp client pins the host key given so
// (ssh.FixedHostKey), and without it accepts any host key
// (ssh.InsecureIgnoreHostKey, logging "sftp host key not verified").
// LitestreamYAML has no field for it.
func withHostKey(t *testing.T, data []byte, hostKey string) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	dbs, _ := doc["dbs"].([]any)
	if len(dbs) != 1 {
		t.Fatalf("config has %d dbs", len(dbs))
	}
	replica, _ := dbs[0].(map[string]any)["replica"].(map[string]any)
	if replica == nil {
		t.Fatal("config: no replica")
	}
	replica["host-key"] = hostKey
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSFTPReplica: Litestream, configured by LitestreamYAML with an sftp
// replica (a real OpenSSH sshd on 127.0.0.1, key authentication, the
// remote path a temp dir), replicates a database written by the sqlite3
// CLI in another process; the replica holds the newest transaction
// within a bound; RestoreTo restores it into scratch: integrity_check ok
// and every row present. Litestream also pins the host key when its
// config gives host-key (the right key is accepted, another refused).
func TestSFTPReplica(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Fatalf("sqlite3: %v: apt-get install sqlite3 (.ci/run installs it)", err)
	}
	bin := litestreamForTest(t)
	srv := startSSHD(t)
	ctx := context.Background()

	dir := t.TempDir()
	dbPath := filepath.Join(dir, "architect.db")
	remote := filepath.Join(dir, "sftp-replica", "architect")
	sqliteCLI(t, dbPath, "PRAGMA journal_mode=WAL; CREATE TABLE heartbeat(id INTEGER PRIMARY KEY, at TEXT);")
	cfg := checkConfig(dbPath, config.Replica{Type: "sftp", Host: srv.Addr, User: srv.User, KeyPath: srv.ClientKey, HostKey: srv.HostKeyPub, Path: remote})
	cfg.Console.Replication.SyncInterval = time.Second
	cfg.Console.Replication.MetricsAddr = freeCheckAddr(t)
	cfg.Console.Replication.ConfigFile = filepath.Join(dir, "litestream.yml")
	data, err := LitestreamYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteAtomic(cfg.LitestreamConfig(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	startCheckLitestream(t, bin, cfg, dbPath)
	opts := CheckOptions{Config: cfg, Binary: bin}

	// Litestream's first sync of the (empty) table reaches the replica.
	deadline := time.Now().Add(15 * time.Second)
	rep := Check(ctx, opts)
	for ; rep.Newest == nil || rep.Newest.TXID < rep.LocalTXID; rep = Check(ctx, opts) {
		if time.Now().After(deadline) {
			t.Fatalf("no first sync to the sftp replica within 15 s: %s %s %v", rep.StatusName, rep.Summary, rep.Problems)
		}
		time.Sleep(100 * time.Millisecond)
	}
	newest := rep.Newest.TXID

	// Rows from another process (the sqlite3 CLI), in three commits; after
	// each, the replica must hold the newest transaction Litestream has
	// read, which is past the one before the commit.
	const perBatch = 200
	rows := 0
	for batch := 0; batch < 3; batch++ {
		before := newest
		sqliteCLI(t, dbPath, fmt.Sprintf(
			"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < %d) INSERT INTO heartbeat(at) SELECT 'batch %d row ' || i FROM n;", perBatch, batch))
		rows += perBatch
		committed := time.Now()
		bound := cfg.Console.Replication.SyncInterval + 8*time.Second
		rep = Check(ctx, opts)
		for ; rep.Newest == nil || rep.LocalTXID <= before || rep.Newest.TXID < rep.LocalTXID; rep = Check(ctx, opts) {
			if time.Since(committed) > bound {
				t.Fatalf("batch %d not in the sftp replica within %s: %s %s (local txid %d) %v", batch, bound, rep.StatusName, rep.Summary, rep.LocalTXID, rep.Problems)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if rep.Status != OK {
			t.Errorf("batch %d: %s %s %v", batch, rep.StatusName, rep.Summary, rep.Problems)
		}
		newest = rep.Newest.TXID
		t.Logf("batch %d: replica at txid %s after %s: %s", batch, FormatTXID(newest), time.Since(committed).Round(time.Millisecond), rep.Summary)
	}

	// The LTX files are in the remote path, written through sshd.
	var ltx int
	filepath.WalkDir(remote, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".ltx") {
			ltx++
		}
		return nil
	})
	if ltx == 0 {
		t.Fatalf("no LTX file under the sftp replica's path %s", remote)
	}

	// Restore the newest state from the sftp replica into scratch.
	res, err := RestoreTo(ctx, RestoreOptions{ConfigPath: cfg.LitestreamConfig(), DBPath: dbPath, StateDir: cfg.Console.StateDir, Binary: bin, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("restore from the sftp replica: %v", err)
	}
	defer Remove(res.Path)
	if res.TXID != FormatTXID(newest) {
		t.Errorf("restored up to txid %s, the replica's newest is %s", res.TXID, FormatTXID(newest))
	}
	if len(res.QuickCheck) > 0 {
		t.Errorf("quick_check: %v", res.QuickCheck)
	}
	r, err := sql.Open("sqlite3", "file:"+res.Path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var integrity string
	if err := r.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check of the restored database: %q %v", integrity, err)
	}
	var n, minID, maxID int
	if err := r.QueryRow("SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM heartbeat").Scan(&n, &minID, &maxID); err != nil {
		t.Fatal(err)
	}
	if n != rows || minID != 1 || maxID != rows {
		t.Fatalf("restored database: %d rows, ids %d..%d; want %d rows, ids 1..%d", n, minID, maxID, rows, rows)
	}
	var last string
	if err := r.QueryRow("SELECT at FROM heartbeat WHERE id = ?", rows).Scan(&last); err != nil || last != fmt.Sprintf("batch 2 row %d", perBatch) {
		t.Errorf("restored last row: %q %v", last, err)
	}
	t.Logf("restored %d rows up to txid %s from sftp://%s@%s%s in %s: integrity_check ok", n, res.TXID, srv.User, srv.Addr, remote, res.RestoreTook.Round(time.Millisecond))

	// Host key: the config LitestreamYAML writes pins sshd's key (no
	// "not verified" warning); with another key Litestream refuses the
	// host.
	ltxRun := func(conf []byte) (string, error) {
		file := filepath.Join(dir, "hostkey.yml")
		if err := os.WriteFile(file, conf, 0o600); err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(c, bin, "ltx", "-config", file, "-level", "all", "-json", dbPath).CombinedOutput()
		return string(out), err
	}
	const unverified = "sftp host key not verified"
	if out, err := ltxRun(data); err != nil || strings.Contains(out, unverified) || !strings.Contains(out, FormatTXID(newest)) {
		t.Errorf("LitestreamYAML's config (host-key pinned): err %v, want the replica's files without %q:\n%s", err, unverified, lastLines(out, 5))
	}
	if out, err := ltxRun(withHostKey(t, data, srv.OtherKey)); err == nil || !strings.Contains(out, "host key mismatch") {
		t.Errorf("host-key of another key: err %v, want Litestream to refuse the host (ssh: host key mismatch):\n%s", err, lastLines(out, 5))
	}
}
