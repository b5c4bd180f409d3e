package config

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestWriteYAML(t *testing.T) {
	p := writeFile(t, "c.yml", `database:
  path: file.db
  password_file: config/secrets/database_password
console:
  keys:
    quit: [q]
  rules:
    - name: appeal_error_rate
      alert: 0.05
  sources:
    prometheus_url: http://ops:hunter2@127.0.0.1:9091/
`)
	l, err := LoadWithSources(LoadOptions{File: p, Getenv: envOf(map[string]string{"MAX_DB_CONNECTIONS": "12"})})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := l.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# config file: " + p + " (named by flag --config)\n",
		"# environment: development (default)\n",
		"  path: \"file.db\"  # " + p + ":2\n",
		"  max_connections: 12  # env MAX_DB_CONNECTIONS\n",
		"  password_file: \"config/secrets/database_password\"  # " + p + ":3\n",
		"  cache_size: 100000  # default\n",
		"    quit:  # " + p + ":6\n      - \"q\"  # " + p + ":6\n",
		"  rules:  # " + p + ":7\n    - name: \"appeal_error_rate\"  # " + p + ":8\n      target: null  # default\n      alert: 0.05  # " + p + ":9\n",
		"    prometheus_url: \"http://ops:xxxxx@127.0.0.1:9091/\"  # " + p + ":11\n",
		"  refresh_interval: 1s  # default\n",
		"    keep_within: 168h  # default\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Error("a URL's password is shown")
	}
	if t.Failed() {
		t.Log(out)
	}

	// What 'config show' prints is itself a config that loads to the same
	// values (secrets aside).
	again := writeFile(t, "again.yml", out)
	l2, err := LoadWithSources(LoadOptions{File: again, Getenv: envOf(nil)})
	if err != nil {
		t.Fatalf("the output of show does not load: %v", err)
	}
	want := *l.Config
	want.Console.Sources.PrometheusURL = "http://ops:xxxxx@127.0.0.1:9091/"
	if !reflect.DeepEqual(*l2.Config, want) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", *l2.Config, want)
	}
}

func TestWriteJSON(t *testing.T) {
	p := writeFile(t, "c.yml", "monitoring:\n  metrics_port: 9100\n")
	l, err := LoadWithSources(LoadOptions{File: p, DBPath: "x.db", Getenv: envOf(map[string]string{"LOG_LEVEL": "debug"})})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := l.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		File    string
		Derived map[string]string
		Config  map[string]map[string]any
		Sources map[string]string
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.File != p || doc.Derived["metrics_url"] != "http://127.0.0.1:9100/metrics" || doc.Derived["backup_dir"] != "backups" {
		t.Errorf("file %q derived %v", doc.File, doc.Derived)
	}
	if doc.Config["monitoring"]["metrics_port"] != 9100.0 || doc.Config["console"]["refresh_interval"] != "1s" {
		t.Errorf("config %v", doc.Config)
	}
	for key, want := range map[string]string{
		"monitoring.metrics_port": p + ":2", "logging.level": "env LOG_LEVEL",
		"database.path": "flag --db", "database.wal_mode": "default", "console.rules": "default",
		"console.archive.batch_pause": "default", "environment": "default",
	} {
		if doc.Sources[key] != want {
			t.Errorf("sources[%s] = %q, want %q", key, doc.Sources[key], want)
		}
	}
}

func TestIsSecretKey(t *testing.T) {
	tests := map[string]bool{
		"database.password":         true,
		"database.password_file":    false,
		"console.sources.api_key":   true,
		"console.sources.apikey":    true,
		"console.auth.bearer_token": true,
		"console.auth.token_file":   false,
		"notify.client_secret":      true,
		"console.escalation.email":  false,
		"database.path":             false,
		"keys.private_key":          true,
		"console.rules[0].name":     false,
		"x.secrets_dir":             false,
	}
	for key, want := range tests {
		t.Run(key, func(t *testing.T) {
			if got := IsSecretKey(key); got != want {
				t.Errorf("IsSecretKey(%q) = %v, want %v", key, got, want)
			}
		})
	}
}

// TestRedactsSecretValues renders a struct with secret-named keys the way
// 'config show' renders the config.
func TestRedactsSecretValues(t *testing.T) {
	type auth struct {
		APIKey    string `yaml:"api_key"`
		Token     string `yaml:"token"`
		TokenFile string `yaml:"token_file"`
		Empty     string `yaml:"password"`
	}
	v := reflect.ValueOf(auth{APIKey: "k-123", Token: "t-456", TokenFile: "/etc/repops/token"})
	y := &yamlWriter{src: Provenance{}}
	y.writeStruct(v, "auth", 0)
	out := y.b.String()
	for _, want := range []string{`api_key: <redacted>`, `token: <redacted>`, `token_file: "/etc/repops/token"`, `password: ""`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	sources := map[string]string{}
	j, _ := json.Marshal(jsonValue(v, "auth", sources, Provenance{}))
	if strings.Contains(string(j), "k-123") || strings.Contains(string(j), "t-456") || strings.Contains(out, "k-123") {
		t.Errorf("a secret is shown: %s", j)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[string]string{"168h": "168h", "1h30m": "1h30m", "90s": "1m30s", "20ms": "20ms", "1h": "1h", "2m": "2m", "0s": "0s"} {
		got, err := parseDuration(d)
		if err != nil {
			t.Fatal(err)
		}
		if s := formatDuration(got); s != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, s, want)
		}
	}
}
