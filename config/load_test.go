package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envOf is a Getenv over a fixed map: the tests never read the real
// environment unless they mean to.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes a config file in a temp dir and returns its path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshot is a file's bytes and modification time, to prove a failed
// load changed nothing.
type snapshot struct {
	data  []byte
	mtime time.Time
}

func snap(t *testing.T, p string) snapshot {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{b, st.ModTime()}
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a *config.Error, got %T %v", err, err)
	}
	return ce.Problems
}

func TestLoadBadFile(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // the first problem, after "FILE:"
	}{
		{"unknown key", "database:\n  path: x.db\n  max_conections: 5\n", "3: database.max_conections: unknown key (did you mean database.max_connections?)"},
		{"unknown section", "databse:\n  path: x.db\n", "1: databse: unknown key (did you mean database?)"},
		{"unknown key far from any", "console:\n  colour_scheme: red\n", "2: console.colour_scheme: unknown key (known keys in console: environment"},
		{"yaml syntax error", "database:\n  path: [x.db\nlogging:\n  level: info\n", "YAML syntax error"},
		{"tab indentation", "database:\n\tpath: x.db\n", "2: YAML syntax error: found character that cannot start any token"},
		{"negative max_connections", "database:\n  max_connections: -5\n", "2: database.max_connections: must be between 1 and 1000, got -5"},
		{"zero max_connections", "database:\n  max_connections: 0\n", "2: database.max_connections: must be between 1 and 1000, got 0"},
		{"wrong type int", "reputation:\n  batch_size: lots\n", "2: reputation.batch_size: want a whole number, got \"lots\""},
		{"huge int", "database:\n  max_connections: 99999999999\n", "2: database.max_connections: 99999999999 is out of range"},
		{"float for int", "reputation:\n  batch_size: 1.5\n", "2: reputation.batch_size: want a whole number, got \"1.5\""},
		{"wrong type bool", "reputation:\n  cache_enabled: sometimes\n", "2: reputation.cache_enabled: want true or false, got \"sometimes\""},
		{"wrong type float", "reputation:\n  ml_confidence_threshold: high\n", "2: reputation.ml_confidence_threshold: want a number, got \"high\""},
		{"list for scalar", "logging:\n  level: [info]\n", "2: logging.level: want a single value, got a list"},
		{"scalar for section", "logging: info\n", "1: logging: want a mapping of keys (key: value lines), got \"info\""},
		{"bad duration", "console:\n  refresh_interval: soon\n", "2: console.refresh_interval: want a duration such as 90s, 15m or 168h, got \"soon\""},
		{"duration without unit", "console:\n  backup:\n    keep_within: 168\n", "3: console.backup.keep_within: want a duration with a unit, such as 168s or 168m, got 168"},
		{"refresh too fast", "console:\n  refresh_interval: 50ms\n", "2: console.refresh_interval: must be at least 100ms, got 50ms"},
		{"negative cache ttl", "reputation:\n  cache_ttl_minutes: -1\n", "2: reputation.cache_ttl_minutes: cannot be negative, got -1"},
		{"port too high", "monitoring:\n  metrics_port: 65536\n", "2: monitoring.metrics_port: must be between 1 and 65535, got 65536"},
		{"port zero", "monitoring:\n  metrics_port: 0\n", "2: monitoring.metrics_port: must be between 1 and 65535, got 0"},
		{"unknown log level", "logging:\n  level: verbose\n", "2: logging.level: must be one of debug, info, warn, warning, error, got \"verbose\""},
		{"unknown log format", "logging:\n  format: xml\n", "2: logging.format: must be one of json, text, got \"xml\""},
		{"unknown journal mode", "database:\n  wal_mode: false\n  journal_mode: FAST\n", "3: database.journal_mode: must be one of WAL, DELETE"},
		{"wal contradiction", "database:\n  journal_mode: DELETE\n", "2: database.journal_mode: wal_mode: true contradicts journal_mode: DELETE"},
		{"threshold above one", "reputation:\n  ml_confidence_threshold: 1.5\n", "2: reputation.ml_confidence_threshold: must be between 0 and 1, got 1.5"},
		{"health check zero", "monitoring:\n  health_check_interval_seconds: 0\n", "2: monitoring.health_check_interval_seconds: must be at least 1, got 0"},
		{"duplicate key", "database:\n  path: a.db\n  path: b.db\n", "3: database.path: duplicate key (first at line 2)"},
		{"no value", "database:\n  path:\n", "2: database.path: has no value"},
		{"second document", "database:\n  path: a.db\n---\ndatabase:\n  path: b.db\n", "a second YAML document"},
		{"bad url", "console:\n  sources:\n    metrics_url: localhost:9090\n", "3: console.sources.metrics_url: must be an http:// or https:// URL"},
		{"keep_last zero", "console:\n  backup:\n    keep_last: 0\n", "3: console.backup.keep_last: must be at least 1"},
		{"bad theme", "console:\n  theme: neon\n", "2: console.theme: must be one of default, high-contrast, mono"},
		{"bad environment name", "console:\n  environment: ../prod\n", "2: console.environment: environment \"../prod\" is not a plain name"},
		{"rule without name", "console:\n  rules:\n    - alert: 5\n", "3: console.rules[0].name: every rule override needs the name"},
		{"rule unknown key", "console:\n  rules:\n    - name: x\n      threshold: 5\n", "4: console.rules[0].threshold: unknown key"},
		{"escalation level zero", "console:\n  escalation:\n    levels:\n      - level: 0\n", "4: console.escalation.levels[0].level: support levels start at 1"},
		{"silence max too short", "console:\n  silences:\n    max_duration:\n      critical: 30s\n", "4: console.silences.max_duration.critical: must be between 1m and 720h (to turn a rule off"},
		{"silence max unknown severity", "console:\n  silences:\n    max_duration:\n      page: 1h\n", "4: console.silences.max_duration.page: unknown key"},
		{"merge key", "a: &a\n  path: x.db\ndatabase:\n  <<: *a\n", "1: a: unknown key"},
		{"top-level list", "- a\n- b\n", "1: want a mapping of keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "bad.yml", tt.body)
			before := snap(t, p)
			var c *Config
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				c, _, err = Load(LoadOptions{File: p, Getenv: envOf(nil)})
			}()
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			ps := problemsOf(t, err)
			if got := ps[0].String(); !strings.HasPrefix(got, p+":") || !strings.Contains(got, tt.want) {
				t.Errorf("first problem\n got %q\nwant %q", got, p+":"+tt.want)
			}
			if !strings.Contains(err.Error(), ps[0].String()) {
				t.Errorf("error %q does not show the first problem", err)
			}
			if after := snap(t, p); !bytes.Equal(before.data, after.data) || !before.mtime.Equal(after.mtime) {
				t.Error("the config file changed")
			}
		})
	}
}

