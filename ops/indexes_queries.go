package ops

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/repops/repops/db"
)

// HotQuery is one of the service's frequent queries, from the guide's
// indexing strategy, with example arguments for EXPLAIN QUERY PLAN.
type HotQuery struct {
	Name    string `json:"name"`
	Purpose string `json:"purpose"`
	SQL     string `json:"sql"`
	Args    []any  `json:"-"`
}

// HotQueries are the queries the guide's critical indexes serve.
func HotQueries() []HotQuery {
	return []HotQuery{
		{"appeals-by-user-status", "appeal lookups by user and status",
			`SELECT id, status, created_at FROM appeals WHERE user_id = ? AND status = ?`, []any{"user1", "pending"}},
		{"thread", "message thread retrieval",
			`SELECT id, sender, body, created_at FROM appeal_negotiation_messages WHERE appeal_id = ? ORDER BY created_at`, []any{1}},
		{"negotiation-duration", "negotiation duration calculation",
			`SELECT (julianday(max(created_at)) - julianday(min(created_at))) * 24 FROM appeal_negotiation_messages WHERE appeal_id = ?`, []any{1}},
		{"predictions-by-type", "ML predictions by type",
			`SELECT count(*), avg(confidence) FROM ml_predictions WHERE prediction_type = ? AND user_id = ?`, []any{"fraud", "user1"}},
	}
}

// QueryPlan is EXPLAIN QUERY PLAN of a hot query.
type QueryPlan struct {
	Query HotQuery `json:"query"`
	Plan  []string `json:"plan"`
	// Scans lists the plan's lines that read a whole table (or a whole
	// index); FullScan is true when there is one.
	Scans    []string `json:"scans,omitempty"`
	FullScan bool     `json:"full_scan"`
}

// ExplainHotQueries runs EXPLAIN QUERY PLAN for each hot query.
func ExplainHotQueries(ctx context.Context, q db.Querier) ([]QueryPlan, error) {
	var out []QueryPlan
	for _, h := range HotQueries() {
		p := QueryPlan{Query: h}
		rows, err := q.QueryContext(ctx, "EXPLAIN QUERY PLAN "+h.SQL, h.Args...)
		if err != nil {
			return nil, fmt.Errorf("explain %s: %w", h.Name, err)
		}
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				rows.Close()
				return nil, fmt.Errorf("explain %s: %w", h.Name, err)
			}
			p.Plan = append(p.Plan, detail)
			if isScan(detail) {
				p.Scans = append(p.Scans, detail)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("explain %s: %w", h.Name, err)
		}
		p.FullScan = len(p.Scans) > 0
		out = append(out, p)
	}
	return out, nil
}

// isScan tells a plan line that visits every row of a table or index
// ("SCAN appeals", "SCAN m USING COVERING INDEX ...") from a search.
func isScan(detail string) bool {
	return strings.HasPrefix(detail, "SCAN ") && !strings.HasPrefix(detail, "SCAN CONSTANT ROW")
}

// ThreadSize is one appeal's count of negotiation messages.
type ThreadSize struct {
	AppealID int64 `json:"appeal_id"`
	Messages int64 `json:"messages"`
}

// LargeThreads is the guide's "Check large threads" diagnosis: the appeals
// with the most negotiation messages, limit of them (10 in the guide).
func LargeThreads(ctx context.Context, q db.Querier, limit int) ([]ThreadSize, error) {
	if limit <= 0 {
		limit = 10
	}
	rows, err := q.QueryContext(ctx, `SELECT appeal_id, COUNT(*) FROM appeal_negotiation_messages
		GROUP BY appeal_id ORDER BY COUNT(*) DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("large threads: %w", err)
	}
	defer rows.Close()
	var out []ThreadSize
	for rows.Next() {
		var t ThreadSize
		if err := rows.Scan(&t.AppealID, &t.Messages); err != nil {
			return nil, fmt.Errorf("large threads: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// PredictionStat is one prediction type's figures.
type PredictionStat struct {
	Type          string  `json:"prediction_type"`
	Count         int64   `json:"count"`
	AvgConfidence float64 `json:"avg_confidence"`
	AvgLatencyMs  float64 `json:"avg_latency_ms"`
}

// PredictionPerformance is the guide's "Check prediction performance":
// count and average confidence per prediction type, with the average
// latency beside.
func PredictionPerformance(ctx context.Context, q db.Querier) ([]PredictionStat, error) {
	rows, err := q.QueryContext(ctx, `SELECT prediction_type, COUNT(*), AVG(confidence), AVG(latency_ms)
		FROM ml_predictions GROUP BY prediction_type ORDER BY prediction_type`)
	if err != nil {
		return nil, fmt.Errorf("prediction performance: %w", err)
	}
	defer rows.Close()
	var out []PredictionStat
	for rows.Next() {
		var s PredictionStat
		var conf, lat sql.NullFloat64
		if err := rows.Scan(&s.Type, &s.Count, &conf, &lat); err != nil {
			return nil, fmt.Errorf("prediction performance: %w", err)
		}
		s.AvgConfidence, s.AvgLatencyMs = conf.Float64, lat.Float64
		out = append(out, s)
	}
	return out, rows.Err()
}

// TableCount is one table's row count.
type TableCount struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// TableCounts is the guide's "Find large tables", for every table of the
// schema (the guide's query counts appeals and messages only), largest
// first. Names come from sqlite_schema.
func TableCounts(ctx context.Context, q db.Querier) ([]TableCount, error) {
	names, err := db.TableNames(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("table counts: %w", err)
	}
	var out []TableCount
	for _, n := range names {
		var c int64
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM main.`+quoteSchemaName(n)).Scan(&c); err != nil {
			return nil, fmt.Errorf("count %s: %w", n, err)
		}
		out = append(out, TableCount{Table: n, Rows: c})
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Rows > out[j-1].Rows; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}
