package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/repops/repops/internal/fsutil"
)

// LoadOptions says where to look for the config file and carries the flags
// that override it.
type LoadOptions struct {
	// File is the --config flag (or the FILE of 'repops config check'); it
	// wins over every other place and must exist.
	File string
	// DBPath is the --db flag: it overrides database.path.
	DBPath string
	// Environment is the --env flag: it overrides ENVIRONMENT, both for
	// the banner and for choosing config/reputation_$ENVIRONMENT.yml.
	Environment string
	// FileFrom says what named File, for messages; "flag --config" when
	// empty.
	FileFrom string
	// Getenv reads the environment; os.Getenv when nil (tests inject).
	Getenv func(string) string
}

// Loaded is an effective configuration with the story of how it was built.
type Loaded struct {
	Config *Config
	// File is the config file used, "" when none was found.
	File string
	// FileFrom says how File was chosen: "flag --config", "env
	// REPOPS_CONFIG", "search" or "" when no file was used.
	FileFrom string
	// Searched lists the places looked at, in order, up to the file
	// found, when no file was named.
	Searched []string
	// Sources says where each value came from.
	Sources Provenance
}

// Load builds the effective config: defaults, then the first config file
// found (see LoadWithSources), then the guide's environment variables, then
// the flags in o. It returns the path of the file used ("" when none).
func Load(o LoadOptions) (*Config, string, error) {
	l, err := LoadWithSources(o)
	if err != nil {
		return nil, l.File, err
	}
	return l.Config, l.File, nil
}

// LoadWithSources is Load, also saying where each value came from.
//
// Search order for the file, the first that exists wins and no files are
// merged: o.File (the --config flag), $REPOPS_CONFIG, then
// config/reputation_$ENVIRONMENT.yml relative to the working directory
// (ENVIRONMENT defaults to development), then repops/config.yml in the
// user's config dir ($XDG_CONFIG_HOME or ~/.config on Linux). A file named
// by the flag or REPOPS_CONFIG must exist; the searched ones are optional.
// Relative paths inside the file (database.path, console.state_dir, ...)
// are relative to the working directory, as in the operations guide.
//
// Then the guide's environment variables override the file (see EnvVars),
// and the flags override both. Problems are collected, not stopped at: on
// failure the error is an *Error listing each one with its file:line,
// variable or flag, and the returned *Loaded still says which file was
// read.
func LoadWithSources(o LoadOptions) (*Loaded, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Defaults()
	l := &Loaded{Config: &c, Sources: Provenance{}}
	d := &decoder{src: l.Sources, bad: map[string]bool{}}

	env, envSrc := c.Environment, Source{Kind: FromDefault}
	if v := strings.TrimSpace(getenv("ENVIRONMENT")); v != "" {
		env, envSrc = v, Source{Kind: FromEnv, Name: "ENVIRONMENT"}
	}
	if o.Environment != "" {
		env, envSrc = o.Environment, Source{Kind: FromFlag, Name: "--env"}
	}
	envOK := validEnvName(env)
	if !envOK {
		d.problems = append(d.problems, Problem{Source: envSrc, Key: "environment", Msg: envNameMsg(env)})
		d.bad["environment"] = true
	}

	file, from := o.File, o.FileFrom
	if from == "" {
		from = "flag --config"
	}
	if file == "" {
		file, from = strings.TrimSpace(getenv("REPOPS_CONFIG")), "env REPOPS_CONFIG"
	}
	if file != "" {
		l.File, l.FileFrom = file, from
		d.readFile(file, true, from, &c)
	} else if envOK {
		for _, p := range searchPaths(env, getenv) {
			l.Searched = append(l.Searched, p)
			if d.readFile(p, false, "", &c) {
				l.File, l.FileFrom = p, "search"
				break
			}
		}
	}

	// The banner's environment: default, then console.environment from the
	// file, then ENVIRONMENT, then --env (the environment overrides the
	// file, as for every other value).
	if c.Console.Environment != "" {
		c.Environment = c.Console.Environment
		l.Sources["environment"] = l.Sources.Of("console.environment")
	}
	if envSrc.Kind != FromDefault {
		c.Environment = env
		l.Sources["environment"] = envSrc
	}

	applyEnv(d, &c, getenv)

	if o.DBPath != "" {
		c.Database.Path = o.DBPath
		l.Sources["database.path"] = Source{Kind: FromFlag, Name: "--db"}
	}

	d.problems = append(d.problems, validate(&c, l.Sources, d.bad)...)
	sortProblems(d.problems)
	if len(d.problems) > 0 {
		return l, &Error{Problems: d.problems}
	}
	return l, nil
}

// sortProblems puts the file's problems first, by line, then the
// environment's, then the flags', keeping the order within each.
func sortProblems(ps []Problem) {
	rank := map[SourceKind]int{FromFile: 0, FromEnv: 1, FromFlag: 2, FromDefault: 3}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Source, ps[j].Source
		if rank[a.Kind] != rank[b.Kind] {
			return rank[a.Kind] < rank[b.Kind]
		}
		if a.Kind == FromFile && a.File == b.File {
			return a.Line < b.Line
		}
		return false
	})
}

// MaxFileSize is the largest config file read: the guide's template is
// about 2 KiB, so a file over 1 MiB is not a config (a log, a database,
// a device named by mistake) and is refused before it is decoded.
const MaxFileSize = 1 << 20

