package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ScenarioState is what the control endpoint answers: the scenario running
// and every scenario there is.
type ScenarioState struct {
	Current   string         `json:"current"`
	Scenarios []ScenarioInfo `json:"scenarios"`
}

// Handler serves:
//
//	GET  /metrics   the service's metrics, Prometheus text format
//	GET  /scenario  the current scenario and the list, as JSON (ScenarioState)
//	POST /scenario  switch: ?name=NAME, or a body that is the name or {"name":"NAME"};
//	                loopback clients only
//	GET  /health    "ok"
func (s *Sim) Handler() http.Handler { return s.h }

func (s *Sim) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		ErrorLog:            slogPrinter{s},
		MaxRequestsInFlight: 4,
	}))
	mux.HandleFunc("GET /scenario", func(w http.ResponseWriter, r *http.Request) {
		s.writeState(w, http.StatusOK)
	})
	mux.HandleFunc("POST /scenario", s.postScenario)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "simulated reputation service (scenario %s)\n\n/metrics   Prometheus metrics\n/scenario  GET: current scenario and list; POST ?name=NAME: switch\n/health    liveness\n", s.Scenario())
	})
	return mux
}

func (s *Sim) writeState(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(ScenarioState{Current: s.Scenario(), Scenarios: Scenarios()})
}

func (s *Sim) postScenario(w http.ResponseWriter, r *http.Request) {
	if !isLoopback(r.RemoteAddr) {
		http.Error(w, "the scenario control endpoint answers loopback clients only", http.StatusForbidden)
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1024))
		if err != nil {
			http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		text := strings.TrimSpace(string(body))
		if strings.HasPrefix(text, "{") {
			var req struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal([]byte(text), &req); err != nil {
				http.Error(w, "bad JSON body: "+err.Error()+`: want {"name":"NAME"}`, http.StatusBadRequest)
				return
			}
			text = req.Name
		}
		name = text
	}
	if name == "" {
		http.Error(w, "no scenario named: POST /scenario?name=NAME (one of "+strings.Join(ScenarioNames(), ", ")+")", http.StatusBadRequest)
		return
	}
	if err := s.setScenario(name, "control endpoint ("+r.RemoteAddr+")"); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.writeState(w, http.StatusOK)
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// slogPrinter hands promhttp's error log to the simulator's logger.
type slogPrinter struct{ s *Sim }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics: " + fmt.Sprint(v...)) }
