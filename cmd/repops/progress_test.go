package main

import "testing"

// TestPhaseLine: a progress line names its phase once, even when the
// procedure's message starts with it (optimize printed "analyze: analyze:
// holds the write lock").
func TestPhaseLine(t *testing.T) {
	tests := []struct{ name, phase, msg, want string }{
		{"phase added", "copy", "copying architect.db", "copy: copying architect.db"},
		{"phase already said", "analyze", "analyze: holds the write lock about 7ms", "analyze: holds the write lock about 7ms"},
		{"phase starts the sentence", "verify", "verify the moved rows", "verify the moved rows"},
		{"no phase", "", "done", "done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := phaseLine(tt.phase, tt.msg); got != tt.want {
				t.Errorf("phaseLine(%q, %q) = %q, want %q", tt.phase, tt.msg, got, tt.want)
			}
		})
	}
}
