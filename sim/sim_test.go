package sim

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

func TestNewRefuses(t *testing.T) {
	path := testsupport.MigratedDB(t)
	empty := filepath.Join(t.TempDir(), "empty.db")
	{ // an SQLite file without the schema
		w, err := db.OpenWrite(context.Background(), empty, db.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Exec(`CREATE TABLE other (x)`); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	for _, tc := range []struct {
		name   string
		modify func(*Options)
		want   string
		kind   error
	}{
		{"all interfaces", func(o *Options) { o.Listen = ":0" }, "not loopback", nil},
		{"unspecified address", func(o *Options) { o.Listen = "0.0.0.0:0" }, "not loopback", nil},
		{"public address", func(o *Options) { o.Listen = "192.0.2.1:0" }, "not loopback", nil},
		{"host name", func(o *Options) { o.Listen = "example.com:0" }, "not loopback", nil},
		{"no port", func(o *Options) { o.Listen = "127.0.0.1" }, "want host:port", nil},
		{"no database path", func(o *Options) { o.DBPath = "" }, "no database path", nil},
		{"missing database", func(o *Options) { o.DBPath = filepath.Join(t.TempDir(), "nope.db") }, "", db.ErrNotFound},
		{"database without schema", func(o *Options) { o.DBPath = empty }, "", db.ErrNoSchema},
		{"rate over the cap", func(o *Options) { o.Rate = 301 }, "out of range", nil},
		{"negative rate", func(o *Options) { o.Rate = -1 }, "out of range", nil},
		{"unknown scenario", func(o *Options) { o.Scenario = "meteor" }, "unknown scenario", nil},
		{"speed too high", func(o *Options) { o.Speed = 5000 }, "speed", nil},
		{"negative pool", func(o *Options) { o.MaxConnections = -1 }, "max connections", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(path)
			tc.modify(&o)
			s, err := New(o)
			if err == nil {
				s.Close()
				t.Fatalf("New accepted %+v", o)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error %q, want %v", err, tc.kind)
			}
		})
	}
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr        string
		allowRemote bool
		ok          bool
	}{
		{"127.0.0.1:9090", false, true},
		{"127.0.0.2:9090", false, true},
		{"[::1]:9090", false, true},
		{"localhost:9090", false, true},
		{":9090", false, false},
		{"0.0.0.0:9090", false, false},
		{"[::]:9090", false, false},
		{"10.0.0.1:9090", false, false},
		{"0.0.0.0:9090", true, true},
		{"10.0.0.1:9090", true, true},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			err := checkListen(tc.addr, tc.allowRemote)
			if (err == nil) != tc.ok {
				t.Errorf("checkListen(%q, %v) = %v, want ok %v", tc.addr, tc.allowRemote, err, tc.ok)
			}
		})
	}
}

