package replicate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/repops/repops/config"
	"github.com/repops/repops/internal/testsupport"
)

// checkConfig is the defaults with the database at dbPath and one replica.
func checkConfig(dbPath string, r config.Replica) *config.Config {
	c := config.Defaults()
	c.Database.Path = dbPath
	c.Console.StateDir = filepath.Join(filepath.Dir(dbPath), "state")
	c.Console.Replication.Replicas = []config.Replica{r}
	return &c
}

// litestreamForTest is testsupport.LitestreamBinary: the real litestream.
func litestreamForTest(t *testing.T) string { return testsupport.LitestreamBinary(t) }

func TestLitestreamYAML(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "architect.db")
	for _, tc := range []struct {
		name string
		r    config.Replica
		want map[string]string
	}{
		{"file", config.Replica{Type: "file", Path: filepath.Join(dir, "replica")}, map[string]string{"type": "file", "path": filepath.Join(dir, "replica")}},
		{"sftp", config.Replica{Type: "sftp", Host: "backup.example:22", User: "ls", KeyPath: "/etc/litestream/id_ed25519", HostKey: testHostKey, Path: "/srv/replicas/architect"},
			map[string]string{"type": "sftp", "host": "backup.example:22", "user": "ls", "key-path": "/etc/litestream/id_ed25519", "host-key": testHostKey, "path": "/srv/replicas/architect"}},
		{"s3", config.Replica{Type: "s3", Bucket: "reps", Path: "architect", Endpoint: "http://127.0.0.1:9000", Region: "us-east-1"},
			map[string]string{"type": "s3", "bucket": "reps", "path": "architect", "endpoint": "http://127.0.0.1:9000", "region": "us-east-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := checkConfig(db, tc.r)
			cfg.Console.Replication.SyncInterval = 500 * time.Millisecond
			data, err := LitestreamYAML(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Addr string `yaml:"addr"`
				DBs  []struct {
					Path    string            `yaml:"path"`
					Replica map[string]string `yaml:"replica"`
				} `yaml:"dbs"`
			}
			if err := yaml.Unmarshal(data, &got); err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if got.Addr != "127.0.0.1:9092" || len(got.DBs) != 1 || got.DBs[0].Path != db {
				t.Fatalf("addr %q, dbs %+v:\n%s", got.Addr, got.DBs, data)
			}
			tc.want["sync-interval"] = "500ms"
			for k, v := range tc.want {
				if got.DBs[0].Replica[k] != v {
					t.Errorf("replica.%s = %q, want %q\n%s", k, got.DBs[0].Replica[k], v, data)
				}
			}
			if len(got.DBs[0].Replica) != len(tc.want) {
				t.Errorf("replica has keys %v, want exactly %v", got.DBs[0].Replica, tc.want)
			}
			for _, line := range strings.Split(strings.ToLower(string(data)), "\n") {
				if !strings.HasPrefix(line, "#") && (strings.Contains(line, "secret") || strings.Contains(line, "access-key")) {
					t.Errorf("credentials in the config: %s", line)
				}
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "architect.db")
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	file := func(p string) config.Replica { return config.Replica{Type: "file", Path: p} }
	for _, tc := range []struct {
		name, want string
		mod        func(c *config.Config)
	}{
		{"no replicas", "console.replication.replicas: none configured", func(c *config.Config) { c.Console.Replication.Replicas = nil }},
		{"two replicas", "console.replication.replicas: Litestream v0.5.18 ships a database to one replica, got 2", func(c *config.Config) {
			c.Console.Replication.Replicas = append(c.Console.Replication.Replicas, file(filepath.Join(dir, "r2")))
		}},
		{"the database itself", "console.replication.replicas[0].path: " + db + " is the database's own file", func(c *config.Config) { c.Console.Replication.Replicas[0] = file(db) }},
		{"its WAL", "is the database's own file", func(c *config.Config) { c.Console.Replication.Replicas[0] = file(db + "-wal") }},
		{"the database's dir", "console.replication.replicas[0].path: " + dir + " is the database's directory", func(c *config.Config) { c.Console.Replication.Replicas[0] = file(dir + "/") }},
		{"Litestream's state dir", "inside Litestream's own state dir", func(c *config.Config) {
			c.Console.Replication.Replicas[0] = file(filepath.Join(dir, ".architect.db-litestream", "r"))
		}},
		{"relative", `console.replication.replicas[0].path: a file replica needs an absolute directory, got "replica"`, func(c *config.Config) { c.Console.Replication.Replicas[0] = file("replica") }},
		{"a file", "console.replication.replicas[0].path: " + plain + " is a file, not a directory", func(c *config.Config) { c.Console.Replication.Replicas[0] = file(plain) }},
		{"a dollar", "contains '$', which Litestream would expand", func(c *config.Config) { c.Console.Replication.Replicas[0] = file(dir + "/$HOME") }},
		{"slow sync", "console.replication.sync_interval: 10m0s cannot meet the guide's 5m0s RPO", func(c *config.Config) { c.Console.Replication.SyncInterval = 10 * time.Minute }},
		{"sftp without host", "console.replication.replicas[0].host: an sftp replica needs host", func(c *config.Config) {
			c.Console.Replication.Replicas[0] = config.Replica{Type: "sftp", User: "u", Path: "/r"}
		}},
		{"s3 without prefix", "console.replication.replicas[0].path: an s3 replica needs a key prefix", func(c *config.Config) {
			c.Console.Replication.Replicas[0] = config.Replica{Type: "s3", Bucket: "b"}
		}},
		{"sftp without host_key", "console.replication.replicas[0].host_key: an sftp replica needs the server's public host key", func(c *config.Config) {
			c.Console.Replication.Replicas[0] = config.Replica{Type: "sftp", Host: "h:22", User: "u", Path: "/r"}
		}},
		{"unknown type", `console.replication.replicas[0].type: must be file, sftp or s3, got "gcs"`, func(c *config.Config) {
			c.Console.Replication.Replicas[0] = config.Replica{Type: "gcs", Path: "x"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := checkConfig(db, file(filepath.Join(dir, "replica")))
			tc.mod(cfg)
			_, err := LitestreamYAML(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
		})
	}
}

// TestLitestreamAcceptsConfig: the real binary parses every replica type's
// config and lists the database (no connection is made for sftp or s3).
func TestLitestreamAcceptsConfig(t *testing.T) {
	bin := litestreamForTest(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "architect.db")
	for _, r := range []config.Replica{
		{Type: "file", Path: filepath.Join(dir, "replica")},
		{Type: "sftp", Host: "127.0.0.1:2222", User: "ls", KeyPath: "/nonexistent/id", HostKey: testHostKey, Path: "/srv/r"},
		{Type: "s3", Bucket: "reps", Path: "architect", Endpoint: "http://127.0.0.1:9000", Region: "us-east-1"},
	} {
		data, err := LitestreamYAML(checkConfig(db, r))
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckWithBinary(context.Background(), bin, data, db); err != nil {
			t.Errorf("%s: %v\n%s", r.Type, err, data)
		}
	}
	// A config Litestream refuses is reported with its reason.
	err := CheckWithBinary(context.Background(), bin, []byte("dbs:\n  - path: "+db+"\n"), db)
	if err == nil || !strings.Contains(err.Error(), "replica") {
		t.Errorf("a config with no replica: %v", err)
	}
}

// testHostKey is an sftp server's public host key as a config gives it.
const testHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
