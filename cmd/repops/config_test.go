package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// configTestEnv isolates a test from the machine's configuration: no guide
// variables, an empty home and user config dir, and a working directory
// without a config/ folder.
func configTestEnv(t *testing.T) string {
	t.Helper()
	for _, v := range []string{"DATABASE_PATH", "ENVIRONMENT", "LOG_LEVEL", "ENABLE_NOTIFICATIONS",
		"ENABLE_ML_PREDICTIONS", "MAX_DB_CONNECTIONS", "CACHE_ENABLED", "CACHE_TTL_MINUTES",
		"METRICS_ENABLED", "METRICS_PORT", "HEALTH_CHECK_INTERVAL", "REPOPS_CONFIG"} {
		t.Setenv(v, "")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	work := t.TempDir()
	t.Chdir(work)
	return work
}

type fileState struct {
	data  []byte
	mtime time.Time
}

func fileStateOf(t *testing.T, p string) fileState {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{b, st.ModTime()}
}

func TestConfigBadInput(t *testing.T) {
	tests := []struct {
		name string
		body string
		env  map[string]string
		want string // the first problem, after "FILE:" (or the whole line for env)
	}{
		{"unknown key", "database:\n  path: x.db\n  max_conections: 5\n", nil, "3: database.max_conections: unknown key (did you mean database.max_connections?)"},
		{"yaml syntax error", "database:\n  path: \"x.db\n", nil, "2: YAML syntax error"},
		{"negative max_connections", "database:\n  max_connections: -1\n", nil, "2: database.max_connections: must be between 1 and 1000, got -1"},
		{"wrong type", "monitoring:\n  metrics_port: ninety\n", nil, "2: monitoring.metrics_port: want a whole number, got \"ninety\""},
		{"bad duration", "console:\n  refresh_interval: 1 second\n", nil, "2: console.refresh_interval: want a duration such as 90s, 15m or 168h"},
		{"bad env var", "database:\n  path: x.db\n", map[string]string{"MAX_DB_CONNECTIONS": "abc"}, "env MAX_DB_CONNECTIONS: database.max_connections: want a whole number, got \"abc\""},
		{"negative env var", "", map[string]string{"MAX_DB_CONNECTIONS": "-1"}, "env MAX_DB_CONNECTIONS: database.max_connections: must be between 1 and 1000, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := configTestEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			p := filepath.Join(work, "bad.yml")
			if err := os.WriteFile(p, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			before := fileStateOf(t, p)
			want := tt.want
			if tt.env == nil {
				want = p + ":" + want
			}

			t.Run("config check", func(t *testing.T) {
				stdout, stderr, code, _ := runRepopsCmd(t, "config", "check", p)
				if code != exitFailure {
					t.Errorf("exit %d, want %d", code, exitFailure)
				}
				if !strings.HasPrefix(stderr, want) {
					t.Errorf("stderr %q, want it to start %q", stderr, want)
				}
				if stdout != "" {
					t.Errorf("stdout %q", stdout)
				}
			})
			t.Run("config show", func(t *testing.T) {
				_, stderr, code, _ := runRepopsCmd(t, "--config", p, "config", "show")
				if code != exitFailure || !strings.HasPrefix(stderr, want) {
					t.Errorf("exit %d stderr %q", code, stderr)
				}
			})
			t.Run("any other command", func(t *testing.T) {
				// migrate status never reaches the database: the config
				// stops it first.
				_, _, code, err := runRepopsCmd(t, "--config", p, "--db", filepath.Join(work, "none.db"), "migrate", "status")
				if code != exitUsage {
					t.Errorf("exit %d, want %d (err %v)", code, exitUsage, err)
				}
				if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), want) {
					t.Errorf("error %q: want one line with %q", err, want)
				}
				if _, statErr := os.Stat(filepath.Join(work, "none.db")); !os.IsNotExist(statErr) {
					t.Error("a database file appeared")
				}
			})
			if after := fileStateOf(t, p); !bytes.Equal(before.data, after.data) || !before.mtime.Equal(after.mtime) {
				t.Error("the config file changed")
			}
		})
	}
}

func TestConfigCheckReportsEveryProblem(t *testing.T) {
	work := configTestEnv(t)
	p := filepath.Join(work, "bad.yml")
	body := "database:\n  max_connections: 0\n  journal_mode: FAST\nlogging:\n  format: xml\n  colour: true\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code, _ := runRepopsCmd(t, "config", "check", p)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != exitFailure || len(lines) != 4 {
		t.Fatalf("exit %d, %d lines:\n%s", code, len(lines), stderr)
	}
	for i, line := range []int{2, 3, 5, 6} {
		if prefix := p + ":" + string(rune('0'+line)) + ": "; !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("line %d %q, want prefix %q", i, lines[i], prefix)
		}
	}
}

