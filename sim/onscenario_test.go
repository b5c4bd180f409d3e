package sim

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

// TestOnScenario: every switch to another scenario, through the control
// endpoint or SetScenario, is told to Options.OnScenario once, with who
// switched; a switch to the scenario running and a refused name are not.
func TestOnScenario(t *testing.T) {
	type sw struct{ from, to, by string }
	var mu sync.Mutex
	var got []sw
	o := testOptions(testsupport.MigratedDB(t))
	o.OnScenario = func(at time.Time, from, to, by string) {
		mu.Lock()
		defer mu.Unlock()
		if at.IsZero() {
			t.Error("a switch without its time")
		}
		got = append(got, sw{from, to, by})
	}
	s := startSim(t, o)
	post := func(name string) int {
		t.Helper()
		resp, err := http.Post(s.ControlURL()+"?name="+name, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(ScenarioErrorSpike); code != 200 {
		t.Fatalf("switch: %d", code)
	}
	if code := post(ScenarioErrorSpike); code != 200 {
		t.Fatalf("switch again: %d", code)
	}
	if code := post("meteor"); code != 400 {
		t.Fatalf("unknown scenario: %d", code)
	}
	if err := s.SetScenario(ScenarioNormal); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].from != ScenarioNormal || got[0].to != ScenarioErrorSpike || !strings.HasPrefix(got[0].by, "control endpoint (127.0.0.1:") ||
		got[1] != (sw{ScenarioErrorSpike, ScenarioNormal, ""}) {
		t.Errorf("switches told: %+v", got)
	}
}
