package tui

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// clipboardText is the text of the message of tea.SetClipboard's
// command (its type is bubbletea's own), "" when msg is not one.
func clipboardText(t *testing.T, msg tea.Msg) string {
	t.Helper()
	v := reflect.ValueOf(msg)
	if !v.IsValid() || v.Kind() != reflect.String || !strings.Contains(v.Type().String(), "setClipboardMsg") {
		return ""
	}
	return v.String()
}

// copied presses y and returns the clipboard's text the key asks for.
func copied(t *testing.T, m Model) (Model, string) {
	t.Helper()
	m, cmd := step(t, m, press("y"))
	if cmd == nil {
		t.Fatalf("y gave no command; flash %q", m.flash)
	}
	// The commands run side by side: the status line's timer waits.
	msgs := make(chan tea.Msg, 16)
	var run func(c tea.Cmd)
	run = func(c tea.Cmd) {
		if c == nil {
			return
		}
		go func() {
			msg := c()
			if b, ok := msg.(tea.BatchMsg); ok {
				for _, c := range b {
					run(c)
				}
				return
			}
			msgs <- msg
		}()
	}
	run(cmd)
	deadline := time.After(300 * time.Millisecond)
	for {
		select {
		case msg := <-msgs:
			if s := clipboardText(t, msg); s != "" {
				return m, s
			}
		case <-deadline:
			return m, ""
		}
	}
}

func TestCopy(t *testing.T) {
	t.Run("y on the dashboard copies the database path", func(t *testing.T) {
		m, text := copied(t, loaded(t, nil))
		if text != "/var/lib/gaia/architect.db" {
			t.Fatalf("copied %q", text)
		}
		if !strings.Contains(m.flash, "copied: /var/lib/gaia/architect.db") || !strings.Contains(plain(m), "copied: /var/lib/gaia/architect.db") {
			t.Fatalf("the status line does not say so: %q", m.flash)
		}
	})
	t.Run("y on the alerts copies the selected alert's runbook", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press("a"))
		want := m.alerts.rules()[0].Runbook
		if want == "" {
			t.Fatal("the first alert has no runbook")
		}
		if _, text := copied(t, m); text != want {
			t.Fatalf("copied %q, want %q", text, want)
		}
	})
	t.Run("y in a runbook run copies the run id", func(t *testing.T) {
		m := runTo(t, loaded(t, nil), "backup")
		if _, text := copied(t, m); text != m.runbooks.run.ID() || !strings.HasPrefix(text, "backup-2026") {
			t.Fatalf("copied %q, want the run id %q", text, m.runbooks.run.ID())
		}
	})
	t.Run("y on a runbook's page copies its id", func(t *testing.T) {
		m := loaded(t, nil)
		m, cmd := step(t, m, switchViewMsg{to: viewRunbooks, runbook: "restore-from-backup"})
		m = drain(t, m, cmd)
		if _, text := copied(t, m); text != "restore-from-backup" {
			t.Fatalf("copied %q", text)
		}
	})
	t.Run("y where there is nothing to copy says so", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press("l"))
		m, cmd := step(t, m, press("y"))
		if cmd != nil && clipboardText(t, runWithTimeout(t, cmd)) != "" {
			t.Fatal("the journal copied something")
		}
		if !strings.Contains(m.flash, "nothing to copy") {
			t.Fatalf("flash %q", m.flash)
		}
	})
}

// TestCopyWritesOSC52: the program writes the OSC 52 sequence, with the
// value in base64, to the terminal.
func TestCopyWritesOSC52(t *testing.T) {
	path := "/var/lib/gaia/architect.db"
	seq := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(path)) + "\x07"
	if got := ansi.SetSystemClipboard(path); got != seq {
		t.Fatalf("ansi.SetSystemClipboard = %q, want %q", got, seq)
	}
	tm := teatest.NewTestModel(t, newTestModel(t.TempDir(), nil),
		teatest.WithInitialTermSize(80, 24),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	waitFor(t, tm, "Key metrics")
	tm.Send(tea.KeyPressMsg{Code: 'y', Text: "y"})
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(seq)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
}
