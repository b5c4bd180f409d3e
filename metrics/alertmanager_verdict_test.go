package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestAlertmanagerVerdict: active alerts count by severity (critical ->
// CRITICAL, warning and any other -> WARNING), silenced or inhibited ones
// do not, and a failed Alertmanager is UNKNOWN only when nothing worse is
// known.
func TestAlertmanagerVerdict(t *testing.T) {
	for _, tc := range []struct {
		a    ExternalAlert
		want State
		disp string
	}{
		{ExternalAlert{Severity: "critical", State: "active"}, StateCritical, "active"},
		{ExternalAlert{Severity: "CRITICAL", State: "unprocessed"}, StateCritical, "unprocessed"},
		{ExternalAlert{Severity: "warning", State: "active"}, StateWarning, "active"},
		{ExternalAlert{Severity: "page", State: "active"}, StateWarning, "active"},
		{ExternalAlert{State: "active"}, StateWarning, "active"},
		{ExternalAlert{Severity: "critical", State: "suppressed", SilencedBy: []string{"s1"}}, StateOK, "silenced"},
		{ExternalAlert{Severity: "critical", State: "suppressed", InhibitedBy: []string{"f1"}}, StateOK, "inhibited"},
		{ExternalAlert{Severity: "critical", State: "suppressed", SilencedBy: []string{"s"}, InhibitedBy: []string{"f"}}, StateOK, "silenced, inhibited"},
		{ExternalAlert{Severity: "critical", State: "suppressed"}, StateOK, "suppressed"},
	} {
		if got := tc.a.VerdictState(); got != tc.want {
			t.Errorf("%+v: verdict %s, want %s", tc.a, got, tc.want)
		}
		if got := tc.a.DisplayState(); got != tc.disp {
			t.Errorf("%+v: state %q, want %q", tc.a, got, tc.disp)
		}
	}
	warnRule := AlertStatus{State: StateWarning, Configured: true}
	amDown := SourceHealth{Name: "alertmanager", Kind: KindAlertmanager, Err: "connection refused"}
	amUp := SourceHealth{Name: "alertmanager", Kind: KindAlertmanager, Up: true}
	for name, tc := range map[string]struct {
		s    Snapshot
		want State
	}{
		"nothing":                 {Snapshot{Sources: []SourceHealth{amUp}}, StateOK},
		"am down alone":           {Snapshot{Sources: []SourceHealth{amDown}}, StateUnknown},
		"am down, warning rule":   {Snapshot{Sources: []SourceHealth{amDown}, Alerts: []AlertStatus{warnRule}}, StateWarning},
		"critical alert":          {Snapshot{Sources: []SourceHealth{amUp}, Alerts: []AlertStatus{warnRule}, External: []ExternalAlert{{Severity: "critical", State: "active"}}}, StateCritical},
		"silenced critical alert": {Snapshot{Sources: []SourceHealth{amUp}, External: []ExternalAlert{{Severity: "critical", State: "suppressed", SilencedBy: []string{"x"}}}}, StateOK},
	} {
		if got := tc.s.Verdict(); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

// TestAlertmanagerClientStates: the client reads silencedBy and
// inhibitedBy, and drops an alert whose end is past.
func TestAlertmanagerClientStates(t *testing.T) {
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `[
 {"labels":{"alertname":"A","severity":"critical"},"annotations":{},"startsAt":%q,"endsAt":%q,"fingerprint":"1",
  "status":{"state":"suppressed","silencedBy":[],"inhibitedBy":["2"]}},
 {"labels":{"alertname":"B","severity":"critical"},"annotations":{},"startsAt":%q,"endsAt":%q,"fingerprint":"3",
  "status":{"state":"active","silencedBy":[],"inhibitedBy":[]}}
]`, past, future, past, past)
	}))
	defer srv.Close()
	src, _ := NewAlertmanagerSource(srv.URL, nil)
	got, err := src.Alerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "A" || got[0].DisplayState() != "inhibited" || got[0].VerdictState() != StateOK {
		t.Fatalf("alerts %+v", got)
	}
}