// TestStepWritesAsTheService drives the generator directly (no ticker) and
// checks what lands in the database: appeals through every status, a
// prediction per appeal, message threads whose span is the negotiation,
// times in datetime() text and never in the future for appeals.
func TestStepWritesAsTheService(t *testing.T) {
	path := testsupport.MigratedDB(t)
	o := testOptions(path)
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	o.Clock = func() time.Time { return now }
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for range 100 { // 100 ticks of 0.2 s at speed 60: 20 minutes of service time
		s.step(ctx, 200*time.Millisecond)
		now = now.Add(200 * time.Millisecond)
	}
	st := s.Stats()
	if st.Writes == 0 || st.WriteErrors != 0 || st.Rows == 0 {
		t.Fatalf("stats %+v: want writes and no errors", st)
	}
	r := openRead(t, path)
	byStatus := map[string]int{}
	rows, err := r.Query(`SELECT status, count(*) FROM appeals GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var st string
		var n int
		rows.Scan(&st, &n)
		byStatus[st] = n
	}
	rows.Close()
	t.Logf("appeals by status: %v", byStatus)
	for _, want := range []string{"approved", "denied"} {
		if byStatus[want] == 0 {
			t.Errorf("no appeal %s after 20 minutes: %v", want, byStatus)
		}
	}
	checks := []struct{ name, query string }{
		{"appeal without its prediction", `SELECT count(*) FROM appeals a WHERE NOT EXISTS (SELECT 1 FROM ml_predictions p WHERE p.appeal_id = a.id AND p.prediction_type = 'appeal_outcome')`},
		{"decided appeal without resolved_at or messages", `SELECT count(*) FROM appeals a WHERE a.status IN ('approved','denied','expired') AND (a.resolved_at IS NULL OR NOT EXISTS (SELECT 1 FROM appeal_negotiation_messages m WHERE m.appeal_id = a.id))`},
		{"open appeal with resolved_at", `SELECT count(*) FROM appeals WHERE status IN ('pending','negotiating') AND resolved_at IS NOT NULL`},
		{"appeal created in the future", `SELECT count(*) FROM appeals WHERE created_at > '` + db.FormatTime(now) + `'`},
		{"message in the future", `SELECT count(*) FROM appeal_negotiation_messages WHERE created_at > '` + db.FormatTime(now) + `'`},
		{"time not in datetime() form", `SELECT count(*) FROM appeals WHERE datetime(created_at) IS NOT created_at OR datetime(updated_at) IS NOT updated_at`},
		{"message time not in datetime() form", `SELECT count(*) FROM appeal_negotiation_messages WHERE datetime(created_at) IS NOT created_at`},
		{"negotiation longer than the timeout", `SELECT count(*) FROM (SELECT appeal_id FROM appeal_negotiation_messages GROUP BY appeal_id HAVING (julianday(max(created_at)) - julianday(min(created_at))) * 24 > 72.01)`},
		{"prediction latency out of range", `SELECT count(*) FROM ml_predictions WHERE latency_ms <= 0 OR latency_ms > 2500 OR confidence < 0 OR confidence > 1`},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			var n int
			if err := r.QueryRow(c.query).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d rows", n)
			}
		})
	}
	var senders int
	r.QueryRow(`SELECT count(DISTINCT sender) FROM appeal_negotiation_messages`).Scan(&senders)
	if senders != 3 {
		t.Errorf("%d distinct senders, want user, reviewer and system", senders)
	}
}

// TestMetricsContract scrapes a running simulator and checks every metric
// of DESIGN.md's contract, with its type, plus the process metrics and the
// scenario series.
func TestMetricsContract(t *testing.T) {
	s := startSim(t, testOptions(testsupport.MigratedDB(t)))
	time.Sleep(300 * time.Millisecond)
	mfs := scrape(t, s.MetricsURL())
	for name, typ := range map[string]dto.MetricType{
		"reputation_appeals_submitted_total":    dto.MetricType_COUNTER,
		"reputation_appeal_errors_total":        dto.MetricType_COUNTER,
		"reputation_appeal_processing_seconds":  dto.MetricType_HISTOGRAM,
		"reputation_negotiation_duration_hours": dto.MetricType_HISTOGRAM,
		"reputation_ml_prediction_seconds":      dto.MetricType_HISTOGRAM,
		"reputation_db_connections_active":      dto.MetricType_GAUGE,
		"reputation_db_connections_max":         dto.MetricType_GAUGE,
		"reputation_api_requests_total":         dto.MetricType_COUNTER,
		"reputation_sim_scenario":               dto.MetricType_GAUGE,
		"process_cpu_seconds_total":             dto.MetricType_COUNTER,
		"process_resident_memory_bytes":         dto.MetricType_GAUGE,
		"go_goroutines":                         dto.MetricType_GAUGE,
	} {
		mf, ok := mfs[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if mf.GetType() != typ {
			t.Errorf("%s is %v, want %v", name, mf.GetType(), typ)
		}
	}
	smp := sample{mfs: mfs}
	if v := value(smp, "reputation_db_connections_max", nil); v != 10 {
		t.Errorf("connections max %v, want 10", v)
	}
	if v := value(smp, "reputation_sim_scenario", func(l map[string]string) bool { return l["name"] == "normal" }); v != 1 {
		t.Errorf("scenario series for normal = %v, want 1", v)
	}
	codes := map[string]bool{}
	for _, m := range mfs["reputation_api_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			codes[l.GetValue()] = true
		}
	}
	for _, c := range []string{"200", "201", "400", "404", "429", "500", "503"} {
		if !codes[c] {
			t.Errorf("no reputation_api_requests_total{code=%q}", c)
		}
	}
	if v := value(smp, "reputation_appeals_submitted_total", nil); v == 0 {
		t.Errorf("no submissions after 18 s of service time")
	}
}

// TestControlEndpoint switches scenarios over HTTP, as an operator with
// curl would.
func TestControlEndpoint(t *testing.T) {
	s := startSim(t, testOptions(testsupport.MigratedDB(t)))
	do := func(method, url, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := do("GET", s.ControlURL(), "")
	var st ScenarioState
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Current != "normal" || len(st.Scenarios) != len(Scenarios()) {
		t.Fatalf("GET /scenario: %d %s", code, body)
	}
	for _, tc := range []struct {
		name, method, query, body string
		code                      int
		want                      string
	}{
		{"query", "POST", "?name=error-spike", "", 200, ScenarioErrorSpike},
		{"plain body", "POST", "", "ml-timeouts\n", 200, ScenarioMLTimeouts},
		{"json body", "POST", "", `{"name":"api-errors"}`, 200, ScenarioAPIErrors},
		{"unknown", "POST", "?name=meteor", "", 400, ScenarioAPIErrors},
		{"empty", "POST", "", "", 400, ScenarioAPIErrors},
		{"bad json", "POST", "", `{"name":`, 400, ScenarioAPIErrors},
		{"wrong method", "PUT", "?name=normal", "", 405, ScenarioAPIErrors},
		{"back to normal", "POST", "?name=normal", "", 200, ScenarioNormal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(tc.method, s.ControlURL()+tc.query, tc.body)
			if code != tc.code {
				t.Errorf("status %d (%s), want %d", code, strings.TrimSpace(body), tc.code)
			}
			if s.Scenario() != tc.want {
				t.Errorf("scenario %q, want %q", s.Scenario(), tc.want)
			}
			smp := sample{mfs: scrape(t, s.MetricsURL())}
			if v := value(smp, "reputation_sim_scenario", func(l map[string]string) bool { return l["name"] == tc.want }); v != 1 {
				t.Errorf("reputation_sim_scenario{name=%q} = %v, want 1", tc.want, v)
			}
			if n := len(smp.mfs["reputation_sim_scenario"].GetMetric()); n != 1 {
				t.Errorf("%d scenario series, want 1", n)
			}
		})
	}
	if code, _ := do("GET", "http://"+s.Addr()+"/health", ""); code != 200 {
		t.Errorf("GET /health: %d", code)
	}
}

func TestControlRefusesRemoteClients(t *testing.T) {
	for _, tc := range []struct {
		remote string
		ok     bool
	}{
		{"127.0.0.1:5555", true},
		{"[::1]:5555", true},
		{"192.0.2.7:5555", false},
		{"garbage", false},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			if got := isLoopback(tc.remote); got != tc.ok {
				t.Errorf("isLoopback(%q) = %v, want %v", tc.remote, got, tc.ok)
			}
		})
	}
}

// TestRunStopsOnCancel: Run returns nil when its context ends, the port is
// released and the database closed; the writer committed and never failed.
func TestRunStopsOnCancel(t *testing.T) {
	s, err := New(testOptions(testsupport.MigratedDB(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(400 * time.Millisecond)
	scrape(t, s.MetricsURL())
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancel")
	}
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Run returned", s.Addr())
	}
	if err := s.Run(context.Background()); err == nil {
		t.Errorf("second Run accepted")
	}
	st := s.Stats()
	if st.Writes == 0 || st.WriteErrors != 0 {
		t.Errorf("stats %+v: want writes and no errors", st)
	}
}

// TestWriteErrorsCounted holds the write lock from another connection past
// the simulator's busy timeout: submissions fail, are counted in Stats and
// in reputation_appeal_errors_total, nothing panics, and writes resume
// when the lock is released.
func TestWriteErrorsCounted(t *testing.T) {
	path := testsupport.MigratedDB(t)
	o := testOptions(path)
	o.DB.BusyTimeout = 50 * time.Millisecond
	o.Rate = 300
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	locker, err := db.OpenWrite(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	conn, err := locker.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.step(ctx, time.Second) // a minute of service time: about 300 submissions
	}
	st := s.Stats()
	if st.WriteErrors == 0 {
		t.Fatalf("no write error while the lock was held: %+v", st)
	}
	if !strings.Contains(st.LastError, "locked") {
		t.Errorf("last error %q, want it to say the database is locked", st.LastError)
	}
	if st.WorstWriteLatency < o.DB.BusyTimeout {
		t.Errorf("worst write latency %v, want at least the busy timeout %v", st.WorstWriteLatency, o.DB.BusyTimeout)
	}
	smp := sample{mfs: gather(t, s)}
	errs, subs := value(smp, "reputation_appeal_errors_total", nil), value(smp, "reputation_appeals_submitted_total", nil)
	if errs == 0 || errs > subs {
		t.Errorf("errors %v of %v submissions: want the failed submissions counted", errs, subs)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	before := s.Stats().Writes
	s.step(ctx, time.Second)
	if s.Stats().Writes == before {
		t.Errorf("no write after the lock was released: %+v", s.Stats())
	}
}

// gather reads the registry without HTTP (for a Sim that is not running).
func gather(t testing.TB, s *Sim) map[string]*dto.MetricFamily {
	t.Helper()
	list, err := s.m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range list {
		out[mf.GetName()] = mf
	}
	return out
}

// TestConcurrentReaderSeesNoTornData reads through a read-only connection
// while the simulator writes at full tilt and checks, on every read, that
// each transaction is seen whole: a decided appeal always has its thread,
// every appeal its prediction.
func TestConcurrentReaderSeesNoTornData(t *testing.T) {
	path := testsupport.MigratedDB(t)
	o := testOptions(path)
	o.Scenario = ScenarioAppealFlood
	startSim(t, o)
	r := openRead(t, path)
	const q = `SELECT
		(SELECT count(*) FROM appeals a WHERE a.status IN ('approved','denied','expired')
			AND (a.resolved_at IS NULL OR NOT EXISTS (SELECT 1 FROM appeal_negotiation_messages m WHERE m.appeal_id = a.id))),
		(SELECT count(*) FROM appeals a WHERE NOT EXISTS (SELECT 1 FROM ml_predictions p WHERE p.appeal_id = a.id)),
		(SELECT count(*) FROM appeals WHERE status IN ('approved','denied','expired'))`
	deadline := time.Now().Add(2 * time.Second)
	reads, decided := 0, 0
	for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
		var torn, noPred int
		if err := readTx(r, q, &torn, &noPred, &decided); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if torn != 0 || noPred != 0 {
			t.Fatalf("read %d: %d decided appeals without their thread, %d appeals without their prediction", i, torn, noPred)
		}
		reads++
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("%d consistent reads, %d decided appeals at the end", reads, decided)
	if decided == 0 {
		t.Errorf("no decided appeal seen: the reader raced nothing")
	}
}

// readTx runs q in one read transaction (one snapshot).
func readTx(r *sql.DB, q string, dest ...any) error {
	tx, err := r.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return tx.QueryRow(q).Scan(dest...)
}

// TestScenarioFromOptions: the initial scenario is the one asked for.
func TestScenarioFromOptions(t *testing.T) {
	o := testOptions(testsupport.MigratedDB(t))
	o.Scenario = ScenarioDBGrowth
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Scenario() != ScenarioDBGrowth {
		t.Errorf("scenario %q, want db-growth", s.Scenario())
	}
	if err := s.SetScenario("nope"); err == nil || s.Scenario() != ScenarioDBGrowth {
		t.Errorf("SetScenario(nope) = %v, scenario now %q", err, s.Scenario())
	}
}
