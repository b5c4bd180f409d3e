// Package verdicts holds the test that repops' verdicts agree with a real
// Prometheus and Alertmanager evaluating the rules 'repops rules export'
// writes, scenario by scenario of the simulated service (issue 14's
// agreement test). It has no code of its own: see agreement_test.go.
package verdicts