func TestLoadCollectsEveryProblemInLineOrder(t *testing.T) {
	p := writeFile(t, "bad.yml", `reputation:
  batch_size: x
database:
  max_connections: -1
  pathh: a.db
logging:
  level: loud
`)
	_, err := LoadWithSources(LoadOptions{File: p, Getenv: envOf(map[string]string{"METRICS_PORT": "0"})})
	ps := problemsOf(t, err)
	var got []string
	for _, pr := range ps {
		got = append(got, pr.Source.String()+" "+pr.Key)
	}
	want := []string{
		p + ":2 reputation.batch_size",
		p + ":4 database.max_connections",
		p + ":5 database.pathh",
		p + ":7 logging.level",
		"env METRICS_PORT monitoring.metrics_port",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(err.Error(), "(and 4 more: run 'repops config check')") {
		t.Errorf("error does not count the others: %v", err)
	}
}

func TestLoadBadEnv(t *testing.T) {
	tests := []struct {
		name, env, value, want string
	}{
		{"max connections not a number", "MAX_DB_CONNECTIONS", "abc", `env MAX_DB_CONNECTIONS: database.max_connections: want a whole number, got "abc"`},
		{"max connections negative", "MAX_DB_CONNECTIONS", "-1", "env MAX_DB_CONNECTIONS: database.max_connections: must be between 1 and 1000, got -1"},
		{"port out of range", "METRICS_PORT", "99999", "env METRICS_PORT: monitoring.metrics_port: must be between 1 and 65535, got 99999"},
		{"bool", "CACHE_ENABLED", "maybe", `env CACHE_ENABLED: reputation.cache_enabled: want true or false, got "maybe"`},
		{"ttl unit", "CACHE_TTL_MINUTES", "5m", `env CACHE_TTL_MINUTES: reputation.cache_ttl_minutes: want a whole number of minutes, got "5m"`},
		{"health interval", "HEALTH_CHECK_INTERVAL", "0", "env HEALTH_CHECK_INTERVAL: monitoring.health_check_interval_seconds: must be at least 1, got 0"},
		{"log level", "LOG_LEVEL", "chatty", `env LOG_LEVEL: logging.level: must be one of debug`},
		{"environment name", "ENVIRONMENT", "prod/../x", `env ENVIRONMENT: environment: environment "prod/../x" is not a plain name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(LoadOptions{Getenv: envOf(map[string]string{tt.env: tt.value})})
			if err == nil {
				t.Fatal("no error")
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), tt.want) {
				t.Errorf("problems %v, want one starting %q", ps, tt.want)
			}
		})
	}
}

func TestEnvOverridesFile(t *testing.T) {
	p := writeFile(t, "c.yml", `reputation:
  cache_enabled: false
  cache_ttl_minutes: 5
  notification_enabled: false
  ml_predictions_enabled: false
database:
  path: file.db
  max_connections: 5
logging:
  level: debug
monitoring:
  metrics_enabled: false
  metrics_port: 9100
  health_check_interval_seconds: 10
`)
	env := map[string]string{
		"DATABASE_PATH": "env.db", "ENVIRONMENT": "staging", "LOG_LEVEL": "warn",
		"ENABLE_NOTIFICATIONS": "true", "ENABLE_ML_PREDICTIONS": "yes", "MAX_DB_CONNECTIONS": "12",
		"CACHE_ENABLED": "1", "CACHE_TTL_MINUTES": "15", "METRICS_ENABLED": "true",
		"METRICS_PORT": "9191", "HEALTH_CHECK_INTERVAL": " 45 ",
	}
	l, err := LoadWithSources(LoadOptions{File: p, Getenv: envOf(env)})
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	got := []any{c.Database.Path, c.Environment, c.Logging.Level, c.Reputation.NotificationEnabled,
		c.Reputation.MLPredictionsEnabled, c.Database.MaxConnections, c.Reputation.CacheEnabled,
		c.Reputation.CacheTTLMinutes, c.Monitoring.MetricsEnabled, c.Monitoring.MetricsPort,
		c.Monitoring.HealthCheckIntervalSeconds}
	want := []any{"env.db", "staging", "warn", true, true, 12, true, 15, true, 9191, 45}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("effective\n got %v\nwant %v", got, want)
	}
	for _, e := range EnvVars() {
		if s := l.Sources.Of(e.Key); s.Kind != FromEnv || s.Name != e.Name {
			t.Errorf("%s: source %v, want env %s", e.Key, s, e.Name)
		}
	}
	if s := l.Sources.Of("environment"); s.String() != "env ENVIRONMENT" {
		t.Errorf("environment source %v", s)
	}
}

func TestEnvVarsNameKnownKeys(t *testing.T) {
	c := Defaults()
	for _, e := range EnvVars() {
		if _, ok := fieldByKey(&c, e.Key); !ok {
			t.Errorf("%s names unknown key %s", e.Name, e.Key)
		}
	}
}

func TestFlagsOverrideEnvAndFile(t *testing.T) {
	p := writeFile(t, "c.yml", "database:\n  path: file.db\nconsole:\n  environment: drill\n")
	l, err := LoadWithSources(LoadOptions{File: p, DBPath: "flag.db", Environment: "production",
		Getenv: envOf(map[string]string{"DATABASE_PATH": "env.db", "ENVIRONMENT": "staging"})})
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.Database.Path != "flag.db" || l.Sources.Of("database.path").String() != "flag --db" {
		t.Errorf("path %q from %v", l.Config.Database.Path, l.Sources.Of("database.path"))
	}
	if l.Config.Environment != "production" || l.Sources.Of("environment").String() != "flag --env" {
		t.Errorf("environment %q from %v", l.Config.Environment, l.Sources.Of("environment"))
	}
}

func TestEnvironmentPrecedence(t *testing.T) {
	p := writeFile(t, "c.yml", "console:\n  environment: drill\n")
	tests := []struct {
		name    string
		env     map[string]string
		flag    string
		want    string
		wantSrc string
	}{
		{"file over default", nil, "", "drill", p + ":2"},
		{"env over file", map[string]string{"ENVIRONMENT": "production"}, "", "production", "env ENVIRONMENT"},
		{"flag over env", map[string]string{"ENVIRONMENT": "production"}, "staging", "staging", "flag --env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := LoadWithSources(LoadOptions{File: p, Environment: tt.flag, Getenv: envOf(tt.env)})
			if err != nil {
				t.Fatal(err)
			}
			if l.Config.Environment != tt.want || l.Sources.Of("environment").String() != tt.wantSrc {
				t.Errorf("got %q from %v, want %q from %s", l.Config.Environment, l.Sources.Of("environment"), tt.want, tt.wantSrc)
			}
		})
	}
}

func TestProvenance(t *testing.T) {
	p := writeFile(t, "c.yml", `# a comment
database:
  path: file.db

  max_connections: 7
console:
  keys:
    quit: [q, ctrl+c]
    help: "?"
  rules:
    - name: appeal_error_rate
      alert: 0.1
      for: 10m
`)
	l, err := LoadWithSources(LoadOptions{File: p, DBPath: "flag.db",
		Getenv: envOf(map[string]string{"METRICS_PORT": "9200"})})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"database.path":              "flag --db",
		"database.max_connections":   p + ":5",
		"database.cache_size":        "default",
		"monitoring.metrics_port":    "env METRICS_PORT",
		"console.keys.quit":          p + ":8",
		"console.keys.help":          p + ":9",
		"console.rules":              p + ":10",
		"console.rules[0].name":      p + ":11",
		"console.rules[0].alert":     p + ":12",
		"console.rules[0].for":       p + ":13",
		"console.rules[0].target":    "default",
		"environment":                "default",
		"console.sources.timeout":    "default",
		"reputation.cache_enabled":   "default",
		"logging.level":              "default",
		"console.backup.keep_within": "default",
	}
	for key, w := range want {
		if got := l.Sources.Of(key).String(); got != w {
			t.Errorf("%s: source %q, want %q", key, got, w)
		}
	}
	c := l.Config
	if !reflect.DeepEqual(c.Console.Keys, map[string][]string{"quit": {"q", "ctrl+c"}, "help": {"?"}}) {
		t.Errorf("keys %v", c.Console.Keys)
	}
	r := c.Console.Rules[0]
	if r.Name != "appeal_error_rate" || r.Alert == nil || *r.Alert != 0.1 || r.Target != nil || r.For != 10*time.Minute {
		t.Errorf("rule %+v", r)
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		text string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"168h", 168 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{`"2s"`, 2 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			p := writeFile(t, "c.yml", "console:\n  backup:\n    keep_within: "+tt.text+"\n")
			c, _, err := Load(LoadOptions{File: p, Getenv: envOf(nil)})
			if err != nil {
				t.Fatal(err)
			}
			if c.Console.Backup.KeepWithin != tt.want {
				t.Errorf("got %v, want %v", c.Console.Backup.KeepWithin, tt.want)
			}
		})
	}
}

func TestEmptyAndCommentOnlyFilesAreDefaults(t *testing.T) {
	for name, body := range map[string]string{"empty": "", "comments": "# nothing yet\n", "empty sections": "database:\nlogging:\n"} {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, "c.yml", body)
			c, file, err := Load(LoadOptions{File: p, Getenv: envOf(nil)})
			if err != nil {
				t.Fatal(err)
			}
			if file != p || !reflect.DeepEqual(*c, Defaults()) {
				t.Errorf("file %q, config differs from the defaults: %+v", file, c)
			}
		})
	}
}

func TestNamedFileProblems(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts LoadOptions
		want string
	}{
		{"missing flag file", LoadOptions{File: filepath.Join(dir, "nope.yml")}, "nope.yml: config file not found (named by flag --config): check the path"},
		{"missing env file", LoadOptions{Getenv: envOf(map[string]string{"REPOPS_CONFIG": filepath.Join(dir, "gone.yml")})}, "gone.yml: config file not found (named by env REPOPS_CONFIG)"},
		{"directory", LoadOptions{File: dir}, "is a directory, not a config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.Getenv == nil {
				tt.opts.Getenv = envOf(nil)
			}
			_, _, err := Load(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// clearGuideEnv empties every variable Load reads, for tests that use the
// real environment.
func clearGuideEnv(t *testing.T) {
	t.Helper()
	for _, e := range EnvVars() {
		t.Setenv(e.Name, "")
	}
	t.Setenv("ENVIRONMENT", "")
	t.Setenv("REPOPS_CONFIG", "")
}

func TestSearchOrder(t *testing.T) {
	clearGuideEnv(t)
	work, home := t.TempDir(), t.TempDir()
	t.Chdir(work)
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "xdg"))

	write := func(p string, port int) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		body := "monitoring:\n  metrics_port: " + strconv.Itoa(port) + "\n"
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	user := filepath.Join(home, "xdg", "repops", "config.yml")
	devFile := filepath.Join("config", "reputation_development.yml")
	stagingFile := filepath.Join("config", "reputation_staging.yml")
	named := filepath.Join(work, "named.yml")
	envNamed := filepath.Join(work, "env.yml")

	check := func(name string, opts LoadOptions, wantFile string, wantPort int) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			l, err := LoadWithSources(opts)
			if err != nil {
				t.Fatal(err)
			}
			if l.File != wantFile || l.Config.Monitoring.MetricsPort != wantPort {
				t.Errorf("file %q port %d, want %q port %d", l.File, l.Config.Monitoring.MetricsPort, wantFile, wantPort)
			}
		})
	}

	check("nothing anywhere: defaults", LoadOptions{}, "", 9090)
	write(user, 9004)
	check("user config dir", LoadOptions{}, user, 9004)
	write(devFile, 9003)
	check("config/reputation_development.yml before the user dir", LoadOptions{}, devFile, 9003)
	write(stagingFile, 9033)
	t.Setenv("ENVIRONMENT", "staging")
	check("ENVIRONMENT picks the file", LoadOptions{}, stagingFile, 9033)
	check("--env picks the file", LoadOptions{Environment: "development"}, devFile, 9003)
	t.Setenv("ENVIRONMENT", "production")
	check("no file for the environment: user dir", LoadOptions{}, user, 9004)
	write(envNamed, 9002)
	t.Setenv("REPOPS_CONFIG", envNamed)
	check("REPOPS_CONFIG before the search", LoadOptions{}, envNamed, 9002)
	write(named, 9001)
	check("--config before REPOPS_CONFIG", LoadOptions{File: named}, named, 9001)

	t.Run("XDG_CONFIG_HOME unset: ~/.config", func(t *testing.T) {
		t.Setenv("REPOPS_CONFIG", "")
		t.Setenv("XDG_CONFIG_HOME", "")
		p := filepath.Join(home, ".config", "repops", "config.yml")
		write(p, 9005)
		l, err := LoadWithSources(LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if l.File != p || l.FileFrom != "search" {
			t.Errorf("file %q from %q, want %q", l.File, l.FileFrom, p)
		}
		if want := []string{filepath.Join("config", "reputation_production.yml"), p}; !reflect.DeepEqual(l.Searched, want) {
			t.Errorf("searched %q, want %q", l.Searched, want)
		}
	})
}

func TestExampleConfigs(t *testing.T) {
	tests := []struct {
		env        string
		conns, ttl int
	}{
		// The guide's resource allocation table.
		{"development", 5, 5},
		{"staging", 10, 15},
		{"production", 20, 60},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			p := "reputation_" + tt.env + ".yml"
			l, err := LoadWithSources(LoadOptions{File: p, Getenv: envOf(nil)})
			if err != nil {
				t.Fatalf("the example does not pass its own check: %v", err)
			}
			c := l.Config
			if c.Database.MaxConnections != tt.conns || c.Reputation.CacheTTLMinutes != tt.ttl {
				t.Errorf("connections %d, cache TTL %d; the guide says %d and %d",
					c.Database.MaxConnections, c.Reputation.CacheTTLMinutes, tt.conns, tt.ttl)
			}
			if c.Environment != tt.env {
				t.Errorf("environment %q", c.Environment)
			}
			// Every key of the guide's template is spelled out in the file.
			for _, key := range []string{"reputation.appeal_window_days", "reputation.ml_cache_ttl_minutes",
				"database.path", "database.journal_mode", "database.cache_size",
				"logging.level", "logging.format", "logging.output",
				"monitoring.metrics_port", "monitoring.profiling_enabled"} {
				if l.Sources.Of(key).Kind != FromFile {
					t.Errorf("%s is not set in %s", key, p)
				}
			}
		})
	}
	t.Run("development runs from the repository root", func(t *testing.T) {
		c, _, err := Load(LoadOptions{File: "reputation_development.yml", Getenv: envOf(nil)})
		if err != nil {
			t.Fatal(err)
		}
		got := []string{c.Database.Path, c.StateDir(), c.BackupDir(), c.MetricsURL()}
		want := []string{"data/demo/architect.db", "data/state", "data/backups", "http://127.0.0.1:9090/metrics"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

// BenchmarkLoadWithSources measures a full load of the production example:
// read, walk, environment, validation.
func BenchmarkLoadWithSources(b *testing.B) {
	opts := LoadOptions{File: "reputation_production.yml", Getenv: envOf(map[string]string{"MAX_DB_CONNECTIONS": "16"})}
	for b.Loop() {
		if _, err := LoadWithSources(opts); err != nil {
			b.Fatal(err)
		}
	}
}
