package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewLoggerLevelAndFormat(t *testing.T) {
	tests := []struct {
		name     string
		l        Logging
		wantInfo bool
		json     bool
	}{
		{"json info", Logging{Level: "info", Format: "json", Output: "stderr"}, true, true},
		{"text warn", Logging{Level: "WARN", Format: "text", Output: "stderr"}, false, false},
		{"warning alias", Logging{Level: "warning", Format: "json"}, false, true},
		{"debug", Logging{Level: "debug", Format: "text"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, closer, err := NewLogger(tt.l, &buf)
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			log.Info("an info line", "k", 1)
			log.Warn("a warning line")
			out := buf.String()
			if strings.Contains(out, "an info line") != tt.wantInfo {
				t.Errorf("info shown = %v, want %v:\n%s", !tt.wantInfo, tt.wantInfo, out)
			}
			first := strings.SplitN(out, "\n", 2)[0]
			if json.Valid([]byte(first)) != tt.json {
				t.Errorf("json = %v, want %v: %s", !tt.json, tt.json, first)
			}
		})
	}
}

func TestNewLoggerRejectsBadSettings(t *testing.T) {
	for name, l := range map[string]Logging{
		"level":     {Level: "loud", Format: "json"},
		"format":    {Level: "info", Format: "xml"},
		"no folder": {Level: "info", Format: "json", Output: filepath.Join(t.TempDir(), "missing", "repops.log")},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := NewLogger(l, &bytes.Buffer{}); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestNewLoggerFileAppends(t *testing.T) {
	p := filepath.Join(t.TempDir(), "repops.log")
	if err := os.WriteFile(p, []byte("earlier line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	log, closer, err := NewLogger(Logging{Level: "info", Format: "json", Output: p}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("first")
	log.With("procedure", "backup").Error("second")
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[0] != "earlier line" || !strings.Contains(lines[1], `"msg":"first"`) || !strings.Contains(lines[2], `"procedure":"backup"`) {
		t.Errorf("log file:\n%s", b)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr got %q", stderr.String())
	}

	t.Run("new file is 0600", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "new.log")
		if _, _, err := NewLogger(Logging{Level: "info", Format: "text", Output: p}, &stderr); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", st.Mode().Perm())
		}
	})
}

func TestNewLoggerSyslogFallsBackToStderr(t *testing.T) {
	var stderr bytes.Buffer
	log, _, err := newLogger(Logging{Level: "info", Format: "json", Output: "syslog"}, &stderr,
		func() (*syslog.Writer, error) { return nil, errors.New("no syslog here") })
	if err != nil {
		t.Fatal(err)
	}
	log.Info("after")
	out := stderr.String()
	if !strings.Contains(out, "syslog is not available, logging to stderr instead") || !strings.Contains(out, `"msg":"after"`) {
		t.Errorf("stderr:\n%s", out)
	}
}

func TestNewLoggerSyslog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	log, closer, err := newLogger(Logging{Level: "info", Format: "json", Output: "syslog"}, &bytes.Buffer{},
		func() (*syslog.Writer, error) {
			return syslog.Dial("unixgram", sock, syslog.LOG_INFO|syslog.LOG_DAEMON, "repops")
		})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	log.WithGroup("db").With("path", "a.db").Warn("slow checkpoint", "ms", 12)
	log.Debug("not sent")
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	// daemon (3) * 8 + warning (4) = 28.
	if !strings.HasPrefix(msg, "<28>") || !strings.Contains(msg, `"msg":"slow checkpoint"`) || !strings.Contains(msg, `"db":{"path":"a.db","ms":12}`) {
		t.Errorf("syslog message %q", msg)
	}
	if lvl, err := ParseLevel("ERROR"); err != nil || lvl != slog.LevelError {
		t.Errorf("ParseLevel: %v %v", lvl, err)
	}
}