// readFile reads and decodes the config file at path onto c. Only a
// regular file of at most MaxFileSize is read (fsutil.ReadRegularFile): a
// named pipe, a device or a huge file is a problem naming the file, found
// at once, never a read that blocks or fills the memory. It reports
// whether the file was there. A missing file is a problem only when it was
// named (required).
func (d *decoder) readFile(path string, required bool, from string, c *Config) bool {
	whole := Source{Kind: FromFile, File: path}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !required:
		return false
	case errors.Is(err, fs.ErrNotExist):
		d.problems = append(d.problems, Problem{Source: whole,
			Msg: fmt.Sprintf("config file not found (named by %s): check the path", from)})
		return false
	case err != nil:
		d.problems = append(d.problems, Problem{Source: whole, Msg: fmt.Sprintf("cannot read config file: %v", unwrapPathErr(err))})
		return true
	case st.IsDir():
		d.problems = append(d.problems, Problem{Source: whole, Msg: "is a directory, not a config file: name the YAML file inside it"})
		return true
	}
	b, err := fsutil.ReadRegularFile(context.Background(), path, MaxFileSize)
	switch {
	case errors.Is(err, fsutil.ErrNotRegular):
		d.problems = append(d.problems, Problem{Source: whole, Msg: fmt.Sprintf("cannot read config file: %v: name the YAML file itself", err)})
		return true
	case errors.Is(err, fsutil.ErrTooLarge):
		d.problems = append(d.problems, Problem{Source: whole, Msg: fmt.Sprintf("cannot read config file: %v (a config is a few KiB): check the path", err)})
		return true
	case err != nil:
		d.problems = append(d.problems, Problem{Source: whole, Msg: fmt.Sprintf("cannot read config file: %v", unwrapPathErr(err))})
		return true
	}
	d.file = path
	d.decodeFile(b, c)
	return true
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// searchPaths are the optional places, in order.
func searchPaths(env string, getenv func(string) string) []string {
	paths := []string{filepath.Join("config", "reputation_"+env+".yml")}
	if dir := userConfigDir(getenv); dir != "" {
		paths = append(paths, filepath.Join(dir, "repops", "config.yml"))
	}
	return paths
}

// userConfigDir is os.UserConfigDir read through getenv, so that tests can
// point it elsewhere.
func userConfigDir(getenv func(string) string) string {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		dir, err := os.UserConfigDir()
		if err != nil {
			return ""
		}
		return dir
	}
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return dir
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config")
	}
	return ""
}

var envName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// validEnvName: the environment names a file (reputation_NAME.yml), so it
// must be a plain word.
func validEnvName(s string) bool { return envName.MatchString(s) }

func envNameMsg(s string) string {
	return fmt.Sprintf("environment %q is not a plain name: use letters, digits, '-' or '_' (development, staging, production, drill)", s)
}

// EnvVar is one of the operations guide's environment variables and the key
// it overrides.
type EnvVar struct {
	Name string
	Key  string
	// Unit, when set, is what the number counts (for the help text).
	Unit string
}

// EnvVars are the guide's environment variables, in the guide's order;
// ENVIRONMENT (the banner's name and the file searched for) and
// REPOPS_CONFIG (the file) are handled before the file is read.
func EnvVars() []EnvVar {
	return []EnvVar{
		{Name: "DATABASE_PATH", Key: "database.path"},
		{Name: "LOG_LEVEL", Key: "logging.level"},
		{Name: "ENABLE_NOTIFICATIONS", Key: "reputation.notification_enabled"},
		{Name: "ENABLE_ML_PREDICTIONS", Key: "reputation.ml_predictions_enabled"},
		{Name: "MAX_DB_CONNECTIONS", Key: "database.max_connections"},
		{Name: "CACHE_ENABLED", Key: "reputation.cache_enabled"},
		{Name: "CACHE_TTL_MINUTES", Key: "reputation.cache_ttl_minutes", Unit: "minutes"},
		{Name: "METRICS_ENABLED", Key: "monitoring.metrics_enabled"},
		{Name: "METRICS_PORT", Key: "monitoring.metrics_port"},
		{Name: "HEALTH_CHECK_INTERVAL", Key: "monitoring.health_check_interval_seconds", Unit: "seconds"},
	}
}

// applyEnv sets each guide variable that is set and not empty.
func applyEnv(d *decoder, c *Config, getenv func(string) string) {
	for _, e := range EnvVars() {
		raw := getenv(e.Name)
		val := strings.TrimSpace(raw)
		if val == "" {
			continue
		}
		src := Source{Kind: FromEnv, Name: e.Name}
		fail := func(format string, args ...any) {
			d.problems = append(d.problems, Problem{Source: src, Key: e.Key, Msg: fmt.Sprintf(format, args...)})
			d.bad[e.Key] = true
		}
		f, ok := fieldByKey(c, e.Key)
		if !ok {
			continue // cannot happen: TestEnvVarsNameKnownKeys checks every key
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(val)
		case reflect.Bool:
			b, err := parseEnvBool(val)
			if err != nil {
				fail("want true or false, got %q", raw)
				continue
			}
			f.SetBool(b)
		case reflect.Int:
			i, err := strconv.ParseInt(val, 10, 32)
			if err != nil {
				if e.Unit != "" {
					fail("want a whole number of %s, got %q", e.Unit, raw)
				} else {
					fail("want a whole number, got %q", raw)
				}
				continue
			}
			f.SetInt(i)
		}
		d.src[e.Key] = src
		delete(d.bad, e.Key) // a bad file value overridden by a good variable no longer matters
	}
}

func parseEnvBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "t", "true", "yes", "y", "on":
		return true, nil
	case "0", "f", "false", "no", "n", "off":
		return false, nil
	}
	return false, errors.New("not a boolean")
}
