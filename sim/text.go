package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// corpus is the text the simulated service writes: plausible, varied, and
// cheap to produce.
type corpus struct {
	reasons, userLines, reviewerLines, predictionTypes, auditLines []string
}

func newCorpus() corpus {
	return corpus{
		reasons: []string{
			"spam flag on my listing was a false positive",
			"my account was compromised when the reports were made",
			"the negative reviews came from a single competitor",
			"rating dropped after a shipping delay outside my control",
			"automated moderation misread a product description",
			"duplicate penalty applied twice for the same incident",
			"I resolved the dispute with the buyer directly",
			"the flagged message was a quote, not my words",
		},
		userLines: []string{
			"I have attached the order history that shows the delivery date.",
			"The buyer confirmed in writing that the issue was resolved.",
			"Could you tell me which of my posts triggered the penalty?",
			"I changed my password and enabled two-factor authentication.",
			"Here is the screenshot of the original conversation.",
		},
		reviewerLines: []string{
			"Thanks, we are checking the order history against our records.",
			"Please send the ticket number of the support case.",
			"We found the reports came from linked accounts; reviewing further.",
			"The evidence is being compared with the moderation log.",
			"Could you confirm the dates of the affected transactions?",
		},
		predictionTypes: []string{"reputation_score", "fraud_risk", "appeal_priority"},
		auditLines: []string{
			"audit: reputation recomputed after new evidence; factors: review recency, dispute history, verified purchases, response time, account age.",
			"audit: moderation log reconciled with the appeal thread; no conflicting actions found across linked accounts or devices.",
			"audit: notification delivered to the user and the assigned reviewer; retry counter reset; delivery receipts stored.",
			"audit: model features refreshed for the user; cache entry replaced; previous score kept for comparison in the history.",
		},
	}
}

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

func (c corpus) user(r *rand.Rand) string { return fmt.Sprintf("user-%06d", 1+r.IntN(50000)) }

func (c corpus) reason(r *rand.Rand) string { return pick(r, c.reasons) }

func (c corpus) predictionType(r *rand.Rand) string { return pick(r, c.predictionTypes) }

func (c corpus) message(r *rand.Rand, sender string) string {
	if sender == "reviewer" {
		return pick(r, c.reviewerLines)
	}
	return pick(r, c.userLines)
}

// audit is a few hundred bytes: db-growth's messages make the file grow.
func (c corpus) audit(r *rand.Rand) string {
	var b strings.Builder
	for range 3 {
		b.WriteString(pick(r, c.auditLines))
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}

func (c corpus) opened(id int64) string {
	return fmt.Sprintf("Negotiation opened for appeal #%d.", id)
}

func (c corpus) decision(outcome string, timeout time.Duration) string {
	switch outcome {
	case "approved":
		return "Appeal approved: the penalty is lifted and your reputation restored."
	case "denied":
		return "Appeal denied: the penalty stands; you may appeal again after 30 days."
	default:
		return fmt.Sprintf("Negotiation expired after %.0f h without agreement.", timeout.Hours())
	}
}
