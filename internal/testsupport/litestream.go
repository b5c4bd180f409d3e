package testsupport

import (
	"os"
	"path/filepath"
	"testing"
)

// LitestreamBinary is the real litestream the tests run: $REPOPS_LITESTREAM
// when it names a file, else bin/litestream of the checkout ('make
// litestream', found by walking up to go.mod), which it then sets as
// $REPOPS_LITESTREAM for the test so that repops finds the same one.
// Without it the test fails saying how to install it (this package cannot
// import replicate, whose tests use it; the hint says the same).
func LitestreamBinary(t testing.TB) string {
	t.Helper()
	const hint = "build it with 'make litestream' (bin/litestream, v0.5.18), or set REPOPS_LITESTREAM to a litestream binary"
	if p := os.Getenv("REPOPS_LITESTREAM"); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			t.Fatalf("REPOPS_LITESTREAM=%s is not a file: %s", p, hint)
		}
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the test's directory, so no bin/litestream: %s", hint)
		}
		dir = parent
	}
	bin := filepath.Join(dir, "bin", "litestream")
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("%s: litestream is not installed: %s", bin, hint)
	}
	t.Setenv("REPOPS_LITESTREAM", bin)
	return bin
}
