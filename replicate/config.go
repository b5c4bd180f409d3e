package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/repops/repops/config"
	"github.com/repops/repops/internal/fsutil"
)

// RPO is the guide's recovery point objective for database corruption
// (its objectives table): replication lag beyond it is CRITICAL, and a
// sync interval longer than it cannot meet it.
const RPO = 5 * time.Minute

// MetaDir is the directory Litestream keeps its local state in for the
// database at dbPath (its default meta-path: ".NAME-litestream" beside
// the database).
func MetaDir(dbPath string) string {
	dir, file := filepath.Split(dbPath)
	return filepath.Join(dir, "."+file+"-litestream")
}

// The subset of Litestream v0.5's config (cmd/litestream/main.go: Config,
// DBConfig, ReplicaConfig) that repops writes. Keys are Litestream's own.
type lsConfig struct {
	Addr    string    `yaml:"addr,omitempty"`
	Logging lsLogging `yaml:"logging"`
	DBs     []lsDB    `yaml:"dbs"`
}

// lsLogging sends Litestream's log to stderr, so that the JSON its
// commands print on stdout (ltx, status, databases) is clean.
type lsLogging struct {
	Stderr bool `yaml:"stderr"`
}

type lsDB struct {
	Path    string    `yaml:"path"`
	Replica lsReplica `yaml:"replica"`
}

type lsReplica struct {
	Type         string `yaml:"type"`
	Path         string `yaml:"path,omitempty"`
	Host         string `yaml:"host,omitempty"`
	User         string `yaml:"user,omitempty"`
	KeyPath      string `yaml:"key-path,omitempty"`
	HostKey      string `yaml:"host-key,omitempty"`
	Bucket       string `yaml:"bucket,omitempty"`
	Endpoint     string `yaml:"endpoint,omitempty"`
	Region       string `yaml:"region,omitempty"`
	SyncInterval string `yaml:"sync-interval"`
}

// DBPath is the database's absolute path, as Litestream's config names it
// (Litestream runs from another working directory).
func DBPath(cfg *config.Config) (string, error) {
	if strings.TrimSpace(cfg.Database.Path) == "" {
		return "", errors.New("database.path: not set")
	}
	p, err := filepath.Abs(cfg.Database.Path)
	if err != nil {
		return "", fmt.Errorf("database.path: %w", err)
	}
	return p, nil
}

// Validate refuses a replication config Litestream would reject or that
// would not protect the database; each error is one line naming the key.
func Validate(cfg *config.Config) error {
	rp := cfg.Console.Replication
	dbPath, err := DBPath(cfg)
	if err != nil {
		return err
	}
	if strings.Contains(dbPath, "$") {
		// Litestream expands $VAR in its config; a '$' cannot be escaped.
		return fmt.Errorf("database.path: %q contains '$', which Litestream would expand as an environment variable", dbPath)
	}
	switch len(rp.Replicas) {
	case 0:
		return errors.New("console.replication.replicas: none configured: add one (type file, sftp or s3) to replicate with Litestream")
	case 1:
	default:
		return fmt.Errorf("console.replication.replicas: Litestream %s ships a database to one replica, got %d: keep one (a second copy: a second Litestream config and process)", Version, len(rp.Replicas))
	}
	if rp.SyncInterval <= 0 {
		return fmt.Errorf("console.replication.sync_interval: must be positive, got %s", rp.SyncInterval)
	}
	if rp.SyncInterval > RPO {
		return fmt.Errorf("console.replication.sync_interval: %s cannot meet the guide's %s RPO: use at most %s", rp.SyncInterval, RPO, RPO)
	}
	r := rp.Replicas[0]
	key := "console.replication.replicas[0]"
	for k, v := range map[string]string{"path": r.Path, "host": r.Host, "user": r.User, "key_path": r.KeyPath, "host_key": r.HostKey, "bucket": r.Bucket, "endpoint": r.Endpoint, "region": r.Region} {
		if strings.Contains(v, "$") {
			return fmt.Errorf("%s.%s: %q contains '$', which Litestream would expand as an environment variable", key, k, v)
		}
		if strings.ContainsAny(v, "\n\r") {
			return fmt.Errorf("%s.%s: contains a line break", key, k)
		}
	}
	switch r.Type {
	case "file":
		if !filepath.IsAbs(r.Path) {
			return fmt.Errorf("%s.path: a file replica needs an absolute directory, got %q", key, r.Path)
		}
		p := filepath.Clean(r.Path)
		switch {
		case p == dbPath || p == dbPath+"-wal" || p == dbPath+"-shm":
			return fmt.Errorf("%s.path: %s is the database's own file: the replica needs a directory of its own", key, p)
		case p == filepath.Dir(dbPath):
			return fmt.Errorf("%s.path: %s is the database's directory: use a directory of its own (e.g. %s)", key, p, filepath.Join(p, "replica"))
		case p == MetaDir(dbPath) || strings.HasPrefix(p, MetaDir(dbPath)+string(filepath.Separator)):
			return fmt.Errorf("%s.path: %s is inside Litestream's own state dir for the database (%s)", key, p, MetaDir(dbPath))
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return fmt.Errorf("%s.path: %s is a file, not a directory", key, p)
		}
	case "sftp":
		if strings.TrimSpace(r.Host) == "" {
			return fmt.Errorf("%s.host: an sftp replica needs host (host:port)", key)
		}
		if strings.TrimSpace(r.User) == "" {
			return fmt.Errorf("%s.user: an sftp replica needs user", key)
		}
		if strings.TrimSpace(r.Path) == "" {
			return fmt.Errorf("%s.path: an sftp replica needs the remote directory", key)
		}
		// Decision: the server's identity is pinned. Without host-key
		// Litestream v0.5 accepts any host key (it only logs "sftp host
		// key not verified"): the database would go to whoever answers.
		if f := strings.Fields(r.HostKey); len(f) < 2 || !strings.HasPrefix(f[0], "ssh-") && !strings.HasPrefix(f[0], "ecdsa-") {
			return fmt.Errorf("%s.host_key: an sftp replica needs the server's public host key (\"ssh-ed25519 AAAA...\": ssh-keyscan -t ed25519 HOST, without the host name); without it Litestream accepts any server", key)
		}
		if r.KeyPath != "" && !filepath.IsAbs(r.KeyPath) {
			return fmt.Errorf("%s.key_path: must be absolute (Litestream runs from another directory), got %q", key, r.KeyPath)
		}
	case "s3":
		if strings.TrimSpace(r.Bucket) == "" {
			return fmt.Errorf("%s.bucket: an s3 replica needs bucket", key)
		}
		if strings.TrimSpace(r.Path) == "" {
			return fmt.Errorf("%s.path: an s3 replica needs a key prefix (e.g. %s), so that the bucket's root is not the replica", key, filepath.Base(dbPath))
		}
	default:
		return fmt.Errorf("%s.type: must be file, sftp or s3, got %q", key, r.Type)
	}
	return nil
}

