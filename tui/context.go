package tui

import (
	"time"

	"github.com/repops/repops/config"
)

// ProgramContext is what every view shares: the terminal size, the
// config, the styles, the keys and the clock. The root model owns it and
// passes a pointer to each view's constructor; only the root changes it
// (on resize and on read-only changes), views read it.
type ProgramContext struct {
	Width, Height int
	Config        *config.Config
	Styles        Styles
	Keys          *KeyMap
	// Now is the clock; tests fix it so golden screens are stable.
	Now func() time.Time
	// ReadOnly disables every action that writes; the views show those
	// actions as disabled rather than hiding them.
	ReadOnly bool
	// ReplicationNote, when set, is what the Infrastructure tab says while
	// replication is off (no Litestream source): why, and how to turn it
	// on or install Litestream.
	ReplicationNote string
	// Demo is set when the simulator runs in-process: the scenario keys
	// work.
	Demo bool
	// FourEyes: a destructive step waits for a second operator's
	// approval (presence_approval.go). Strip is how many lines the
	// presence strip takes under the banner (0 without presence).
	FourEyes bool
	Strip    int
	// Identity is Options.Identity: the SSH session's key name and role,
	// shown in the banner.
	Identity string
}

// bodyHeight is the height left for a view between the banner (2 lines,
// and the presence strip) and the key-hints bar (1 line).
func (c *ProgramContext) bodyHeight() int {
	return max(1, c.Height-3-c.Strip)
}
