package config

import (
	"net"
	"path/filepath"
	"strings"
	"time"
)

// Serve configures 'repops serve': the console served over SSH to the
// on-call engineers' own terminals, one shared collector for every
// session (serve/).
type Serve struct {
	// Listen is host:port. Default 127.0.0.1:2222: loopback until the
	// operator decides otherwise.
	Listen string `yaml:"listen"`
	// HostKey is the server's private host key (OpenSSH format). Default:
	// ssh_host_ed25519_key in the state dir, generated (0600) on first
	// start.
	HostKey string `yaml:"host_key"`
	// AuthorizedKeys is the file of keys allowed in, one per line with a
	// role and a name as options: role="operator",name="alice" ssh-ed25519
	// AAAA... Default: authorized_keys in the state dir.
	AuthorizedKeys string `yaml:"authorized_keys"`
	// MaxSessions is the most sessions at once; the next login is told so
	// and closed. Default 16.
	MaxSessions int `yaml:"max_sessions"`
	// IdleTimeout closes a session that has not had a key for this long.
	// Default 30m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// LoginRate is how many sessions one client address may open per
	// minute (the first ones of a burst of that size pass at once).
	// Default 10.
	LoginRate int `yaml:"login_rate"`
	// FourEyes requires a second operator's approval for destructive
	// actions over SSH. Default: on in production, off elsewhere.
	FourEyes *bool `yaml:"four_eyes"`
}

// Serve defaults; the key files' defaults depend on the state dir
// (ServeHostKey, ServeAuthorizedKeys).
const (
	DefaultServeListen      = "127.0.0.1:2222"
	DefaultServeMaxSessions = 16
	DefaultServeIdleTimeout = 30 * time.Minute
	DefaultServeLoginRate   = 10
)

func defaultServe() Serve {
	return Serve{Listen: DefaultServeListen, MaxSessions: DefaultServeMaxSessions,
		IdleTimeout: DefaultServeIdleTimeout, LoginRate: DefaultServeLoginRate}
}

// FourEyesOn says whether destructive actions over SSH need a second
// operator in environment: console.serve.four_eyes when set, else on in
// production. Decision: the default is computed, not stored, so that the
// loaded config still equals Defaults() for an empty file and 'config
// show' says "default".
func (s Serve) FourEyesOn(environment string) bool {
	if s.FourEyes != nil {
		return *s.FourEyes
	}
	return strings.EqualFold(environment, "production")
}

// FourEyesOn is console.serve's FourEyesOn in this config's environment
// (the banner's: console.environment when set).
func (c *Config) FourEyesOn() bool {
	env := c.Environment
	if c.Console.Environment != "" {
		env = c.Console.Environment
	}
	return c.Console.Serve.FourEyesOn(env)
}

// ServeHostKey is the SSH server's host key file.
func (c *Config) ServeHostKey() string {
	if c.Console.Serve.HostKey != "" {
		return c.Console.Serve.HostKey
	}
	return filepath.Join(c.StateDir(), "ssh_host_ed25519_key")
}

// ServeAuthorizedKeys is the file of the keys allowed in, with their roles.
func (c *Config) ServeAuthorizedKeys() string {
	if c.Console.Serve.AuthorizedKeys != "" {
		return c.Console.Serve.AuthorizedKeys
	}
	return filepath.Join(c.StateDir(), "authorized_keys")
}

// validateServe checks console.serve.
//
// The key files are read by path (os.ReadFile): never the database or
// its -wal, -shm or -journal, whose descriptor, closed, would drop the
// process's SQLite locks ("The live file has one owner").
func (v *validator) validateServe(s Serve, dbPath string) {
	for _, f := range []struct{ key, path string }{
		{"console.serve.host_key", s.HostKey}, {"console.serve.authorized_keys", s.AuthorizedKeys},
	} {
		if f.path == "" || dbPath == "" {
			continue
		}
		p, d := filepath.Clean(f.path), filepath.Clean(dbPath)
		v.check(f.key, p != d && p != d+"-wal" && p != d+"-shm" && p != d+"-journal",
			"must not be the database (%s) or one of its files: give the key file its own path", dbPath)
	}
	if _, port, err := net.SplitHostPort(s.Listen); err != nil || port == "" {
		v.check("console.serve.listen", false, "must be host:port (for example 127.0.0.1:2222), got %q", s.Listen)
	}
	v.between("console.serve.max_sessions", s.MaxSessions, 1, 1000)
	v.check("console.serve.idle_timeout", s.IdleTimeout >= time.Second && s.IdleTimeout <= 7*24*time.Hour,
		"must be between 1s and 168h, got %s", formatDuration(s.IdleTimeout))
	v.between("console.serve.login_rate", s.LoginRate, 1, 10000)
}