// LitestreamYAML is Litestream's config for the configured database and
// its replica: the database's absolute path, the replica, the sync
// interval, and addr, the listener of Litestream's Prometheus metrics.
// S3 credentials are never written: Litestream reads AWS_ACCESS_KEY_ID
// and AWS_SECRET_ACCESS_KEY from its environment.
func LitestreamYAML(cfg *config.Config) ([]byte, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	dbPath, _ := DBPath(cfg)
	rp := cfg.Console.Replication
	r := rp.Replicas[0]
	lr := lsReplica{Type: r.Type, SyncInterval: rp.SyncInterval.String()}
	switch r.Type {
	case "file":
		lr.Path = filepath.Clean(r.Path)
	case "sftp":
		lr.Host, lr.User, lr.KeyPath, lr.HostKey, lr.Path = r.Host, r.User, r.KeyPath, strings.TrimSpace(r.HostKey), r.Path
	case "s3":
		lr.Bucket, lr.Path, lr.Endpoint, lr.Region = r.Bucket, r.Path, r.Endpoint, r.Region
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Litestream %s config for %s, written by 'repops replicate config'\n", Version, dbPath)
	fmt.Fprintf(&buf, "# from repops' console.replication. Run: litestream replicate -config THIS_FILE\n")
	if r.Type == "s3" {
		fmt.Fprintf(&buf, "# Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in Litestream's environment.\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(lsConfig{Addr: rp.MetricsAddr, Logging: lsLogging{Stderr: true}, DBs: []lsDB{{Path: dbPath, Replica: lr}}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DatabaseInfo is one database of 'litestream databases -json'.
type DatabaseInfo struct {
	Path    string `json:"path"`
	Replica string `json:"replica"`
}

// CheckWithBinary has the litestream binary at bin read the config data
// ('litestream databases -config'): it must parse, build its replica and
// list the database dbPath. The config is written to a scratch directory
// for that, then removed.
func CheckWithBinary(ctx context.Context, bin string, data []byte, dbPath string) error {
	dir, err := os.MkdirTemp("", "repops-litestream-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "litestream.yml")
	if err := fsutil.WriteAtomic(file, data, 0o600); err != nil {
		return err
	}
	dbs, err := ListDatabases(ctx, bin, file)
	if err != nil {
		return err
	}
	for _, d := range dbs {
		if d.Path == dbPath {
			return nil
		}
	}
	return fmt.Errorf("litestream databases does not list %s in the generated config", dbPath)
}

// ListDatabases runs 'litestream databases -json -config file'.
func ListDatabases(ctx context.Context, bin, file string) ([]DatabaseInfo, error) {
	out, err := runLitestream(ctx, bin, "databases", "-json", "-config", file)
	if err != nil {
		return nil, err
	}
	var dbs []DatabaseInfo
	if err := json.Unmarshal(out, &dbs); err != nil {
		return nil, fmt.Errorf("litestream databases: unexpected output: %w", err)
	}
	return dbs, nil
}

// runLitestream runs the litestream binary with args, bounded by 30 s,
// and returns its standard output; a failure carries its last stderr line.
func runLitestream(ctx context.Context, bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Litestream logs through LOG_LEVEL; keep its chatter off stdout.
	cmd.Env = append(os.Environ(), "LOG_LEVEL=ERROR")
	if err := cmd.Run(); err != nil {
		msg := lastLine(stderr.String())
		if msg == "" {
			msg = lastLine(stdout.String())
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("litestream %s: %s", args[0], msg)
	}
	return stdout.Bytes(), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
