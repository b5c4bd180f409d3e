package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/db"
)

func TestDemoCreatesThenReuses(t *testing.T) {
	dir := migTestEnv(t)
	t.Setenv("DATABASE_PATH", filepath.Join(dir, "service.db")) // not the demo's
	out, _, code, err := runRepopsCmd(t, "demo", "--appeals", "400", "--seed", "4", "--summary")
	if code != 0 {
		t.Fatalf("demo: %d %v\n%s", code, err, out)
	}
	path := filepath.Join(dir, defaultDemoPath)
	for _, want := range []string{"generating the demo database " + defaultDemoPath + ": 400 appeals, seed 4",
		"schema version 3", "schema valid (version 3, 5 tables, 8 indexes)", "NAME", "appeal_negotiation_messages"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if ok, _ := db.IsDemo(path); !ok {
		t.Fatalf("%s is not a demo database", path)
	}
	if _, err := os.Stat(filepath.Join(dir, "service.db")); err == nil {
		t.Error("the demo touched DATABASE_PATH")
	}

	before := migFiles(t, path)
	out, _, code, _ = runRepopsCmd(t, "demo", "--appeals", "400", "--summary")
	if code != 0 || !strings.Contains(out, "using the demo database") || strings.Contains(out, "generating") {
		t.Errorf("second run: %d\n%s", code, out)
	}
	migAssertSameFiles(t, path, before)

	out, _, code, _ = runRepopsCmd(t, "demo", "--appeals", "300", "--fresh", "--summary")
	if code != 0 || !strings.Contains(out, "generating the demo database") {
		t.Errorf("--fresh: %d\n%s", code, out)
	}
}

func TestDemoRefusesNonDemoFile(t *testing.T) {
	dir := migTestEnv(t)
	path := filepath.Join(dir, "architect.db")
	if _, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "apply", "--create"); code != 0 {
		t.Fatal(err)
	}
	before := migFiles(t, path)
	for _, args := range [][]string{{"demo", "--summary"}, {"demo", "--fresh", "--summary"}} {
		_, _, code, err := runRepopsCmd(t, append([]string{"--db", path}, args...)...)
		if code == 0 || err == nil || !strings.Contains(err.Error(), "is not a demo database") {
			t.Errorf("%v: exit %d, %v", args, code, err)
		}
	}
	migAssertSameFiles(t, path, before)
}
