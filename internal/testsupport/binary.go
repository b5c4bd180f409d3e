package testsupport

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildRepops builds this tree's repops binary into a new temp dir, for a
// package's TestMain whose tests drive the real binary (the chaos suite,
// the console's end-to-end tests, the agreement with Prometheus). It
// returns the binary and a cleanup that removes the dir; the build's
// output goes to stderr.
func BuildRepops(prefix string) (bin string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "repops")
	build := exec.Command("go", "build", "-o", bin, "github.com/repops/repops/cmd/repops")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build repops: %w", err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}
