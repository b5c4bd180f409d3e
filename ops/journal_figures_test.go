package ops

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestJournalMarkdownFigures: the Markdown timeline, which people read,
// gives figures readably: bytes in binary units, seconds with three
// significant digits and a unit, counts grouped by thousands, percentages
// with %; the JSON export keeps the exact numbers.
func TestJournalMarkdownFigures(t *testing.T) {
	j, err := OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Append(Entry{Actor: testActor(), Action: "backup", Target: "architect.db", Outcome: OutcomeOK,
		Figures: map[string]float64{"bytes": 1.8911232e+07, "copy_seconds": 0.036668627, "seconds": 125.4,
			"rto_seconds": 4.56789, "removed": 2, "appeals_rows": 1234567, "free_percent": 12.3456, "ratio": 0.123456}}); err != nil {
		t.Fatal(err)
	}
	entries, err := j.Entries(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := ExportMarkdown(&md, entries); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bytes=18.0 MiB", "copy_seconds=36.7 ms", "seconds=2m5s", "rto_seconds=4.57 s",
		"removed=2", "appeals_rows=1,234,567", "free_percent=12.3 %", "ratio=0.123"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(md.String(), "e+07") {
		t.Errorf("an exponent in the timeline:\n%s", md.String())
	}
}
