package runbooks

import (
	"os/exec"
	"strings"
	"testing"
)

// runbooks is UI-free: the console renders the Markdown; nothing here
// pulls in bubbletea, lipgloss, bubbles or glamour.
func TestNoUIDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/repops/repops/runbooks").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, ui := range []string{"charm.land/", "github.com/charmbracelet/", "github.com/repops/repops/tui"} {
			if strings.HasPrefix(dep, ui) {
				t.Errorf("runbooks depends on %s", dep)
			}
		}
	}
}
