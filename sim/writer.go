package sim

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/repops/repops/db"
)

// submission is one appeal to insert with its outcome prediction.
type submission struct {
	user, reason string
	proc         float64 // synthetic processing time, seconds
	ml           float64 // prediction latency, seconds
	confidence   float64
}

// backgroundRow is a prediction (appealID 0) or an audit message.
type backgroundRow struct {
	appealID   int64
	body       string
	user, kind string
	ml         float64
	confidence float64
}

// tx runs fn in one IMMEDIATE transaction and accounts it in Stats. The
// error is classified (locked, disk full, ...) and names the database.
func (s *Sim) tx(ctx context.Context, what string, fn func(tx *sql.Tx) (rows int, err error)) (time.Duration, error) {
	start := time.Now()
	var rows int
	pool, err := s.db.DB(ctx)
	if err == nil {
		err = db.Tx(ctx, pool, func(tx *sql.Tx) error {
			var err error
			rows, err = fn(tx)
			return err
		})
	}
	lat := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return lat, ctx.Err()
		}
		err = fmt.Errorf("write %s: %w", what, db.Classify(s.o.DBPath, err))
	}
	s.recordWrite(lat, rows, err)
	return lat, err
}

// writeSubmissions inserts the appeals (pending) and their outcome
// predictions in one transaction and returns the new appeal ids.
func (s *Sim) writeSubmissions(ctx context.Context, now time.Time, batch []submission) ([]int64, time.Duration, error) {
	ts := db.FormatTime(now)
	ids := make([]int64, len(batch))
	lat, err := s.tx(ctx, "appeal submissions", func(tx *sql.Tx) (int, error) {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?)`)
		if err != nil {
			return 0, err
		}
		defer ins.Close()
		pred, err := tx.PrepareContext(ctx, `INSERT INTO ml_predictions (user_id, appeal_id, prediction_type, confidence, latency_ms, model_version, created_at) VALUES (?, ?, 'appeal_outcome', ?, ?, ?, ?)`)
		if err != nil {
			return 0, err
		}
		defer pred.Close()
		for i, b := range batch {
			res, err := ins.ExecContext(ctx, b.user, b.reason, ts, ts)
			if err != nil {
				return 0, err
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return 0, err
			}
			if _, err := pred.ExecContext(ctx, b.user, ids[i], round3(b.confidence), round3(b.ml*1000), s.o.ModelVersion, ts); err != nil {
				return 0, err
			}
		}
		return 2 * len(batch), nil
	})
	return ids, lat, err
}

// writeStages opens negotiations and decides others in one transaction. A
// decided appeal gets its whole message thread, spread over the
// negotiation's hours before now, and its status, updated_at and
// resolved_at in the same transaction, so a reader never sees a decision
// without its messages. An appeal no longer pending or negotiating (an
// operator changed or archived it) is left alone.
func (s *Sim) writeStages(ctx context.Context, now time.Time, open, decide []*appeal) error {
	ts := db.FormatTime(now)
	g := &s.g
	// Draw the threads before the transaction: a retry writes the same.
	type msg struct {
		sender, body string
		at           time.Time
	}
	threads := make([][]msg, len(decide))
	for i, a := range decide {
		start := now.Add(-time.Duration(a.hours * float64(time.Hour)))
		k := 1 + g.rng.IntN(6)
		fr := make([]float64, k)
		for j := range fr {
			fr[j] = g.rng.Float64()
		}
		sort.Float64s(fr)
		th := []msg{{"system", g.text.opened(a.id), start}}
		for j, f := range fr {
			sender := "user"
			if j%2 == 1 {
				sender = "reviewer"
			}
			th = append(th, msg{sender, g.text.message(g.rng, sender), start.Add(time.Duration(f * a.hours * float64(time.Hour)))})
		}
		th = append(th, msg{decisionSender(a.outcome), g.text.decision(a.outcome, s.o.NegotiationTimeout), now})
		threads[i] = th
	}
	_, err := s.tx(ctx, "negotiations", func(tx *sql.Tx) (int, error) {
		rows := 0
		for _, a := range open {
			res, err := tx.ExecContext(ctx, `UPDATE appeals SET status = 'negotiating', updated_at = ? WHERE id = ? AND status = 'pending'`, ts, a.id)
			if err != nil {
				return 0, err
			}
			n, _ := res.RowsAffected()
			rows += int(n)
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return 0, err
		}
		defer ins.Close()
		for i, a := range decide {
			res, err := tx.ExecContext(ctx, `UPDATE appeals SET status = ?, updated_at = ?, resolved_at = ? WHERE id = ? AND status IN ('pending', 'negotiating')`, a.outcome, ts, ts, a.id)
			if err != nil {
				return 0, err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			rows++
			for _, m := range threads[i] {
				if _, err := ins.ExecContext(ctx, a.id, m.sender, m.body, db.FormatTime(m.at)); err != nil {
					return 0, err
				}
				rows++
			}
		}
		return rows, nil
	})
	return err
}

func decisionSender(outcome string) string {
	if outcome == "expired" {
		return "system"
	}
	return "reviewer"
}

// writeBackground inserts predictions and audit messages in one
// transaction.
func (s *Sim) writeBackground(ctx context.Context, now time.Time, rows []backgroundRow) error {
	ts := db.FormatTime(now)
	_, err := s.tx(ctx, "predictions", func(tx *sql.Tx) (int, error) {
		var pred, msg *sql.Stmt
		defer func() {
			if pred != nil {
				pred.Close()
			}
			if msg != nil {
				msg.Close()
			}
		}()
		for _, r := range rows {
			var err error
			if r.appealID == 0 {
				if pred == nil {
					if pred, err = tx.PrepareContext(ctx, `INSERT INTO ml_predictions (user_id, prediction_type, confidence, latency_ms, model_version, created_at) VALUES (?, ?, ?, ?, ?, ?)`); err != nil {
						return 0, err
					}
				}
				_, err = pred.ExecContext(ctx, r.user, r.kind, round3(r.confidence), round3(r.ml*1000), s.o.ModelVersion, ts)
			} else {
				if msg == nil {
					if msg, err = tx.PrepareContext(ctx, `INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at) VALUES (?, 'system', ?, ?)`); err != nil {
						return 0, err
					}
				}
				_, err = msg.ExecContext(ctx, r.appealID, r.body, ts)
			}
			if err != nil {
				return 0, err
			}
		}
		return len(rows), nil
	})
	return err
}

func round3(v float64) float64 {
	return float64(int64(v*1000+0.5)) / 1000
}