func TestConfigCheckMissingFile(t *testing.T) {
	work := configTestEnv(t)
	p := filepath.Join(work, "nope.yml")
	_, stderr, code, _ := runRepopsCmd(t, "config", "check", p)
	if code != exitFailure || !strings.Contains(stderr, p+": config file not found") {
		t.Errorf("exit %d stderr %q", code, stderr)
	}
	_, _, code, err := runRepopsCmd(t, "--config", p, "migrate", "status")
	if code != exitUsage || err == nil || !strings.Contains(err.Error(), "config file not found (named by flag --config)") {
		t.Errorf("exit %d err %v", code, err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("the missing config file was created")
	}
}

func TestConfigCheckExamples(t *testing.T) {
	for _, env := range []string{"development", "staging", "production"} {
		t.Run(env, func(t *testing.T) {
			abs, err := filepath.Abs(filepath.Join("..", "..", "config", "reputation_"+env+".yml"))
			if err != nil {
				t.Fatal(err)
			}
			configTestEnv(t)
			stdout, stderr, code, _ := runRepopsCmd(t, "config", "check", abs)
			if code != 0 || stdout != "config "+abs+" is valid\n" {
				t.Errorf("exit %d stdout %q stderr %q", code, stdout, stderr)
			}
		})
	}
}

func TestConfigCheckSearchOrderFromRepoRoot(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	configTestEnv(t)
	if err := os.Chdir(root); err != nil { // t.Chdir in configTestEnv restores the directory
		t.Fatal(err)
	}
	stdout, _, code, _ := runRepopsCmd(t, "config", "check")
	if code != 0 || stdout != "config config/reputation_development.yml is valid\n" {
		t.Errorf("exit %d stdout %q", code, stdout)
	}
	t.Setenv("ENVIRONMENT", "staging")
	stdout, _, code, _ = runRepopsCmd(t, "config", "check")
	if code != 0 || stdout != "config config/reputation_staging.yml is valid\n" {
		t.Errorf("exit %d stdout %q", code, stdout)
	}
}

func TestConfigCheckNoFile(t *testing.T) {
	configTestEnv(t)
	stdout, _, code, _ := runRepopsCmd(t, "config", "check")
	if code != 0 || !strings.HasPrefix(stdout, "no config file found (searched config/reputation_development.yml and ") {
		t.Errorf("exit %d stdout %q", code, stdout)
	}
}

func TestConfigShowProvenance(t *testing.T) {
	work := configTestEnv(t)
	p := filepath.Join(work, "c.yml")
	body := "database:\n  path: file.db\n  max_connections: 4\nlogging:\n  format: text\n  level: warn\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAX_DB_CONNECTIONS", "8")
	stdout, stderr, code, _ := runRepopsCmd(t, "--config", p, "--db", "flag.db", "--env", "drill", "config", "show")
	if code != 0 {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	for _, want := range []string{
		"# config file: " + p + " (named by flag --config)\n",
		"# environment: drill (flag --env)\n",
		"  path: \"flag.db\"  # flag --db\n",
		"  max_connections: 8  # env MAX_DB_CONNECTIONS\n",
		"  format: \"text\"  # " + p + ":5\n",
		"  cache_size: 100000  # default\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, stdout)
		}
	}

	stdout, _, code, _ = runRepopsCmd(t, "--config", p, "config", "show", "--json")
	var doc struct {
		File    string
		Sources map[string]string
	}
	if err := json.Unmarshal([]byte(stdout), &doc); code != 0 || err != nil {
		t.Fatalf("exit %d, %v:\n%s", code, err, stdout)
	}
	if doc.File != p || doc.Sources["logging.level"] != p+":6" || doc.Sources["database.max_connections"] != "env MAX_DB_CONNECTIONS" {
		t.Errorf("json file %q sources %v", doc.File, doc.Sources)
	}
}

func TestSetupLogsPerConfig(t *testing.T) {
	work := configTestEnv(t)
	logFile := filepath.Join(work, "repops.log")
	p := filepath.Join(work, "c.yml")
	body := "logging:\n  level: debug\n  format: json\n  output: " + logFile + "\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	a := &app{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &errOut}
	if err := a.setup(&cobra.Command{}, &globalOptions{configFile: p}); err != nil {
		t.Fatal(err)
	}
	a.log.Debug("written to the file")
	b, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(b), `"msg":"written to the file"`) {
		t.Errorf("log file %q, %v", b, err)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr %q", errOut.String())
	}
}

func TestSetupBadConfig(t *testing.T) {
	work := configTestEnv(t)
	p := filepath.Join(work, "c.yml")
	if err := os.WriteFile(p, []byte("database:\n  max_connections: -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &globalOptions{configFile: p}
	a := &app{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}}
	err := a.setup(&cobra.Command{Use: "status"}, g)
	if exitCode(err) != exitUsage {
		t.Errorf("a command that needs the config: %v (exit %d), want exit %d", err, exitCode(err), exitUsage)
	}
	reporter := &cobra.Command{Use: "check", Annotations: map[string]string{reportsConfigErrors: "true"}}
	if err := a.setup(reporter, g); err != nil || a.cfg == nil || a.log == nil {
		t.Errorf("config check must get to report: %v", err)
	}
}
