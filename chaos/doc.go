// Package chaos holds the foreign-process chaos suite (issue 11): it drives
// the built repops binary against a live WAL database while writers in
// other processes open and close a connection per statement, and a
// checkpointer in another process checkpoints the WAL, then checks that
// the database is intact and that no committed row was lost.
//
// SQLite's locks are POSIX advisory locks, which belong to the process:
// closing any descriptor of the database file drops every lock of the
// process's connections, and another process that closes its last
// connection then checkpoints and deletes the WAL under them. A writer in
// the same process, or a long-lived one, cannot see this; these tests use
// the test binary itself, re-executed, as the foreign processes (see
// REPOPS_CHAOS_HELPER in the tests), plus the sqlite3 CLI.
//
// TestConsoleBesideForeignWriters drives the real console in tmux beside
// them; BenchmarkSoak runs the mutating procedures a thousand times and
// measures what each costs the writer (see its comment for the command).
//
// Environment: REPOPS_CHAOS_SEED repeats the random kill and stop
// moments of a run (each test logs its seed); REPOPS_CHAOS_BIN tests a
// repops binary built elsewhere (another revision) instead of building
// this tree's.
//
// The package has no code outside its tests.
package chaos
